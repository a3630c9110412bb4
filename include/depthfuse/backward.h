/* The backward pass of one Llama block (src/model/block_backward.c, beside block_forward.c).
 *
 * block_backward turns dy = dL/d(block output) into dx = dL/d(block input) and hands the gradient
 * of every weight the block used to a GradSink, ONE WEIGHT AT A TIME, from one scratch buffer: a
 * linear's G = dY^T X [out,in], a bias's [out], a norm gain's [H]. A plain block's sink adds G to a
 * gradient Block (grad_sink_block); a fused block's sink turns G into the gradients of its low-rank
 * factors (fused.h) and drops it, so no dW per linear is ever stored.
 *
 * Activations: block_backward reads the BlockActs of the forward (block_acts_init with capture = 1,
 * which keeps the block input and the mid-block residual), or, with x_in given, recomputes them from
 * the block input first (checkpointing: only x_in[N,H] per block is kept between forward and
 * backward; one BlockActs is reused by every block). docs/fusegpt.md gives the bytes per token.
 * FLOPs: about 2x the forward's for the linears (dx and G), 2.5x for attention (S recomputed). */
#ifndef DEPTHFUSE_BACKWARD_H
#define DEPTHFUSE_BACKWARD_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/forward.h"

/* Receives the gradient of weight w (BW_Q ... BW_DOWN, BW_*_BIAS, BW_ATTN_NORM, BW_MLP_NORM) as the
 * block used it in the forward: g[out*in] row-major ([out] for biases and gains: in = 1). g is
 * scratch, valid during the call only. Called once per weight whose bit (1u << w) is in want, in a
 * fixed order (down, gate, up, mlp norm, o, o bias, q, k, v, q/k/v biases, attn norm). */
typedef struct GradSink {
    void (*consume)(struct GradSink *s, int w, const float *g, int out, int in);
    /* optional (NULL: always consume): an array to ADD weight w's gradient into directly, which
     * saves the scratch and a pass over it (a plain block's gradient buffer); NULL for w: consume */
    float *(*dest)(struct GradSink *s, int w);
    void *ctx;
    unsigned want; /* bit mask of BlockWeight; weights not wanted cost no G GEMM */
} GradSink;

/* A sink that adds each gradient into the same weight of grads (a zeroed block_new(c): one
 * contiguous buffer in BlockWeight order, so a whole block's gradient is one all-reducible array). */
typedef struct {
    GradSink sink;
    Block *grads;
} BlockGradSink;
void grad_sink_block(BlockGradSink *s, Block *grads, unsigned want);
#define GRAD_WANT_ALL 0xffffffffu

/* Scratch for block_backward over N = B*T tokens, one allocation:
 *   dn[N,H] dqkv[N,QKV] datt[N,Q] dgu[N,2I] ds[N,I] dh[N,H] and G[max out*in of one linear] */
typedef struct {
    int B, T;
    float *dn, *dqkv, *datt, *dgu, *ds, *dh, *G;
    float *mem;
    size_t bytes;
} BlockGradWork;
void block_grad_work_init(BlockGradWork *w, const ModelConfig *c, int B, int T);
void block_grad_work_free(BlockGradWork *w);

/* dx[N,H] (written) = dL/dx from dy[N,H] = dL/d(block output); dx may equal dy (in place).
 * a: the forward's activations (capture = 1) of THE SAME blk, pos, seg, B, T; or, x_in not NULL,
 * a is scratch (capture = 1) and is first filled by block_forward_packed from x_in[N,H] (x_in is
 * not modified). blk: the weights the forward used (for a fused block, its effective weights).
 * sink may be NULL (dx only). */
void block_backward(float *dx, const float *dy, BlockActs *a, const float *x_in, const Block *blk,
                    const ModelConfig *c, const Rope *rope, const int32_t *pos, const int32_t *seg, int B, int T,
                    BlockGradWork *w, GradSink *sink);

#endif
