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

/* Rows are cut into fixed chunks of RED_ROWS; each chunk's partial column sums go to its own row of
 * a [nchunk, C] buffer, which is then summed in chunk order: the same result at any thread count. */
enum { RED_ROWS = 64 };

static float *chunk_partials(int N, int C, int *nchunk) {
    *nchunk = (N + RED_ROWS - 1) / RED_ROWS;
    float *part = df_alloc_floats((size_t)*nchunk * C);
    memset(part, 0, (size_t)*nchunk * C * sizeof(float));
    return part;
}

static void sum_partials(float *acc, const float *part, int nchunk, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < C; i++) {
        float s = 0.0f;
        for (int k = 0; k < nchunk; k++) s += part[(size_t)k * C + i];
        acc[i] += s;
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int C) {
    int nchunk;
    float *part = dw ? chunk_partials(N, C, &nchunk) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *g = dout + (size_t)n * C;
        const float r = rstd[n];
        if (dx) {
            float dot = 0.0f; /* sum_i g_i w_i x_i */
#pragma omp simd reduction(+ : dot)
            for (int i = 0; i < C; i++) dot += g[i] * w[i] * xr[i];
            const float k = dot * r * r * r / (float)C;
            float *d = dx + (size_t)n * C;
#pragma omp simd
            for (int i = 0; i < C; i++) d[i] += r * w[i] * g[i] - k * xr[i];
        }
    }
    if (!dw) return;
#pragma omp parallel for schedule(static)
    for (int ck = 0; ck < nchunk; ck++) {
        float *pr = part + (size_t)ck * C;
        const int n1 = (ck + 1) * RED_ROWS < N ? (ck + 1) * RED_ROWS : N;
        for (int n = ck * RED_ROWS; n < n1; n++) {
            const float *xr = x + (size_t)n * C, *g = dout + (size_t)n * C;
            const float r = rstd[n];
#pragma omp simd
            for (int i = 0; i < C; i++) pr[i] += g[i] * xr[i] * r;
        }
    }
    sum_partials(dw, part, nchunk, C);
    free(part);
}

void matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int C, int OC) {
    if (bias) {
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
    }
    gemm_nt(N, OC, C, 1.0f, x, C, w, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float *dx, float *dw, float *dbias, const float *dout, int ldo, const float *x, int ldx,
                     const float *w, int N, int C, int OC, float beta) {
    if (dx) gemm_nn(N, C, OC, 1.0f, dout, ldo, w, C, beta, dx, ldx);
    if (dw) gemm_tn(OC, C, N, 1.0f, dout, ldo, x, ldx, beta, dw, C);
    if (dbias) {
        if (beta == 0.0f) memset(dbias, 0, (size_t)OC * sizeof(float));
        int nchunk;
        float *part = chunk_partials(N, OC, &nchunk);
#pragma omp parallel for schedule(static)
        for (int ck = 0; ck < nchunk; ck++) {
            float *pr = part + (size_t)ck * OC;
            const int n1 = (ck + 1) * RED_ROWS < N ? (ck + 1) * RED_ROWS : N;
            for (int n = ck * RED_ROWS; n < n1; n++) {
                const float *g = dout + (size_t)n * ldo;
#pragma omp simd
                for (int o = 0; o < OC; o++) pr[o] += g[o];
            }
        }
        sum_partials(dbias, part, nchunk, OC);
        free(part);
    }
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

void rope_backward_pos(float *dx, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld) {
    const int half = r->half;
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        const int t = pos ? pos[bt] : bt % T;
        const float *c = r->cos + (size_t)t * half, *s = r->sin + (size_t)t * half;
        for (int h = 0; h < nheads; h++) {
            float *v = dx + (size_t)bt * ld + (size_t)h * 2 * half;
            for (int i = 0; i < half; i++) { /* the transpose of the rotation */
                float d0 = v[i], d1 = v[i + half];
                v[i] = d0 * c[i] + d1 * s[i];
                v[i + half] = d1 * c[i] - d0 * s[i];
            }
        }
    }
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

/* One job per (sequence, kv head): its g query heads are stacked as in the forward, and its query
 * rows are visited a chunk at a time, so dk and dv of the job's kv head are owned by one thread and
 * summed over chunks in a fixed order. Per chunk (rows r0..r0+m, keys 0..ncol-1):
 *   S = scale Q K^T; P = exp(S - lse) (masked 0); dP = dO V^T; dS = P (dP - Dr); dQ = scale dS K;
 *   dK += scale dS^T Q; dV += P^T dO   (five sgemms; P and dP of one chunk are the only [., T] buffers) */
void attention_backward(float *dq, int lddq, float *dk, float *dv, int lddkv, const float *dout, const float *out,
                        const float *lse, const float *q, int ldq, const float *k, const float *v, int ldkv,
                        const int32_t *seg, int B, int T, int nh, int nkv, int hd) {
    const int g = nh / nkv, Q = nh * hd;
    const int chunk = T < ATT_CHUNK ? T : ATT_CHUNK, nchunk = (T + chunk - 1) / chunk, jobs = B * nkv;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel if (jobs > 1)
    {
        float *qb = df_alloc_floats((size_t)g * chunk * hd), *dob = df_alloc_floats((size_t)g * chunk * hd);
        float *dqb = df_alloc_floats((size_t)g * chunk * hd), *dr = df_alloc_floats((size_t)g * chunk);
        float *pb = df_alloc_floats((size_t)g * chunk * T), *dpb = df_alloc_floats((size_t)g * chunk * T);
#pragma omp for schedule(dynamic, 1)
        for (int job = 0; job < jobs; job++) {
            const int b = job / nkv, kh = job % nkv;
            const float *kb = k + (size_t)b * T * ldkv + (size_t)kh * hd, *vb = v + (size_t)b * T * ldkv + (size_t)kh * hd;
            float *dkb = dk + (size_t)b * T * lddkv + (size_t)kh * hd, *dvb = dv + (size_t)b * T * lddkv + (size_t)kh * hd;
            const int32_t *sg = seg ? seg + (size_t)b * T : NULL;
            for (int t = 0; t < T; t++) {
                memset(dkb + (size_t)t * lddkv, 0, (size_t)hd * sizeof(float));
                memset(dvb + (size_t)t * lddkv, 0, (size_t)hd * sizeof(float));
            }
            for (int ck = 0; ck < nchunk; ck++) {
                const int r0 = ck * chunk, m = (T - r0 < chunk) ? T - r0 : chunk, ncol = r0 + m;
                for (int j = 0; j < g; j++)
                    for (int t = 0; t < m; t++) {
                        const size_t row = (size_t)b * T + r0 + t, col = (size_t)(kh * g + j) * hd;
                        const float *o = out + row * Q + col, *d = dout + row * Q + col;
                        float *qd = qb + ((size_t)j * m + t) * hd, *dd = dob + ((size_t)j * m + t) * hd;
                        memcpy(qd, q + row * ldq + col, (size_t)hd * sizeof(float));
                        float acc = 0.0f;
                        for (int i = 0; i < hd; i++) {
                            dd[i] = d[i];
                            acc += d[i] * o[i];
                        }
                        dr[(size_t)j * m + t] = acc;
                    }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g * m, ncol, hd, scale, qb, hd, kb, ldkv, 0.0f, pb,
                            ncol);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g * m, ncol, hd, 1.0f, dob, hd, vb, ldkv, 0.0f, dpb,
                            ncol);
                for (int row = 0; row < g * m; row++) {
                    const int t = r0 + row % m;
                    const float l = lse[((size_t)b * nh + kh * g + row / m) * T + t], D = dr[row];
                    float *p = pb + (size_t)row * ncol, *dp = dpb + (size_t)row * ncol;
                    const int32_t st = sg ? sg[t] : 0;
#pragma omp simd
                    for (int c = 0; c <= t; c++) {
                        const float e = (!sg || sg[c] == 0 || sg[c] == st) ? exp_fast(p[c] - l) : 0.0f;
                        p[c] = e;
                        dp[c] = e * (dp[c] - D);
                    }
                    for (int c = t + 1; c < ncol; c++) p[c] = dp[c] = 0.0f;
                }
                /* dQ = scale dS K;  dK += scale dS^T Q;  dV += P^T dO */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g * m, hd, ncol, scale, dpb, ncol, kb, ldkv, 0.0f,
                            dqb, hd);
                /* the g stacked heads sum in the K dimension: dS^T Q = sum_j dS_j^T Q_j */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ncol, hd, g * m, scale, dpb, ncol, qb, hd, 1.0f, dkb,
                            lddkv);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ncol, hd, g * m, 1.0f, pb, ncol, dob, hd, 1.0f, dvb,
                            lddkv);
                for (int row = 0; row < g * m; row++)
                    memcpy(dq + ((size_t)b * T + r0 + row % m) * lddq + (size_t)(kh * g + row / m) * hd,
                           dqb + (size_t)row * hd, (size_t)hd * sizeof(float));
            }
        }
        free(qb);
        free(dob);
        free(dqb);
        free(dr);
        free(pb);
        free(dpb);
    }
}

void swiglu_forward(float *out, const float *gu, int N, int Hi) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * Hi, *u = g + Hi;
        float *o = out + (size_t)n * Hi;
        for (int i = 0; i < Hi; i++) o[i] = g[i] / (1.0f + exp_fast(-g[i])) * u[i];
    }
}

void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int Hi) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * Hi, *u = g + Hi, *d = dout + (size_t)n * Hi;
        float *dg = dgu + (size_t)n * 2 * Hi, *du = dg + Hi;
#pragma omp simd
        for (int i = 0; i < Hi; i++) {
            const float sg = 1.0f / (1.0f + exp_fast(-g[i]));
            dg[i] = d[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
            du[i] = d[i] * g[i] * sg;
        }
    }
}

void residual_forward(float *x, const float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

void residual_backward(float *dx, float *dy, const float *dout, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        if (dx) dx[i] += dout[i];
        if (dy) dy[i] += dout[i];
    }
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
