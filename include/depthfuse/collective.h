/* Reductions the trainer needs (src/dist/collective.c: the runner is the only code that talks MPI).
 * Each is collective over comm and gives every rank the same bits. */
#ifndef DEPTHFUSE_COLLECTIVE_H
#define DEPTHFUSE_COLLECTIVE_H
#include <mpi.h>
#include <stddef.h>

/* buf[n] <- the sum over comm's ranks, in place (chunked past INT_MAX) */
void df_allreduce_sum(float *buf, size_t n, MPI_Comm comm);
double df_allreduce_sum_double(double v, MPI_Comm comm);
/* lse[n]: each rank's log-sum-exp of its own terms (-inf: none) <- log-sum-exp over every rank's
 * (max over ranks, then the sum of exp(lse - max)) */
void df_allreduce_lse(float *lse, size_t n, MPI_Comm comm);
/* buf[n] from root to every rank of comm */
void df_bcast_floats(float *buf, size_t n, int root, MPI_Comm comm);
/* point to point within comm (pipeline stages): buf[n] to / from rank peer */
void df_send_floats(const float *buf, size_t n, int peer, MPI_Comm comm);
void df_recv_floats(float *buf, size_t n, int peer, MPI_Comm comm);
/* a communicator of the world's ranks with the same color (rank order kept); free with df_comm_free */
MPI_Comm df_comm_split(MPI_Comm comm, int color);
void df_comm_free(MPI_Comm *comm);
int df_comm_size(MPI_Comm comm);
int df_comm_rank(MPI_Comm comm);

#endif
