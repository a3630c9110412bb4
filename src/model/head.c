/* Embedding in, final norm + lm_head out. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"

void model_rope_init(Rope *r, const ModelConfig *c, int T) {
    float *inv = df_alloc_floats((size_t)c->head_dim / 2);
    config_rope_inv_freq(c, inv);
    rope_init(r, inv, c->head_dim / 2, T);
    free(inv);
}

void model_embed(float *x, const Model *m, const int32_t *ids, int N) {
    embedding_forward(x, ids, m->embed, N, m->cfg.hidden);
}

void model_logits(float *logits, const Model *m, const float *x, int N) {
    const int H = m->cfg.hidden;
    float *xn = df_alloc_floats((size_t)N * H);
    rmsnorm_forward(xn, NULL, x, m->final_norm, N, H, m->cfg.rms_eps);
    matmul_forward(logits, xn, m->lm_head, NULL, N, H, m->cfg.vocab);
    free(xn);
}

double model_nll(float *nll, const Model *m, const float *x, const int32_t *targets, int N) {
    const int H = m->cfg.hidden, V = m->cfg.vocab;
    /* rows per slab: ~64 MB of logits, at least 64 rows so the GEMM stays well shaped */
    int rows = (int)((16u << 20) / (unsigned)V);
    rows = rows < 64 ? 64 : rows;
    rows = rows > N ? N : rows;
    float *xn = df_alloc_floats((size_t)rows * H), *logits = df_alloc_floats((size_t)rows * V);
    double total = 0.0;
    for (int r0 = 0; r0 < N; r0 += rows) {
        const int n = N - r0 < rows ? N - r0 : rows;
        rmsnorm_forward(xn, NULL, x + (size_t)r0 * H, m->final_norm, n, H, m->cfg.rms_eps);
        matmul_forward(logits, xn, m->lm_head, NULL, n, H, V);
        total += cross_entropy_forward(nll ? nll + r0 : NULL, logits, targets + r0, n, V);
    }
    free(xn);
    free(logits);
    return total;
}

void model_target_logprobs(float *lp, int32_t *greedy, const Model *m, const float *x, const int32_t *targets, int N) {
    const int H = m->cfg.hidden, V = m->cfg.vocab;
    int rows = (int)((16u << 20) / (unsigned)V); /* slabs as in model_nll */
    rows = rows < 64 ? 64 : rows;
    rows = rows > N ? N : rows;
    float *xn = df_alloc_floats((size_t)rows * H), *logits = df_alloc_floats((size_t)rows * V);
    for (int r0 = 0; r0 < N; r0 += rows) {
        const int n = N - r0 < rows ? N - r0 : rows;
        rmsnorm_forward(xn, NULL, x + (size_t)r0 * H, m->final_norm, n, H, m->cfg.rms_eps);
        matmul_forward(logits, xn, m->lm_head, NULL, n, H, V);
        cross_entropy_forward(lp + r0, logits, targets + r0, n, V);
        for (int i = 0; i < n; i++) {
            const float *z = logits + (size_t)i * V;
            int best = 0;
            for (int v = 1; v < V; v++) best = z[v] > z[best] ? v : best;
            lp[r0 + i] = -lp[r0 + i];
            greedy[r0 + i] = best;
        }
    }
    free(xn);
    free(logits);
}
