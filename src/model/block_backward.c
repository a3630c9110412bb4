/* The backward of block_forward.c's Llama block, in reverse order of its forward:
 *   x += s Wd^T     ->  ds = dy Wd;            G_down = dy^T s
 *   s = swiglu(gu)  ->  dgu
 *   gu = n2 Wgu^T   ->  dn2 = dgu Wgu;         G_gate, G_up = dgu[:, gate|up]^T n2
 *   n2 = rms(h)     ->  dh = dy + rms'(dn2);   G_mlp_norm
 *   h += att Wo^T   ->  datt = dh Wo;          G_o (+ G_o_bias)
 *   att = attn(qkv) ->  dq, dk, dv (chunked, from the lse);  rope^T on dq, dk
 *   qkv = n1 Wqkv^T ->  dn1 = dqkv Wqkv;       G_q, G_k, G_v (+ biases)
 *   n1 = rms(x)     ->  dx = dh + rms'(dn1);   G_attn_norm
 * Each dx-side product is one GEMM over the fused q|k|v or gate|up weight; each G is one GEMM into
 * the single scratch G and goes straight to the sink. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/backward.h"
#include "depthfuse/error.h"

static void grad_block_consume(GradSink *s, int w, const float *g, int out, int in) {
    Block *grads = ((BlockGradSink *)s)->grads;
    float *d = grads->w[w];
    const size_t n = (size_t)out * in;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) d[i] += g[i];
}

static float *grad_block_dest(GradSink *s, int w) { return ((BlockGradSink *)s)->grads->w[w]; }

void grad_sink_block(BlockGradSink *s, Block *grads, unsigned want) {
    s->sink.consume = grad_block_consume;
    s->sink.dest = grad_block_dest;
    s->sink.ctx = s;
    s->sink.want = want;
    s->grads = grads;
}

static size_t max_linear(const ModelConfig *c) {
    const size_t H = (size_t)c->hidden, I = (size_t)c->intermediate, Q = (size_t)c->n_heads * c->head_dim;
    size_t m = Q * H > I * H ? Q * H : I * H;
    return m > H ? m : H;
}

void block_grad_work_init(BlockGradWork *w, const ModelConfig *c, int B, int T) {
    const size_t N = (size_t)B * T, H = (size_t)c->hidden, I = (size_t)c->intermediate,
                 Q = (size_t)c->n_heads * c->head_dim, QKV = Q + 2 * (size_t)c->n_kv_heads * c->head_dim;
    const size_t sizes[] = {N * H, N * QKV, N * Q, N * 2 * I, N * I, N * H, max_linear(c)};
    float **ptrs[] = {&w->dn, &w->dqkv, &w->datt, &w->dgu, &w->ds, &w->dh, &w->G};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 15) & ~(size_t)15;
    w->mem = df_alloc_floats(total);
    w->bytes = total * sizeof(float);
    float *p = w->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = p;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    w->B = B;
    w->T = T;
}

void block_grad_work_free(BlockGradWork *w) {
    free(w->mem);
    memset(w, 0, sizeof *w);
}

static int wants(const GradSink *s, int w) { return s && (s->want >> w & 1u); }

/* G[out,in] = dout[:, 0:out]^T x (row strides ldo, ldx) to the sink, if it wants weight w */
static void sink_linear(GradSink *s, BlockGradWork *wk, int w, const float *dout, int ldo, const float *x, int ldx,
                        int N, int in, int out) {
    if (!wants(s, w)) return;
    float *d = s->dest ? s->dest(s, w) : NULL;
    matmul_backward(NULL, d ? d : wk->G, NULL, dout, ldo, x, ldx, NULL, N, in, out, d ? 1.0f : 0.0f);
    if (!d) s->consume(s, w, wk->G, out, in);
}

static void sink_bias(GradSink *s, BlockGradWork *wk, const Block *blk, int w, const float *dout, int ldo, int N,
                      int out) {
    if (!blk->w[w] || !wants(s, w)) return;
    matmul_backward(NULL, NULL, wk->G, dout, ldo, NULL, 0, NULL, N, 0, out, 0.0f);
    s->consume(s, w, wk->G, out, 1);
}

void block_backward(float *dx, const float *dy, BlockActs *a, const float *x_in, const Block *blk,
                    const ModelConfig *c, const Rope *rope, const int32_t *pos, const int32_t *seg, int B, int T,
                    BlockGradWork *wk, GradSink *sink) {
    const int N = B * T, H = c->hidden, I = c->intermediate, hd = c->head_dim;
    const int Q = c->n_heads * hd, KV = c->n_kv_heads * hd, QKV = Q + 2 * KV;
    const size_t NH = (size_t)N * H;
    if (!a->capture || a->B != B || a->T != T || wk->B != B || wk->T != T)
        DF_FATAL("block_backward: activations or work of another shape (or without capture)");
    if (x_in) { /* checkpointing: the activations again, from the block input */
        memcpy(wk->dh, x_in, NH * sizeof(float));
        block_forward_packed(wk->dh, a, blk, c, rope, pos, seg, B, T);
    }
    /* MLP */
    matmul_backward(wk->ds, NULL, NULL, dy, H, a->s, I, blk->w[BW_DOWN], N, I, H, 0.0f);
    sink_linear(sink, wk, BW_DOWN, dy, H, a->s, I, N, I, H);
    swiglu_backward(wk->dgu, wk->ds, a->gu, N, I);
    matmul_backward(wk->dn, NULL, NULL, wk->dgu, 2 * I, a->n2, H, blk->w[BW_GATE], N, H, 2 * I, 0.0f);
    sink_linear(sink, wk, BW_GATE, wk->dgu, 2 * I, a->n2, H, N, H, I);
    sink_linear(sink, wk, BW_UP, wk->dgu + I, 2 * I, a->n2, H, N, H, I);
    memcpy(wk->dh, dy, NH * sizeof(float)); /* the residual: dh = dy + d(mlp)/dh */
    float *gw = wants(sink, BW_MLP_NORM) ? wk->G : NULL;
    if (gw) memset(gw, 0, (size_t)H * sizeof(float));
    rmsnorm_backward(wk->dh, gw, wk->dn, a->h, blk->w[BW_MLP_NORM], a->rstd2, N, H);
    if (gw) sink->consume(sink, BW_MLP_NORM, gw, H, 1);
    /* attention */
    matmul_backward(wk->datt, NULL, NULL, wk->dh, H, a->att, Q, blk->w[BW_O], N, Q, H, 0.0f);
    sink_linear(sink, wk, BW_O, wk->dh, H, a->att, Q, N, Q, H);
    sink_bias(sink, wk, blk, BW_O_BIAS, wk->dh, H, N, H);
    attention_backward(wk->dqkv, QKV, wk->dqkv + Q, wk->dqkv + Q + KV, QKV, wk->datt, a->att, a->lse, a->qkv, QKV,
                       a->qkv + Q, a->qkv + Q + KV, QKV, seg, B, T, c->n_heads, c->n_kv_heads, hd);
    rope_backward_pos(wk->dqkv, rope, pos, B, T, c->n_heads + c->n_kv_heads, QKV);
    matmul_backward(wk->dn, NULL, NULL, wk->dqkv, QKV, a->n1, H, blk->w[BW_Q], N, H, QKV, 0.0f);
    sink_linear(sink, wk, BW_Q, wk->dqkv, QKV, a->n1, H, N, H, Q);
    sink_linear(sink, wk, BW_K, wk->dqkv + Q, QKV, a->n1, H, N, H, KV);
    sink_linear(sink, wk, BW_V, wk->dqkv + Q + KV, QKV, a->n1, H, N, H, KV);
    sink_bias(sink, wk, blk, BW_Q_BIAS, wk->dqkv, QKV, N, Q);
    sink_bias(sink, wk, blk, BW_K_BIAS, wk->dqkv + Q, QKV, N, KV);
    sink_bias(sink, wk, blk, BW_V_BIAS, wk->dqkv + Q + KV, QKV, N, KV);
    if (dx != wk->dh) memcpy(dx, wk->dh, NH * sizeof(float));
    gw = wants(sink, BW_ATTN_NORM) ? wk->G : NULL;
    if (gw) memset(gw, 0, (size_t)H * sizeof(float));
    rmsnorm_backward(dx, gw, wk->dn, a->x_in, blk->w[BW_ATTN_NORM], a->rstd1, N, H);
    if (gw) sink->consume(sink, BW_ATTN_NORM, gw, H, 1);
}
