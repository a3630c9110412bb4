#include "depthfuse/loglik.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/forward.h"

/* capacity for n entries: the next power of two, so that pushes reallocate O(log n) times */
static size_t cap_for(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

void loglik_set_push(LoglikSet *s, const int32_t *ids, int len, int n_cont, int group) {
    const int64_t at = s->n ? s->off[s->n] : 0;
    if (!s->off || cap_for((size_t)s->n + 2) != cap_for((size_t)s->n + 1)) {
        s->off = df_realloc(s->off, sizeof(int64_t) * cap_for((size_t)s->n + 2));
        s->n_cont = df_realloc(s->n_cont, sizeof(int) * cap_for((size_t)s->n + 2));
        s->group = df_realloc(s->group, sizeof(int) * cap_for((size_t)s->n + 2));
    }
    if (!s->ids || cap_for((size_t)(at + len)) != cap_for((size_t)at))
        s->ids = df_realloc(s->ids, sizeof(int32_t) * cap_for((size_t)(at + len)));
    memcpy(s->ids + at, ids, sizeof(int32_t) * (size_t)len);
    s->off[0] = 0;
    s->off[s->n + 1] = at + len;
    s->group[s->n] = group;
    s->n_cont[s->n++] = n_cont;
}

void loglik_set_free(LoglikSet *s) {
    free(s->ids);
    free(s->off);
    free(s->n_cont);
    free(s->group);
    memset(s, 0, sizeof *s);
}

void loglik_set_bcast(LoglikSet *s, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    MPI_Bcast(&s->n, 1, MPI_INT, 0, comm);
    if (rank != 0) {
        s->off = df_realloc(s->off, sizeof(int64_t) * (size_t)(s->n + 1));
        s->n_cont = df_realloc(s->n_cont, sizeof(int) * (size_t)(s->n + 1));
        s->group = df_realloc(s->group, sizeof(int) * (size_t)(s->n + 1));
    }
    if (s->n == 0) return;
    MPI_Bcast(s->off, s->n + 1, MPI_INT64_T, 0, comm);
    MPI_Bcast(s->n_cont, s->n, MPI_INT, 0, comm);
    MPI_Bcast(s->group, s->n, MPI_INT, 0, comm);
    const int64_t total = s->off[s->n];
    if (rank != 0) s->ids = df_realloc(s->ids, sizeof(int32_t) * (size_t)(total ? total : 1));
    for (int64_t at = 0; at < total; at += 1 << 28) /* MPI counts are int */
        MPI_Bcast(s->ids + at, (int)(total - at < (1 << 28) ? total - at : (1 << 28)), MPI_INT32_T, 0, comm);
}

static int seq_len(const LoglikSet *s, int i) { return (int)(s->off[i + 1] - s->off[i]); }
/* what the model reads of sequence i: all but its last token */
static int input_len(const LoglikSet *s, int i) { return seq_len(s, i) - 1; }

/* A row of a micro-batch: sequences [first, first + n) of the set, the P tokens their inputs begin
 * with once, then the rest of each input (its tokens P..) in segment 1, 2, ... at positions P...
 * A sequence alone is a row of one whose P is its whole input. len = P + the rests. */
typedef struct {
    int first, n, P, len;
} Row;

/* how many tokens the inputs of sequences [first, first + n) begin with in common */
static int common_prefix(const LoglikSet *s, int first, int n) {
    const int32_t *a = s->ids + s->off[first];
    int P = input_len(s, first);
    for (int i = first + 1; i < first + n; i++) {
        const int32_t *b = s->ids + s->off[i];
        int k = 0;
        while (k < P && k < input_len(s, i) && a[k] == b[k]) k++;
        P = k;
    }
    return P;
}

/* Each group (a run of equal s->group) as one row when its inputs share a token and the row has at
 * most share_len tokens, else its sequences alone. Token i >= P of sequence j's input goes to index
 * i + shift[j] of its row. */
static Row *rows_of(const LoglikSet *s, int share_len, int *shift, int *n_rows) {
    Row *rows = df_malloc(sizeof *rows * (size_t)s->n);
    int k = 0;
    for (int i = 0, n; i < s->n; i += n) {
        for (n = 1; share_len > 0 && i + n < s->n && s->group[i + n] == s->group[i];) n++;
        const int P = n > 1 ? common_prefix(s, i, n) : 0;
        long long len = P;
        for (int j = i; j < i + n; j++) {
            shift[j] = (int)len - P;
            len += input_len(s, j) - P;
        }
        if (n > 1 && P > 0 && len <= share_len) {
            rows[k++] = (Row){i, n, P, (int)len};
            continue;
        }
        for (int j = i; j < i + n; j++) {
            shift[j] = 0;
            rows[k++] = (Row){j, 1, input_len(s, j), input_len(s, j)};
        }
    }
    *n_rows = k;
    return rows;
}

typedef struct {
    int len, row;
} ByLength;

static int longer_first(const void *a, const void *b) {
    const ByLength *x = a, *y = b;
    return x->len != y->len ? y->len - x->len : x->row - y->row;
}

/* Longest first; each micro-batch takes as many of the next rows as fit in tokens_per_mb at the
 * length of its first (the others are padded at the end), but no more than keeps 2P micro-batches
 * per group busy. */
static MicroBatch *micro_batches_by_length(const Row *rows, int n_rows, int tokens_per_mb, const Topology *t,
                                           int *n_mb) {
    ByLength *order = df_malloc(sizeof *order * (size_t)n_rows);
    for (int i = 0; i < n_rows; i++) order[i] = (ByLength){rows[i].len, i};
    qsort(order, (size_t)n_rows, sizeof *order, longer_first);
    const int spread = 2 * t->P * t->D, most = (n_rows + spread - 1) / spread;
    MicroBatch *mbs = df_calloc((size_t)n_rows + 1, sizeof *mbs);
    int k = 0;
    for (int j = 0; j < n_rows; k++) {
        const int T = order[j].len;
        int B = tokens_per_mb / T;
        B = B < 1 ? 1 : B > most ? most : B;
        B = B > n_rows - j ? n_rows - j : B;
        mbs[k] = (MicroBatch){B, T, df_malloc(sizeof(int) * (size_t)B), NULL, NULL};
        for (int b = 0; b < B; b++) mbs[k].seq[b] = order[j + b].row;
        j += B;
    }
    free(order);
    *n_mb = k;
    return mbs;
}

typedef struct {
    const Model *m;
    const LoglikSet *s;
    const Row *rows;
    const int *shift;
    double *ll;
    int *greedy;
    float *xs, *lp; /* [rows,H], [rows]: the scored positions of one micro-batch, gathered */
    int32_t *target, *best;
} LlCtx;

/* the inputs that predict the continuation of sequence si: p in [input_len - n_cont, input_len) */
static int first_scored(const LoglikSet *s, int si) { return input_len(s, si) - s->n_cont[si]; }

/* on the last stage: gather the scored rows of every sequence, one head pass, then sum per sequence */
static void ll_output(void *vctx, const MicroBatch *mb, const float *x) {
    LlCtx *c = vctx;
    const LoglikSet *s = c->s;
    const int H = c->m->cfg.hidden, T = mb->T;
    int rows = 0;
    for (int b = 0; b < mb->B; b++) {
        const Row *r = &c->rows[mb->seq[b]];
        for (int si = r->first; si < r->first + r->n; si++)
            for (int p = first_scored(s, si); p < input_len(s, si); p++, rows++) {
                const int at = p < r->P ? p : p + c->shift[si];
                memcpy(c->xs + (size_t)rows * H, x + ((size_t)b * T + at) * H, sizeof(float) * (size_t)H);
                c->target[rows] = s->ids[s->off[si] + p + 1];
            }
    }
    model_target_logprobs(c->lp, c->best, c->m, c->xs, c->target, rows);
    rows = 0;
    for (int b = 0; b < mb->B; b++) {
        const Row *r = &c->rows[mb->seq[b]];
        for (int si = r->first; si < r->first + r->n; si++) {
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
}

/* row r's tokens into ids[T] (padded at the end with its first token) and, when pos is not NULL,
 * each token's position and segment into pos[T], seg[T] (the padding at position t, segment 0) */
static void fill_row(int32_t *ids, int32_t *pos, int32_t *seg, const LoglikSet *s, const Row *r, const int *shift,
                     int T) {
    const int32_t *head = s->ids + s->off[r->first];
    for (int t = 0; t < T; t++) {
        ids[t] = t < r->P ? head[t] : head[0];
        if (pos) pos[t] = t, seg[t] = 0;
    }
    for (int si = r->first; si < r->first + r->n; si++)
        for (int i = r->P; i < input_len(s, si); i++) {
            const int at = i + shift[si];
            ids[at] = s->ids[s->off[si] + i];
            if (pos) pos[at] = i, seg[at] = si - r->first + 1;
        }
}

static int holds_shared_row(const MicroBatch *mb, const Row *rows) {
    for (int b = 0; b < mb->B; b++)
        if (rows[mb->seq[b]].n > 1) return 1;
    return 0;
}

/* Every row's tokens (ids[row] points into the returned buffer) and, for the micro-batches that
 * hold a shared row, every token's position and segment (*layout, set in their pos and seg). */
static int32_t *row_inputs(int32_t **layout, const LoglikSet *s, const Row *rows, const int *shift, MicroBatch *mbs,
                           int n_mb, const int32_t **ids) {
    size_t total = 0, shared = 0;
    for (int k = 0; k < n_mb; k++) {
        total += (size_t)mbs[k].B * mbs[k].T;
        shared += holds_shared_row(&mbs[k], rows) ? (size_t)mbs[k].B * mbs[k].T : 0;
    }
    int32_t *in = df_malloc(sizeof(int32_t) * total), *p = in;
    int32_t *pos = *layout = shared ? df_malloc(sizeof(int32_t) * 2 * shared) : NULL, *seg = shared ? pos + shared : NULL;
    for (int k = 0; k < n_mb; k++) {
        const int any = holds_shared_row(&mbs[k], rows);
        if (any) mbs[k].pos = pos, mbs[k].seg = seg;
        for (int b = 0; b < mbs[k].B; b++, p += mbs[k].T) {
            const int ri = mbs[k].seq[b];
            fill_row(p, any ? pos : NULL, any ? seg : NULL, s, &rows[ri], shift, mbs[k].T);
            ids[ri] = p;
            if (any) pos += mbs[k].T, seg += mbs[k].T;
        }
    }
    return in;
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
                int tokens_per_mb, int share_len, const char *label) {
    memset(ll, 0, sizeof(double) * (size_t)s->n);
    memset(greedy, 0, sizeof(int) * (size_t)s->n);
    LoglikStats stats = {0};
    if (st) *st = stats;
    if (s->n == 0) return 0;
    DF_TRY(check_set(s, m, label));
    int *shift = df_malloc(sizeof(int) * (size_t)s->n), n_rows, n_mb, max_rows = 1, max_in = 1;
    Row *rows = rows_of(s, share_len, shift, &n_rows);
    MicroBatch *mbs = micro_batches_by_length(rows, n_rows, tokens_per_mb, t, &n_mb);
    for (int k = 0; k < n_mb; k++) {
        int scored = 0;
        for (int b = 0; b < mbs[k].B; b++) {
            const Row *r = &rows[mbs[k].seq[b]];
            for (int si = r->first; si < r->first + r->n; si++) scored += s->n_cont[si];
            stats.tokens += r->len;
            stats.shared_rows += r->n > 1;
        }
        stats.padded += (long long)mbs[k].B * mbs[k].T;
        max_rows = scored > max_rows ? scored : max_rows;
    }
    for (int i = 0; i < s->n; i++) {
        stats.separate += input_len(s, i);
        max_in = input_len(s, i) > max_in ? input_len(s, i) : max_in;
    }
    /* a shared row is longer than its sequences, but each token attends over its own sequence's positions */
    if (config_check_seq_len(&m->cfg, max_in) < 0) {
        micro_batches_free(mbs, n_mb);
        free(rows);
        free(shift);
        return -1;
    }
    const int32_t **ids = df_malloc(sizeof(int32_t *) * (size_t)n_rows);
    int32_t *layout, *in = row_inputs(&layout, s, rows, shift, mbs, n_mb, ids);
    const int H = m->cfg.hidden;
    LlCtx ctx = {m, s, rows, shift, df_calloc((size_t)s->n, sizeof(double)), df_calloc((size_t)s->n, sizeof(int)),
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
    MPI_Allreduce(ctx.ll, ll, s->n, MPI_DOUBLE, MPI_SUM, t->comm);
    MPI_Allreduce(ctx.greedy, greedy, s->n, MPI_INT, MPI_SUM, t->comm);
    for (int i = 0; i < s->n && rc == 0; i++) /* never a score from a NaN */
        if (!isfinite(ll[i]))
            rc = df_fail("%s: non-finite log-likelihood (%s) of request %d; stopped", label, df_nonfinite_name(ll[i]), i);
    free(ctx.ll);
    free(ctx.greedy);
    free(ctx.xs);
    free(ctx.lp);
    free(ctx.target);
    free(ctx.best);
    free(stage_of);
    free(in);
    free(layout);
    free(ids);
    free(rows);
    free(shift);
    micro_batches_free(mbs, n_mb);
    if (st) *st = stats;
    return rc;
}
