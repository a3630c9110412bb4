/* The group trainer (include/depthfuse/train.h): forward through the fused group with the
 * activations kept (or only each block's input, --recompute), the loss against the cached teacher,
 * backward block by block with each fused block's sink turning G = dW_eff into factor gradients,
 * one all-reduce of the group's gradient arena, one Adam step, the effective weights rebuilt.
 * Across pipeline stages, every micro-batch's forward runs first (GPipe: kl-batch needs the whole
 * batch's output before any gradient), then every backward; blocking sends let stage s work on
 * micro-batch j + 1 while stage s + 1 works on j. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/collective.h"
#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/stop.h"
#include "depthfuse/train.h"

typedef struct {
    const GroupData *g;
    const TrainOpts *o;
    size_t N;            /* T*H per sequence */
    int mb_rows;         /* rows per micro-batch (the last may have fewer) */
    BlockActs *acts;     /* [n_mb][n] (recompute: [1]) */
    float **xin;         /* recompute: [n_mb][n] block inputs */
    BlockGradWork wk;
    float *x, *dS, *lse; /* [b_loc*N] (micro-batch j at row j*mb_rows), [b_loc*N], [2N] */
} Step;

static int mb_begin(const Step *s, int j) { return j * s->mb_rows; }
static int mb_size(const Step *s, int j) {
    const int r = s->g->b_loc - j * s->mb_rows;
    return r < s->mb_rows ? r : s->mb_rows;
}

static void step_init(Step *s, const GroupData *g, const TrainOpts *o) {
    memset(s, 0, sizeof *s);
    s->g = g, s->o = o;
    s->N = (size_t)g->T * g->c->hidden;
    s->mb_rows = g->b_loc > 0 ? (g->b_loc + g->n_mb - 1) / g->n_mb : 1;
    const int b = g->b_loc > 0 ? g->b_loc : 1, na = o->recompute ? 1 : g->n_mb * g->n;
    s->acts = df_calloc((size_t)na + 1, sizeof(BlockActs));
    for (int i = 0; i < na; i++) block_acts_init(&s->acts[i], g->c, s->mb_rows, g->T, 1);
    if (o->recompute) {
        s->xin = df_calloc((size_t)g->n_mb * g->n + 1, sizeof(float *));
        for (int i = 0; i < g->n_mb * g->n; i++) s->xin[i] = df_alloc_floats((size_t)s->mb_rows * s->N);
    }
    block_grad_work_init(&s->wk, g->c, s->mb_rows, g->T);
    s->x = df_alloc_floats((size_t)b * s->N);
    s->dS = df_alloc_floats((size_t)b * s->N);
    s->lse = df_alloc_floats(2 * s->N);
}

static void step_free(Step *s) {
    const int na = s->o->recompute ? 1 : s->g->n_mb * s->g->n;
    for (int i = 0; i < na; i++) block_acts_free(&s->acts[i]);
    free(s->acts);
    for (int i = 0; s->xin && i < s->g->n_mb * s->g->n; i++) free(s->xin[i]);
    free(s->xin);
    block_grad_work_free(&s->wk);
    free(s->x);
    free(s->dS);
    free(s->lse);
}

static BlockActs *acts_of(Step *s, int j, int i) { return &s->acts[s->o->recompute ? 0 : j * s->g->n + i]; }

/* every micro-batch of batch k through this rank's blocks; on the loss stage, returns this rank's
 * share of the batch loss and leaves dL/dS in s->dS (0 elsewhere). Collective (kl-batch: the lse). */
static double forward_loss(Step *s, int k) {
    const GroupData *g = s->g;
    const int b = g->b_loc, B = s->o->batch;
    const size_t N = s->N;
    if (!g->active || b == 0) {
        if (g->active && g->next < 0 && s->o->loss == LOSS_KL_BATCH) { /* a group with no rows still reduces */
            kl_batch_lse(s->lse, s->x, 0, N);
            kl_batch_lse(s->lse + N, s->x, 0, N);
            df_allreduce_lse(s->lse, 2 * N, g->comm);
        }
        return 0;
    }
    for (int j = 0; j < g->n_mb && mb_begin(s, j) < b; j++) {
        const int r0 = mb_begin(s, j), rows = mb_size(s, j);
        float *x = s->x + (size_t)r0 * N;
        if (g->prev < 0) memcpy(x, g->x + ((size_t)k * b + r0) * N, sizeof(float) * rows * N);
        else df_recv_floats(x, (size_t)rows * N, g->prev, g->pipe);
        for (int i = 0; i < g->n; i++) {
            if (s->o->recompute) memcpy(s->xin[j * g->n + i], x, sizeof(float) * rows * N);
            block_forward(x, acts_of(s, j, i), g->blocks[i]->eff, g->c, g->rope, rows, g->T);
        }
        if (g->next >= 0) df_send_floats(x, (size_t)rows * N, g->next, g->pipe);
    }
    if (g->next >= 0) return 0;
    const float *Y = g->y + (size_t)k * b * N;
    if (s->o->loss == LOSS_MSE) return loss_mse(s->dS, s->x, Y, b, N, B);
    kl_batch_lse(s->lse, s->x, b, N);
    kl_batch_lse(s->lse + N, Y, b, N);
    df_allreduce_lse(s->lse, 2 * N, g->comm);
    return loss_kl_batch(s->dS, s->x, Y, s->lse, s->lse + N, b, N, B);
}

static void backward(Step *s) {
    const GroupData *g = s->g;
    if (!g->active || g->b_loc == 0) return;
    for (int j = 0; j < g->n_mb && mb_begin(s, j) < g->b_loc; j++) {
        const int rows = mb_size(s, j);
        float *d = s->dS + (size_t)mb_begin(s, j) * s->N;
        if (g->next >= 0) df_recv_floats(d, (size_t)rows * s->N, g->next, g->pipe);
        for (int i = g->n - 1; i >= 0; i--) {
            GradSink sink;
            fused_block_sink(g->blocks[i], &sink);
            block_backward(d, d, acts_of(s, j, i), s->o->recompute ? s->xin[j * g->n + i] : NULL, g->blocks[i]->eff,
                           g->c, g->rope, NULL, NULL, rows, g->T, &s->wk, &sink);
        }
        if (g->prev >= 0) df_send_floats(d, (size_t)rows * s->N, g->prev, g->pipe);
    }
}

/* the batch loss on every rank: the loss stage's shares summed over its groups, then over the pipe */
static double batch_loss(const GroupData *g, double share) {
    return df_allreduce_sum_double(df_allreduce_sum_double(share, g->comm), g->pipe);
}

void group_train(double *epoch_loss, const GroupData *g, const TrainOpts *o, Progress *prog) {
    FusedArena ar;
    fused_arena_init(&ar, g->blocks, g->n);
    for (int i = 0; i < g->n; i++) fused_block_materialize(g->blocks[i]);
    Adam opt;
    const long total = (long)o->epochs * g->n_batches;
    adam_init(&opt, ar.n, ar.nbase, o->lr_base, o->lr_coef, total);
    Step s;
    step_init(&s, g, o);
    for (int e = 0; e < o->epochs; e++) {
        double sum = 0;
        for (int k = 0; k < g->n_batches; k++) {
            memset(ar.g, 0, sizeof(float) * ar.n);
            sum += batch_loss(g, forward_loss(&s, k));
            backward(&s);
            df_allreduce_sum(ar.g, ar.n, g->comm);
            adam_step(&opt, ar.p, ar.g);
            for (int i = 0; i < g->n; i++) fused_block_materialize(g->blocks[i]);
            if (prog) progress_update(prog, (long long)e * g->n_batches + k + 1);
            df_stop_test_point("train_step"); /* a signal here waits for the end of the fusion */
        }
        epoch_loss[e] = sum / g->n_batches;
    }
    step_free(&s);
    adam_free(&opt);
    fused_arena_free(&ar);
    for (int i = 0; i < g->n; i++) fused_block_materialize(g->blocks[i]);
}

double group_loss(const GroupData *g, const TrainOpts *o) {
    Step s;
    step_init(&s, g, o);
    double sum = 0;
    for (int i = 0; i < g->n; i++) fused_block_materialize(g->blocks[i]);
    for (int k = 0; k < g->n_batches; k++) sum += batch_loss(g, forward_loss(&s, k));
    step_free(&s);
    return sum / g->n_batches;
}
