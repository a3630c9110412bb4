/* Every backward op against finite differences of its forward (central, on a sample of
 * coordinates, loss L = sum(R * out) for a random R) and the fast paths against their naive *_ref
 * twins; the fused linear's factor gradients likewise. Sizes are small and odd on purpose (partial
 * tiles, several attention chunks, GQA, segments, strided rows). */
#include "depthfuse/error.h"
#include "depthfuse/fused.h"
#include "depthfuse/ops.h"
#include "test_util.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
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
static float *zeros(size_t n) {
    float *p = df_alloc_floats(n);
    memset(p, 0, n * sizeof(float));
    return p;
}
static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* The loss as a function of the current parameter values (ctx: the op's buffers). */
typedef double (*LossFn)(void *ctx);

/* central differences at up to 40 coordinates of p[n] (spread evenly) against grad[n]:
 * ||fd - grad|| / ||grad|| over those coordinates must stay below tol */
static void fd_check(const char *what, float *p, size_t n, const float *grad, LossFn f, void *ctx, float h,
                     double tol) {
    double e = 0, r = 0;
    const size_t step = n > 40 ? n / 40 : 1;
    for (size_t i = (step * 7) % n % step; i < n; i += step) {
        const float keep = p[i];
        p[i] = keep + h;
        double lp = f(ctx);
        p[i] = keep - h;
        double lm = f(ctx);
        p[i] = keep;
        const double fd = (lp - lm) / (2.0 * h);
        e += (fd - grad[i]) * (fd - grad[i]);
        r += (double)grad[i] * grad[i];
    }
    const double rel = sqrt(e / (r > 0 ? r : 1e-30));
    CHECK(r > 0 && rel < tol, "%s: finite differences off by %.3g relative (|grad| %.3g)", what, rel, sqrt(r));
}

/* ---- rmsnorm ---- */
typedef struct { float *x, *w, *out, *rstd, *R; int N, C; } RmsCtx;
static double rms_loss(void *c_) {
    RmsCtx *c = c_;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return dot(c->out, c->R, (size_t)c->N * c->C);
}
static void test_rmsnorm(int N, int C) {
    RmsCtx c = {randv((size_t)N * C, 2), randv(C, 1), zeros((size_t)N * C), zeros(N), randv((size_t)N * C, 1), N, C};
    rms_loss(&c);
    float *dx = zeros((size_t)N * C), *dw = zeros(C), *rx = zeros((size_t)N * C), *rw = zeros(C);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, N, C);
    rmsnorm_backward_ref(rx, rw, c.R, c.x, c.w, c.rstd, N, C);
    CHECK(nmse(rx, dx, (size_t)N * C) < 1e-10 && nmse(rw, dw, C) < 1e-10, "rmsnorm_backward vs ref");
    fd_check("rmsnorm dx", c.x, (size_t)N * C, dx, rms_loss, &c, 1e-2f, 1e-2);
    fd_check("rmsnorm dw", c.w, C, dw, rms_loss, &c, 1e-2f, 1e-2);
    free(c.x); free(c.w); free(c.out); free(c.rstd); free(c.R); free(dx); free(dw); free(rx); free(rw);
}

/* ---- matmul ---- */
typedef struct { float *x, *w, *b, *out, *R; int N, C, OC; } MmCtx;
static double mm_loss(void *c_) {
    MmCtx *c = c_;
    matmul_forward(c->out, c->x, c->w, c->b, c->N, c->C, c->OC);
    return dot(c->out, c->R, (size_t)c->N * c->OC);
}
static void test_matmul(int N, int C, int OC) {
    MmCtx c = {randv((size_t)N * C, 1), randv((size_t)OC * C, 1), randv(OC, 1), zeros((size_t)N * OC),
               randv((size_t)N * OC, 1), N, C, OC};
    float *dx = randv((size_t)N * C, 1), *dw = randv((size_t)OC * C, 1), *db = randv(OC, 1);
    matmul_backward(dx, dw, db, c.R, OC, c.x, C, c.w, N, C, OC, 0.0f); /* beta 0: the garbage is overwritten */
    fd_check("matmul dx", c.x, (size_t)N * C, dx, mm_loss, &c, 1e-2f, 1e-2);
    fd_check("matmul dw", c.w, (size_t)OC * C, dw, mm_loss, &c, 1e-2f, 1e-2);
    fd_check("matmul dbias", c.b, OC, db, mm_loss, &c, 1e-2f, 1e-2);
    /* strided rows (a slice of a wider buffer) and accumulation, against the reference */
    const int ldo = OC + 7, ldx = C + 5;
    float *dout = randv((size_t)N * ldo, 1), *x = randv((size_t)N * ldx, 1);
    float *fx = randv((size_t)N * ldx, 1), *rx = df_alloc_floats((size_t)N * ldx);
    float *fw = randv((size_t)OC * C, 1), *rw = df_alloc_floats((size_t)OC * C), *fb = randv(OC, 1), *rb = zeros(OC);
    memcpy(rx, fx, (size_t)N * ldx * sizeof(float));
    memcpy(rw, fw, (size_t)OC * C * sizeof(float));
    memcpy(rb, fb, (size_t)OC * sizeof(float));
    matmul_backward(fx, fw, fb, dout, ldo, x, ldx, c.w, N, C, OC, 1.0f);
    matmul_backward_ref(rx, rw, rb, dout, ldo, x, ldx, c.w, N, C, OC, 1.0f);
    CHECK(nmse(rx, fx, (size_t)N * ldx) < 1e-10 && nmse(rw, fw, (size_t)OC * C) < 1e-10 && nmse(rb, fb, OC) < 1e-10,
          "matmul_backward (strided, accumulating) vs ref N=%d C=%d OC=%d", N, C, OC);
    free(c.x); free(c.w); free(c.b); free(c.out); free(c.R); free(dx); free(dw); free(db);
    free(dout); free(x); free(fx); free(rx); free(fw); free(rw); free(fb); free(rb);
}

/* ---- rope ---- */
typedef struct { float *x, *y, *R; const Rope *r; const int32_t *pos; int B, T, nh, ld; } RopeCtx;
static double rope_loss(void *c_) {
    RopeCtx *c = c_;
    memcpy(c->y, c->x, (size_t)c->B * c->T * c->ld * sizeof(float));
    rope_forward_pos(c->y, c->r, c->pos, c->B, c->T, c->nh, c->ld);
    return dot(c->y, c->R, (size_t)c->B * c->T * c->ld);
}
static void test_rope(int B, int T, int nh, int hd) {
    const int half = hd / 2, ld = nh * hd + 3;
    float inv[64];
    for (int i = 0; i < half; i++) inv[i] = powf(10000.0f, -2.0f * i / hd);
    Rope r;
    rope_init(&r, inv, half, 2 * T);
    int32_t *pos = df_malloc((size_t)B * T * sizeof(int32_t));
    for (int i = 0; i < B * T; i++) pos[i] = (i * 7) % (2 * T);
    RopeCtx c = {randv((size_t)B * T * ld, 1), zeros((size_t)B * T * ld), randv((size_t)B * T * ld, 1), &r, pos, B, T,
                 nh, ld};
    float *d = df_alloc_floats((size_t)B * T * ld), *dr = df_alloc_floats((size_t)B * T * ld);
    memcpy(d, c.R, (size_t)B * T * ld * sizeof(float));
    rope_backward_pos(d, &r, pos, B, T, nh, ld);
    for (int i = 0; i < B * T; i++) /* the 3 columns past the heads are not rotated: their gradient is R */
        for (int j = nh * hd; j < ld; j++) d[(size_t)i * ld + j] = c.R[(size_t)i * ld + j];
    memcpy(dr, c.R, (size_t)B * T * ld * sizeof(float));
    rope_backward_ref(dr, &r, pos, B, T, nh, ld);
    CHECK(nmse(dr, d, (size_t)B * T * ld) < 1e-12, "rope_backward vs ref");
    fd_check("rope dx", c.x, (size_t)B * T * ld, d, rope_loss, &c, 1e-2f, 1e-2);
    rope_free(&r);
    free(pos); free(c.x); free(c.y); free(c.R); free(d); free(dr);
}

/* ---- attention ---- */
typedef struct { float *q, *k, *v, *out, *lse, *R; const int32_t *seg; int B, T, nh, nkv, hd, ldq, ldkv; } AttCtx;
static double att_loss(void *c_) {
    AttCtx *c = c_;
    attention_forward_seg(c->out, c->lse, c->q, c->ldq, c->k, c->v, c->ldkv, c->seg, c->B, c->T, c->nh, c->nkv, c->hd);
    return dot(c->out, c->R, (size_t)c->B * c->T * c->nh * c->hd);
}
static void test_attention(int B, int T, int nh, int nkv, int hd, int segmented, int fd) {
    const int ldq = nh * hd + 3, ldkv = nkv * hd + 5, NQ = B * T * nh * hd;
    int32_t *seg = NULL;
    if (segmented) { /* a context of T/3 tokens, then two continuations of it */
        seg = df_malloc((size_t)B * T * sizeof(int32_t));
        for (int i = 0; i < B * T; i++) seg[i] = i % T < T / 3 ? 0 : (i % T < 2 * T / 3 ? 1 : 2);
    }
    AttCtx c = {randv((size_t)B * T * ldq, 1.5f), randv((size_t)B * T * ldkv, 1.5f), randv((size_t)B * T * ldkv, 1),
                zeros(NQ), zeros((size_t)B * nh * T), randv(NQ, 1), seg, B, T, nh, nkv, hd, ldq, ldkv};
    att_loss(&c);
    float *dq = randv((size_t)B * T * ldq, 1), *dk = randv((size_t)B * T * ldkv, 1), *dv = randv((size_t)B * T * ldkv, 1);
    float *rq = zeros((size_t)B * T * ldq), *rk = zeros((size_t)B * T * ldkv), *rv = zeros((size_t)B * T * ldkv);
    attention_backward(dq, ldq, dk, dv, ldkv, c.R, c.out, c.lse, c.q, ldq, c.k, c.v, ldkv, seg, B, T, nh, nkv, hd);
    attention_backward_ref(rq, ldq, rk, rv, ldkv, c.R, c.q, ldq, c.k, c.v, ldkv, seg, B, T, nh, nkv, hd);
    /* compare the head columns only (the strided padding is not the op's) */
    double e = 0, r = 0;
    for (int i = 0; i < B * T; i++) {
        for (int j = 0; j < nh * hd; j++) {
            double d = (double)dq[(size_t)i * ldq + j] - rq[(size_t)i * ldq + j];
            e += d * d, r += (double)rq[(size_t)i * ldq + j] * rq[(size_t)i * ldq + j];
        }
        for (int j = 0; j < nkv * hd; j++) {
            double d1 = (double)dk[(size_t)i * ldkv + j] - rk[(size_t)i * ldkv + j];
            double d2 = (double)dv[(size_t)i * ldkv + j] - rv[(size_t)i * ldkv + j];
            e += d1 * d1 + d2 * d2;
            r += (double)rk[(size_t)i * ldkv + j] * rk[(size_t)i * ldkv + j] +
                 (double)rv[(size_t)i * ldkv + j] * rv[(size_t)i * ldkv + j];
        }
    }
    CHECK(e / r < 1e-9, "attention_backward vs ref B=%d T=%d nh=%d nkv=%d hd=%d seg=%d: nmse %.3g", B, T, nh, nkv, hd,
          segmented, e / r);
    if (fd) {
        fd_check("attention dq", c.q, (size_t)B * T * ldq, rq, att_loss, &c, 1e-2f, 2e-2);
        fd_check("attention dk", c.k, (size_t)B * T * ldkv, rk, att_loss, &c, 1e-2f, 2e-2);
        fd_check("attention dv", c.v, (size_t)B * T * ldkv, rv, att_loss, &c, 1e-2f, 2e-2);
    }
    free(seg); free(c.q); free(c.k); free(c.v); free(c.out); free(c.lse); free(c.R);
    free(dq); free(dk); free(dv); free(rq); free(rk); free(rv);
}

/* ---- swiglu ---- */
typedef struct { float *gu, *out, *R; int N, Hi; } SwCtx;
static double sw_loss(void *c_) {
    SwCtx *c = c_;
    swiglu_forward(c->out, c->gu, c->N, c->Hi);
    return dot(c->out, c->R, (size_t)c->N * c->Hi);
}
static void test_swiglu(int N, int Hi) {
    SwCtx c = {randv((size_t)N * 2 * Hi, 4), zeros((size_t)N * Hi), randv((size_t)N * Hi, 1), N, Hi};
    float *d = zeros((size_t)N * 2 * Hi), *r = zeros((size_t)N * 2 * Hi);
    swiglu_backward(d, c.R, c.gu, N, Hi);
    swiglu_backward_ref(r, c.R, c.gu, N, Hi);
    CHECK(nmse(r, d, (size_t)N * 2 * Hi) < 1e-10, "swiglu_backward vs ref");
    fd_check("swiglu dgu", c.gu, (size_t)N * 2 * Hi, d, sw_loss, &c, 1e-2f, 1e-2);
    free(c.gu); free(c.out); free(c.R); free(d); free(r);
}

static void test_residual(void) {
    float dout[5] = {1, -2, 3, 0.5f, 7}, dx[5] = {1, 1, 1, 1, 1}, dy[5] = {0};
    residual_backward(dx, dy, dout, 5);
    for (int i = 0; i < 5; i++) CHECK(dx[i] == 1 + dout[i] && dy[i] == dout[i], "residual_backward at %d", i);
}

/* ---- fused linear: L = sum(R * W_eff) + sum(rb * b_eff), so G = R and gb = rb ---- */
typedef struct { FusedLinearView *v; float *weff, *beff, *scratch, *R, *rb; } FlCtx;
static double fl_loss(void *c_) {
    FlCtx *c = c_;
    fused_linear_weight(c->weff, c->beff, c->v, c->scratch);
    return dot(c->weff, c->R, (size_t)c->v->out * c->v->in) + dot(c->beff, c->rb, c->v->out);
}
static void test_fused_linear(int out, int in, int lr, int rank, int nterms) {
    FusedLinearView v = {.out = out, .in = in, .lora_rank = lr, .nterms = nterms};
    const size_t n = (size_t)out * in;
    float *w = randv(n, 1), *bias = randv(out, 1);
    v.w = w;
    v.bias = bias;
    v.a = randv((size_t)lr * in, 1), v.b = randv((size_t)out * lr, 1);
    v.da = zeros((size_t)lr * in), v.db = zeros((size_t)out * lr);
    for (int k = 0; k < nterms; k++) {
        FuseTermView *t = &v.term[k];
        t->rank = rank;
        t->wp = randv(n, 1), t->bp = randv(out, 1);
        t->cl = randv((size_t)out * rank, 1), t->cr = randv((size_t)rank * in, 1), t->cb = randv(out, 1);
        t->dcl = zeros((size_t)out * rank), t->dcr = zeros((size_t)rank * in), t->dcb = zeros(out);
    }
    FlCtx c = {&v, zeros(n), zeros(out), zeros(n), randv(n, 1), randv(out, 1)};
    float *wr = zeros(n), *br = zeros(out);
    fused_linear_weight(c.weff, c.beff, &v, c.scratch);
    fused_linear_weight_ref(wr, br, &v);
    CHECK(nmse(wr, c.weff, n) < 1e-12 && nmse(br, c.beff, out) < 1e-12, "fused_linear_weight vs ref");
    fused_linear_backward(&v, c.R, c.rb, c.scratch);
    fd_check("fused dA", v.a, (size_t)lr * in, v.da, fl_loss, &c, 1e-2f, 1e-2);
    fd_check("fused dB", v.b, (size_t)out * lr, v.db, fl_loss, &c, 1e-2f, 1e-2);
    for (int k = 0; k < nterms; k++) {
        FuseTermView *t = &v.term[k];
        fd_check("fused dC_L", t->cl, (size_t)out * rank, t->dcl, fl_loss, &c, 1e-2f, 1e-2);
        fd_check("fused dC_R", t->cr, (size_t)rank * in, t->dcr, fl_loss, &c, 1e-2f, 1e-2);
        fd_check("fused dc_b", t->cb, out, t->dcb, fl_loss, &c, 1e-2f, 1e-2);
    }
    /* the fast gradients against the reference (accumulating on top of the first pass) */
    FusedLinearView r = v;
    r.da = df_alloc_floats((size_t)lr * in), r.db = df_alloc_floats((size_t)out * lr);
    memcpy(r.da, v.da, (size_t)lr * in * sizeof(float));
    memcpy(r.db, v.db, (size_t)out * lr * sizeof(float));
    fused_linear_backward(&v, c.R, c.rb, c.scratch);
    fused_linear_backward_ref(&r, c.R, c.rb);
    CHECK(nmse(r.da, v.da, (size_t)lr * in) < 1e-10 && nmse(r.db, v.db, (size_t)out * lr) < 1e-10,
          "fused_linear_backward vs ref (A, B)");
    free(r.da); free(r.db);
    for (int k = 0; k < nterms; k++) {
        FuseTermView *t = &v.term[k];
        free((void *)t->wp); free((void *)t->bp); free(t->cl); free(t->cr); free(t->cb); free(t->dcl); free(t->dcr); free(t->dcb);
    }
    free(w); free(bias); free(v.a); free(v.b); free(v.da); free(v.db);
    free(c.weff); free(c.beff); free(c.scratch); free(c.R); free(c.rb); free(wr); free(br);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    test_rmsnorm(37, 48);
    test_rmsnorm(130, 20); /* more rows than one reduction chunk */
    test_matmul(70, 33, 19);
    test_matmul(150, 64, 40);
    test_rope(2, 11, 3, 8);
    test_attention(2, 13, 4, 2, 8, 0, 1);
    test_attention(1, 19, 6, 2, 4, 1, 1);  /* segments */
    test_attention(1, 600, 4, 1, 16, 0, 0); /* three chunks of 256 rows */
    test_attention(2, 300, 4, 2, 8, 1, 0);
    test_attention(1, 2048, 2, 1, 16, 0, 0); /* seq 2048: 8 chunks, never a T x T buffer */
    test_swiglu(23, 17);
    test_residual();
    test_fused_linear(24, 20, 6, 5, 2);
    test_fused_linear(9, 31, 9, 9, 1); /* ranks at min(out, in) */
    return test_end("test_backward");
}
