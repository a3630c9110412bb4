/* The group trainer (include/depthfuse/train.h): forward through the fused group with the
 * activations kept (or only each block's input, --recompute), the loss against the cached teacher,
 * backward block by block with each fused block's sink turning G = dW_eff into factor gradients,
 * one all-reduce of the group's gradient arena, one Adam step, the effective weights rebuilt. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/collective.h"
#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/train.h"

typedef struct {
    const GroupData *g;
    const TrainOpts *o;
    size_t N;          /* T*H per sequence */
    BlockActs *acts;   /* [n], or one scratch with recompute */
    float **xin;       /* recompute: [n] block inputs [b_loc*N] */
    BlockGradWork wk;
    float *x, *dS, *lse; /* [b_loc*N], [b_loc*N], [2N] */
} Step;

static void step_init(Step *s, const GroupData *g, const TrainOpts *o) {
    memset(s, 0, sizeof *s);
    s->g = g, s->o = o;
    s->N = (size_t)g->T * g->c->hidden;
    const int b = g->b_loc > 0 ? g->b_loc : 1, na = o->recompute ? 1 : g->n;
    s->acts = df_calloc((size_t)na, sizeof(BlockActs));
    for (int i = 0; i < na; i++) block_acts_init(&s->acts[i], g->c, b, g->T, 1);
    if (o->recompute) {
        s->xin = df_calloc((size_t)g->n, sizeof(float *));
        for (int i = 0; i < g->n; i++) s->xin[i] = df_alloc_floats((size_t)b * s->N);
    }
    block_grad_work_init(&s->wk, g->c, b, g->T);
    s->x = df_alloc_floats((size_t)b * s->N);
    s->dS = df_alloc_floats((size_t)b * s->N);
    s->lse = df_alloc_floats(2 * s->N);
}

static void step_free(Step *s) {
    const int na = s->o->recompute ? 1 : s->g->n;
    for (int i = 0; i < na; i++) block_acts_free(&s->acts[i]);
    free(s->acts);
    for (int i = 0; s->xin && i < s->g->n; i++) free(s->xin[i]);
    free(s->xin);
    block_grad_work_free(&s->wk);
    free(s->x);
    free(s->dS);
    free(s->lse);
}

/* S = the group's output of batch k in s->x (activations kept for backward); returns this rank's
 * share of the batch loss and leaves dL/dS in s->dS. Collective (kl-batch: the lse reduction). */
static double forward_loss(Step *s, int k, int keep) {
    const GroupData *g = s->g;
    const int b = g->b_loc, B = s->o->batch;
    const size_t N = s->N;
    if (b > 0) {
        memcpy(s->x, g->x + (size_t)k * b * N, sizeof(float) * (size_t)b * N);
        for (int i = 0; i < g->n; i++) {
            const Block *eff = g->blocks[i]->eff;
            if (keep && s->o->recompute) memcpy(s->xin[i], s->x, sizeof(float) * (size_t)b * N);
            block_forward(s->x, &s->acts[keep && !s->o->recompute ? i : 0], eff, g->c, g->rope, b, g->T);
        }
    }
    const float *Y = g->y + (size_t)k * b * N;
    if (s->o->loss == LOSS_MSE) return b > 0 ? loss_mse(s->dS, s->x, Y, b, N, B) : 0;
    kl_batch_lse(s->lse, s->x, b, N);
    kl_batch_lse(s->lse + N, Y, b, N);
    df_allreduce_lse(s->lse, 2 * N, g->comm);
    return b > 0 ? loss_kl_batch(s->dS, s->x, Y, s->lse, s->lse + N, b, N, B) : 0;
}

static void backward(Step *s) {
    const GroupData *g = s->g;
    if (g->b_loc == 0) return;
    for (int i = g->n - 1; i >= 0; i--) {
        GradSink sink;
        fused_block_sink(g->blocks[i], &sink);
        BlockActs *a = &s->acts[s->o->recompute ? 0 : i];
        block_backward(s->dS, s->dS, a, s->o->recompute ? s->xin[i] : NULL, g->blocks[i]->eff, g->c, g->rope, NULL, NULL,
                       g->b_loc, g->T, &s->wk, &sink);
    }
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
            sum += df_allreduce_sum_double(forward_loss(&s, k, 1), g->comm);
            backward(&s);
            df_allreduce_sum(ar.g, ar.n, g->comm);
            adam_step(&opt, ar.p, ar.g);
            for (int i = 0; i < g->n; i++) fused_block_materialize(g->blocks[i]);
            if (prog) progress_update(prog, (long long)e * g->n_batches + k + 1);
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
    for (int k = 0; k < g->n_batches; k++) sum += df_allreduce_sum_double(forward_loss(&s, k, 0), g->comm);
    step_free(&s);
    return sum / g->n_batches;
}
