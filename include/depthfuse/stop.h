/* Preemption: SIGUSR1 (Slurm's --signal=B:USR1@T, forwarded by mpirun and srun) and SIGTERM ask the
 * job to stop at its next safe point. The handler only sets a flag; long loops call df_stop_agreed()
 * at a safe point (the end of a fusion step, a trial, a greedy removal, an evaluation batch), which is
 * collective: every rank gets 1 when any rank was signalled. The caller then makes sure its state is
 * on disk and returns df_stop_fail(), and the command exits with DF_EXIT_STOPPED on every rank; the
 * same command with the same state continues. */
#ifndef DEPTHFUSE_STOP_H
#define DEPTHFUSE_STOP_H
#include <mpi.h>

enum { DF_EXIT_STOPPED = 75 }; /* EX_TEMPFAIL: stopped on request, resume with the same command */

void df_stop_install(void);           /* once, after MPI_Init */
int df_stop_requested(void);          /* this rank was signalled (rank-local, no communication) */
int df_stop_signal(void);             /* the signal that asked (0: none) */
/* collective over comm: 1 on every rank if any was signalled; point names the safe point (for tests:
 * DF_TEST_STOP_AT=POINT:N[:TERM] makes the last rank signal itself the N-th time POINT is reached) */
int df_stop_agreed(MPI_Comm comm, const char *point);
/* the test hook alone, for places inside a unit of work (the signal then waits for the next safe point) */
void df_stop_test_point(const char *point);
/* records the stop as this rank's outcome (df_errmsg names what resumes it) and returns -1 */
int df_stop_fail(const char *resume_hint);
int df_stopped(void);                 /* df_stop_fail was called: exit DF_EXIT_STOPPED */

#endif
