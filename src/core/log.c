#include "depthfuse/log.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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

void df_print0(const char *fmt, ...) {
    if (df_rank() != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

void df_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
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

void progress_start(Progress *p, const char *label, long long total) {
    p->label = label;
    p->t0 = p->last = df_now();
    p->interval = isatty(STDOUT_FILENO) ? 1.0 : 10.0;
    p->total = total;
}

void progress_update(Progress *p, long long done) {
    double t = df_now();
    if (done < p->total && t - p->last < p->interval) return;
    p->last = t;
    double el = t - p->t0;
    double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0;
    df_print0("  %s %lld/%lld (%.0f%%) %.1fs elapsed, ETA %.1fs\n", p->label, done, p->total,
              p->total ? 100.0 * (double)done / (double)p->total : 100.0, el, eta);
}
