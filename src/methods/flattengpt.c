/* FlattenGPT (include/depthfuse/flattengpt.h). The run:
 *   cosine   the dense model over this rank's calibration windows, keeping every block's input of
 *            a batch (and the last block's output); S[i][j] = mean over tokens of cos(state i,
 *            state j), state i = the input of block i (state L: the output), summed in rank order
 *   groups   flatten_choose_groups on S (a group [a..c] scores S[a][c], or S[a][c+1] with span)
 *   per merged group G, in model order (the residual stream of this rank's windows is carried from
 *   group to group: through the compressed prefix, or the dense model with dense_inputs):
 *     heads     the flattened block on G's input: each head's output contribution
 *               f_h = mean_t || att_h(t) * ||W_O columns of h|| || (the notes' formula), or with
 *               head_score_exact mean_t || att_h(t) W_O,h^T ||, summed over the query heads of
 *               each KV group; the top n_kv groups are kept (a uniform GQA layout)
 *     W_O       (wo_comp) Z = the heads' outputs, lambda_o = ridge tr(Z^T Z) / cols:
 *               W_O' = (Z_K^T Z_K + lambda_o I)^-1 (Z_K^T Z W_O + lambda_o W_O[K])
 *     channels  psi = the intermediate activations of the (head-pruned) flattened MLP, C = psi^T psi
 *               (fp64, distributed), lambda = ridge tr(C) / n, leverage s_i = 1 - lambda [(C +
 *               lambda I)^-1]_ii; the top I channels K are kept and
 *               W_D' = (psi_K^T psi_K + lambda I)^-1 (psi_K^T psi W_D + lambda W_D[K])
 *               (notes B.5, Lemma 3.1: the same formula, with S_K^T C S_K formed from psi_K);
 *               with block_target, psi W_D is replaced by what the MLP must add to the pruned
 *               attention's output to give the unpruned flattened block's output (our extension:
 *               the MLP also absorbs the head pruning's error)
 * Every matrix that depends on the data is reduced in rank order, so a run is reproducible at a
 * given layout and equal to rounding across layouts. */
#include "depthfuse/flattengpt.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/log.h"
#include "depthfuse/stop.h"

/* the calibration windows of this rank and their residual stream */
typedef struct {
    const Model *m;
    const CalibSet *cal;
    int nw, T, H, bw; /* local windows, tokens, hidden, windows per forward batch */
    int *win;         /* [nw] global window indices */
    float *x;         /* [nw, T, H] the stream entering the next block */
    Rope rope;
} Stream;

static void stream_init(Stream *s, const Topology *t, const Model *m, const CalibSet *cal, int tokens_per_mb) {
    memset(s, 0, sizeof *s);
    s->m = m;
    s->cal = cal;
    s->T = cal->T;
    s->H = m->cfg.hidden;
    s->win = df_malloc(sizeof(int) * (size_t)cal->n);
    for (int w = t->rank; w < cal->n; w += t->size) s->win[s->nw++] = w;
    s->bw = tokens_per_mb / s->T > 1 ? tokens_per_mb / s->T : 1;
    s->x = df_alloc_floats((size_t)(s->nw ? s->nw : 1) * s->T * s->H);
    for (int i = 0; i < s->nw; i++)
        model_embed(s->x + (size_t)i * s->T * s->H, m, cal->ids + (size_t)s->win[i] * s->T, s->T);
    model_rope_init(&s->rope, &m->cfg, s->T);
}

static void stream_free(Stream *s) {
    free(s->win);
    free(s->x);
    rope_free(&s->rope);
}

/* Run blk (config c) over the stream in batches, with the activations captured. advance: the
 * stream becomes the block's output; otherwise it is left as it was. cb (may be NULL) sees each
 * batch: its first local window i0, nb windows, and the activations. */
typedef void (*BatchFn)(void *ctx, int i0, int nb, const BlockActs *a, const float *out);
static void stream_run(Stream *s, const Block *blk, const ModelConfig *c, int advance, BatchFn cb, void *ctx) {
    const size_t win = (size_t)s->T * s->H;
    BlockActs a;
    block_acts_init(&a, c, s->bw, s->T, 1);
    float *tmp = advance ? NULL : df_alloc_floats((size_t)s->bw * win);
    for (int i0 = 0; i0 < s->nw; i0 += s->bw) {
        const int nb = s->nw - i0 < s->bw ? s->nw - i0 : s->bw;
        float *x = s->x + (size_t)i0 * win;
        if (!advance) x = memcpy(tmp, x, sizeof(float) * nb * win);
        block_forward(x, &a, blk, c, &s->rope, nb, s->T);
        if (cb) cb(ctx, i0, nb, &a, x);
    }
    free(tmp);
    block_acts_free(&a);
}

static long long stream_tokens(const Stream *s) { return (long long)s->nw * s->T; }

/* ---- cosine matrix of block inputs ---- */

/* S[(L+1)^2]: the states are the inputs of blocks 0..L-1 and the output of block L-1 */
static void cosine_matrix(double *S, const Model *m, Stream *s) {
    const int L = m->cfg.n_layers, H = s->H, ns = L + 1;
    const size_t win = (size_t)s->T * H;
    memset(S, 0, sizeof(double) * (size_t)ns * ns);
    float *ins = df_alloc_floats((size_t)ns * s->bw * win);
    double *norm = df_malloc(sizeof(double) * (size_t)ns);
    BlockActs a;
    block_acts_init(&a, &m->cfg, s->bw, s->T, 0);
    for (int i0 = 0; i0 < s->nw; i0 += s->bw) {
        const int nb = s->nw - i0 < s->bw ? s->nw - i0 : s->bw;
        const size_t n = (size_t)nb * win;
        memcpy(ins, s->x + (size_t)i0 * win, sizeof(float) * n);
        for (int l = 0; l < L; l++) {
            float *x = ins + (size_t)(l + 1) * s->bw * win;
            memcpy(x, ins + (size_t)l * s->bw * win, sizeof(float) * n);
            block_forward(x, &a, m->blocks[l], &m->cfg, &s->rope, nb, s->T);
        }
        for (long long tk = 0; tk < (long long)nb * s->T; tk++) {
            for (int l = 0; l < ns; l++) {
                const float *u = ins + (size_t)l * s->bw * win + (size_t)tk * H;
                double q = 0;
                for (int k = 0; k < H; k++) q += (double)u[k] * u[k];
                norm[l] = sqrt(q) + 1e-30;
            }
#pragma omp parallel for schedule(dynamic)
            for (int i = 0; i < ns; i++) {
                const float *u = ins + (size_t)i * s->bw * win + (size_t)tk * H;
                for (int j = i + 1; j < ns; j++) {
                    const float *v = ins + (size_t)j * s->bw * win + (size_t)tk * H;
                    double d = 0;
                    for (int k = 0; k < H; k++) d += (double)u[k] * v[k];
                    S[(size_t)i * ns + j] += d / (norm[i] * norm[j]);
                }
            }
        }
    }
    free(ins);
    free(norm);
    block_acts_free(&a);
    dist_sum_fixed(S, ns * ns);
    const double tokens = (double)s->cal->n * s->T;
    for (size_t i = 0; i < (size_t)ns * ns; i++) S[i] /= tokens;
}

/* ---- heads ---- */

typedef struct {
    const ModelConfig *cw;
    const float *won; /* [gQ] norm of each o_proj column */
    int exact;        /* score by the exact output norm (o_proj applied per head) */
    const float *wo;  /* [H, gQ] o_proj */
    float *out;       /* [tokens of a batch, H] scratch */
    double *score;    /* [g nh] */
    double ztrace;    /* sum of squares of the heads' outputs */
    float *z, *yatt;  /* wo_comp: [tokens, gQ] head outputs and [tokens, H] attention outputs */
    float *yblock;    /* block target: [tokens, H] the flattened block's output */
    const float *o_bias;
    int T, H;
} HeadPass;

static void head_batch(void *ctx, int i0, int nb, const BlockActs *a, const float *out) {
    HeadPass *p = ctx;
    const int nh = p->cw->n_heads, hd = p->cw->head_dim, Q = nh * hd, H = p->H;
    const size_t N = (size_t)nb * p->T;
    if (p->exact) { /* || att_h(t) W_O,h^T ||: the vector head h adds to the residual stream */
        for (int h = 0; h < nh; h++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, H, hd, 1.0f, a->att + h * hd, Q,
                        p->wo + h * hd, Q, 0.0f, p->out, H);
            double sum = 0;
#pragma omp parallel for reduction(+ : sum)
            for (size_t n = 0; n < N; n++) {
                double q = 0;
                for (int k = 0; k < H; k++) q += (double)p->out[n * H + k] * p->out[n * H + k];
                sum += sqrt(q);
            }
            p->score[h] += sum;
        }
    }
    for (size_t n = 0; n < N; n++) {
        const float *att = a->att + n * Q;
        for (int h = 0; h < nh && !p->exact; h++) {
            double q = 0;
            for (int d = 0; d < hd; d++) {
                const double v = (double)att[h * hd + d] * p->won[h * hd + d];
                q += v * v;
            }
            p->score[h] += sqrt(q);
        }
        for (int k = 0; k < Q; k++) p->ztrace += (double)att[k] * att[k];
    }
    const size_t t0 = (size_t)i0 * p->T;
    if (p->yblock) memcpy(p->yblock + t0 * H, out, sizeof(float) * N * H);
    if (!p->z) return;
    memcpy(p->z + t0 * Q, a->att, sizeof(float) * N * Q);
    for (size_t n = 0; n < N * H; n++) /* h - x_in = att W_O^T + o_bias */
        p->yatt[t0 * H + n] = a->h[n] - a->x_in[n] - (p->o_bias ? p->o_bias[n % H] : 0.0f);
}

typedef struct {
    double v;
    int i;
} Ranked;

static int higher_first(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    return x->v != y->v ? (x->v < y->v ? 1 : -1) : x->i - y->i;
}

static int ascending(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* keep[k] = the indices of the k highest v[n] (ties: lower index), ascending */
static void top_k(int *keep, const double *v, int n, int k) {
    Ranked *r = df_malloc(sizeof(Ranked) * (size_t)n);
    for (int i = 0; i < n; i++) r[i] = (Ranked){v[i], i};
    qsort(r, (size_t)n, sizeof *r, higher_first);
    for (int i = 0; i < k; i++) keep[i] = r[i].i;
    qsort(keep, (size_t)k, sizeof(int), ascending);
    free(r);
}

/* W' [rows of keep, d] = (X_K^T X_K + lam I)^-1 (X_K^T Y + lam W[K]): X [N, ldx] local rows, Y
 * [N, d], W[n, d] given as wcol(w, i, j) = W[i][j]. out[d * k] column-major (k x d), which is the
 * HF [d, k] row-major layout of the new projection. */
static int ridge_solve(float *out, const SolveGrid *g, const float *X, int ldx, const int *keep, int k, const float *Y,
                       int d, long long N, const float *Wt, int ldw, double lam, double *gflop, const char *what) {
    DistMat A, B;
    distmat_init(&A, g, k, k);
    distmat_init(&B, g, k, d);
    *gflop += dist_gram(&A, X, ldx, keep, k, X, ldx, keep, k, N) * 1e-9;
    *gflop += dist_gram(&B, X, ldx, keep, k, Y, d, NULL, d, N) * 1e-9;
    distmat_add_diag(&A, lam);
    for (int lj = 0; lj < B.lc; lj++) { /* + lam W[K]; Wt is the HF [d, ldw] layout: W[i][j] = Wt[j][i] */
        const int j = distmat_gcol(&B, lj);
        for (int li = 0; li < B.lr; li++)
            B.a[(size_t)lj * B.lr + li] += lam * Wt[(size_t)j * ldw + keep[distmat_grow(&B, li)]];
    }
    int rc = dist_posv(&A, &B, what);
    if (rc == 0) {
        double *full = df_malloc(sizeof(double) * (size_t)k * d);
        distmat_allgather(full, &B);
        for (size_t i = 0; i < (size_t)k * d; i++) out[i] = (float)full[i];
        free(full);
    }
    distmat_free(&A);
    distmat_free(&B);
    return rc;
}

/* ---- channels ---- */

typedef struct {
    int T, n, H;
    float *psi, *y;       /* [tokens, n] intermediate activations, [tokens, H] the regression target */
    const float *yblock;  /* block target: the unpruned flattened block's output (NULL: the MLP's) */
} MlpPass;

static void mlp_batch(void *ctx, int i0, int nb, const BlockActs *a, const float *out) {
    MlpPass *p = ctx;
    const size_t t0 = (size_t)i0 * p->T, N = (size_t)nb * p->T;
    memcpy(p->psi + t0 * p->n, a->s, sizeof(float) * N * p->n);
    if (!p->yblock) {
        memcpy(p->y + t0 * p->H, a->tmp, sizeof(float) * N * p->H); /* tmp = s W_D^T, the MLP's output */
        return;
    }
    /* what the MLP must add after the pruned attention (a->h) to give the unpruned block's output */
    for (size_t i = 0; i < N * p->H; i++) p->y[t0 * p->H + i] = p->yblock[t0 * p->H + i] - a->h[i];
}

static double sum_squares(const float *x, size_t n) {
    double s = 0;
#pragma omp parallel for reduction(+ : s)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* one merged group: the flattened block pruned back to width (collective) */
static int flatten_group(Block **out, FlattenGroup *G, const Model *m, Stream *s, const FlattenOpts *o) {
    const ModelConfig *c = &m->cfg;
    const int g = G->n, H = c->hidden, hd = c->head_dim, rep = c->n_heads / c->n_kv_heads;
    const long long N = stream_tokens(s);
    const ModelConfig cw = flatten_config(c, g);
    const int gQ = cw.n_heads * hd, n = cw.intermediate;
    char what[96];
    double t0 = df_now();
    Block *wide = flatten_blocks(c, m->blocks + G->first, g);

    /* heads */
    HeadPass hp = {.cw = &cw, .T = s->T, .H = H, .o_bias = c->o_bias ? wide->w[BW_O_BIAS] : NULL};
    float *won = df_calloc((size_t)gQ, sizeof(float));
    for (int r = 0; r < H; r++)
        for (int k = 0; k < gQ; k++) won[k] += wide->w[BW_O][(size_t)r * gQ + k] * wide->w[BW_O][(size_t)r * gQ + k];
    for (int k = 0; k < gQ; k++) won[k] = sqrtf(won[k]);
    hp.won = won;
    hp.exact = o->head_score_exact;
    hp.wo = wide->w[BW_O];
    if (hp.exact) hp.out = df_alloc_floats((size_t)s->bw * s->T * H);
    hp.score = df_calloc((size_t)cw.n_heads + 1, sizeof(double));
    if (o->wo_comp) {
        hp.z = df_alloc_floats((size_t)(N ? N : 1) * gQ);
        hp.yatt = df_alloc_floats((size_t)(N ? N : 1) * H);
    }
    if (o->block_target) hp.yblock = df_alloc_floats((size_t)(N ? N : 1) * H);
    stream_run(s, wide, &cw, 0, head_batch, &hp);
    hp.score[cw.n_heads] = hp.ztrace;
    dist_sum_fixed(hp.score, cw.n_heads + 1);
    double *kv_score = df_calloc((size_t)cw.n_kv_heads, sizeof(double));
    for (int h = 0; h < cw.n_heads; h++) kv_score[h / rep] += hp.score[h];
    G->kept_kv = df_malloc(sizeof(int) * (size_t)c->n_kv_heads);
    top_k(G->kept_kv, kv_score, cw.n_kv_heads, c->n_kv_heads);
    float *wo = NULL;
    int rc = 0;
    SolveGrid grid;
    solve_grid_init(&grid, o->solver, n, o->nb);
    G->solver = grid.scalapack ? SOLVER_SCALAPACK : SOLVER_LAPACK;
    if (o->wo_comp) {
        const int Q = c->n_heads * hd;
        int *cols = df_malloc(sizeof(int) * (size_t)Q);
        for (int k = 0; k < c->n_kv_heads; k++)
            for (int h = 0; h < rep; h++)
                for (int d = 0; d < hd; d++) cols[(k * rep + h) * hd + d] = (G->kept_kv[k] * rep + h) * hd + d;
        G->lambda_o = o->ridge * hp.score[cw.n_heads] / gQ;
        wo = df_alloc_floats((size_t)H * Q);
        snprintf(what, sizeof what, "the head-output Gram matrix of blocks %d-%d", G->first, G->first + g - 1);
        double ts = df_now();
        rc = ridge_solve(wo, &grid, hp.z, gQ, cols, Q, hp.yatt, H, N, wide->w[BW_O], gQ, G->lambda_o, &G->gram_gflop,
                         what);
        G->solve_seconds += df_now() - ts;
        free(cols);
    }
    free(hp.z);
    free(hp.yatt);
    free(hp.out);
    free(hp.score);
    free(kv_score);
    free(won);
    Block *mixed = rc == 0 ? flatten_keep_heads(&cw, wide, G->kept_kv, c->n_kv_heads, wo) : NULL;
    free(wo);
    block_release(wide);
    ModelConfig cm = cw;
    cm.n_heads = c->n_heads;
    cm.n_kv_heads = c->n_kv_heads;

    /* channels */
    MlpPass mp = {.T = s->T, .n = n, .H = H, .yblock = hp.yblock};
    if (rc == 0) {
        mp.psi = df_alloc_floats((size_t)(N ? N : 1) * n);
        mp.y = df_alloc_floats((size_t)(N ? N : 1) * H);
        stream_run(s, mixed, &cm, 0, mlp_batch, &mp);
        double tr = sum_squares(mp.psi, (size_t)N * n);
        dist_sum_fixed(&tr, 1);
        G->lambda = o->ridge * tr / n;
        double tg = df_now();
        DistMat C;
        distmat_init(&C, &grid, n, n);
        G->gram_gflop += dist_gram(&C, mp.psi, n, NULL, n, mp.psi, n, NULL, n, N) * 1e-9;
        G->gram_seconds = df_now() - tg;
        distmat_add_diag(&C, G->lambda);
        double *diag = df_malloc(sizeof(double) * (size_t)n);
        snprintf(what, sizeof what, "the MLP Gram matrix of blocks %d-%d (%d channels)", G->first, G->first + g - 1, n);
        double ts = df_now();
        rc = dist_inverse_diag(&C, diag, what);
        distmat_free(&C);
        if (rc == 0) {
            for (int i = 0; i < n; i++) diag[i] = 1.0 - G->lambda * diag[i]; /* ridge leverage */
            G->kept_channels = df_malloc(sizeof(int) * (size_t)c->intermediate);
            top_k(G->kept_channels, diag, n, c->intermediate);
            float *down = df_alloc_floats((size_t)H * c->intermediate);
            rc = ridge_solve(down, &grid, mp.psi, n, G->kept_channels, c->intermediate, mp.y, H, N, mixed->w[BW_DOWN],
                             n, G->lambda, &G->gram_gflop, what);
            if (rc == 0) *out = flatten_keep_channels(&cm, mixed, G->kept_channels, c->intermediate, down);
            free(down);
        }
        G->solve_seconds += df_now() - ts;
        free(diag);
    }
    free(mp.psi);
    free(mp.y);
    free(hp.yblock);
    block_release(mixed);
    solve_grid_free(&grid);
    G->seconds = df_now() - t0;
    return rc;
}

int flattengpt_run(FlattenResult *r, Model *out, const Topology *t, const Model *m, const CalibSet *cal, int merges,
                   const FlattenOpts *o) {
    const int L = m->cfg.n_layers;
    memset(r, 0, sizeof *r);
    memset(out, 0, sizeof *out);
    if (merges < 1 || merges > L - 1)
        return df_fail("flattengpt: %d merges of %d blocks is not possible (%d adjacent pairs)", merges, L, L - 1);
    if (t->P != 1)
        return df_fail("flattengpt runs data-parallel only (--pipeline 1): every rank holds the model and its windows");
    r->L = L;
    r->S = df_calloc((size_t)(L + 1) * (L + 1), sizeof(double));
    Stream s;
    stream_init(&s, t, m, cal, o->tokens_per_mb);
    double t0 = df_now();
    cosine_matrix(r->S, m, &s);
    r->seconds_cosine = df_now() - t0;
    r->n_groups = L - merges;
    r->first = df_malloc(sizeof(int) * (size_t)L);
    flatten_choose_groups(r->S, L, merges, o->span, r->first);
    r->merged = df_calloc((size_t)r->n_groups, sizeof(FlattenGroup));
    for (int k = 0; k < r->n_groups; k++) {
        const int a = r->first[k], e = k + 1 < r->n_groups ? r->first[k + 1] : L;
        if (e - a < 2) continue;
        FlattenGroup *G = &r->merged[r->n_merged++];
        G->first = a;
        G->n = e - a;
        G->cos = r->S[(size_t)a * (L + 1) + e - 1 + o->span];
    }
    /* the output: one block per group, the merged ones replaced as they are made */
    model_select_blocks(out, m, r->first, r->n_groups);
    t0 = df_now();
    Progress prog;
    if (t->rank == 0) progress_start(&prog, "flattengpt groups", r->n_merged);
    int rc = 0, pos = 0, gi = 0;
    for (int k = 0; k < r->n_groups && rc == 0; k++) {
        const int a = r->first[k], e = k + 1 < r->n_groups ? r->first[k + 1] : L;
        if (e - a < 2) continue;
        if (gi > 0 && df_stop_agreed(MPI_COMM_WORLD, "flatten_group")) {
            rc = df_stop_fail("nothing is kept between groups: run the same command again");
            break;
        }
        for (; pos < a; pos++) stream_run(&s, m->blocks[pos], &m->cfg, 1, NULL, NULL);
        FlattenGroup *G = &r->merged[gi++];
        Block *nb = NULL;
        rc = flatten_group(&nb, G, m, &s, o);
        if (rc != 0) break;
        block_release(out->blocks[k]);
        out->blocks[k] = nb;
        if (o->dense_inputs)
            for (; pos < e; pos++) stream_run(&s, m->blocks[pos], &m->cfg, 1, NULL, NULL);
        else
            stream_run(&s, nb, &m->cfg, 1, NULL, NULL), pos = e;
        df_info0("flattengpt: blocks %d-%d (cos %.4f) -> one block: KV groups kept", a, e - 1, G->cos);
        for (int i = 0; i < m->cfg.n_kv_heads; i++) df_info0(" %d", G->kept_kv[i]);
        df_info0(", lambda %.4g, %.1f s (%s)\n", G->lambda, G->seconds, solver_name(G->solver));
        if (t->rank == 0) progress_update(&prog, gi);
    }
    r->seconds_groups = df_now() - t0;
    stream_free(&s);
    if (rc != 0) model_free(out);
    return rc;
}

void flattengpt_free(FlattenResult *r) {
    for (int i = 0; i < r->n_merged; i++) {
        free(r->merged[i].kept_kv);
        free(r->merged[i].kept_channels);
    }
    free(r->merged);
    free(r->S);
    free(r->first);
    memset(r, 0, sizeof *r);
}

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

cJSON *flattengpt_json(const FlattenResult *r, const ModelConfig *c, const FlattenOpts *o) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "ridge", o->ridge);
    cJSON_AddBoolToObject(j, "wo_compensation", o->wo_comp);
    cJSON_AddStringToObject(j, "calibration_inputs", o->dense_inputs ? "dense" : "compressed");
    cJSON_AddStringToObject(j, "solver", solver_name(o->solver));
    cJSON_AddStringToObject(j, "head_score", o->head_score_exact ? "output" : "notes");
    cJSON_AddStringToObject(j, "mlp_target", o->block_target ? "block" : "mlp");
    cJSON *cos = cJSON_AddArrayToObject(j, "cosine");
    cJSON_AddStringToObject(j, "similarity", o->span ? "span" : "inputs");
    for (int i = 0; i <= r->L; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int k = 0; k <= r->L; k++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber(k > i ? r->S[(size_t)i * (r->L + 1) + k] : k == i));
        cJSON_AddItemToArray(cos, row);
    }
    cJSON *groups = cJSON_AddArrayToObject(j, "groups");
    const int rep = c->n_heads / c->n_kv_heads;
    for (int i = 0; i < r->n_merged; i++) {
        const FlattenGroup *G = &r->merged[i];
        cJSON *g = cJSON_CreateObject();
        int *blocks = df_malloc(sizeof(int) * (size_t)G->n), *heads = df_malloc(sizeof(int) * (size_t)c->n_heads);
        for (int k = 0; k < G->n; k++) blocks[k] = G->first + k;
        for (int k = 0; k < c->n_kv_heads; k++)
            for (int h = 0; h < rep; h++) heads[k * rep + h] = G->kept_kv[k] * rep + h;
        cJSON_AddItemToObject(g, "blocks", int_array(blocks, G->n));
        cJSON_AddNumberToObject(g, "cosine", G->cos);
        cJSON_AddItemToObject(g, "kept_kv_heads", int_array(G->kept_kv, c->n_kv_heads));
        cJSON_AddItemToObject(g, "kept_heads", int_array(heads, c->n_heads));
        cJSON_AddItemToObject(g, "kept_channels", int_array(G->kept_channels, c->intermediate));
        cJSON_AddNumberToObject(g, "lambda", G->lambda);
        if (o->wo_comp) cJSON_AddNumberToObject(g, "lambda_o", G->lambda_o);
        cJSON_AddStringToObject(g, "solver", solver_name(G->solver));
        cJSON_AddNumberToObject(g, "gram_gflop", G->gram_gflop);
        cJSON_AddNumberToObject(g, "gram_seconds", G->gram_seconds);
        cJSON_AddNumberToObject(g, "solve_seconds", G->solve_seconds);
        cJSON_AddNumberToObject(g, "seconds", G->seconds);
        cJSON_AddItemToArray(groups, g);
        free(blocks);
        free(heads);
    }
    return j;
}
