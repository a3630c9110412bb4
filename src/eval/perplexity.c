#include "depthfuse/perplexity.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/forward.h"
#include "depthfuse/log.h"

typedef struct {
    const Model *m;
    const int32_t *tokens;
    int T;
    double *win_nll; /* [windows]: filled for this rank's windows on the last stage */
    int32_t *targets;
    int *bad_block;  /* [windows]: the first block whose output is not finite (NONE, or HEAD: the loss alone) */
} PplCtx;

enum { NONE = INT_MAX, HEAD = INT_MAX - 1 };

/* after each block: remember where a window's activations first went non-finite */
static void ppl_watch(void *vctx, int i, const MicroBatch *mb, const float *x_in, const float *x_out) {
    PplCtx *c = vctx;
    const size_t n = (size_t)c->T * c->m->cfg.hidden;
    for (int b = 0; b < mb->B; b++)
        if (c->bad_block[mb->seq[b]] > i && df_first_nonfinite(x_out + (size_t)b * n, n) >= 0) c->bad_block[mb->seq[b]] = i;
}

/* on the last stage: x[B*T,H] -> NLL of each window's next tokens */
static void ppl_output(void *vctx, const MicroBatch *mb, const float *x) {
    PplCtx *c = vctx;
    const int T = c->T, H = c->m->cfg.hidden;
    for (int b = 0; b < mb->B; b++) {
        const int32_t *w = c->tokens + (size_t)mb->seq[b] * T;
        for (int i = 0; i < T - 1; i++) c->targets[i] = w[i + 1];
        c->targets[T - 1] = -1;
        c->win_nll[mb->seq[b]] = model_nll(NULL, c->m, x + (size_t)b * T * H, c->targets, T);
        if (!isfinite(c->win_nll[mb->seq[b]]) && c->bad_block[mb->seq[b]] == NONE) c->bad_block[mb->seq[b]] = HEAD;
    }
}

int perplexity_eval(PplResult *r, const Topology *t, const Model *m, const int32_t *tokens, size_t n, int T,
                    int tokens_per_mb, const char *label) {
    memset(r, 0, sizeof *r);
    if (T < 2) return df_fail("--seq-len must be at least 2");
    const int W = (int)(n / (size_t)T);
    if (W == 0) return df_fail("%s: %zu tokens is fewer than one window of %d", label, n, T);
    int n_mb, *stage_of = df_malloc(sizeof(int) * (size_t)m->cfg.n_layers);
    MicroBatch *mbs = micro_batches_uniform(W, T, tokens_per_mb, t, &n_mb);
    const int32_t **ids = df_malloc(sizeof(int32_t *) * (size_t)W);
    for (int w = 0; w < W; w++) ids[w] = tokens + (size_t)w * T;
    PplCtx ctx = {m, tokens, T, df_calloc((size_t)W, sizeof(double)), df_malloc(sizeof(int32_t) * (size_t)T),
                  df_malloc(sizeof(int) * (size_t)W)};
    for (int w = 0; w < W; w++) ctx.bad_block[w] = NONE;
    PipelineJob job;
    pipeline_job_for_model(&job, stage_of, t, m);
    job.ids = ids;
    job.block_hook = ppl_watch;
    job.output = ppl_output;
    job.ctx = &ctx;
    job.progress_label = label;
    int rc = pipeline_run(t, m, &job, mbs, n_mb);
    /* one rank holds each window's sum, the others zero: the reduction is exact */
    double *all = df_calloc((size_t)W, sizeof(double));
    MPI_Reduce(ctx.win_nll, all, W, MPI_DOUBLE, MPI_SUM, 0, t->comm);
    for (int w = 0; w < W; w++) r->nll += all[w];
    MPI_Bcast(&r->nll, 1, MPI_DOUBLE, 0, t->comm);
    /* a non-finite loss stops the run at its first window, naming the block it came from */
    int *bad = df_malloc(sizeof(int) * (size_t)W);
    MPI_Allreduce(ctx.bad_block, bad, W, MPI_INT, MPI_MIN, t->comm);
    for (int w = 0; w < W && rc == 0; w++)
        if (bad[w] != NONE) /* the loss of the window (rank 0), or the total it made non-finite */
            rc = df_fail_nonfinite(label, df_rank() == 0 ? all[w] : r->nll, bad[w] == HEAD ? DF_AT_HEAD : bad[w], -1, w);
    free(bad);
    r->windows = W;
    r->predicted = (long long)W * (T - 1);
    r->ppl = exp(r->nll / (double)r->predicted);
    free(all);
    free(ctx.win_nll);
    free(ctx.targets);
    free(ctx.bad_block);
    free(ids);
    free(stage_of);
    micro_batches_free(mbs, n_mb);
    return rc;
}
