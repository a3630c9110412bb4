#include "depthfuse/log.h"

#include <fcntl.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "depthfuse/error.h"

static ProgressMode g_mode = PROGRESS_AUTO; /* resolved to tty or log at the first progress line */
static int g_quiet = 0, g_cols = 0;        /* g_cols: the terminal's width, 0 when unknown */
static double g_tty_s = 0.2, g_min_s = 30, g_max_s = 300;
static const Progress *g_open = NULL;      /* the progress line drawn in place, not yet finished */

int df_rank(void) {
    int inited = 0, r = 0;
    MPI_Initialized(&inited);
    if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int df_nranks(void) {
    int inited = 0, n = 1;
    MPI_Initialized(&inited);
    if (inited) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

void df_end_line(void) {
    if (!g_open) return;
    g_open = NULL;
    fputc('\n', stdout);
    fflush(stdout);
}

static void vprint0(const char *fmt, va_list ap) {
    if (df_rank() != 0) return;
    df_end_line();
    vprintf(fmt, ap);
    fflush(stdout);
}

void df_print0(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprint0(fmt, ap);
    va_end(ap);
}

void df_info0(const char *fmt, ...) {
    if (g_quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vprint0(fmt, ap);
    va_end(ap);
}

void df_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    df_end_line();
    fprintf(stderr, "[rank %d] warning: ", df_rank());
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double df_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- the display options ---------------------------------------------------------------------- */

static int progress_mode(const char *s, ProgressMode *m) {
    static const char *const names[] = {"auto", "tty", "log", "none"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i])) {
            *m = (ProgressMode)i;
            return 0;
        }
    return df_fail("--progress must be auto, tty, log or none, got '%s'", s);
}

/* DF_PROGRESS_INTERVALS="TTY,MIN,MAX" (seconds) */
static int interval_env(void) {
    const char *e = getenv("DF_PROGRESS_INTERVALS");
    if (!e) return 0;
    double a, b, c;
    char tail;
    if (sscanf(e, "%lf,%lf,%lf%c", &a, &b, &c, &tail) != 3 || a < 0 || b < 0 || c < b)
        return df_fail("DF_PROGRESS_INTERVALS must be TTY,MIN,MAX seconds (0 <= MIN <= MAX), got '%s'", e);
    g_tty_s = a, g_min_s = b, g_max_s = c;
    return 0;
}

int df_display_options(int *argc, char **argv) {
    int k = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--quiet")) {
            g_quiet = 1;
        } else if (!strcmp(a, "--progress")) {
            if (i + 1 >= *argc) return df_fail("--progress needs a value (auto, tty, log or none)");
            DF_TRY(progress_mode(argv[++i], &g_mode));
        } else if (!strncmp(a, "--progress=", 11)) {
            DF_TRY(progress_mode(a + 11, &g_mode));
        } else {
            argv[k++] = argv[i];
        }
    }
    *argc = k;
    argv[k] = NULL;
    if (g_quiet) g_mode = PROGRESS_NONE;
    return interval_env();
}

/* the width of the terminal behind fd, 0 when it is none */
static int terminal_cols(int fd) {
    struct winsize ws;
    if (!isatty(fd)) return 0;
    return ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : -1;
}

/* Is stdout a terminal someone watches? Open MPI gives each rank a pseudo-terminal of its own
 * whatever mpirun writes to, so under it the answer is mpirun's (the parent's) stdout. */
static void resolve_auto(void) {
    int cols = terminal_cols(STDOUT_FILENO);
    if (cols != 0 && getenv("OMPI_COMM_WORLD_SIZE")) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/fd/1", (long)getppid());
        int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
        cols = fd >= 0 ? terminal_cols(fd) : 0;
        if (fd >= 0) close(fd);
    }
    g_mode = cols != 0 ? PROGRESS_TTY : PROGRESS_LOG;
    g_cols = cols > 0 ? cols : 0;
}

/* --- progress ----------------------------------------------------------------------------------- */

/* 4.2s, 3m07s, 2h05m */
static const char *duration(char *buf, size_t n, double s) {
    if (s < 60) snprintf(buf, n, "%.1fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    return buf;
}

static void draw(const Progress *p, long long done, double t, int final) {
    const double el = t - p->t0, rate = el > 0 ? (double)done / el : 0;
    char line[512], e[32], eta[32];
    int n = snprintf(line, sizeof line, "  %s %lld/%lld (%.0f%%) %.*f/s, %s", p->label, done, p->total,
                     p->total ? 100.0 * (double)done / (double)p->total : 100.0, rate < 10 ? 2 : 0, rate,
                     duration(e, sizeof e, el));
    if (!final && n > 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ", ETA %s",
                 done > 0 ? duration(eta, sizeof eta, el * (double)(p->total - done) / (double)done) : "?");
    if (g_mode == PROGRESS_TTY) {
        if (g_open && g_open != p) df_end_line();
        if (g_cols > 1 && strlen(line) >= (size_t)g_cols) line[g_cols - 1] = 0; /* a wrapped line cannot be redrawn */
        printf("\r%s\033[K%s", line, final ? "\n" : "");
        g_open = final ? NULL : p;
    } else {
        df_end_line();
        printf("%s\n", line);
    }
    fflush(stdout);
}

void progress_start(Progress *p, const char *label, long long total) {
    p->label = label;
    p->t0 = p->last = df_now();
    p->total = total;
    p->decile = 0;
    if (df_rank() != 0) return;
    if (g_mode == PROGRESS_AUTO) resolve_auto();
    if (g_mode == PROGRESS_TTY && total > 0) draw(p, 0, p->t0, 0);
}

void progress_update(Progress *p, long long done) {
    if (df_rank() != 0 || g_mode == PROGRESS_NONE) return;
    const double t = df_now();
    done = done > p->total ? p->total : done;
    const int final = done >= p->total;
    if (g_mode == PROGRESS_TTY) {
        if (!final && t - p->last < g_tty_s) return;
    } else if (!final) {
        /* log: each tenth of the work, or MAX seconds without a line; never two within MIN seconds */
        const int decile = (int)(10 * done / (p->total ? p->total : 1));
        if ((decile <= p->decile && t - p->last < g_max_s) || t - p->last < g_min_s) return;
        p->decile = decile;
    }
    p->last = t;
    draw(p, done, t, final);
}
