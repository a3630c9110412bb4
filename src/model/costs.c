/* The cost formulas of include/depthfuse/costs.h. */
#include "depthfuse/costs.h"

#include <stddef.h>

static double aligned(double n) { return (double)(((size_t)n + 15) & ~(size_t)15); } /* 64-byte slabs */

double cost_acts_floats(const ModelConfig *c, int B, int T, int capture) {
    const double N = (double)B * T, H = c->hidden, I = c->intermediate, Q = (double)c->n_heads * c->head_dim,
                 QKV = Q + 2.0 * c->n_kv_heads * c->head_dim;
    const double sizes[] = {N * H, N * QKV, N * Q, N * H, N * 2 * I, N * I, N * H, N, N, (double)B * c->n_heads * T,
                            capture ? N * H : 0, capture ? N * H : 0};
    double total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += aligned(sizes[i]);
    return total;
}

double cost_max_linear(const ModelConfig *c) {
    const double H = c->hidden, I = c->intermediate, Q = (double)c->n_heads * c->head_dim;
    const double m = Q * H > I * H ? Q * H : I * H;
    return m > H ? m : H;
}

double cost_grad_work_floats(const ModelConfig *c, int B, int T) {
    const double N = (double)B * T, H = c->hidden, I = c->intermediate, Q = (double)c->n_heads * c->head_dim,
                 QKV = Q + 2.0 * c->n_kv_heads * c->head_dim;
    const double sizes[] = {N * H, N * QKV, N * Q, N * 2 * I, N * I, N * H, cost_max_linear(c)};
    double total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += aligned(sizes[i]);
    return total;
}

double cost_attn_scratch_floats(const ModelConfig *c, int T) {
    return (double)(c->n_heads / c->n_kv_heads) * 256.0 * T;
}

double cost_attn_backward_floats(const ModelConfig *c, int T) {
    const double g = c->n_heads / c->n_kv_heads;
    return 2 * g * 256 * T + 3 * g * 256 * c->head_dim;
}

static double min2(double a, double b) { return a < b ? a : b; }

double cost_fused_params(const ModelConfig *c, int rank, int lora_rank, int absorbed) {
    const double H = c->hidden, I = c->intermediate, Q = (double)c->n_heads * c->head_dim,
                 KV = (double)c->n_kv_heads * c->head_dim;
    const double out[7] = {Q, KV, KV, H, I, I, H}, in[7] = {H, H, H, Q, H, H, I};
    const int bias[7] = {c->qkv_bias, c->qkv_bias, c->qkv_bias, c->o_bias, 0, 0, 0};
    double n = 2 * H;
    for (int l = 0; l < 7; l++) {
        const double io = out[l] + in[l], cap = min2(out[l], in[l]);
        n += min2(lora_rank, cap) * io + absorbed * (min2(rank, cap) * io + (bias[l] ? out[l] : 0));
    }
    return n;
}

double cost_block_flops(const ModelConfig *c, int T) {
    const double H = c->hidden, I = c->intermediate, Q = (double)c->n_heads * c->head_dim,
                 KV = (double)c->n_kv_heads * c->head_dim;
    const double linears = (Q + 2 * KV) * H + Q * H + 3 * H * I;
    return 2 * linears + 2 * 2 * Q * (T + 1) / 2.0;
}

double cost_head_flops(const ModelConfig *c) { return 2.0 * c->vocab * c->hidden; }

double cost_sweep_block_forwards(int n) { return n + n * (n - 1) / 2.0; }
