/* FlattenGPT (notes: gptailor_flattengpt.md part B; docs/flattengpt.md): adjacent blocks are
 * flattened into one wide block (their heads and MLP channels side by side, the two blocks then
 * applied in parallel to the same input), and the wide block is pruned back to the original width:
 * KV groups by their heads' output contribution, MLP channels by ridge leverage on the Gram matrix
 * of the flattened intermediate activations, with the down projection (and optionally the output
 * projection) compensated by the ridge least-squares solution. Training-free. */
#ifndef DEPTHFUSE_FLATTENGPT_H
#define DEPTHFUSE_FLATTENGPT_H
#include <cjson/cJSON.h>

#include "depthfuse/calib.h"
#include "depthfuse/linalg.h"
#include "depthfuse/model.h"
#include "depthfuse/topology.h"

/* ---- the pieces (flattengpt_flatten.c) ---- */

/* c with g blocks' worth of heads, KV heads and MLP channels (a struct copy: json/path are c's) */
ModelConfig flatten_config(const ModelConfig *c, int g);
/* blks[g] (config c) -> one block of flatten_config(c, g): RMSNorm gains folded into q/k/v and
 * gate/up, rows of q/k/v/gate/up and columns of o/down stacked block after block, q/k/v biases
 * stacked, o biases summed, both norms 1. Its output is x + the sum of the blocks' attentions, then
 * u + the sum of their MLPs on u: the blocks applied in parallel. */
Block *flatten_blocks(const ModelConfig *c, Block *const *blks, int g);
/* The wide block w (config cw) with only the KV heads keep[nkv] (ascending), each with its query
 * heads; o_proj = wo[H, nkv * rep * hd] when given, else the kept heads' columns. The MLP stays
 * wide: the result's config is cw with nkv KV heads and their query heads. */
Block *flatten_keep_heads(const ModelConfig *cw, const Block *w, const int *keep, int nkv, const float *wo);
/* the block with only MLP channels keep[I] (ascending) of a wide MLP, down_proj = down[H, I] */
Block *flatten_keep_channels(const ModelConfig *cm, const Block *w, const int *keep, int I, const float *down);

/* Greedy grouping (notes B.4) on S[(L+1) x (L+1)], the cosine of states 0..L (state i: the input
 * of block i; state L: the last block's output): start from single blocks; merges times join the
 * adjacent groups A = [a..b], B = [b+1..c] of the highest S[a][c + span] (the first on ties). span 0
 * compares the first block's input with the last one's (the notes' reading of "delete column l-1
 * and row l"); span 1 with the last one's output. first[L - merges] = each group's first block. */
void flatten_choose_groups(const double *S, int L, int merges, int span, int *first);

/* ---- the method (flattengpt.c) ---- */

typedef struct {
    double ridge;      /* lambda = ridge x the mean eigenvalue of the Gram matrix (default 10) */
    int wo_comp;       /* compensate o_proj for the pruned heads (ridge solution at head granularity) */
    int dense_inputs;  /* calibration inputs of each group from the dense model, not the compressed prefix */
    int head_score_exact; /* heads scored by || att_h W_O,h^T || instead of the notes' per-dimension formula */
    int block_target;  /* W_D refit to the unpruned flattened block's output, not the wide MLP's alone */
    int span;          /* groups scored by cos(first input, last output) instead of cos(first input, last input) */
    SolverKind solver;
    int nb;            /* ScaLAPACK block size */
    int tokens_per_mb; /* calibration tokens per forward batch */
} FlattenOpts;

typedef struct {
    int first, n;                 /* original blocks [first, first + n) */
    int *kept_kv, *kept_channels; /* indices in the flattened block */
    double lambda, lambda_o, cos, seconds;
    double gram_gflop, gram_seconds, solve_seconds;
    SolverKind solver;
} FlattenGroup;

typedef struct {
    int L, n_groups, n_merged;
    double *S;            /* [L+1, L+1] mean cosine of the states (block inputs, then the output; i < j) */
    int *first;           /* [n_groups] */
    FlattenGroup *merged; /* [n_merged], in model order */
    double seconds_cosine, seconds_groups;
} FlattenResult;

/* Every rank holds the whole model (m, --pipeline 1) and calibrates on its own windows (window w on
 * rank w % ranks). out: the compressed model (L - merges blocks, original widths). Collective. */
int flattengpt_run(FlattenResult *r, Model *out, const Topology *t, const Model *m, const CalibSet *cal, int merges,
                   const FlattenOpts *o);
void flattengpt_free(FlattenResult *r);
cJSON *flattengpt_json(const FlattenResult *r, const ModelConfig *c, const FlattenOpts *o);

#endif
