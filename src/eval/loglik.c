#include "depthfuse/loglik.h"

#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"

/* capacity for n entries: the next power of two, so that pushes reallocate O(log n) times */
static size_t cap_for(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

void loglik_set_push(LoglikSet *s, const int32_t *ids, int len, int n_cont) {
    const int64_t at = s->n ? s->off[s->n] : 0;
    if (!s->off || cap_for((size_t)s->n + 2) != cap_for((size_t)s->n + 1)) {
        s->off = df_realloc(s->off, sizeof(int64_t) * cap_for((size_t)s->n + 2));
        s->n_cont = df_realloc(s->n_cont, sizeof(int) * cap_for((size_t)s->n + 2));
    }
    if (!s->ids || cap_for((size_t)(at + len)) != cap_for((size_t)at))
        s->ids = df_realloc(s->ids, sizeof(int32_t) * cap_for((size_t)(at + len)));
    memcpy(s->ids + at, ids, sizeof(int32_t) * (size_t)len);
    s->off[0] = 0;
    s->off[s->n + 1] = at + len;
    s->n_cont[s->n++] = n_cont;
}

void loglik_set_free(LoglikSet *s) {
    free(s->ids);
    free(s->off);
    free(s->n_cont);
    memset(s, 0, sizeof *s);
}

void loglik_set_bcast(LoglikSet *s, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&s->n, 1, MPI_INT, 0, comm);
    if (rank != 0) {
        s->off = df_realloc(s->off, sizeof(int64_t) * (size_t)(s->n + 1));
        s->n_cont = df_realloc(s->n_cont, sizeof(int) * (size_t)(s->n + 1));
    }
    if (s->n == 0) return;
    MPI_Bcast(s->off, s->n + 1, MPI_INT64_T, 0, comm);
    MPI_Bcast(s->n_cont, s->n, MPI_INT, 0, comm);
    const int64_t total = s->off[s->n];
    if (rank != 0) s->ids = df_realloc(s->ids, sizeof(int32_t) * (size_t)(total ? total : 1));
    for (int64_t at = 0; at < total; at += 1 << 28) /* MPI counts are int */
        MPI_Bcast(s->ids + at, (int)(total - at < (1 << 28) ? total - at : (1 << 28)), MPI_INT32_T, 0, comm);
}

static int seq_len(const LoglikSet *s, int i) { return (int)(s->off[i + 1] - s->off[i]); }

typedef struct {
    int len, seq;
} ByLength;

static int longer_first(const void *a, const void *b) {
    const ByLength *x = a, *y = b;
    return x->len != y->len ? y->len - x->len : x->seq - y->seq;
}

/* Longest first; each micro-batch takes as many of the next sequences as fit in tokens_per_mb at
 * the length of its first (the others are padded at the end), but no more than keeps 2P
 * micro-batches per group busy. */
static MicroBatch *micro_batches_by_length(const LoglikSet *s, int tokens_per_mb, const Topology *t, int *n_mb) {
    ByLength *order = df_malloc(sizeof *order * (size_t)s->n);
    for (int i = 0; i < s->n; i++) order[i] = (ByLength){seq_len(s, i), i};
    qsort(order, (size_t)s->n, sizeof *order, longer_first);
    const int spread = 2 * t->P * t->D, most = (s->n + spread - 1) / spread;
    MicroBatch *mbs = df_calloc((size_t)s->n + 1, sizeof *mbs);
    int k = 0;
    for (int j = 0; j < s->n; k++) {
        const int T = order[j].len - 1;
        int B = tokens_per_mb / T;
        B = B < 1 ? 1 : B > most ? most : B;
        B = B > s->n - j ? s->n - j : B;
        mbs[k] = (MicroBatch){B, T, df_malloc(sizeof(int) * (size_t)B)};
        for (int b = 0; b < B; b++) mbs[k].seq[b] = order[j + b].seq;
        j += B;
    }
    free(order);
    *n_mb = k;
    return mbs;
}

typedef struct {
    const Model *m;
    const LoglikSet *s;
    double *ll;
    int *greedy;
    float *xs, *lp; /* [rows,H], [rows]: the scored positions of one micro-batch, gathered */
    int32_t *target, *best;
} LlCtx;

/* rows of x the continuation of sequence si is predicted from: inputs p in [len-1-n_cont, len-1) */
static int first_scored(const LoglikSet *s, int si) { return seq_len(s, si) - 1 - s->n_cont[si]; }

/* on the last stage: gather the scored rows of every sequence, one head pass, then sum per sequence */
static void ll_output(void *vctx, const MicroBatch *mb, const float *x) {
    LlCtx *c = vctx;
    const LoglikSet *s = c->s;
    const int H = c->m->cfg.hidden, T = mb->T;
    int rows = 0;
    for (int b = 0; b < mb->B; b++) {
        const int si = mb->seq[b], p0 = first_scored(s, si);
        for (int p = p0; p < p0 + s->n_cont[si]; p++, rows++) {
            memcpy(c->xs + (size_t)rows * H, x + ((size_t)b * T + p) * H, sizeof(float) * (size_t)H);
            c->target[rows] = s->ids[s->off[si] + p + 1];
        }
    }
    model_target_logprobs(c->lp, c->best, c->m, c->xs, c->target, rows);
    rows = 0;
    for (int b = 0; b < mb->B; b++) {
        const int si = mb->seq[b];
        double sum = 0;
        int greedy = 1;
        for (int k = 0; k < s->n_cont[si]; k++, rows++) {
            sum += c->lp[rows];
            greedy &= c->best[rows] == c->target[rows];
        }
        c->ll[si] = sum;
        c->greedy[si] = greedy;
    }
}

/* each sequence minus its last token, padded to its micro-batch's length with its own first token */
static int32_t *padded_inputs(const LoglikSet *s, const MicroBatch *mbs, int n_mb, const int32_t **ids) {
    size_t total = 0;
    for (int k = 0; k < n_mb; k++) total += (size_t)mbs[k].B * mbs[k].T;
    int32_t *pad = df_malloc(sizeof(int32_t) * total), *p = pad;
    for (int k = 0; k < n_mb; k++)
        for (int b = 0; b < mbs[k].B; b++, p += mbs[k].T) {
            const int si = mbs[k].seq[b], n = seq_len(s, si) - 1;
            memcpy(p, s->ids + s->off[si], sizeof(int32_t) * (size_t)n);
            for (int i = n; i < mbs[k].T; i++) p[i] = s->ids[s->off[si]];
            ids[si] = p;
        }
    return pad;
}

static int check_set(const LoglikSet *s, const Model *m, const char *label) {
    for (int i = 0; i < s->n; i++) {
        const int len = seq_len(s, i);
        if (s->n_cont[i] < 1 || s->n_cont[i] >= len)
            return df_fail("%s: sequence %d: %d continuation tokens of %d (need at least one before them)", label, i,
                           s->n_cont[i], len);
        for (int j = 0; j < len; j++)
            if (s->ids[s->off[i] + j] < 0 || s->ids[s->off[i] + j] >= m->cfg.vocab)
                return df_fail("%s: sequence %d: token id %d outside the vocabulary (%d)", label, i, s->ids[s->off[i] + j],
                               m->cfg.vocab);
    }
    return 0;
}

int loglik_eval(double *ll, int *greedy, LoglikStats *st, const Topology *t, const Model *m, const LoglikSet *s,
                int tokens_per_mb, const char *label) {
    memset(ll, 0, sizeof(double) * (size_t)s->n);
    memset(greedy, 0, sizeof(int) * (size_t)s->n);
    LoglikStats stats = {0, 0};
    if (st) *st = stats;
    if (s->n == 0) return 0;
    DF_TRY(check_set(s, m, label));
    int n_mb, max_rows = 1, max_T = 1;
    MicroBatch *mbs = micro_batches_by_length(s, tokens_per_mb, t, &n_mb);
    for (int k = 0; k < n_mb; k++) {
        int rows = 0;
        for (int b = 0; b < mbs[k].B; b++) rows += s->n_cont[mbs[k].seq[b]];
        for (int b = 0; b < mbs[k].B; b++) stats.tokens += seq_len(s, mbs[k].seq[b]) - 1;
        stats.padded += (long long)mbs[k].B * mbs[k].T;
        max_rows = rows > max_rows ? rows : max_rows;
        max_T = mbs[k].T > max_T ? mbs[k].T : max_T;
    }
    if (config_check_seq_len(&m->cfg, max_T) < 0) {
        micro_batches_free(mbs, n_mb);
        return -1;
    }
    const int32_t **ids = df_malloc(sizeof(int32_t *) * (size_t)s->n);
    int32_t *pad = padded_inputs(s, mbs, n_mb, ids);
    const int H = m->cfg.hidden;
    LlCtx ctx = {m, s, df_calloc((size_t)s->n, sizeof(double)), df_calloc((size_t)s->n, sizeof(int)),
                 df_alloc_floats((size_t)max_rows * H), df_alloc_floats((size_t)max_rows),
                 df_malloc(sizeof(int32_t) * (size_t)max_rows), df_malloc(sizeof(int32_t) * (size_t)max_rows)};
    int *stage_of = df_malloc(sizeof(int) * (size_t)m->cfg.n_layers);
    PipelineJob job;
    pipeline_job_for_model(&job, stage_of, t, m);
    job.ids = ids;
    job.output = ll_output;
    job.ctx = &ctx;
    job.progress_label = label;
    int rc = pipeline_run(t, m, &job, mbs, n_mb);
    /* one rank computed each sequence, the others hold zeros: the sums are exact */
    MPI_Allreduce(ctx.ll, ll, s->n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(ctx.greedy, greedy, s->n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    free(ctx.ll);
    free(ctx.greedy);
    free(ctx.xs);
    free(ctx.lp);
    free(ctx.target);
    free(ctx.best);
    free(stage_of);
    free(pad);
    free(ids);
    micro_batches_free(mbs, n_mb);
    if (st) *st = stats;
    return rc;
}
