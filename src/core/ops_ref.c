/* Naive references for the fast ops: plain loops, double accumulation, no BLAS. Used by the tests
 * (and readable as the definition of what the fast path computes). */
#include <math.h>
#include <stdlib.h>

#include "depthfuse/error.h"
#include "depthfuse/ops.h"

void matmul_forward_ref(float *out, const float *x, const float *w, const float *bias, int N, int C, int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double acc = bias ? bias[o] : 0.0;
            for (int i = 0; i < C; i++) acc += (double)x[(size_t)n * C + i] * w[(size_t)o * C + i];
            out[(size_t)n * OC + o] = (float)acc;
        }
}

/* may token t of sequence b attend to token s <= t: always without segments, else if s is in segment
 * 0 (shared by all) or in t's own */
static int visible(const int32_t *seg, int b, int T, int s, int t) {
    if (!seg) return 1;
    const int32_t *sg = seg + (size_t)b * T;
    return sg[s] == 0 || sg[s] == sg[t];
}

void attention_forward_ref(float *out, const float *q, int ldq, const float *k, const float *v, int ldkv,
                           const int32_t *seg, int B, int T, int nh, int nkv, int hd) {
    double *p = df_malloc((size_t)T * sizeof(double));
    const double scale = 1.0 / sqrt((double)hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            const int kh = h / (nh / nkv);
            for (int t = 0; t < T; t++) {
                const float *qr = q + ((size_t)b * T + t) * ldq + (size_t)h * hd;
                double mx = -INFINITY, sum = 0.0;
                for (int s = 0; s <= t; s++) {
                    p[s] = -INFINITY; /* weight e^-inf = 0 */
                    if (!visible(seg, b, T, s, t)) continue;
                    const float *kr = k + ((size_t)b * T + s) * ldkv + (size_t)kh * hd;
                    double d = 0.0;
                    for (int i = 0; i < hd; i++) d += (double)qr[i] * kr[i];
                    p[s] = d * scale;
                    mx = p[s] > mx ? p[s] : mx;
                }
                for (int s = 0; s <= t; s++) sum += (p[s] = exp(p[s] - mx));
                float *o = out + ((size_t)b * T + t) * nh * hd + (size_t)h * hd;
                for (int i = 0; i < hd; i++) {
                    double acc = 0.0;
                    for (int s = 0; s <= t; s++) acc += p[s] * v[((size_t)b * T + s) * ldkv + (size_t)kh * hd + i];
                    o[i] = (float)(acc / sum);
                }
            }
        }
    free(p);
}

void rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *g = dout + (size_t)n * C;
        const double r = rstd[n];
        double dot = 0.0;
        for (int i = 0; i < C; i++) dot += (double)g[i] * w[i] * xr[i];
        for (int i = 0; i < C; i++) {
            if (dx) dx[(size_t)n * C + i] += (float)(r * w[i] * g[i] - dot * r * r * r / C * xr[i]);
            if (dw) dw[i] += (float)((double)g[i] * xr[i] * r);
        }
    }
}

void matmul_backward_ref(float *dx, float *dw, float *dbias, const float *dout, int ldo, const float *x, int ldx,
                         const float *w, int N, int C, int OC, float beta) {
    for (int n = 0; dx && n < N; n++)
        for (int i = 0; i < C; i++) {
            double acc = beta == 0.0f ? 0.0 : dx[(size_t)n * ldx + i];
            for (int o = 0; o < OC; o++) acc += (double)dout[(size_t)n * ldo + o] * w[(size_t)o * C + i];
            dx[(size_t)n * ldx + i] = (float)acc;
        }
    for (int o = 0; dw && o < OC; o++)
        for (int i = 0; i < C; i++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++) acc += (double)dout[(size_t)n * ldo + o] * x[(size_t)n * ldx + i];
            dw[(size_t)o * C + i] = (float)((beta == 0.0f ? 0.0 : dw[(size_t)o * C + i]) + acc);
        }
    for (int o = 0; dbias && o < OC; o++) {
        double acc = beta == 0.0f ? 0.0 : dbias[o];
        for (int n = 0; n < N; n++) acc += dout[(size_t)n * ldo + o];
        dbias[o] = (float)acc;
    }
}

/* the transpose of the forward's rotation [c -s; s c], written out per pair in double */
void rope_backward_ref(float *dx, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld) {
    const int half = r->half;
    for (int bt = 0; bt < B * T; bt++) {
        const int t = pos ? pos[bt] : bt % T;
        for (int h = 0; h < nheads; h++)
            for (int i = 0; i < half; i++) {
                float *v = dx + (size_t)bt * ld + (size_t)h * 2 * half;
                const double c = r->cos[(size_t)t * half + i], s = r->sin[(size_t)t * half + i];
                const double d0 = v[i], d1 = v[i + half];
                v[i] = (float)(c * d0 + s * d1);
                v[i + half] = (float)(c * d1 - s * d0);
            }
    }
}

void attention_backward_ref(float *dq, int lddq, float *dk, float *dv, int lddkv, const float *dout, const float *q,
                            int ldq, const float *k, const float *v, int ldkv, const int32_t *seg, int B, int T, int nh,
                            int nkv, int hd) {
    double *p = df_malloc((size_t)T * sizeof(double)), *dp = df_malloc((size_t)T * sizeof(double));
    const double scale = 1.0 / sqrt((double)hd);
    for (int bt = 0; bt < B * T; bt++) {
        for (int i = 0; i < nh * hd; i++) dq[(size_t)bt * lddq + i] = 0.0f;
        for (int i = 0; i < nkv * hd; i++) dk[(size_t)bt * lddkv + i] = dv[(size_t)bt * lddkv + i] = 0.0f;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            const int kh = h / (nh / nkv);
            for (int t = 0; t < T; t++) {
                const size_t rt = (size_t)b * T + t;
                const float *qr = q + rt * ldq + (size_t)h * hd, *d = dout + rt * nh * hd + (size_t)h * hd;
                double mx = -INFINITY, sum = 0.0, D = 0.0;
                for (int s = 0; s <= t; s++) {
                    p[s] = -INFINITY;
                    if (!visible(seg, b, T, s, t)) continue;
                    const float *kr = k + ((size_t)b * T + s) * ldkv + (size_t)kh * hd;
                    double acc = 0.0;
                    for (int i = 0; i < hd; i++) acc += (double)qr[i] * kr[i];
                    p[s] = acc * scale;
                    mx = p[s] > mx ? p[s] : mx;
                }
                for (int s = 0; s <= t; s++) sum += (p[s] = exp(p[s] - mx));
                for (int s = 0; s <= t; s++) {
                    p[s] /= sum;
                    const float *vr = v + ((size_t)b * T + s) * ldkv + (size_t)kh * hd;
                    double acc = 0.0;
                    for (int i = 0; i < hd; i++) acc += (double)d[i] * vr[i];
                    dp[s] = acc;
                    D += p[s] * acc;
                }
                for (int s = 0; s <= t; s++) {
                    const double ds = p[s] * (dp[s] - D) * scale;
                    const size_t rs = (size_t)b * T + s;
                    for (int i = 0; i < hd; i++) {
                        dq[rt * lddq + (size_t)h * hd + i] += (float)(ds * k[rs * ldkv + (size_t)kh * hd + i]);
                        dk[rs * lddkv + (size_t)kh * hd + i] += (float)(ds * qr[i]);
                        dv[rs * lddkv + (size_t)kh * hd + i] += (float)(p[s] * d[i]);
                    }
                }
            }
        }
    free(p);
    free(dp);
}

void swiglu_backward_ref(float *dgu, const float *dout, const float *gu, int N, int Hi) {
    for (int n = 0; n < N; n++)
        for (int i = 0; i < Hi; i++) {
            const double g = gu[(size_t)n * 2 * Hi + i], u = gu[(size_t)n * 2 * Hi + Hi + i], d = dout[(size_t)n * Hi + i];
            const double sg = 1.0 / (1.0 + exp(-g));
            dgu[(size_t)n * 2 * Hi + i] = (float)(d * u * sg * (1.0 + g * (1.0 - sg)));
            dgu[(size_t)n * 2 * Hi + Hi + i] = (float)(d * g * sg);
        }
}
