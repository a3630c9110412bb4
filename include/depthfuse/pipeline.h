/* The runner: the only code that knows about stages, micro-batches and messages. A job is "run
 * this list of blocks over these micro-batches"; micro-batch k goes to data-parallel group
 * k % D, and within a group stage s works on micro-batch j while stage s-1 works on j+1
 * (non-blocking sends/receives of the fp32 residual stream: B*T*hidden*4 bytes per micro-batch). */
#ifndef DEPTHFUSE_PIPELINE_H
#define DEPTHFUSE_PIPELINE_H
#include <stdint.h>

#include "depthfuse/model.h"
#include "depthfuse/topology.h"

typedef struct {
    int B, T;   /* B sequences of T tokens (shorter sequences padded at the end: attention is causal) */
    int *seq;   /* B sequence indices */
    /* optional [B*T], the caller's (not freed here): each token's RoPE position and attention segment,
     * for rows that pack several sequences (block_forward_packed); NULL: positions 0..T-1, causal */
    const int32_t *pos, *seg;
} MicroBatch;

typedef struct {
    /* The block list: blocks[i] runs on stage stage_of[i] (non-decreasing in i). A rank touches
     * only the blocks of its own stage. */
    Block *const *blocks;
    const int *stage_of;
    int n_blocks;
    /* Input on stage 0: embeddings of ids[seq][0..T). Or, when input is set, input() fills x[B*T,H]
     * on stage start_stage (earlier stages sit out), e.g. from cached activations. */
    const int32_t *const *ids;
    int start_stage;
    void (*input)(void *ctx, const MicroBatch *mb, float *x);
    /* optional: called on the running stage after list block i, with its input and output */
    void (*block_hook)(void *ctx, int i, const MicroBatch *mb, const float *x_in, const float *x_out);
    /* called on stage P-1 with the residual stream after the last block (before the final norm) */
    void (*output)(void *ctx, const MicroBatch *mb, const float *x);
    void *ctx;
    const char *progress_label;   /* rank 0 prints a heartbeat when set */
    int all_groups;               /* every group runs every micro-batch (instead of k % D) */
} PipelineJob;

/* Which stage holds each of m's blocks (collective over t->comm: blocks of an edited model stay
 * where they were loaded, so the stage is found from who holds them). */
void model_block_stages(const Topology *t, const Model *m, int *stage_of);
/* the list = the model's own blocks on the stages that hold them (collective) */
void pipeline_job_for_model(PipelineJob *job, int *stage_of_buf, const Topology *t, const Model *m);
/* block forwards (blocks x sequences) this rank has run since start */
long long pipeline_block_forwards(void);
int pipeline_run(const Topology *t, const Model *m, const PipelineJob *job, const MicroBatch *mbs, int n_mb);

/* Micro-batches of n sequences of equal length T: about tokens_per_mb tokens each, but small
 * enough that each group gets at least 2P of them when there is enough data. Free with
 * micro_batches_free. */
MicroBatch *micro_batches_uniform(int n, int T, int tokens_per_mb, const Topology *t, int *n_mb);
void micro_batches_free(MicroBatch *mbs, int n_mb);

#endif
