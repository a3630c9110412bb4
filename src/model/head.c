/* Embedding in, final norm + lm_head out. */
#include <math.h>
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

/* Rows of x a slab at a time and, within a slab, the vocabulary a tile of lm_head rows at a time: the
 * [rows, Vt] logits (8 MB) are still in cache for the log-sum-exp, and no [N,V] buffer is paged in. */
enum { HEAD_ROWS = 512, HEAD_TILE = 2 << 20 };

double model_nll(float *nll, const Model *m, const float *x, const int32_t *targets, int N) {
    const int H = m->cfg.hidden, V = m->cfg.vocab, rows = N < HEAD_ROWS ? N : HEAD_ROWS;
    const int vt = HEAD_TILE / rows < V ? HEAD_TILE / rows : V;
    float *xn = df_alloc_floats((size_t)rows * H), *logits = df_alloc_floats((size_t)rows * vt);
    float *mx = df_alloc_floats((size_t)rows), *tz = df_alloc_floats((size_t)rows);
    double *sum = df_malloc(sizeof(double) * (size_t)rows), total = 0.0;
    for (int r0 = 0; r0 < N; r0 += rows) {
        const int n = N - r0 < rows ? N - r0 : rows;
        rmsnorm_forward(xn, NULL, x + (size_t)r0 * H, m->final_norm, n, H, m->cfg.rms_eps);
        for (int i = 0; i < n; i++) mx[i] = -INFINITY, sum[i] = 0.0;
        for (int v0 = 0; v0 < V; v0 += vt) {
            const int w = V - v0 < vt ? V - v0 : vt;
            matmul_forward(logits, xn, m->lm_head + (size_t)v0 * H, NULL, n, H, w);
            logsumexp_tile(mx, sum, tz, logits, targets + r0, n, w, v0);
        }
        for (int i = 0; i < n; i++) { /* a fixed-order sum: the same at any thread count */
            const double e = targets[r0 + i] < 0 ? 0.0 : (double)mx[i] + log(sum[i]) - (double)tz[i];
            total += e;
            if (nll) nll[r0 + i] = (float)e;
        }
    }
    free(xn);
    free(logits);
    free(mx);
    free(tz);
    free(sum);
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

void model_forward_logits(float *logits, const Model *m, const int32_t *ids, int T) {
    float *x = df_alloc_floats((size_t)T * m->cfg.hidden);
    BlockActs a;
    Rope r;
    block_acts_init(&a, &m->cfg, 1, T, 0);
    model_rope_init(&r, &m->cfg, T);
    model_embed(x, m, ids, T);
    for (int l = 0; l < m->cfg.n_layers; l++) block_forward(x, &a, m->blocks[l], &m->cfg, &r, 1, T);
    model_logits(logits, m, x, T);
    rope_free(&r);
    block_acts_free(&a);
    free(x);
}
