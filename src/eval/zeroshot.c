/* One task file end to end: read and tokenize on rank 0, score everywhere, measure on rank 0. */
#include "depthfuse/zeroshot.h"

#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"

/* what stands for an empty context: lm-evaluation-harness's prefix token (BOS, else EOS) */
static int prefix_token(const Model *m, const Tokenizer *tok) {
    const int bos = tokenizer_bos_id(tok);
    return bos >= 0 ? bos : m->cfg.bos_id >= 0 ? m->cfg.bos_id : m->cfg.eos_id;
}

/* lm-evaluation-harness's max_length: the model's positions, 2048 when the config has none */
static int max_length(const Model *m) { return m->cfg.max_position > 0 ? m->cfg.max_position : 2048; }

/* the model inputs of item it's requests as a prefix tree: each adds what it does not share with an
 * earlier one */
static long long prefix_tree_tokens(const LoglikSet *s, const Task *t) {
    long long total = 0;
    for (int i = 0; i < t->n_items; i++) {
        const TaskItem *it = &t->items[i];
        for (int r = it->first; r < it->first + it->n; r++) {
            const int32_t *a = s->ids + s->off[r];
            const int64_t na = s->off[r + 1] - s->off[r] - 1;
            int64_t shared = 0;
            for (int q = it->first; q < r; q++) {
                const int32_t *b = s->ids + s->off[q];
                const int64_t nb = s->off[q + 1] - s->off[q] - 1;
                int64_t k = 0;
                while (k < na && k < nb && a[k] == b[k]) k++;
                shared = k > shared ? k : shared;
            }
            total += na - shared;
        }
    }
    return total;
}

static int prepare(TaskRun *r, LoglikSet *set, const Model *m, const Tokenizer *tok, const char *path,
                   const TaskReadOpts *o) {
    DF_TRY(task_read(&r->task, path, o));
    r->ntok = df_calloc((size_t)r->task.n_reqs, sizeof(int));
    return zeroshot_encode(set, r->ntok, &r->s.truncated, &r->task, tok, prefix_token(m, tok), max_length(m));
}

int zeroshot_eval(TaskRun *r, const Topology *t, const Model *m, const Tokenizer *tok, const char *path,
                  const TaskReadOpts *o, int tokens_per_mb, int share_prefix) {
    memset(r, 0, sizeof *r);
    const double t0 = df_now();
    LoglikSet set = {0};
    int rc = df_agree(MPI_COMM_WORLD, t->rank == 0 ? prepare(r, &set, m, tok, path, o) : 0);
    if (rc == 0) {
        loglik_set_bcast(&set, MPI_COMM_WORLD);
        double *ll = df_malloc(sizeof(double) * (size_t)(set.n + 1));
        int *greedy = df_malloc(sizeof(int) * (size_t)(set.n + 1));
        LoglikStats st;
        rc = df_agree(MPI_COMM_WORLD, loglik_eval(ll, greedy, &st, t, m, &set, tokens_per_mb,
                                                  share_prefix ? max_length(m) : 0, df_basename(path)));
        if (rc == 0 && t->rank == 0) {
            r->s.tokens = st.tokens;
            r->s.padded = st.padded;
            r->s.separate = st.separate;
            r->s.shared_items = st.shared_rows;
            r->s.prefix_shared = prefix_tree_tokens(&set, &r->task);
            r->ll = ll;
            r->greedy = greedy;
            r->pred = df_malloc(sizeof(int) * (size_t)r->task.n_items);
            r->pred_norm = df_malloc(sizeof(int) * (size_t)r->task.n_items);
            zeroshot_scores(&r->s, &r->task, ll, greedy, r->pred, r->pred_norm);
            r->s.seconds = df_now() - t0;
        } else {
            free(ll);
            free(greedy);
        }
        MPI_Bcast(&r->s, (int)sizeof r->s, MPI_BYTE, 0, MPI_COMM_WORLD);
    }
    loglik_set_free(&set);
    if (rc < 0) task_run_free(r);
    return rc;
}

void task_run_free(TaskRun *r) {
    task_free(&r->task);
    free(r->ll);
    free(r->greedy);
    free(r->ntok);
    free(r->pred);
    free(r->pred_norm);
    memset(r, 0, sizeof *r);
}
