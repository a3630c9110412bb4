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
