/* FuseGPT's fused linears (include/depthfuse/fused.h): the effective weight, the factor gradients
 * from one G per linear, a block's trainable arrays, the fold, and the arena that puts a group's
 * parameters in one buffer. Every product is an sgemm through gemm.h (tiles fixed by shape, so
 * bit-identical at any thread count); the *_ref twins are double loops for the tests. */
#include "depthfuse/fused.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/calib.h"
#include "depthfuse/error.h"
#include "depthfuse/gemm.h"

const int fuse_linear_weight[FUSE_LINEARS] = {BW_Q, BW_K, BW_V, BW_O, BW_GATE, BW_UP, BW_DOWN};
const int fuse_linear_bias[FUSE_LINEARS] = {BW_Q_BIAS, BW_K_BIAS, BW_V_BIAS, BW_O_BIAS, -1, -1, -1};

void fuse_options_default(FuseOptions *o) {
    o->rank = 128;
    o->lora_rank = 128;
    o->seed = 0;
}

/* ---- one linear --------------------------------------------------------------------------- */

void fused_linear_weight(float *weff, float *beff, const FusedLinearView *v, float *scratch) {
    const int out = v->out, in = v->in;
    const size_t n = (size_t)out * in;
    memcpy(weff, v->w, n * sizeof(float));
    if (v->lora_rank) gemm_nn(out, in, v->lora_rank, 1.0f, v->b, v->lora_rank, v->a, in, 1.0f, weff, in);
    for (int k = 0; k < v->nterms; k++) {
        const FuseTermView *t = &v->term[k];
        gemm_nn(out, in, t->rank, 1.0f, t->cl, t->rank, t->cr, in, 0.0f, scratch, in); /* C_L C_R */
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) weff[i] += scratch[i] * t->wp[i];
    }
    if (!v->bias || !beff) return;
    for (int o = 0; o < out; o++) {
        float b = v->bias[o];
        for (int k = 0; k < v->nterms; k++)
            if (v->term[k].bp) b += v->term[k].cb[o] * v->term[k].bp[o];
        beff[o] = b;
    }
}

void fused_linear_backward(const FusedLinearView *v, const float *G, const float *gb, float *scratch) {
    const int out = v->out, in = v->in, lr = v->lora_rank;
    const size_t n = (size_t)out * in;
    if (G && lr) {
        gemm_nt(out, lr, in, 1.0f, G, in, v->a, in, 1.0f, v->db, lr); /* dB += G A^T */
        gemm_tn(lr, in, out, 1.0f, v->b, lr, G, in, 1.0f, v->da, in); /* dA += B^T G */
    }
    for (int k = 0; k < v->nterms; k++) {
        const FuseTermView *t = &v->term[k];
        if (G) {
#pragma omp parallel for schedule(static)
            for (size_t i = 0; i < n; i++) scratch[i] = G[i] * t->wp[i]; /* M = G (.) W_p */
            gemm_nt(out, t->rank, in, 1.0f, scratch, in, t->cr, in, 1.0f, t->dcl, t->rank); /* dC_L += M C_R^T */
            gemm_tn(t->rank, in, out, 1.0f, t->cl, t->rank, scratch, in, 1.0f, t->dcr, in); /* dC_R += C_L^T M */
        }
        if (gb && t->bp)
            for (int o = 0; o < out; o++) t->dcb[o] += gb[o] * t->bp[o];
    }
}

void fused_linear_weight_ref(float *weff, float *beff, const FusedLinearView *v) {
    const int out = v->out, in = v->in;
    for (int o = 0; o < out; o++)
        for (int i = 0; i < in; i++) {
            double w = v->w[(size_t)o * in + i];
            for (int r = 0; r < v->lora_rank; r++) w += (double)v->b[(size_t)o * v->lora_rank + r] * v->a[(size_t)r * in + i];
            for (int k = 0; k < v->nterms; k++) {
                const FuseTermView *t = &v->term[k];
                double m = 0.0;
                for (int r = 0; r < t->rank; r++) m += (double)t->cl[(size_t)o * t->rank + r] * t->cr[(size_t)r * in + i];
                w += m * t->wp[(size_t)o * in + i];
            }
            weff[(size_t)o * in + i] = (float)w;
        }
    if (!v->bias || !beff) return;
    for (int o = 0; o < out; o++) {
        double b = v->bias[o];
        for (int k = 0; k < v->nterms; k++)
            if (v->term[k].bp) b += (double)v->term[k].cb[o] * v->term[k].bp[o];
        beff[o] = (float)b;
    }
}

void fused_linear_backward_ref(const FusedLinearView *v, const float *G, const float *gb) {
    const int out = v->out, in = v->in, lr = v->lora_rank;
    for (int o = 0; G && o < out; o++)
        for (int r = 0; r < lr; r++) {
            double acc = 0.0;
            for (int i = 0; i < in; i++) acc += (double)G[(size_t)o * in + i] * v->a[(size_t)r * in + i];
            v->db[(size_t)o * lr + r] += (float)acc;
        }
    for (int r = 0; G && r < lr; r++)
        for (int i = 0; i < in; i++) {
            double acc = 0.0;
            for (int o = 0; o < out; o++) acc += (double)v->b[(size_t)o * lr + r] * G[(size_t)o * in + i];
            v->da[(size_t)r * in + i] += (float)acc;
        }
    for (int k = 0; k < v->nterms; k++) {
        const FuseTermView *t = &v->term[k];
        for (int o = 0; G && o < out; o++)
            for (int r = 0; r < t->rank; r++) {
                double acc = 0.0;
                for (int i = 0; i < in; i++)
                    acc += (double)G[(size_t)o * in + i] * t->wp[(size_t)o * in + i] * t->cr[(size_t)r * in + i];
                t->dcl[(size_t)o * t->rank + r] += (float)acc;
            }
        for (int r = 0; G && r < t->rank; r++)
            for (int i = 0; i < in; i++) {
                double acc = 0.0;
                for (int o = 0; o < out; o++)
                    acc += (double)t->cl[(size_t)o * t->rank + r] * G[(size_t)o * in + i] * t->wp[(size_t)o * in + i];
                t->dcr[(size_t)r * in + i] += (float)acc;
            }
        if (gb && t->bp)
            for (int o = 0; o < out; o++) t->dcb[o] += (float)((double)gb[o] * t->bp[o]);
    }
}

/* ---- a block ------------------------------------------------------------------------------ */

/* p[n] uniform in [-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform, a = sqrt 5, fan_in = in), from the
 * project's splitmix64 with one stream per (seed, block, absorbed block or -1 for A, linear): the
 * same numbers whatever the order of fusions and the rank layout */
static void init_uniform(float *p, size_t n, int in, uint64_t seed, int id, int src, int j) {
    uint64_t s = seed;
    s = df_rng_next(&s) ^ (uint64_t)(uint32_t)id;
    s = df_rng_next(&s) ^ (uint64_t)(uint32_t)(src + 1);
    s = df_rng_next(&s) ^ (uint64_t)(uint32_t)j;
    const double bound = 1.0 / sqrt((double)in);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(((double)(df_rng_next(&s) >> 11) / 9007199254740992.0 * 2.0 - 1.0) * bound);
}

static int min3(int a, int b, int c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }

FusedBlock *fused_block_new(Block *base, const ModelConfig *c, int id, const FuseOptions *o) {
    FusedBlock *fb = df_calloc(1, sizeof *fb);
    fb->hidden = c->hidden;
    fb->id = id;
    fb->opt = *o;
    fb->base = block_retain(base);
    size_t off = 2 * (size_t)c->hidden, maxw = 0;
    fb->g1 = 0;
    fb->g2 = (size_t)c->hidden;
    for (int j = 0; j < FUSE_LINEARS; j++) {
        int64_t s[2];
        block_weight_shape(c, fuse_linear_weight[j], s);
        fb->out[j] = (int)s[0];
        fb->in[j] = (int)s[1];
        fb->lora_rank[j] = min3(o->lora_rank, fb->out[j], fb->in[j]);
        fb->a[j] = off;
        off += (size_t)fb->lora_rank[j] * fb->in[j];
        fb->b[j] = off;
        off += (size_t)fb->out[j] * fb->lora_rank[j];
        if ((size_t)fb->out[j] * fb->in[j] > maxw) maxw = (size_t)fb->out[j] * fb->in[j];
    }
    fb->nbase = off;
    fb->pb = df_alloc_floats(off);
    fb->gb = df_alloc_floats(off);
    memset(fb->pb, 0, off * sizeof(float)); /* B = 0 */
    memset(fb->gb, 0, off * sizeof(float));
    memcpy(fb->pb + fb->g1, base->w[BW_ATTN_NORM], (size_t)c->hidden * sizeof(float));
    memcpy(fb->pb + fb->g2, base->w[BW_MLP_NORM], (size_t)c->hidden * sizeof(float));
    for (int j = 0; j < FUSE_LINEARS; j++)
        init_uniform(fb->pb + fb->a[j], (size_t)fb->lora_rank[j] * fb->in[j], fb->in[j], o->seed, id, -1, j);
    fb->eff = block_new(c);
    memcpy(fb->eff->dtype, base->dtype, sizeof base->dtype);
    fb->maxw = maxw;
    return fb;
}

void fused_block_free(FusedBlock *fb) {
    if (!fb) return;
    if (!fb->in_arena) {
        free(fb->pb);
        free(fb->gb);
        free(fb->pc);
        free(fb->gc);
    }
    for (int k = 0; k < fb->nterms; k++) block_release(fb->term[k].src);
    block_release(fb->base);
    block_release(fb->eff);
    free(fb);
}

int fused_block_absorb(FusedBlock *fb, Block *src, int src_id) {
    if (fb->in_arena) DF_FATAL("fused_block_absorb: block %d is inside an arena", fb->id);
    if (fb->nterms == FUSE_MAX_TERMS)
        return df_fail("block %d: cannot absorb block %d: already %d absorbed blocks (the most one block holds)", fb->id,
                       src_id, FUSE_MAX_TERMS);
    FuseTerm *t = &fb->term[fb->nterms];
    size_t off = fb->ncoef;
    for (int j = 0; j < FUSE_LINEARS; j++) {
        const int out = fb->out[j], in = fb->in[j], r = min3(fb->opt.rank, out, in);
        t->rank[j] = r;
        t->cl[j] = off;
        off += (size_t)out * r;
        t->cr[j] = off;
        off += (size_t)r * in;
        t->cb[j] = SIZE_MAX;
        if (fuse_linear_bias[j] >= 0 && fb->base->w[fuse_linear_bias[j]] && src->w[fuse_linear_bias[j]]) {
            t->cb[j] = off;
            off += (size_t)out;
        }
    }
    float *pc = df_alloc_floats(off), *gc = df_alloc_floats(off);
    if (fb->ncoef) memcpy(pc, fb->pc, fb->ncoef * sizeof(float));
    if (fb->ncoef) memcpy(gc, fb->gc, fb->ncoef * sizeof(float));
    memset(pc + fb->ncoef, 0, (off - fb->ncoef) * sizeof(float)); /* C_L = 0, c_b = 0 */
    memset(gc + fb->ncoef, 0, (off - fb->ncoef) * sizeof(float));
    for (int j = 0; j < FUSE_LINEARS; j++)
        init_uniform(pc + t->cr[j], (size_t)t->rank[j] * fb->in[j], fb->in[j], fb->opt.seed, fb->id, src_id, j);
    free(fb->pc);
    free(fb->gc);
    fb->pc = pc;
    fb->gc = gc;
    fb->ncoef = off;
    t->src = block_retain(src);
    t->id = src_id;
    fb->nterms++;
    return 0;
}

void fused_block_linear(const FusedBlock *fb, int j, FusedLinearView *v) {
    memset(v, 0, sizeof *v);
    const int bw = fuse_linear_bias[j];
    v->out = fb->out[j];
    v->in = fb->in[j];
    v->lora_rank = fb->lora_rank[j];
    v->w = fb->base->w[fuse_linear_weight[j]];
    v->bias = bw >= 0 ? fb->base->w[bw] : NULL;
    if (v->lora_rank) {
        v->a = fb->pb + fb->a[j];
        v->b = fb->pb + fb->b[j];
        v->da = fb->gb + fb->a[j];
        v->db = fb->gb + fb->b[j];
    }
    v->nterms = fb->nterms;
    for (int k = 0; k < fb->nterms; k++) {
        const FuseTerm *t = &fb->term[k];
        FuseTermView *tv = &v->term[k];
        tv->wp = t->src->w[fuse_linear_weight[j]];
        tv->rank = t->rank[j];
        tv->cl = fb->pc + t->cl[j];
        tv->cr = fb->pc + t->cr[j];
        tv->dcl = fb->gc + t->cl[j];
        tv->dcr = fb->gc + t->cr[j];
        if (t->cb[j] != SIZE_MAX) {
            tv->bp = t->src->w[bw];
            tv->cb = fb->pc + t->cb[j];
            tv->dcb = fb->gc + t->cb[j];
        }
    }
}

/* the arena's shared scratch, or a temporary (released by scratch_done) */
static float *scratch_take(const FusedBlock *fb) { return fb->scratch ? fb->scratch : df_alloc_floats(fb->maxw); }
static void scratch_done(const FusedBlock *fb, float *s) {
    if (s != fb->scratch) free(s);
}

const Block *fused_block_materialize(FusedBlock *fb) {
    Block *e = fb->eff;
    float *scratch = scratch_take(fb);
    for (int j = 0; j < FUSE_LINEARS; j++) {
        FusedLinearView v;
        fused_block_linear(fb, j, &v);
        const int bw = fuse_linear_bias[j];
        fused_linear_weight(e->w[fuse_linear_weight[j]], bw >= 0 ? e->w[bw] : NULL, &v, scratch);
    }
    scratch_done(fb, scratch);
    memcpy(e->w[BW_ATTN_NORM], fb->pb + fb->g1, (size_t)fb->hidden * sizeof(float));
    memcpy(e->w[BW_MLP_NORM], fb->pb + fb->g2, (size_t)fb->hidden * sizeof(float));
    return e;
}

Block *fused_block_fold(FusedBlock *fb) {
    const Block *e = fused_block_materialize(fb);
    Block *b = df_calloc(1, sizeof *b);
    b->numel = e->numel;
    b->mem = df_alloc_floats(e->numel);
    memcpy(b->mem, e->mem, e->numel * sizeof(float));
    for (int w = 0; w < BW_COUNT; w++) b->w[w] = e->w[w] ? b->mem + (e->w[w] - e->mem) : NULL;
    memcpy(b->dtype, e->dtype, sizeof b->dtype);
    b->refs = 1;
    return b;
}

static void fused_consume(GradSink *s, int w, const float *g, int out, int in) {
    FusedBlock *fb = s->ctx;
    if (w == BW_ATTN_NORM || w == BW_MLP_NORM) {
        float *d = fb->gb + (w == BW_ATTN_NORM ? fb->g1 : fb->g2);
        for (int i = 0; i < out; i++) d[i] += g[i];
        return;
    }
    for (int j = 0; j < FUSE_LINEARS; j++) {
        if (w != fuse_linear_weight[j] && w != fuse_linear_bias[j]) continue;
        FusedLinearView v;
        fused_block_linear(fb, j, &v);
        if (w == fuse_linear_weight[j]) {
            float *scratch = v.nterms ? scratch_take(fb) : NULL;
            fused_linear_backward(&v, g, NULL, scratch);
            if (scratch) scratch_done(fb, scratch);
        } else {
            fused_linear_backward(&v, NULL, g, NULL);
        }
        return;
    }
}

void fused_block_sink(FusedBlock *fb, GradSink *s) {
    s->consume = fused_consume;
    s->dest = NULL;
    s->ctx = fb;
    s->want = 1u << BW_ATTN_NORM | 1u << BW_MLP_NORM;
    for (int j = 0; j < FUSE_LINEARS; j++) {
        s->want |= 1u << fuse_linear_weight[j];
        if (fuse_linear_bias[j] >= 0)
            for (int k = 0; k < fb->nterms; k++)
                if (fb->term[k].cb[j] != SIZE_MAX) s->want |= 1u << fuse_linear_bias[j];
    }
}

void fused_block_zero_grad(FusedBlock *fb) {
    memset(fb->gb, 0, fb->nbase * sizeof(float));
    if (fb->ncoef) memset(fb->gc, 0, fb->ncoef * sizeof(float));
}

/* ---- a group's arena ---------------------------------------------------------------------- */

void fused_arena_init(FusedArena *ar, FusedBlock **blocks, int n) {
    memset(ar, 0, sizeof *ar);
    for (int i = 0; i < n; i++) {
        ar->nbase += blocks[i]->nbase;
        ar->n += blocks[i]->nbase + blocks[i]->ncoef;
    }
    size_t maxw = 0;
    for (int i = 0; i < n; i++) maxw = blocks[i]->maxw > maxw ? blocks[i]->maxw : maxw;
    ar->scratch = df_alloc_floats(maxw);
    ar->p = df_alloc_floats(ar->n);
    ar->g = df_alloc_floats(ar->n);
    memset(ar->g, 0, ar->n * sizeof(float));
    size_t ob = 0, oc = ar->nbase;
    for (int i = 0; i < n; i++) {
        FusedBlock *fb = blocks[i];
        if (fb->in_arena) DF_FATAL("fused_arena_init: block %d is already in an arena", fb->id);
        memcpy(ar->p + ob, fb->pb, fb->nbase * sizeof(float));
        if (fb->ncoef) memcpy(ar->p + oc, fb->pc, fb->ncoef * sizeof(float));
        free(fb->pb);
        free(fb->gb);
        free(fb->pc);
        free(fb->gc);
        fb->pb = ar->p + ob;
        fb->gb = ar->g + ob;
        fb->pc = ar->p + oc;
        fb->gc = ar->g + oc;
        fb->scratch = ar->scratch;
        fb->in_arena = 1;
        ob += fb->nbase;
        oc += fb->ncoef;
    }
    ar->blocks = df_malloc((size_t)n * sizeof *ar->blocks);
    memcpy(ar->blocks, blocks, (size_t)n * sizeof *blocks);
    ar->nblocks = n;
}

/* a private copy of p[n] (NULL for n = 0) and a zeroed gradient beside it */
static float *copy_floats(const float *p, size_t n) {
    if (!n) return NULL;
    float *q = df_alloc_floats(n);
    memcpy(q, p, n * sizeof(float));
    return q;
}

static float *zero_floats(size_t n) {
    if (!n) return NULL;
    float *q = df_alloc_floats(n);
    memset(q, 0, n * sizeof(float));
    return q;
}

void fused_arena_free(FusedArena *ar) {
    for (int i = 0; i < ar->nblocks; i++) {
        FusedBlock *fb = ar->blocks[i];
        fb->pb = copy_floats(fb->pb, fb->nbase);
        fb->pc = copy_floats(fb->pc, fb->ncoef);
        fb->gb = zero_floats(fb->nbase);
        fb->gc = zero_floats(fb->ncoef);
        fb->scratch = NULL;
        fb->in_arena = 0;
    }
    free(ar->p);
    free(ar->g);
    free(ar->scratch);
    free(ar->blocks);
    memset(ar, 0, sizeof *ar);
}
