/* Output conventions: stdout is rank 0's alone (tables, progress); warnings and errors go to
 * stderr. df_now() is a wall clock in seconds. */
#ifndef DEPTHFUSE_LOG_H
#define DEPTHFUSE_LOG_H

int df_rank(void);     /* rank in MPI_COMM_WORLD (0 before MPI_Init) */
int df_nranks(void);
void df_print0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* rank 0, stdout */
void df_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));     /* any rank, stderr */
double df_now(void);

/* A heartbeat for long loops: prints "LABEL done/total (pct) elapsed, ETA" on rank 0 at most every
 * interval seconds, and a final line when done == total. */
typedef struct {
    const char *label;
    double t0, last, interval;
    long long total;
} Progress;
void progress_start(Progress *p, const char *label, long long total);
void progress_update(Progress *p, long long done);

#endif
