/* The decoder forward, block by block. block_forward is the entry point every compression method
 * builds on: residual stream in, residual stream out, with the intermediates a backward pass needs
 * left in BlockActs (and the block input and mid-block residual too when capture is on). */
#ifndef DEPTHFUSE_FORWARD_H
#define DEPTHFUSE_FORWARD_H
#include <stdint.h>

#include "depthfuse/model.h"
#include "depthfuse/ops.h"

/* Activations of one block over N = B*T tokens, in one allocation:
 *   n1[N,H] qkv[N,(nh+2nkv)hd] (q,k after RoPE) att[N,nh*hd] n2[N,H] gu[N,2I] s[N,I] tmp[N,H]
 *   rstd1[N] rstd2[N] lse[B,nh,T];  with capture: x_in[N,H] (block input), h[N,H] (after attention) */
typedef struct {
    int B, T, capture;
    float *n1, *qkv, *att, *n2, *gu, *s, *tmp, *rstd1, *rstd2, *lse, *x_in, *h;
    float *mem;
    size_t bytes;
} BlockActs;

void block_acts_init(BlockActs *a, const ModelConfig *c, int B, int T, int capture);
void block_acts_free(BlockActs *a);

/* x[B*T,H] <- block(x) for B rows of T tokens at the RoPE positions pos[B*T] with attention segments
 * seg[B*T] (ops.h: attention_forward_seg), so that a row can hold a context once and several
 * continuations of it; pos NULL: 0..T-1 in every row, seg NULL: plain causal. rope must cover
 * every position. block_forward is block_forward_packed with both NULL. */
void block_forward_packed(float *x, BlockActs *a, const Block *blk, const ModelConfig *c, const Rope *rope,
                          const int32_t *pos, const int32_t *seg, int B, int T);
void block_forward(float *x, BlockActs *a, const Block *blk, const ModelConfig *c, const Rope *rope, int B, int T);

/* RoPE tables for this config and T positions */
void model_rope_init(Rope *r, const ModelConfig *c, int T);

/* x[N,H] = embedding of ids */
void model_embed(float *x, const Model *m, const int32_t *ids, int N);
/* logits[N,V] of the residual stream x[N,H] (final norm applied here; x is not modified) */
void model_logits(float *logits, const Model *m, const float *x, int N);
/* sum over rows of -log p(targets[n]) (rows with target < 0 skipped); nll[N] per row if not NULL.
 * Works through the vocabulary a slab of rows at a time, so [N,V] logits never exist at once. */
double model_nll(float *nll, const Model *m, const float *x, const int32_t *targets, int N);
/* Per row of x[N,H]: lp[n] = log p(targets[n]) (targets >= 0) and greedy[n] = the argmax of the
 * logits (the first on ties), slabbed over the vocabulary like model_nll. For continuation scoring. */
void model_target_logprobs(float *lp, int32_t *greedy, const Model *m, const float *x, const int32_t *targets, int N);
/* logits[T,V] of one sequence through the whole model, in one process holding every part (tests,
 * tools; distributed runs go through pipeline_run) */
void model_forward_logits(float *logits, const Model *m, const int32_t *ids, int T);

#endif
