/* Fast ops against their naive references and against mathematics (test-backend-ops style):
 * NMSE for whole tensors, invariants for RoPE and the llama3 frequency scaling. */
#include "depthfuse/config.h"
#include "depthfuse/error.h"
#include "depthfuse/ops.h"
#include "test_util.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* xorshift, uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}
static float *randv(size_t n, float scale) {
    float *p = df_alloc_floats(n);
    for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}

static void test_matmul(int N, int C, int OC, int bias) {
    float *x = randv((size_t)N * C, 1), *w = randv((size_t)OC * C, 1), *b = bias ? randv((size_t)OC, 1) : NULL;
    float *o = df_alloc_floats((size_t)N * OC), *r = df_alloc_floats((size_t)N * OC);
    matmul_forward(o, x, w, b, N, C, OC);
    matmul_forward_ref(r, x, w, b, N, C, OC);
    double e = nmse(r, o, (size_t)N * OC);
    CHECK(e < 1e-10, "matmul N=%d C=%d OC=%d bias=%d: nmse %.3g", N, C, OC, bias, e);
    free(x); free(w); free(b); free(o); free(r);
}

static void test_attention(int B, int T, int nh, int nkv, int hd) {
    const int ldq = nh * hd + 3, ldkv = nkv * hd + 5; /* strided rows, as inside the fused qkv buffer */
    float *q = randv((size_t)B * T * ldq, 2), *k = randv((size_t)B * T * ldkv, 2), *v = randv((size_t)B * T * ldkv, 1);
    float *o = df_alloc_floats((size_t)B * T * nh * hd), *r = df_alloc_floats((size_t)B * T * nh * hd);
    float *lse = df_alloc_floats((size_t)B * nh * T);
    attention_forward(o, lse, q, ldq, k, v, ldkv, B, T, nh, nkv, hd);
    attention_forward_ref(r, q, ldq, k, v, ldkv, NULL, B, T, nh, nkv, hd);
    double e = nmse(r, o, (size_t)B * T * nh * hd);
    CHECK(e < 1e-10, "attention B=%d T=%d nh=%d nkv=%d hd=%d: nmse %.3g", B, T, nh, nkv, hd, e);
    /* the first position attends only to itself: output = v, lse = its own score */
    for (int h = 0; h < nh; h++) {
        const int kh = h / (nh / nkv);
        double d = 0;
        for (int i = 0; i < hd; i++) d += (double)q[h * hd + i] * k[kh * hd + i];
        d /= sqrt((double)hd);
        CHECK(fabs(lse[(size_t)h * T] - d) < 1e-4, "lse at t=0, head %d: %g vs %g", h, lse[(size_t)h * T], d);
        CHECK(max_abs_diff(o + (size_t)h * hd, v + (size_t)kh * hd, (size_t)hd) < 1e-6, "t=0 output is not v");
    }
    free(q); free(k); free(v); free(o); free(r); free(lse);
}

/* seg[T] of one packed row: a context of L tokens (segment 0), then K pieces of lens[k] tokens
 * (segments 1..K); pos[T]: each piece at the positions it has right after the context */
static void packed_layout(int32_t *seg, int32_t *pos, int L, int K, const int *lens) {
    int t = 0;
    for (; t < L; t++) seg[t] = 0, pos[t] = t;
    for (int k = 0; k < K; k++)
        for (int j = 0; j < lens[k]; j++, t++) seg[t] = k + 1, pos[t] = L + j;
}

/* attention by segments against the reference: B rows, each a context then K pieces of random
 * lengths (the same layout in every row) */
static void test_attention_segments(int B, int L, int K, int nh, int nkv, int hd) {
    int lens[16], T = L;
    for (int k = 0; k < K; k++) T += lens[k] = 1 + (int)((frand() + 1) * 40);
    int32_t *seg = df_malloc(sizeof(int32_t) * (size_t)B * T), *pos = df_malloc(sizeof(int32_t) * (size_t)T);
    for (int b = 0; b < B; b++) packed_layout(seg + (size_t)b * T, pos, L, K, lens);
    const int ldq = nh * hd + 3, ldkv = nkv * hd + 5;
    float *q = randv((size_t)B * T * ldq, 2), *k = randv((size_t)B * T * ldkv, 2), *v = randv((size_t)B * T * ldkv, 1);
    float *o = df_alloc_floats((size_t)B * T * nh * hd), *r = df_alloc_floats((size_t)B * T * nh * hd);
    attention_forward_seg(o, NULL, q, ldq, k, v, ldkv, seg, B, T, nh, nkv, hd);
    attention_forward_ref(r, q, ldq, k, v, ldkv, seg, B, T, nh, nkv, hd);
    double e = nmse(r, o, (size_t)B * T * nh * hd);
    CHECK(e < 1e-10, "attention by segments B=%d T=%d (context %d, %d pieces) nh=%d nkv=%d hd=%d: nmse %.3g", B, T, L,
          K, nh, nkv, hd, e);
    /* the first token of each piece sees the context and itself, not the pieces before it */
    for (int kk = 0, t = L; kk < K; t += lens[kk++]) {
        float *alone = df_alloc_floats((size_t)(L + 1) * nh * hd), *qa = df_alloc_floats((size_t)(L + 1) * ldq);
        float *ka = df_alloc_floats((size_t)(L + 1) * ldkv), *va = df_alloc_floats((size_t)(L + 1) * ldkv);
        memcpy(qa, q, sizeof(float) * (size_t)L * ldq), memcpy(qa + (size_t)L * ldq, q + (size_t)t * ldq, sizeof(float) * ldq);
        memcpy(ka, k, sizeof(float) * (size_t)L * ldkv), memcpy(ka + (size_t)L * ldkv, k + (size_t)t * ldkv, sizeof(float) * ldkv);
        memcpy(va, v, sizeof(float) * (size_t)L * ldkv), memcpy(va + (size_t)L * ldkv, v + (size_t)t * ldkv, sizeof(float) * ldkv);
        attention_forward_ref(alone, qa, ldq, ka, va, ldkv, NULL, 1, L + 1, nh, nkv, hd);
        const double d = max_abs_diff(alone + (size_t)L * nh * hd, r + (size_t)t * nh * hd, (size_t)nh * hd);
        CHECK(d < 1e-6, "piece %d's first token: %.3g from the context + it alone", kk, d);
        free(alone), free(qa), free(ka), free(va);
    }
    free(seg); free(pos); free(q); free(k); free(v); free(o); free(r);
}

/* The property prefix sharing rests on: RoPE at each piece's own positions, then attention by
 * segments over a packed row [context | piece 1 | ... | piece K], gives each piece's rows (and the
 * context's) what RoPE + causal attention give over the sequence context + piece alone. q, k, v
 * enter unrotated, as the q|k|v GEMM leaves them in one fused row. */
static void test_packed_equals_alone(int L, int K, int nh, int nkv, int hd) {
    const int half = hd / 2, ld = (nh + 2 * nkv) * hd, Q = nh * hd;
    int lens[16], T = L, longest = 0;
    for (int k = 0; k < K; k++) {
        T += lens[k] = 1 + (int)((frand() + 1) * 60);
        longest = lens[k] > longest ? lens[k] : longest;
    }
    float inv[64];
    for (int i = 0; i < half; i++) inv[i] = powf(10000.0f, -2.0f * i / hd);
    Rope rope;
    rope_init(&rope, inv, half, T);
    int32_t *seg = df_malloc(sizeof(int32_t) * (size_t)T), *pos = df_malloc(sizeof(int32_t) * (size_t)T);
    packed_layout(seg, pos, L, K, lens);
    float *packed = randv((size_t)T * ld, 2), *raw = df_alloc_floats((size_t)T * ld);
    memcpy(raw, packed, sizeof(float) * (size_t)T * ld);
    float *out = df_alloc_floats((size_t)T * Q);
    rope_forward_pos(packed, &rope, pos, 1, T, nh + nkv, ld);
    attention_forward_seg(out, NULL, packed, ld, packed + Q, packed + Q + nkv * hd, ld, seg, 1, T, nh, nkv, hd);
    float *seq = df_alloc_floats((size_t)(L + longest) * ld), *ref = df_alloc_floats((size_t)(L + longest) * Q);
    double worst = 0;
    for (int k = 0, at = L; k < K; at += lens[k++]) {
        const int n = L + lens[k];
        memcpy(seq, raw, sizeof(float) * (size_t)L * ld);
        memcpy(seq + (size_t)L * ld, raw + (size_t)at * ld, sizeof(float) * (size_t)lens[k] * ld);
        rope_forward(seq, &rope, 1, n, nh + nkv, ld);
        attention_forward(ref, NULL, seq, ld, seq + Q, seq + Q + nkv * hd, ld, 1, n, nh, nkv, hd);
        const double dc = max_abs_diff(ref, out, (size_t)L * Q);
        const double dp = max_abs_diff(ref + (size_t)L * Q, out + (size_t)at * Q, (size_t)lens[k] * Q);
        worst = fmax(worst, fmax(dc, dp));
    }
    CHECK(worst < 1e-5, "packed row (context %d, %d pieces, T=%d) vs each piece after the context alone: max |diff| %.3g",
          L, K, T, worst);
    rope_free(&rope);
    free(seg); free(pos); free(packed); free(raw); free(out); free(seq); free(ref);
}

static void test_rmsnorm(void) {
    const int N = 5, C = 37;
    float *x = randv((size_t)N * C, 3), *w = randv(C, 1), *o = df_alloc_floats((size_t)N * C), rstd[5];
    rmsnorm_forward(o, rstd, x, w, N, C, 1e-5f);
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < C; i++) ss += (double)x[n * C + i] * x[n * C + i];
        double r = 1.0 / sqrt(ss / C + 1e-5);
        CHECK(fabs(rstd[n] - r) < 1e-5 * r, "rstd row %d", n);
        for (int i = 0; i < C; i++) CHECK(fabs(o[n * C + i] - x[n * C + i] * r * w[i]) < 1e-5, "rmsnorm %d,%d", n, i);
    }
    free(x); free(w); free(o);
}

/* RoPE is a rotation (norms kept) and makes q.k depend only on the distance between positions */
static void test_rope(void) {
    const int hd = 16, half = 8, T = 40;
    float inv[8];
    for (int i = 0; i < half; i++) inv[i] = powf(10000.0f, -2.0f * i / hd);
    Rope r;
    rope_init(&r, inv, half, T);
    float *q = df_alloc_floats((size_t)T * hd), *k = df_alloc_floats((size_t)T * hd), *q0 = randv(hd, 1), *k0 = randv(hd, 1);
    for (int t = 0; t < T; t++) {
        memcpy(q + t * hd, q0, hd * sizeof(float));
        memcpy(k + t * hd, k0, hd * sizeof(float));
    }
    rope_forward(q, &r, 1, T, 1, hd);
    rope_forward(k, &r, 1, T, 1, hd);
    CHECK(max_abs_diff(q, q0, hd) == 0, "position 0 must be the identity");
    double n0 = 0;
    for (int i = 0; i < hd; i++) n0 += (double)q0[i] * q0[i];
    for (int t = 0; t < T; t++) {
        double n = 0;
        for (int i = 0; i < hd; i++) n += (double)q[t * hd + i] * q[t * hd + i];
        CHECK(fabs(n - n0) < 1e-5, "norm changed at position %d", t);
    }
    for (int d = 0; d < 5; d++) { /* <q_m, k_{m-d}> is the same for every m */
        double ref = 0;
        for (int i = 0; i < hd; i++) ref += (double)q[d * hd + i] * k[i];
        for (int m = d; m < T; m++) {
            double dot = 0;
            for (int i = 0; i < hd; i++) dot += (double)q[m * hd + i] * k[(m - d) * hd + i];
            CHECK(fabs(dot - ref) < 1e-4, "relative position %d at %d: %g vs %g", d, m, dot, ref);
        }
    }
    rope_free(&r);
    free(q); free(k); free(q0); free(k0);
}

/* llama3 scaling (transformers _compute_llama3_parameters): high frequencies kept, low ones divided
 * by the factor, a monotone blend between, continuous at both edges */
static void test_llama3_freqs(void) {
    ModelConfig c = {0};
    c.head_dim = 128;
    c.rope_theta = 500000.0;
    c.rope_type = ROPE_DEFAULT;
    float base[64], scaled[64];
    config_rope_inv_freq(&c, base);
    c.rope_type = ROPE_LLAMA3;
    c.rope_factor = 8;
    c.rope_low_freq_factor = 1;
    c.rope_high_freq_factor = 4;
    c.rope_orig_max_pos = 8192;
    config_rope_inv_freq(&c, scaled);
    int kept = 0, divided = 0, blended = 0;
    for (int i = 0; i < 64; i++) {
        double wl = 2 * M_PI / base[i], ratio = scaled[i] / base[i];
        if (wl < 8192 / 4.0) {
            kept++;
            CHECK(ratio == 1.0, "high frequency %d changed", i);
        } else if (wl > 8192 / 1.0) {
            divided++;
            CHECK(fabs(ratio - 1 / 8.0) < 1e-6, "low frequency %d ratio %g", i, ratio);
        } else {
            blended++;
            CHECK(ratio > 1 / 8.0 - 1e-6 && ratio < 1 + 1e-6, "blend %d ratio %g", i, ratio);
        }
        if (i) CHECK(scaled[i] < scaled[i - 1], "frequencies must stay decreasing at %d", i);
    }
    CHECK(kept && divided && blended, "kept %d divided %d blended %d", kept, divided, blended);
}

static void test_cross_entropy(void) {
    const int N = 4, V = 1000;
    float *z = randv((size_t)N * V, 8), nll[4];
    int32_t tg[4] = {3, -1, 999, 0};
    double tot = cross_entropy_forward(nll, z, tg, N, V), want = 0;
    for (int n = 0; n < N; n++) {
        if (tg[n] < 0) continue;
        double s = 0;
        for (int i = 0; i < V; i++) s += exp((double)z[n * V + i]);
        double e = log(s) - z[n * V + tg[n]];
        CHECK(fabs(nll[n] - e) < 1e-5, "row %d: %g vs %g", n, nll[n], e);
        want += e;
    }
    CHECK(fabs(tot - want) < 1e-4, "total %g vs %g", tot, want);
    free(z);
}

/* the vocabulary in ragged tiles gives what one pass over whole rows gives (double reference) */
static void test_logsumexp_tiles(void) {
    const int N = 5, V = 1000, Vt = 384; /* tiles of 384, 384, 232 */
    float *z = randv((size_t)N * V, 30), *tile = df_alloc_floats((size_t)N * Vt), mx[5], tz[5];
    double sum[5];
    int32_t tg[5] = {0, 383, -1, 384, 999};
    for (int n = 0; n < N; n++) mx[n] = -INFINITY, sum[n] = 0;
    for (int v0 = 0; v0 < V; v0 += Vt) {
        const int w = V - v0 < Vt ? V - v0 : Vt;
        for (int n = 0; n < N; n++) memcpy(tile + (size_t)n * w, z + (size_t)n * V + v0, (size_t)w * sizeof(float));
        logsumexp_tile(mx, sum, tz, tile, tg, N, w, v0);
    }
    for (int n = 0; n < N; n++) {
        if (tg[n] < 0) continue;
        double m = -INFINITY, s = 0;
        for (int i = 0; i < V; i++) m = fmax(m, z[n * V + i]);
        for (int i = 0; i < V; i++) s += exp((double)z[n * V + i] - m);
        const double want = m + log(s), got = mx[n] + log(sum[n]);
        CHECK(fabs(got - want) < 1e-5, "row %d: log-sum-exp %g vs %g", n, got, want);
        CHECK(tz[n] == z[n * V + tg[n]], "row %d: target logit", n);
    }
    free(z);
    free(tile);
}

/* SiLU(g) * u over the range where exp under- and overflows */
static void test_swiglu(void) {
    const int N = 3, Hi = 2000;
    float *gu = randv((size_t)N * 2 * Hi, 1), *o = df_alloc_floats((size_t)N * Hi);
    for (int i = 0; i < N * Hi; i++) gu[(i / Hi) * 2 * Hi + i % Hi] = -120.0f + 240.0f * (float)i / (N * Hi);
    swiglu_forward(o, gu, N, Hi);
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < Hi; i++) {
            const double g = gu[n * 2 * Hi + i], u = gu[n * 2 * Hi + Hi + i], want = g / (1 + exp(-g)) * u;
            worst = fmax(worst, fabs(o[n * Hi + i] - want) / fmax(fabs(want), 1e-30));
        }
    CHECK(worst < 1e-6, "swiglu: max relative error %.3g", worst);
    free(gu);
    free(o);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    test_matmul(1, 1, 1, 0);
    test_matmul(17, 33, 65, 1);
    test_matmul(128, 192, 320, 0);
    test_attention(1, 1, 2, 1, 8);
    test_attention(2, 7, 6, 2, 32);
    test_attention(1, 300, 4, 4, 16);  /* crosses the 256-row chunk */
    test_attention(2, 520, 6, 2, 8);
    test_attention_segments(1, 1, 1, 2, 1, 8);
    test_attention_segments(2, 30, 4, 6, 2, 32);
    test_attention_segments(2, 200, 3, 4, 4, 16); /* pieces across the 256-row chunk */
    test_packed_equals_alone(1, 3, 6, 2, 32);     /* a context of one token (BOS) */
    test_packed_equals_alone(40, 4, 6, 2, 32);
    test_packed_equals_alone(230, 4, 4, 1, 16);   /* crosses the 256-row chunk */
    test_rmsnorm();
    test_rope();
    test_llama3_freqs();
    test_cross_entropy();
    test_logsumexp_tiles();
    test_swiglu();
    return test_end("test_ops");
}
