/* Helpers shared by the benchmarks (header-only, static: each bench is one translation unit):
 * min / median, CPU and RSS accounting, seeded random fills, OpenBLAS's sgemm peak, and PyTorch
 * driven over a pipe so that both sides are timed alternately under the same machine conditions. */
#ifndef DEPTHFUSE_BENCH_UTIL_H
#define DEPTHFUSE_BENCH_UTIL_H
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/gemm.h"
#include "depthfuse/log.h"

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double min, median;
} Stat;

static inline Stat stat_of(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    Stat s = {t[0], n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2])};
    return s;
}

/* user + system CPU seconds of this process (all its threads) */
static inline double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * ((double)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* resident set size now (Linux /proc), to tell the model's part of the peak from what was there before */
static inline double rss_now_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    if (f) fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

static inline double peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0; /* KiB on Linux */
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static inline double urand(void) { /* xorshift64*, uniform in (0, 1) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return ((double)((rng * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}
static inline void fill_normal(float *p, size_t n, double sd) { /* Box-Muller */
    for (size_t i = 0; i < n; i += 2) {
        double r = sd * sqrt(-2.0 * log(urand())), a = 2.0 * M_PI * urand();
        p[i] = (float)(r * cos(a));
        if (i + 1 < n) p[i + 1] = (float)(r * sin(a));
    }
}
static inline void fill_const(float *p, size_t n, float v) {
    for (size_t i = 0; i < n; i++) p[i] = v;
}

/* ---- sgemm peak -------------------------------------------------------------------------------- */

/* out[n,n] = x[n,n] w[n,n]^T, matmul_forward's layout: seconds of the faster of two calls */
typedef struct {
    int n;
    float *x, *w, *o;
} Peak;

static inline void peak_init(Peak *p, int n) {
    p->n = n;
    p->x = df_alloc_floats((size_t)n * n);
    p->w = df_alloc_floats((size_t)n * n);
    p->o = df_alloc_floats((size_t)n * n);
    fill_normal(p->x, (size_t)n * n, 1.0);
    fill_normal(p->w, (size_t)n * n, 1.0);
    memset(p->o, 0, sizeof(float) * (size_t)n * n); /* resident from the start, like the operands */
}

/* the machine's peak: OpenBLAS's own threading over all of this rank's threads (the forward runs
 * OpenBLAS serially inside its tiles: gemm.h) */
static inline double peak_time(const Peak *p) {
    double best = 1e30;
    openblas_set_num_threads(omp_get_max_threads());
    for (int i = 0; i < 2; i++) {
        const double t0 = df_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p->n, p->n, p->n, 1.0f, p->x, p->n, p->w, p->n, 0.0f, p->o, p->n);
        const double t = df_now() - t0;
        best = t < best ? t : best;
    }
    gemm_init();
    return best;
}

static inline void peak_free(Peak *p) {
    free(p->x);
    free(p->w);
    free(p->o);
}

/* Idle BLAS and OpenMP threads spin for a while before they sleep (OpenBLAS: 2^28 cycles, ~0.1 s);
 * let one pool (or process) go quiet before timing another. */
static inline void settle(void) {
    const struct timespec ts = {0, 250000000};
    nanosleep(&ts, NULL);
}

/* ---- PyTorch, over a pipe (torch_block.py's protocol: "ready", then "run" -> "time S") --------- */

typedef struct {
    pid_t pid;
    FILE *to, *from;
} Torch;

/* start argv[0] (a script) with argv; wait for its "ready" */
static inline int torch_start_argv(Torch *tp, char *const argv[]) {
    const char *script = argv[0];
    char line[256];
    int to[2], from[2];
    if (pipe(to) || pipe(from)) return df_fail("pipe failed");
    fflush(stdout);
    tp->pid = fork();
    if (tp->pid < 0) return df_fail("fork failed");
    if (tp->pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]), close(to[1]), close(from[0]), close(from[1]);
        execv(script, argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    tp->to = fdopen(to[1], "w");
    tp->from = fdopen(from[0], "r");
    while (fgets(line, sizeof line, tp->from))
        if (!strncmp(line, "ready", 5)) return 0;
    return df_fail("%s did not start", script);
}

static inline int torch_run(Torch *tp, double *seconds) {
    char line[256];
    fputs("run\n", tp->to);
    fflush(tp->to);
    if (!fgets(line, sizeof line, tp->from) || sscanf(line, "time %lf", seconds) != 1) return df_fail("torch stopped");
    return 0;
}

static inline void torch_stop(Torch *tp) {
    fclose(tp->to); /* EOF ends its loop */
    fclose(tp->from);
    waitpid(tp->pid, NULL, 0);
}

/* min / median of seconds, and the same as GFLOP/s */
static inline void report(const char *who, double *t, int n, double gflop, const char *extra) {
    Stat s = stat_of(t, n);
    printf("  %-22s min %8.4f s  median %8.4f s | %7.1f GFLOP/s (median %7.1f)%s\n", who, s.min, s.median,
           gflop / s.min, gflop / s.median, extra ? extra : "");
}

#endif
