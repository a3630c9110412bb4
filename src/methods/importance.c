/* Block importance (include/depthfuse/importance.h). Layout of the work:
 *   baseline pass   the calibration windows, dealt to groups, run through the current block
 *                   list, keeping the input of each block (cache) and the last block's output
 *                   (final); then every group gets every window's from the group that ran it
 *   candidate j     its windows run through blocks j+1.. from cache[j] (or, naive, through every
 *                   block but j from the embeddings) and the output is scored
 * (Candidate, micro-batch) pairs are dealt to groups by cost (costliest first, to the least loaded
 * group). Scores are kept per (candidate, window) with a single contributing rank each, so the
 * reduction to rank 0 is exact and the result does not depend on the layout. */
#include "depthfuse/importance.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/forward.h"
#include "depthfuse/log.h"
#include "depthfuse/stop.h"
#include "depthfuse/pipeline.h"
#include "importance_state.h"

int metric_parse(const char *s, Metric *m) {
    if (!strcmp(s, "mi")) *m = METRIC_MI;
    else if (!strcmp(s, "bi")) *m = METRIC_BI;
    else if (!strcmp(s, "sleb")) *m = METRIC_SLEB;
    else return df_fail("unknown metric '%s' (mi, bi or sleb)", s);
    return 0;
}

const char *metric_name(Metric m) { return m == METRIC_MI ? "mi" : m == METRIC_BI ? "bi" : "sleb"; }

/* the current block list: positions -> blocks, stages, indices in the input model */
typedef struct {
    int n;
    Block **blocks;
    int *stage, *orig;
} BlockList;

typedef struct {
    const Topology *t;
    const Model *m;
    const CalibSet *cal;
    Metric metric;
    const BlockList *list;
    MicroBatch *mbs;
    int n_mb;
    const int32_t **ids;
    size_t win_floats;  /* T*H */
    float **cache;      /* [n] input of position i, all windows (on the stage holding i) */
    float *final;       /* last block output, all windows (on the last stage) */
    double *acc;        /* [n][W] per candidate and window; one contributor each */
    int cand;           /* the candidate being scored */
    int32_t *targets;   /* [T] */
} Sweep;

/* sum over the T tokens of cos(a[t], b[t]) (hidden dim H), double accumulation */
static double cos_sum(const float *a, const float *b, int T, int H) {
    double s = 0;
    for (int t = 0; t < T; t++) {
        const float *x = a + (size_t)t * H, *y = b + (size_t)t * H;
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < H; i++) {
            xy += (double)x[i] * y[i];
            xx += (double)x[i] * x[i];
            yy += (double)y[i] * y[i];
        }
        s += xy / (sqrt(xx) * sqrt(yy) + 1e-30);
    }
    return s;
}

static void window_nll(Sweep *s, const float *x, int w) {
    const int T = s->cal->T;
    const int32_t *ids = s->ids[w];
    for (int i = 0; i < T - 1; i++) s->targets[i] = ids[i + 1];
    s->targets[T - 1] = -1;
    s->acc[(size_t)s->cand * s->cal->n + w] = model_nll(NULL, s->m, x, s->targets, T);
}

/* ---- callbacks ---- */

/* a cache entry's floats for every window (W*T*H), allocated on first use */
static float *window_store(float **p, const Sweep *s) {
    if (!*p) *p = df_alloc_floats((size_t)s->cal->n * s->win_floats);
    return *p;
}

static void keep_inputs(void *ctx, int i, const MicroBatch *mb, const float *x_in, const float *x_out) {
    Sweep *s = ctx;
    float *cache = window_store(&s->cache[i], s);
    for (int b = 0; b < mb->B; b++)
        memcpy(cache + (size_t)mb->seq[b] * s->win_floats, x_in + (size_t)b * s->win_floats, s->win_floats * sizeof(float));
}

static void keep_final(void *ctx, const MicroBatch *mb, const float *x) {
    Sweep *s = ctx;
    float *final = window_store(&s->final, s);
    for (int b = 0; b < mb->B; b++)
        memcpy(final + (size_t)mb->seq[b] * s->win_floats, x + (size_t)b * s->win_floats, s->win_floats * sizeof(float));
}

static void from_cache(void *ctx, const MicroBatch *mb, float *x) {
    Sweep *s = ctx;
    for (int b = 0; b < mb->B; b++)
        memcpy(x + (size_t)b * s->win_floats, s->cache[s->cand] + (size_t)mb->seq[b] * s->win_floats,
               s->win_floats * sizeof(float));
}

static void score_candidate(void *ctx, const MicroBatch *mb, const float *x) {
    Sweep *s = ctx;
    for (int b = 0; b < mb->B; b++) {
        const int w = mb->seq[b];
        const float *xb = x + (size_t)b * s->win_floats;
        if (s->metric == METRIC_MI)
            s->acc[(size_t)s->cand * s->cal->n + w] = cos_sum(s->final + (size_t)w * s->win_floats, xb, s->cal->T, s->m->cfg.hidden);
        else
            window_nll(s, xb, w);
    }
}

static void block_influence(void *ctx, int i, const MicroBatch *mb, const float *x_in, const float *x_out) {
    Sweep *s = ctx;
    for (int b = 0; b < mb->B; b++)
        s->acc[(size_t)i * s->cal->n + mb->seq[b]] =
            cos_sum(x_in + (size_t)b * s->win_floats, x_out + (size_t)b * s->win_floats, s->cal->T, s->m->cfg.hidden);
}

/* ---- passes ---- */

/* every window of one cache entry, each micro-batch's from the group that ran it */
static void bcast_windows(Sweep *s, float **store) {
    float *x = window_store(store, s);
    for (int k = 0; k < s->n_mb; k++)
        MPI_Bcast(x + (size_t)s->mbs[k].seq[0] * s->win_floats, (int)((size_t)s->mbs[k].B * s->win_floats), MPI_FLOAT,
                  k % s->t->D, s->t->stage_comm);
}

/* After a baseline that ran micro-batch k on group k % D: each micro-batch's windows of every cached
 * input of this rank's stage (and of the reference output, on the last stage) are broadcast from the
 * group that computed them to the same stage of every other group, so each group starts its
 * candidates from every window without running the baseline itself. Exact copies: the scores stay
 * the same bits at any layout. */
static void share_baseline(Sweep *s, int with_cache, int with_final) {
    const Topology *t = s->t;
    if (t->D == 1) return;
    for (int i = 0; with_cache && i < s->list->n; i++)
        if (s->list->stage[i] == t->stage) bcast_windows(s, &s->cache[i]);
    if (with_final && t->stage == t->P - 1) bcast_windows(s, &s->final);
}

static void base_job(PipelineJob *job, Sweep *s) {
    memset(job, 0, sizeof *job);
    job->blocks = s->list->blocks;
    job->stage_of = s->list->stage;
    job->n_blocks = s->list->n;
    job->ids = s->ids;
    job->ctx = s;
}

typedef struct {
    double cost;
    int unit;
} Unit;

static int costlier_first(const void *a, const void *b) {
    const Unit *x = a, *y = b;
    return x->cost != y->cost ? (x->cost < y->cost ? 1 : -1) : x->unit - y->unit;
}

/* deal n units of work to D groups: costliest first, each to the least loaded group (ties: lowest
 * unit, lowest group), the same on every rank */
static void deal_units(int *group_of, const double *cost, int n, int D) {
    Unit *order = df_malloc(sizeof(Unit) * (size_t)n);
    for (int u = 0; u < n; u++) order[u] = (Unit){cost[u], u};
    qsort(order, (size_t)n, sizeof *order, costlier_first);
    double *load = df_calloc((size_t)D, sizeof(double));
    for (int i = 0; i < n; i++) {
        int g = 0;
        for (int d = 1; d < D; d++)
            if (load[d] < load[g]) g = d;
        group_of[order[i].unit] = g;
        load[g] += order[i].cost;
    }
    free(load);
    free(order);
}

/* scores[j] for every position j of the list (collective; same on every rank) */
static int sweep_scores(double *scores, const Topology *t, const Model *m, const CalibSet *cal, const BlockList *list,
                        const ImportanceOpts *o) {
    const int n = list->n, W = cal->n, T = cal->T;
    Sweep s = {.t = t, .m = m, .cal = cal, .metric = o->metric, .list = list, .win_floats = (size_t)T * m->cfg.hidden};
    s.cache = df_calloc((size_t)n, sizeof(float *));
    s.acc = df_calloc((size_t)n * W, sizeof(double));
    s.targets = df_malloc(sizeof(int32_t) * (size_t)T);
    s.ids = df_malloc(sizeof(int32_t *) * (size_t)W);
    for (int w = 0; w < W; w++) s.ids[w] = cal->ids + (size_t)w * T;
    /* micro-batches of at most tokens_per_mb, but at least 8 of them where the windows allow (to fill
     * the pipeline and spread the baseline over groups); independent of the layout, so that the
     * GEMM shapes, and with them the scores' bits, are the same at every -np */
    int B = o->tokens_per_mb / T < W / 8 ? o->tokens_per_mb / T : W / 8;
    B = B > 0 ? B : 1;
    s.n_mb = (W + B - 1) / B;
    s.mbs = df_calloc((size_t)s.n_mb, sizeof(MicroBatch));
    for (int k = 0; k < s.n_mb; k++) {
        s.mbs[k].B = (k + 1) * B <= W ? B : W - k * B;
        s.mbs[k].T = T;
        s.mbs[k].seq = df_malloc(sizeof(int) * (size_t)s.mbs[k].B);
        for (int b = 0; b < s.mbs[k].B; b++) s.mbs[k].seq[b] = k * B + b;
    }
    PipelineJob job;
    int rc = 0;
    if (o->metric == METRIC_BI) {
        /* one pass, windows dealt to groups, each block scored where it runs */
        base_job(&job, &s);
        job.block_hook = block_influence;
        job.progress_label = "block influence";
        rc = pipeline_run(t, m, &job, s.mbs, s.n_mb);
    } else {
        /* baseline: what the candidates start from (and the reference output), shared by the groups */
        if (!(o->naive && o->metric == METRIC_SLEB)) {
            base_job(&job, &s);
            job.block_hook = o->naive ? NULL : keep_inputs;
            job.output = o->metric == METRIC_MI ? keep_final : NULL;
            rc = pipeline_run(t, m, &job, s.mbs, s.n_mb);
            rc = df_agree(MPI_COMM_WORLD, rc);
            if (rc == 0) share_baseline(&s, !o->naive, o->metric == METRIC_MI);
        }
        /* units of work = (candidate j, micro-batch k), cost = blocks run x windows, dealt to groups:
         * a long candidate is split over several groups when there are few candidates per group */
        const int n_units = n * s.n_mb;
        double *cost = df_malloc(sizeof(double) * (size_t)n_units);
        int *group_of = df_malloc(sizeof(int) * (size_t)n_units);
        for (int j = 0; j < n; j++)
            for (int k = 0; k < s.n_mb; k++) cost[j * s.n_mb + k] = (double)(o->naive ? n - 1 : n - 1 - j) * s.mbs[k].B;
        deal_units(group_of, cost, n_units, t->D);
        MicroBatch *mine = df_malloc(sizeof(MicroBatch) * (size_t)s.n_mb);
        Block **rest = df_malloc(sizeof(Block *) * (size_t)n);
        int *rest_stage = df_malloc(sizeof(int) * (size_t)n);
        Progress prog;
        progress_start(&prog, "candidates", n);
        for (int j = 0; j < n && rc == 0; j++) {
            int n_mine = 0;
            for (int k = 0; k < s.n_mb; k++)
                if (group_of[j * s.n_mb + k] == t->group) mine[n_mine++] = s.mbs[k];
            if (n_mine == 0) continue;
            s.cand = j;
            base_job(&job, &s);
            job.all_groups = 1;
            job.output = score_candidate;
            if (o->naive) { /* every block but j, from the embeddings */
                int k = 0;
                for (int i = 0; i < n; i++)
                    if (i != j) rest[k] = list->blocks[i], rest_stage[k++] = list->stage[i];
                job.blocks = rest;
                job.stage_of = rest_stage;
                job.n_blocks = n - 1;
            } else { /* blocks j+1.. from the input of block j */
                job.blocks = list->blocks + j + 1;
                job.stage_of = list->stage + j + 1;
                job.n_blocks = n - 1 - j;
                job.start_stage = list->stage[j];
                job.input = from_cache;
            }
            rc = pipeline_run(t, m, &job, mine, n_mine);
            if (t->rank == 0) progress_update(&prog, j + 1);
        }
        free(mine);
        free(rest);
        free(rest_stage);
        free(cost);
        free(group_of);
    }
    rc = df_agree(MPI_COMM_WORLD, rc);
    /* exact reduction (one contributor per entry), then window sums in a fixed order */
    double *all = df_calloc((size_t)n * W, sizeof(double));
    MPI_Reduce(s.acc, all, n * W, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    for (int j = 0; j < n; j++) {
        double sum = 0;
        for (int w = 0; w < W; w++) sum += all[(size_t)j * W + w];
        scores[j] = o->metric == METRIC_SLEB ? exp(sum / ((double)W * (T - 1))) : 1.0 - sum / ((double)W * T);
    }
    MPI_Bcast(scores, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    free(all);
    for (int j = 0; j < n; j++) free(s.cache[j]);
    free(s.cache);
    free(s.final);
    free(s.acc);
    free(s.targets);
    free(s.ids);
    micro_batches_free(s.mbs, s.n_mb);
    return rc;
}

/* drop position p from the list */
static void list_remove(BlockList *list, int p) {
    list->n--;
    memmove(list->blocks + p, list->blocks + p + 1, sizeof(Block *) * (size_t)(list->n - p));
    memmove(list->stage + p, list->stage + p + 1, sizeof(int) * (size_t)(list->n - p));
    memmove(list->orig + p, list->orig + p + 1, sizeof(int) * (size_t)(list->n - p));
}

/* x is removed before y: lower score, then lower index */
static int before(const double *sc, int x, int y) { return sc[x] < sc[y] || (sc[x] == sc[y] && x < y); }

int importance_run(ImportanceResult *r, const Topology *t, const Model *m, const CalibSet *cal, const ImportanceOpts *o) {
    memset(r, 0, sizeof *r);
    const int L = m->cfg.n_layers;
    if (o->steps >= L) return df_fail("cannot remove %d of %d blocks: at least one must remain", o->steps, L);
    BlockList list = {L, df_malloc(sizeof(Block *) * (size_t)L), df_malloc(sizeof(int) * (size_t)L),
                      df_malloc(sizeof(int) * (size_t)L)};
    model_block_stages(t, m, list.stage);
    for (int i = 0; i < L; i++) list.blocks[i] = m->blocks[i], list.orig[i] = i;
    const long long bf0 = pipeline_block_forwards();
    double *scores = df_malloc(sizeof(double) * (size_t)L);
    int greedy = o->metric == METRIC_SLEB || o->steps > 0, steps = greedy ? o->steps : 1, rc = 0;
    r->greedy = greedy;
    r->n_input_blocks = L;
    r->block = df_malloc(sizeof(int) * (size_t)L);
    r->score = df_malloc(sizeof(double) * (size_t)L);
    r->rank = df_malloc(sizeof(int) * (size_t)L);
    r->first = df_malloc(sizeof(double) * (size_t)L);
    StateKey key;
    if (greedy && o->state) { /* replay the removals a previous run recorded */
        key = importance_state_key(m, cal, o);
        rc = importance_state_load(r, o->state, steps, &key);
        for (int i = 0; rc == 0 && i < r->n; i++) {
            int p = 0;
            while (list.orig[p] != r->block[i]) p++;
            list_remove(&list, p);
        }
        if (rc == 0 && r->n > 0) {
            df_print0("resuming from %s: blocks", o->state);
            for (int i = 0; i < r->n; i++) df_print0(" %d", r->block[i]);
            df_print0(" already removed\n");
        }
    }
    for (int step = r->n; step < steps && rc == 0; step++) {
        if (greedy) df_print0("step %d/%d: scoring %d candidates (%s)\n", step + 1, steps, list.n, metric_name(o->metric));
        rc = sweep_scores(scores, t, m, cal, &list, o);
        for (int j = 0; j < list.n && rc == 0; j++) /* every rank holds the same scores */
            if (!isfinite(scores[j]))
                rc = df_fail("%s: non-finite score (%s) of block %d at step %d; stopped (--check-tensors names "
                             "non-finite weights%s)", metric_name(o->metric), df_nonfinite_name(scores[j]), list.orig[j],
                             step, o->state && r->n ? "; the --state file keeps the removals so far" : "");
        if (rc < 0) break;
        if (step == 0) memcpy(r->first, scores, sizeof(double) * (size_t)L);
        if (!greedy) { /* one shot: every block, ranked by score */
            int *order = df_malloc(sizeof(int) * (size_t)L);
            for (int i = 0; i < L; i++) order[i] = i;
            for (int i = 1; i < L; i++) /* insertion sort: a few hundred blocks at most */
                for (int k = i; k > 0 && before(scores, order[k], order[k - 1]); k--) {
                    int tmp = order[k];
                    order[k] = order[k - 1];
                    order[k - 1] = tmp;
                }
            for (int i = 0; i < L; i++) {
                r->block[i] = i;
                r->score[i] = scores[i];
                r->rank[order[i]] = i + 1;
            }
            r->n = L;
            free(order);
            break;
        }
        int best = 0;
        for (int j = 1; j < list.n; j++)
            if (before(scores, j, best)) best = j;
        r->block[r->n] = list.orig[best];
        r->score[r->n] = scores[best];
        r->rank[r->n] = r->n + 1;
        r->n++;
        df_print0("  removed block %d (score %.6f)\n", list.orig[best], scores[best]);
        list_remove(&list, best);
        if (o->state) rc = importance_state_save(o->state, r, &key);
        if (rc == 0 && step + 1 < steps && df_stop_agreed(MPI_COMM_WORLD, "greedy_removal"))
            rc = df_stop_fail(o->state ? "rerun the same command (same --state) to continue"
                                       : "no --state was given: a rerun starts over");
    }
    long long bf = pipeline_block_forwards() - bf0;
    MPI_Allreduce(&bf, &r->block_forwards, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    free(scores);
    free(list.blocks);
    free(list.stage);
    free(list.orig);
    if (rc < 0) importance_free(r);
    return rc;
}

void importance_free(ImportanceResult *r) {
    free(r->block);
    free(r->score);
    free(r->rank);
    free(r->first);
    memset(r, 0, sizeof *r);
}

void importance_print(const ImportanceResult *r, Metric metric) {
    df_print0("\n| %5s | %12s | %4s |\n|-------|--------------|------|\n", "block", metric_name(metric), "rank");
    for (int i = 0; i < r->n; i++) df_print0("| %5d | %12.6f | %4d |\n", r->block[i], r->score[i], r->rank[i]);
    df_print0("%s; %lld block forwards (blocks x windows)\n",
              r->greedy ? "greedy removal order, scores at the step of removal" : "rank 1 = least important",
              r->block_forwards);
}

cJSON *importance_json(const char *model, Metric metric, const CalibSet *cal, const ImportanceResult *r, double seconds) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "metric", metric_name(metric));
    cJSON_AddNumberToObject(root, "samples", cal->n);
    cJSON_AddNumberToObject(root, "seq_len", cal->T);
    cJSON *blocks = cJSON_AddArrayToObject(root, "blocks");
    for (int i = 0; i < r->n; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "block", r->block[i]);
        cJSON_AddNumberToObject(b, "score", r->score[i]);
        cJSON_AddNumberToObject(b, "rank", r->rank[i]);
        cJSON_AddItemToArray(blocks, b);
    }
    if (r->greedy) {
        cJSON *order = cJSON_AddArrayToObject(root, "removal_order");
        for (int i = 0; i < r->n; i++) cJSON_AddItemToArray(order, cJSON_CreateNumber(r->block[i]));
        cJSON *first = cJSON_AddArrayToObject(root, "first_step_scores");
        for (int i = 0; i < r->n_input_blocks; i++) cJSON_AddItemToArray(first, cJSON_CreateNumber(r->first[i]));
    }
    cJSON_AddNumberToObject(root, "seconds", seconds);
    return root;
}
