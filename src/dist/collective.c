#include "depthfuse/collective.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "depthfuse/error.h"

enum { CHUNK = 1 << 28 };

void df_allreduce_sum(float *buf, size_t n, MPI_Comm comm) {
    if (df_comm_size(comm) == 1) return;
    for (size_t o = 0; o < n; o += CHUNK) {
        const int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_FLOAT, MPI_SUM, comm);
    }
}

double df_allreduce_sum_double(double v, MPI_Comm comm) {
    double s = v;
    if (df_comm_size(comm) > 1) MPI_Allreduce(&v, &s, 1, MPI_DOUBLE, MPI_SUM, comm);
    return s;
}

void df_allreduce_lse(float *lse, size_t n, MPI_Comm comm) {
    if (df_comm_size(comm) == 1) return;
    float *mx = df_alloc_floats(n);
    for (size_t i = 0; i < n; i++) mx[i] = lse[i];
    for (size_t o = 0; o < n; o += CHUNK) {
        const int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_Allreduce(MPI_IN_PLACE, mx + o, k, MPI_FLOAT, MPI_MAX, comm);
    }
    for (size_t i = 0; i < n; i++) lse[i] = isinf(lse[i]) ? 0.0f : expf(lse[i] - mx[i]);
    df_allreduce_sum(lse, n, comm);
    for (size_t i = 0; i < n; i++) lse[i] = mx[i] + logf(lse[i]);
    free(mx);
}

void df_bcast_floats(float *buf, size_t n, int root, MPI_Comm comm) {
    if (df_comm_size(comm) == 1) return;
    for (size_t o = 0; o < n; o += CHUNK) {
        const int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_Bcast(buf + o, k, MPI_FLOAT, root, comm);
    }
}

MPI_Comm df_comm_split(MPI_Comm comm, int color) {
    int r;
    MPI_Comm_rank(comm, &r);
    MPI_Comm out;
    MPI_Comm_split(comm, color, r, &out);
    return out;
}

void df_comm_free(MPI_Comm *comm) {
    if (*comm != MPI_COMM_NULL && *comm != MPI_COMM_SELF && *comm != MPI_COMM_WORLD) MPI_Comm_free(comm);
    *comm = MPI_COMM_NULL;
}

int df_comm_size(MPI_Comm comm) {
    int n;
    MPI_Comm_size(comm, &n);
    return n;
}

int df_comm_rank(MPI_Comm comm) {
    int r;
    MPI_Comm_rank(comm, &r);
    return r;
}

void df_send_floats(const float *buf, size_t n, int peer, MPI_Comm comm) {
    for (size_t o = 0; o < n; o += CHUNK) {
        const int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_Send(buf + o, k, MPI_FLOAT, peer, 11, comm);
    }
}

void df_recv_floats(float *buf, size_t n, int peer, MPI_Comm comm) {
    for (size_t o = 0; o < n; o += CHUNK) {
        const int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        MPI_Recv(buf + o, k, MPI_FLOAT, peer, 11, comm, MPI_STATUS_IGNORE);
    }
}
