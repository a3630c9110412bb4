/* One Llama decoder block (HF LlamaDecoderLayer), fp32:
 *   n1 = rmsnorm(x) ; q|k|v = n1 Wqkv^T (+b) ; rope(q), rope(k) ; att = causal GQA attention (by segments)
 *   x += att Wo^T (+b) ; n2 = rmsnorm(x) ; g|u = n2 Wgu^T ; s = silu(g) * u ; x += s Wd^T
 * FLOPs per token: 2 H (Q + 2 KV) + 2 Q H + 6 H I for the linears, ~2 T Q for attention (causal). */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"

void block_acts_init(BlockActs *a, const ModelConfig *c, int B, int T, int capture) {
    const size_t N = (size_t)B * T, H = (size_t)c->hidden, I = (size_t)c->intermediate,
                 Q = (size_t)c->n_heads * c->head_dim, QKV = Q + 2 * (size_t)c->n_kv_heads * c->head_dim;
    const size_t sizes[] = {N * H, N * QKV, N * Q, N * H, N * 2 * I, N * I, N * H, N, N, (size_t)B * c->n_heads * T,
                            capture ? N * H : 0, capture ? N * H : 0};
    float **ptrs[] = {&a->n1, &a->qkv, &a->att, &a->n2, &a->gu, &a->s, &a->tmp, &a->rstd1, &a->rstd2, &a->lse, &a->x_in, &a->h};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 15) & ~(size_t)15;
    a->mem = df_alloc_floats(total);
    a->bytes = total * sizeof(float);
    float *p = a->mem;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        *ptrs[i] = sizes[i] ? p : NULL;
        p += (sizes[i] + 15) & ~(size_t)15;
    }
    a->B = B;
    a->T = T;
    a->capture = capture;
}

void block_acts_free(BlockActs *a) {
    free(a->mem);
    memset(a, 0, sizeof *a);
}

void block_forward_packed(float *x, BlockActs *a, const Block *blk, const ModelConfig *c, const Rope *rope,
                          const int32_t *pos, const int32_t *seg, int B, int T) {
    const int N = B * T, H = c->hidden, I = c->intermediate, hd = c->head_dim;
    const int Q = c->n_heads * hd, KV = c->n_kv_heads * hd, QKV = Q + 2 * KV;
    if (a->capture) memcpy(a->x_in, x, (size_t)N * H * sizeof(float));
    /* attention */
    rmsnorm_forward(a->n1, a->rstd1, x, blk->w[BW_ATTN_NORM], N, H, c->rms_eps);
    matmul_forward(a->qkv, a->n1, blk->w[BW_Q], blk->w[BW_Q_BIAS], N, H, QKV); /* q|k|v (and biases) are adjacent */
    rope_forward_pos(a->qkv, rope, pos, B, T, c->n_heads + c->n_kv_heads, QKV); /* q heads then k heads */
    attention_forward_seg(a->att, a->lse, a->qkv, QKV, a->qkv + Q, a->qkv + Q + KV, QKV, seg, B, T, c->n_heads,
                          c->n_kv_heads, hd);
    matmul_forward(a->tmp, a->att, blk->w[BW_O], blk->w[BW_O_BIAS], N, Q, H);
    residual_forward(x, a->tmp, (size_t)N * H);
    if (a->capture) memcpy(a->h, x, (size_t)N * H * sizeof(float));
    /* MLP */
    rmsnorm_forward(a->n2, a->rstd2, x, blk->w[BW_MLP_NORM], N, H, c->rms_eps);
    matmul_forward(a->gu, a->n2, blk->w[BW_GATE], NULL, N, H, 2 * I); /* gate|up adjacent */
    swiglu_forward(a->s, a->gu, N, I);
    matmul_forward(a->tmp, a->s, blk->w[BW_DOWN], NULL, N, I, H);
    residual_forward(x, a->tmp, (size_t)N * H);
}

void block_forward(float *x, BlockActs *a, const Block *blk, const ModelConfig *c, const Rope *rope, int B, int T) {
    block_forward_packed(x, a, blk, c, rope, NULL, NULL, B, T);
}
