/* A model's perplexity files and task files, one after the other (evaluate.h). */
#include "depthfuse/evaluate.h"

#include <stdlib.h>
#include <string.h>

#include "depthfuse/dataset.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/stop.h"

int evaluate_check(const EvalSpec *s, const char *cmd) {
    for (int i = 0; i < s->n_tasks; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(df_basename(s->tasks[i]), df_basename(s->tasks[j])))
                return df_fail("depthfuse %s: two task files are named %s (%s, %s); the reports key tasks by file name",
                               cmd, df_basename(s->tasks[i]), s->tasks[j], s->tasks[i]);
    return 0;
}

/* after file i of the evaluation's perplexity then task files: a safe point unless it was the last
 * (an evaluation keeps no state: a stopped one is run again whole) */
static int stop_between(const EvalSpec *s, int i) {
    return !s->no_stop && i + 1 < s->n_ppl + s->n_tasks && df_stop_agreed(MPI_COMM_WORLD, "eval_file");
}

static int run_ppl(PplRow *rows, const EvalSpec *s, const Topology *t, const Model *m, const Tokenizer *tok) {
    for (int i = 0; i < s->n_ppl; i++) {
        IdVec ids;
        DF_TRY(dataset_tokenize_file(&ids, tok, s->ppl[i], MPI_COMM_WORLD));
        rows[i].file = s->ppl[i];
        int rc = df_agree(MPI_COMM_WORLD, perplexity_eval(&rows[i].r, t, m, ids.ids, ids.n, s->seq_len,
                                                          s->batch_tokens, df_basename(s->ppl[i])));
        idvec_free(&ids);
        DF_TRY(rc);
        if (stop_between(s, i)) return df_stop_fail("an evaluation keeps no state: run the same command again");
    }
    return 0;
}

/* the labels option is the labels file of the one PIQA-format task file */
static int check_labels_use(const EvalSpec *s, const TaskRun *runs, int n, int done) {
    int used = 0;
    for (int i = 0; i < n; i++) used += runs[i].task.used_labels_option;
    if (used > 1) return df_fail("--labels %s is one labels file, but %d task files are in the PIQA format "
                                 "(give each its X-labels.lst instead)", s->task_opts.labels, used);
    if (done && s->task_opts.labels && used == 0)
        return df_fail("--labels %s given, but no task file is in the PIQA format", s->task_opts.labels);
    return 0;
}

static int run_tasks(TaskRun *runs, const EvalSpec *s, const Topology *t, const Model *m, const Tokenizer *tok) {
    for (int i = 0; i < s->n_tasks; i++) {
        DF_TRY(zeroshot_eval(&runs[i], t, m, tok, s->tasks[i], &s->task_opts, s->batch_tokens, s->share_prefix));
        DF_TRY(df_agree(MPI_COMM_WORLD, t->rank == 0 ? check_labels_use(s, runs, i + 1, i + 1 == s->n_tasks) : 0));
        if (stop_between(s, s->n_ppl + i)) return df_stop_fail("an evaluation keeps no state: run the same command again");
    }
    return 0;
}

int evaluate_model(Evaluation *e, const EvalSpec *s, const Topology *t, const Model *m, const Tokenizer *tok,
                   const char *model_name) {
    const double t0 = df_now();
    memset(e, 0, sizeof *e);
    e->ppl = df_calloc((size_t)s->n_ppl + 1, sizeof *e->ppl);
    e->tasks = df_calloc((size_t)s->n_tasks + 1, sizeof *e->tasks);
    e->report = (EvalReport){model_name, m->cfg.n_layers, s->seq_len, 0, e->ppl, s->n_ppl, e->tasks, s->n_tasks};
    int rc = df_agree(MPI_COMM_WORLD, s->n_ppl ? config_check_seq_len(&m->cfg, s->seq_len) : 0);
    if (rc == 0) rc = run_ppl(e->ppl, s, t, m, tok);
    if (rc == 0) rc = run_tasks(e->tasks, s, t, m, tok);
    e->report.seconds = df_now() - t0;
    return rc;
}

void evaluation_free(Evaluation *e) {
    for (int i = 0; e->tasks && i < e->report.n_tasks; i++) task_run_free(&e->tasks[i]);
    free(e->tasks);
    free(e->ppl);
    memset(e, 0, sizeof *e);
}
