/* The job's layout: world = P pipeline stages x D data-parallel groups, rank = group * P + stage
 * (a pipeline's stages are neighbouring ranks, so they share a node when they can). Blocks are split
 * into P contiguous stages balanced by parameter count; the embedding is on stage 0, the final norm
 * and lm_head on stage P-1. Rank 0 coordinates and alone prints. */
#ifndef DEPTHFUSE_TOPOLOGY_H
#define DEPTHFUSE_TOPOLOGY_H
#include <cjson/cJSON.h>
#include <mpi.h>

#include "depthfuse/model.h"

typedef struct {
    int rank, size;      /* in MPI_COMM_WORLD */
    int P, D;            /* stages, data-parallel groups */
    int stage, group;
    MPI_Comm pipe;       /* the P ranks of this rank's group; rank in it = stage */
    MPI_Comm stage_comm; /* the D ranks holding this rank's stage; rank in it = group */
    MPI_Comm comm;       /* the ranks that run a job together: the world, or one group (topology_group_view) */
    int *stage_first;    /* [P+1]: stage s holds blocks [stage_first[s], stage_first[s+1]) */
    int n_blocks;
} Topology;

/* {ranks, pipeline_stages, data_parallel_groups, threads_per_rank}: the layout as reports and the
 * event log give it */
cJSON *topology_layout_json(const Topology *t);

/* Checks run once after MPI_Init: refuse a world of 1 under SLURM_NTASKS > 1 (a misconfigured
 * srun), and set BLAS/OpenMP threads per rank (OPENBLAS_NUM_THREADS wins; else the node's cores
 * divided by the ranks on the node, capped by the cores the rank is bound to; omp_get_max_threads()
 * tells the choice). Collective over MPI_COMM_WORLD. */
int df_startup_checks(void);

/* Agree on an outcome: returns 0 if rc >= 0 on every rank of comm, else -1 on every rank with
 * df_errmsg() set everywhere to the message of the lowest failing rank. */
int df_agree(MPI_Comm comm, int rc);

/* P stages over the blocks of config c (P must divide the world size and not exceed the blocks) */
int topology_init(Topology *t, int P, const ModelConfig *c);
void topology_free(Topology *t);
/* the stages topology_init gives P stages of config c: first[P+1] (no communication; the planner) */
void topology_stage_split(int *first, const ModelConfig *c, int P);
/* This rank's group seen as a job of its own (P stages x 1 group, comm = the group's pipe), so the
 * evaluators (perplexity, loglik) run a different model in each group at once. Borrows t's
 * communicators: not freed by topology_free. */
void topology_group_view(Topology *v, const Topology *t);
/* Searches that run one candidate per group (GPTailor): rank 0's n doubles to every rank, and each
 * group's n doubles (from its stage-0 rank) to rank 0 as all[group * n + i]. Collective. */
void dist_bcast_doubles(double *buf, int n);
void dist_gather_groups(const Topology *t, const double *mine, int n, double *all);
/* the parts of the model this rank holds */
ModelPart topology_part(const Topology *t);
/* Contiguous split of n items with weights w into P parts minimising the heaviest part, with
 * extra[0] added to the first part and extra[1] to the last (embedding, head). first[P+1]. */
void partition_balanced(int *first, const double *w, int n, int P, const double extra[2]);

#endif
