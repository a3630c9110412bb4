/* Fast paths of the decoder ops (see include/depthfuse/ops.h); naive twins in ops_ref.c.
 * One thread pool, OpenMP's: GEMMs are split into tiles fixed by their shapes (gemm.h), attention
 * into (sequence, kv head, chunk) jobs, the row-wise ops into rows, each piece computed serially.
 * So results are bit-identical at any thread count, and no second pool (OpenBLAS's) spins beside
 * this one (two pools cost 30% of the forward on 2 cores: docs/performance.md). */
#include "depthfuse/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/gemm.h"

void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, table + (size_t)ids[n] * C, (size_t)C * sizeof(float));
}

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++) ss += xr[i] * xr[i];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int i = 0; i < C; i++) o[i] = (xr[i] * r) * w[i];
        if (rstd) rstd[n] = r;
    }
}

void matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int C, int OC) {
    if (bias) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
    }
    gemm_nt(N, OC, C, 1.0f, x, C, w, C, bias ? 1.0f : 0.0f, out, OC);
}

void rope_init(Rope *r, const float *inv_freq, int half, int T) {
    r->T = T;
    r->half = half;
    r->cos = df_alloc_floats((size_t)T * half);
    r->sin = df_alloc_floats((size_t)T * half);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float a = (float)t * inv_freq[i]; /* fp32 angle, as transformers computes it */
            r->cos[(size_t)t * half + i] = (float)cos((double)a);
            r->sin[(size_t)t * half + i] = (float)sin((double)a);
        }
}

void rope_free(Rope *r) {
    free(r->cos);
    free(r->sin);
    r->cos = r->sin = NULL;
}

void rope_forward_pos(float *x, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld) {
    const int half = r->half;
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        const int t = pos ? pos[bt] : bt % T;
        const float *c = r->cos + (size_t)t * half, *s = r->sin + (size_t)t * half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + (size_t)bt * ld + (size_t)h * 2 * half;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c[i] - x1 * s[i];
                v[i + half] = x1 * c[i] + x0 * s[i];
            }
        }
    }
}

void rope_forward(float *x, const Rope *r, int B, int T, int nheads, int ld) {
    rope_forward_pos(x, r, NULL, B, T, nheads, ld);
}

/* e^x for the softmax, SiLU and cross-entropy loops, written so that they vectorize (libm's expf is
 * a call per element): x = k ln2 + r, k = round(x / ln2), |r| <= ln2/2; e^r by Cephes' degree-6
 * polynomial; 2^k built in the exponent bits with k clamped to [-127, 128], so 2^-127 reads as 0 and
 * 2^128 as inf (r is clamped only for those). Within 1 ulp of e^x on [-87.3, 88.3] (test_ops); 0
 * below, inf above, NaN stays NaN. GCC if-converts the clamps only with -fno-trapping-math, which
 * CMakeLists.txt sets for this file. */
static inline float exp_fast(float x) {
    float k = x * 1.44269504f + 12582912.0f; /* adding 1.5 * 2^23 rounds to an integer */
    k -= 12582912.0f;
    k = k > -127.0f ? k : -127.0f; /* NaN -> -127: the int conversion below stays defined */
    k = k < 128.0f ? k : 128.0f;
    float r = x - k * 0.693359375f - k * -2.12194440e-4f; /* ln2 in two parts: r exact */
    r = r < -1.0f ? -1.0f : r;
    r = r > 1.0f ? 1.0f : r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)k + 127) << 23;
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return p * two_k;
}

/* Query rows are processed ATT_CHUNK at a time per kv head, with the nh/nkv query heads that share
 * it stacked into one GEMM; each chunk needs only the keys up to its last row (causal). P is left
 * unnormalised: its rows' 1/sum scale the output rows as they are copied out, a pass less over P. */
enum { ATT_CHUNK = 256 };

void attention_forward_seg(float *out, float *lse, const float *q, int ldq, const float *k, const float *v,
                           int ldkv, const int32_t *seg, int B, int T, int nh, int nkv, int hd) {
    const int g = nh / nkv;
    const int chunk = T < ATT_CHUNK ? T : ATT_CHUNK, nchunk = (T + chunk - 1) / chunk, jobs = B * nkv * nchunk;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel if (jobs > 1)
    {
        float *qb = df_alloc_floats((size_t)g * chunk * hd);
        float *sb = df_alloc_floats((size_t)g * chunk * T);
        float *ob = df_alloc_floats((size_t)g * chunk * hd);
        float *inv = df_alloc_floats((size_t)g * chunk);
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < jobs; job++) {
            const int b = job / (nkv * nchunk), kh = job / nchunk % nkv, r0 = (nchunk - 1 - job % nchunk) * chunk;
            const int m = (T - r0 < chunk) ? T - r0 : chunk, ncol = r0 + m; /* later chunks (more keys) first */
            const float *kb = k + (size_t)b * T * ldkv, *vb = v + (size_t)b * T * ldkv;
            const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
            for (int j = 0; j < g; j++)
                for (int t = 0; t < m; t++)
                    memcpy(qb + ((size_t)j * m + t) * hd, q + ((size_t)b * T + r0 + t) * ldq + (size_t)(kh * g + j) * hd,
                           (size_t)hd * sizeof(float));
            /* S[g*m, ncol] = scale * Qc Kc^T */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g * m, ncol, hd, scale, qb, hd, kb + (size_t)kh * hd,
                        ldkv, 0.0f, sb, ncol);
            for (int row = 0; row < g * m; row++) {
                const int t = r0 + row % m; /* query position: keys 0..t are visible */
                float *s = sb + (size_t)row * ncol;
                if (sg) { /* keys of other segments score -inf: e^-inf = 0, exactly as if they were absent */
                    const int32_t st = sg[t];
#pragma omp simd
                    for (int c = 0; c < t; c++) s[c] = sg[c] == 0 || sg[c] == st ? s[c] : -INFINITY;
                }
                float mx = s[0];
#pragma omp simd reduction(max : mx)
                for (int c = 1; c <= t; c++) mx = s[c] > mx ? s[c] : mx;
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int c = 0; c <= t; c++) {
                    s[c] = exp_fast(s[c] - mx);
                    sum += s[c];
                }
                memset(s + t + 1, 0, (size_t)(ncol - t - 1) * sizeof(float));
                inv[row] = 1.0f / sum;
                if (lse) lse[((size_t)b * nh + kh * g + row / m) * T + t] = mx + logf(sum);
            }
            /* O[g*m, hd] = P Vc, then each row / its sum into place */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g * m, hd, ncol, 1.0f, sb, ncol, vb + (size_t)kh * hd,
                        ldkv, 0.0f, ob, hd);
            for (int row = 0; row < g * m; row++) {
                const float *o = ob + (size_t)row * hd;
                float *d = out + ((size_t)b * T + r0 + row % m) * nh * hd + (size_t)(kh * g + row / m) * hd;
                for (int i = 0; i < hd; i++) d[i] = o[i] * inv[row];
            }
        }
        free(qb);
        free(sb);
        free(ob);
        free(inv);
    }
}

void attention_forward(float *out, float *lse, const float *q, int ldq, const float *k, const float *v,
                       int ldkv, int B, int T, int nh, int nkv, int hd) {
    attention_forward_seg(out, lse, q, ldq, k, v, ldkv, NULL, B, T, nh, nkv, hd);
}

void swiglu_forward(float *out, const float *gu, int N, int Hi) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * Hi, *u = g + Hi;
        float *o = out + (size_t)n * Hi;
        for (int i = 0; i < Hi; i++) o[i] = g[i] / (1.0f + exp_fast(-g[i])) * u[i];
    }
}

void residual_forward(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* fold a row's z[0..V) into a running max and sum of exp(z - max) */
static void lse_fold(float *mx, double *sum, const float *z, int V) {
    float m = *mx;
#pragma omp simd reduction(max : m)
    for (int i = 0; i < V; i++) m = z[i] > m ? z[i] : m;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < V; i++) s += exp_fast(z[i] - m);
    *sum = *sum * exp((double)*mx - m) + s; /* the old sum rescaled to the new max (0 at the start) */
    *mx = m;
}

static double row_logsumexp(const float *z, int V) {
    float mx = -INFINITY;
    double sum = 0.0;
    lse_fold(&mx, &sum, z, V);
    return (double)mx + log(sum);
}

void logsumexp_tile(float *mx, double *sum, float *tz, const float *logits, const int32_t *targets, int N, int Vt,
                    int v0) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) continue;
        const float *z = logits + (size_t)n * Vt;
        lse_fold(mx + n, sum + n, z, Vt);
        if (targets[n] >= v0 && targets[n] < v0 + Vt) tz[n] = z[targets[n] - v0];
    }
}

double cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int N, int V) {
    double total = 0.0;
    /* per-row values first, then a fixed-order sum: the result does not depend on thread count */
    double *rows = df_malloc((size_t)N * sizeof(double));
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        rows[n] = 0.0;
        if (targets[n] < 0) continue;
        const float *z = logits + (size_t)n * V;
        rows[n] = row_logsumexp(z, V) - (double)z[targets[n]];
    }
    for (int n = 0; n < N; n++) {
        total += rows[n];
        if (nll) nll[n] = (float)rows[n];
    }
    free(rows);
    return total;
}
