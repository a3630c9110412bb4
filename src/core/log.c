#include "depthfuse/log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "depthfuse/error.h"

static ProgressMode g_mode = PROGRESS_AUTO; /* resolved to tty or log at the first progress line */
static int g_quiet = 0, g_cols = 0;        /* g_cols: the terminal's width, 0 when unknown */
static double g_tty_s = 0.2, g_min_s = 30, g_max_s = 300;
static const Progress *g_open = NULL;      /* the progress line drawn in place, not yet finished */
static const char *g_event_path = NULL;    /* --log-json */
static FILE *g_events = NULL;              /* rank 0's handle on it */
static double g_t_start = 0;
static char **g_outputs = NULL;
static int g_n_outputs = 0;

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
    char msg[1024];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    df_end_line();
    fprintf(stderr, "[rank %d] warning: %s\n", df_rank(), msg);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "message", msg);
    df_event("warning", f);
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
        } else if (!strcmp(a, "--log-json")) {
            if (i + 1 >= *argc) return df_fail("--log-json needs a file");
            g_event_path = argv[++i];
        } else if (!strncmp(a, "--log-json=", 11)) {
            g_event_path = a + 11;
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

/* seconds to the millisecond: what an event needs, without 17-digit noise */
static double ms(double s) { return floor(s * 1000 + 0.5) / 1000; }

static void progress_event(const char *type, const Progress *p, long long done, double t) {
    if (!g_events) return;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "phase", p->label);
    if (strcmp(type, "phase_begin")) {
        const double el = t - p->t0;
        cJSON_AddNumberToObject(f, "done", (double)done);
        cJSON_AddNumberToObject(f, "total", (double)p->total);
        cJSON_AddNumberToObject(f, "seconds", ms(el));
        if (!strcmp(type, "progress") && done > 0)
            cJSON_AddNumberToObject(f, "eta_seconds", ms(el * (double)(p->total - done) / (double)done));
    } else {
        cJSON_AddNumberToObject(f, "total", (double)p->total);
    }
    df_event(type, f);
}

void progress_start(Progress *p, const char *label, long long total) {
    p->label = label;
    p->t0 = p->last = df_now();
    p->total = total;
    p->decile = p->event_decile = 0;
    if (df_rank() != 0) return;
    progress_event("phase_begin", p, 0, p->t0);
    if (g_mode == PROGRESS_AUTO) resolve_auto();
    if (g_mode == PROGRESS_TTY && total > 0) draw(p, 0, p->t0, 0);
}

void progress_update(Progress *p, long long done) {
    if (df_rank() != 0) return;
    const double t = df_now();
    done = done > p->total ? p->total : done;
    const int final = done >= p->total;
    const int tenth = (int)(10 * done / (p->total ? p->total : 1)); /* events: each tenth, whatever is drawn */
    if (g_events && (final || tenth > p->event_decile)) {
        p->event_decile = final ? 11 : tenth;
        progress_event("progress", p, done, t);
        if (final) progress_event("phase_end", p, done, t);
    }
    if (g_mode == PROGRESS_NONE) return;
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

/* --- the event log ------------------------------------------------------------------------------ */

int df_event_open(void) {
    g_t_start = df_now();
    if (!g_event_path || df_rank() != 0) return 0;
    g_events = fopen(g_event_path, "a"); /* appended: a requeued job's events follow its first run's */
    if (!g_events) return df_fail("%s: cannot open the --log-json file: %s", g_event_path, strerror(errno));
    return 0;
}

void df_event(const char *type, cJSON *fields) {
    if (!g_events) {
        cJSON_Delete(fields);
        return;
    }
    char stamp[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    const size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof stamp - n, ".%03ldZ", ts.tv_nsec / 1000000);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "event", type);
    cJSON_AddStringToObject(e, "time", stamp);
    cJSON_AddNumberToObject(e, "elapsed", ms(df_now() - g_t_start));
    if (fields) {
        while (fields->child) {
            cJSON *it = fields->child;
            cJSON_DetachItemViaPointer(fields, it);
            cJSON_AddItemToObject(e, it->string, it);
        }
        cJSON_Delete(fields);
    }
    char *line = cJSON_PrintUnformatted(e);
    fprintf(g_events, "%s\n", line); /* one write of a line: readers never see half of one */
    fflush(g_events);
    cJSON_free(line);
    cJSON_Delete(e);
}

void df_event_checkpoint(const char *path, const char *unit, long long done) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "path", path);
    cJSON_AddStringToObject(f, "unit", unit);
    cJSON_AddNumberToObject(f, "done", (double)done);
    df_event("checkpoint", f);
}

void df_event_output(const char *path) {
    if (df_rank() != 0 || !path) return;
    g_outputs = df_realloc(g_outputs, sizeof(char *) * (size_t)(g_n_outputs + 1));
    g_outputs[g_n_outputs++] = df_strdup(path);
}

void df_event_end(int status, const char *message, int summary) {
    if (df_rank() != 0) return;
    const char *type = status == 0 ? "done" : status == 75 ? "stopped" : "error";
    const double secs = df_now() - g_t_start;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "status", status);
    cJSON_AddNumberToObject(f, "seconds", ms(secs));
    cJSON *outs = cJSON_AddArrayToObject(f, "outputs");
    for (int i = 0; i < g_n_outputs; i++) cJSON_AddItemToArray(outs, cJSON_CreateString(g_outputs[i]));
    if (message) cJSON_AddStringToObject(f, "message", message);
    df_event(type, f);
    if (summary && status == 0) { /* an error or a stop already said so, in one line */
        df_end_line();
        fprintf(stderr, "depthfuse: %s in %.1f s (exit %d)", type, secs, status);
        for (int i = 0; i < g_n_outputs; i++) fprintf(stderr, "%s %s", i ? "," : "; wrote", g_outputs[i]);
        fputc('\n', stderr);
    }
    for (int i = 0; i < g_n_outputs; i++) free(g_outputs[i]);
    free(g_outputs);
    g_outputs = NULL;
    g_n_outputs = 0;
    if (g_events) fclose(g_events);
    g_events = NULL;
}
