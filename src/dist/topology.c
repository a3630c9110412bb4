#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "depthfuse/topology.h"

#include <cblas.h>
#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/gemm.h"
#include "depthfuse/log.h"

int df_agree(MPI_Comm comm, int rc) {
    int rank, first;
    MPI_Comm_rank(comm, &rank);
    int bad = rc < 0 ? rank : INT_MAX;
    MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == INT_MAX) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", rank == first ? df_errmsg() : "");
    MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm);
    df_fail("%s", msg);
    return -1;
}

/* The cores this rank may run on (mpirun binds each rank to one core by default when it starts 2
 * ranks or fewer, Slurm to its --cpus-per-task). */
static int cores_bound(void) {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : INT_MAX;
}

/* Collective: OPENBLAS_NUM_THREADS, else the node's cores over the ranks on it, capped by the cores
 * this rank is bound to (more threads than those would only take turns). Says once, on rank 0, when
 * a rank is bound to fewer cores than its share. */
static int threads_per_rank(void) {
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    MPI_Comm node;
    int local = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    MPI_Comm_free(&node);
    const int share = (int)(sysconf(_SC_NPROCESSORS_ONLN) / local), bound = cores_bound();
    int short_by = share > bound ? share - bound : 0, most_short;
    MPI_Allreduce(&short_by, &most_short, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (most_short > 0 && df_rank() == 0)
        df_warn("a rank is bound to %d fewer cores than its share of the node (%d); threads follow the binding: "
                "mpirun --bind-to none, or --map-by slot:PE=%d, gives each rank its share",
                most_short, share, share);
    const int n = share < bound ? share : bound;
    return n > 0 ? n : 1;
}

int df_startup_checks(void) {
    const char *nt = getenv("SLURM_NTASKS");
    int size = df_nranks(), rc = 0;
    if (nt && atoi(nt) > 1 && size == 1)
        rc = df_fail("SLURM_NTASKS=%s but this MPI world has 1 rank: srun started independent copies "
                     "(use mpirun, or srun --mpi=pmix with a PMI-enabled Open MPI)", nt);
    gemm_init(); /* OpenMP's threads are the only pool: see gemm.h */
    omp_set_num_threads(threads_per_rank());
    return df_agree(MPI_COMM_WORLD, rc);
}

void partition_balanced(int *first, const double *w, int n, int P, const double extra[2]) {
    /* best[s][i]: the lightest heaviest-part over splits of items [0,i) into s+1 non-empty parts */
    double *pre = df_calloc((size_t)n + 1, sizeof(double));
    for (int i = 0; i < n; i++) pre[i + 1] = pre[i] + w[i];
    double *best = df_malloc(sizeof(double) * (size_t)P * (n + 1));
    int *cut = df_calloc((size_t)P * (n + 1), sizeof(int));
#define BEST(s, i) best[(size_t)(s) * (n + 1) + (i)]
#define CUT(s, i) cut[(size_t)(s) * (n + 1) + (i)]
    for (int s = 0; s < P; s++)
        for (int i = 0; i <= n; i++) {
            BEST(s, i) = 1e300;
            double tail = (i == n) ? extra[1] : 0.0;
            if (s == 0) {
                if (i >= 1) BEST(0, i) = pre[i] + extra[0] + tail;
                continue;
            }
            for (int j = s; j < i; j++) {
                double part = pre[i] - pre[j] + tail, v = BEST(s - 1, j) > part ? BEST(s - 1, j) : part;
                if (v < BEST(s, i)) {
                    BEST(s, i) = v;
                    CUT(s, i) = j;
                }
            }
        }
    first[P] = n;
    for (int s = P - 1, i = n; s > 0; s--) {
        i = CUT(s, i);
        first[s] = i;
    }
    first[0] = 0;
#undef BEST
#undef CUT
    free(pre);
    free(best);
    free(cut);
}

int topology_init(Topology *t, int P, const ModelConfig *c) {
    memset(t, 0, sizeof *t);
    MPI_Comm_rank(MPI_COMM_WORLD, &t->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &t->size);
    if (P < 1 || t->size % P)
        return df_fail("--pipeline %d does not divide the %d ranks of this job", P, t->size);
    if (P > c->n_layers) return df_fail("--pipeline %d exceeds the model's %d blocks", P, c->n_layers);
    t->P = P;
    t->D = t->size / P;
    t->stage = t->rank % P;
    t->group = t->rank / P;
    t->n_blocks = c->n_layers;
    MPI_Comm_split(MPI_COMM_WORLD, t->group, t->stage, &t->pipe);
    MPI_Comm_split(MPI_COMM_WORLD, t->stage, t->group, &t->stage_comm);
    t->comm = MPI_COMM_WORLD;
    t->stage_first = df_malloc(sizeof(int) * (size_t)(P + 1));
    topology_stage_split(t->stage_first, c, P);
    return 0;
}

void topology_stage_split(int *first, const ModelConfig *c, int P) {
    double *w = df_malloc(sizeof(double) * (size_t)c->n_layers);
    for (int i = 0; i < c->n_layers; i++) w[i] = (double)config_block_params(c);
    double VH = (double)c->vocab * c->hidden, extra[2] = {VH, VH + c->hidden};
    partition_balanced(first, w, c->n_layers, P, extra);
    free(w);
}

void topology_free(Topology *t) {
    if (t->pipe != MPI_COMM_NULL && t->pipe) MPI_Comm_free(&t->pipe);
    if (t->stage_comm != MPI_COMM_NULL && t->stage_comm) MPI_Comm_free(&t->stage_comm);
    free(t->stage_first);
    memset(t, 0, sizeof *t);
}

void topology_group_view(Topology *v, const Topology *t) {
    *v = *t;
    v->rank = t->stage;
    v->size = t->P;
    v->D = 1;
    v->group = 0;
    v->stage_comm = MPI_COMM_SELF;
    v->comm = t->pipe;
}

void dist_bcast_doubles(double *buf, int n) { MPI_Bcast(buf, n, MPI_DOUBLE, 0, MPI_COMM_WORLD); }

void dist_gather_groups(const Topology *t, const double *mine, int n, double *all) {
    double *every = t->rank == 0 ? df_malloc(sizeof(double) * (size_t)n * t->size) : NULL;
    MPI_Gather(mine, n, MPI_DOUBLE, every, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    for (int g = 0; t->rank == 0 && g < t->D; g++) memcpy(all + (size_t)g * n, every + (size_t)g * t->P * n, sizeof(double) * n);
    free(every);
}

ModelPart topology_part(const Topology *t) {
    ModelPart p = {t->stage_first[t->stage], t->stage_first[t->stage + 1], t->stage == 0, t->stage == t->P - 1};
    return p;
}


cJSON *topology_layout_json(const Topology *t) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "ranks", t->size);
    cJSON_AddNumberToObject(f, "pipeline_stages", t->P);
    cJSON_AddNumberToObject(f, "data_parallel_groups", t->D);
    cJSON_AddNumberToObject(f, "threads_per_rank", omp_get_max_threads());
    return f;
}
