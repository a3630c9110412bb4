#include "depthfuse/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/log.h"

static long long g_block_forwards = 0;

long long pipeline_block_forwards(void) { return g_block_forwards; }

void model_block_stages(const Topology *t, const Model *m, int *stage_of) {
    for (int i = 0; i < m->cfg.n_layers; i++) stage_of[i] = m->blocks[i] ? t->stage : -1;
    MPI_Allreduce(MPI_IN_PLACE, stage_of, m->cfg.n_layers, MPI_INT, MPI_MAX, t->comm);
}

void pipeline_job_for_model(PipelineJob *job, int *stage_of_buf, const Topology *t, const Model *m) {
    memset(job, 0, sizeof *job);
    model_block_stages(t, m, stage_of_buf);
    job->blocks = m->blocks;
    job->stage_of = stage_of_buf;
    job->n_blocks = m->cfg.n_layers;
}

MicroBatch *micro_batches_uniform(int n, int T, int tokens_per_mb, const Topology *t, int *n_mb) {
    int B = tokens_per_mb / T;
    B = B < 1 ? 1 : B;
    /* keep every stage of every group busy: at least 2P micro-batches per group when possible */
    while (B > 1 && (n + B - 1) / B < 2 * t->P * t->D) B--;
    int k = (n + B - 1) / B;
    MicroBatch *mbs = df_calloc((size_t)k + 1, sizeof *mbs);
    for (int j = 0; j < k; j++) {
        mbs[j].B = (j + 1) * B <= n ? B : n - j * B;
        mbs[j].T = T;
        mbs[j].seq = df_malloc(sizeof(int) * (size_t)mbs[j].B);
        for (int b = 0; b < mbs[j].B; b++) mbs[j].seq[b] = j * B + b;
    }
    *n_mb = k;
    return mbs;
}

void micro_batches_free(MicroBatch *mbs, int n_mb) {
    for (int j = 0; j < n_mb; j++) free(mbs[j].seq);
    free(mbs);
}

static void run_my_blocks(const Topology *t, const Model *m, const PipelineJob *job, const MicroBatch *mb, float *x,
                          float *x_in, BlockActs *acts, const Rope *rope) {
    const size_t n = (size_t)mb->B * mb->T * m->cfg.hidden;
    for (int i = 0; i < job->n_blocks; i++) {
        if (job->stage_of[i] != t->stage) continue;
        if (job->block_hook) memcpy(x_in, x, n * sizeof(float));
        block_forward_packed(x, acts, job->blocks[i], &m->cfg, rope, mb->pos, mb->seg, mb->B, mb->T);
        g_block_forwards += mb->B;
        if (job->block_hook) job->block_hook(job->ctx, i, mb, x_in, x);
    }
}

int pipeline_run(const Topology *t, const Model *m, const PipelineJob *job, const MicroBatch *mbs, int n_mb) {
    const int H = m->cfg.hidden, s = t->stage;
    if (s < job->start_stage) return 0;
    /* this group's micro-batches, in order */
    const int first = job->all_groups ? 0 : t->group, step = job->all_groups ? 1 : t->D;
    int mine = 0, maxN = 1, positions = 1; /* the RoPE table covers every position of the micro-batches */
    for (int k = first; k < n_mb; k += step, mine++) {
        const int N = mbs[k].B * mbs[k].T;
        maxN = N > maxN ? N : maxN;
        if (!mbs[k].pos) positions = mbs[k].T > positions ? mbs[k].T : positions;
        for (int n = 0; mbs[k].pos && n < N; n++) positions = mbs[k].pos[n] >= positions ? mbs[k].pos[n] + 1 : positions;
    }
    if (mine == 0) return 0;
    const int recv = s > job->start_stage, send = s < t->P - 1;
    const size_t cap = (size_t)maxN * H;
    float *buf[2] = {df_alloc_floats(cap), df_alloc_floats(cap)};
    float *x_in = job->block_hook ? df_alloc_floats(cap) : NULL;
    MPI_Request rreq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL}, sreq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    BlockActs acts;
    block_acts_init(&acts, &m->cfg, 1, maxN, 0);
    Rope rope;
    model_rope_init(&rope, &m->cfg, positions);
    Progress prog;
    if (job->progress_label) progress_start(&prog, job->progress_label, n_mb);

#define MB(j) (&mbs[first + (j) * step])
#define COUNT(mb) ((int)((size_t)(mb)->B * (mb)->T * H))
    if (recv) MPI_Irecv(buf[0], COUNT(MB(0)), MPI_FLOAT, s - 1, 0, t->pipe, &rreq[0]);
    for (int j = 0; j < mine; j++) {
        const MicroBatch *mb = MB(j);
        float *x = buf[j % 2];
        if (recv) {
            MPI_Wait(&rreq[j % 2], MPI_STATUS_IGNORE);
            if (j + 1 < mine) { /* the next receive reuses the buffer micro-batch j-1 was sent from */
                MPI_Wait(&sreq[(j + 1) % 2], MPI_STATUS_IGNORE);
                MPI_Irecv(buf[(j + 1) % 2], COUNT(MB(j + 1)), MPI_FLOAT, s - 1, 0, t->pipe, &rreq[(j + 1) % 2]);
            }
        } else {
            MPI_Wait(&sreq[j % 2], MPI_STATUS_IGNORE);
            if (job->input) {
                job->input(job->ctx, mb, x);
            } else {
                for (int b = 0; b < mb->B; b++) model_embed(x + (size_t)b * mb->T * H, m, job->ids[mb->seq[b]], mb->T);
            }
        }
        run_my_blocks(t, m, job, mb, x, x_in, &acts, &rope);
        if (send) MPI_Isend(x, COUNT(mb), MPI_FLOAT, s + 1, 0, t->pipe, &sreq[j % 2]);
        else if (job->output) job->output(job->ctx, mb, x);
        if (job->progress_label) progress_update(&prog, j + 1 == mine ? n_mb : first + j * step + 1); /* last: done */
    }
    MPI_Waitall(2, sreq, MPI_STATUSES_IGNORE);
#undef MB
#undef COUNT
    rope_free(&rope);
    block_acts_free(&acts);
    free(buf[0]);
    free(buf[1]);
    free(x_in);
    return 0;
}
