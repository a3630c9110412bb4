/* One evaluation of a model held on its stages: perplexity of text files and zero-shot accuracy of
 * task files, what `depthfuse eval` runs and what `compress --eval-ppl/--eval-tasks` runs on the
 * dense and on the compressed model. */
#ifndef DEPTHFUSE_EVALUATE_H
#define DEPTHFUSE_EVALUATE_H
#include <cjson/cJSON.h>

#include "depthfuse/report.h"

typedef struct {
    const char *const *ppl;   /* text files scored by perplexity */
    int n_ppl;
    const char *const *tasks; /* task files */
    int n_tasks;
    int seq_len, batch_tokens, share_prefix;
    TaskReadOpts task_opts;
    int no_stop;              /* no safe points between files (the model is already written: finish) */
} EvalSpec;

typedef struct {
    PplRow *ppl;
    TaskRun *tasks;
    EvalReport report; /* over ppl and tasks (report.h: the tables, the JSON) */
} Evaluation;

/* no two task files of one name: the reports key tasks by file name (cmd names the command) */
int evaluate_check(const EvalSpec *s, const char *cmd);
/* Collective: scores model m (loaded on the stages of t; named model_name in the report) on every
 * file of s. tok on rank 0. On failure every rank returns -1 with the message. */
int evaluate_model(Evaluation *e, const EvalSpec *s, const Topology *t, const Model *m, const Tokenizer *tok,
                   const char *model_name);
void evaluation_free(Evaluation *e);

#endif
