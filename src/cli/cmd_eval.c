/* depthfuse eval: perplexity of a model on text files (the WikiText-2 protocol) and zero-shot
 * accuracy on task files (scored as lm-evaluation-harness does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/error.h"
#include "depthfuse/evaluate.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/report.h"
#include "depthfuse/setup.h"

typedef struct {
    const char *model, *tokenizer, *json, *report_md, *samples;
    StrList ppl, tasks;
    TaskReadOpts task_opts;
    int T, P, batch_tokens, no_share_prefix;
} EvalArgs;

static int check_args(const EvalArgs *a, const EvalSpec *s) {
    if (a->ppl.n == 0 && a->tasks.n == 0)
        return df_fail("depthfuse eval: nothing to evaluate (give --ppl FILE and/or --tasks FILE)");
    if (a->T < 2 || a->batch_tokens < 1) return df_fail("depthfuse eval: --seq-len must be >= 2 and --batch-tokens >= 1");
    if (a->task_opts.limit < 0) return df_fail("depthfuse eval: --limit must be >= 0");
    if (a->samples && a->tasks.n == 0) return df_fail("depthfuse eval: --samples-out needs --tasks");
    if (a->task_opts.labels && a->tasks.n == 0) return df_fail("depthfuse eval: --labels needs --tasks");
    if (a->no_share_prefix && a->tasks.n == 0) return df_fail("depthfuse eval: --no-share-prefix needs --tasks");
    return evaluate_check(s, "eval");
}

static int write_outputs(const EvalArgs *a, const EvalReport *r) {
    if (a->json) DF_TRY(report_json(a->json, r));
    if (a->report_md) DF_TRY(report_markdown(a->report_md, r));
    if (a->samples) DF_TRY(report_samples(a->samples, r->tasks, r->n_tasks));
    return 0;
}

/* the reports are replaced, but never over an input (output.h) */
static int check_outputs(const EvalArgs *a) {
    OutputPlan plan = {0};
    output_add_model_input(&plan, a->model);
    output_add_input(&plan, a->tokenizer);
    output_add_input(&plan, a->task_opts.labels);
    for (int i = 0; i < a->ppl.n; i++) output_add_input(&plan, a->ppl.items[i]);
    for (int i = 0; i < a->tasks.n; i++) output_add_input(&plan, a->tasks.items[i]);
    output_add_report(&plan, a->json);
    output_add_report(&plan, a->report_md);
    output_add_report(&plan, a->samples);
    int rc = output_check(&plan);
    output_plan_free(&plan);
    return rc;
}

static int evaluate(const EvalArgs *a, const EvalSpec *s) {
    const double t0 = df_now();
    Topology topo;
    Model m;
    Tokenizer *tok = NULL;
    DF_TRY(check_outputs(a));
    DF_TRY(setup_model(&topo, &m, a->model, a->P));
    Evaluation e = {0};
    int rc = setup_tokenizer(&tok, a->tokenizer, a->model);
    if (rc == 0) setup_print_layout(&topo, &m);
    if (rc == 0) rc = evaluate_model(&e, s, &topo, &m, tok, a->model);
    if (rc == 0) {
        e.report.seconds = df_now() - t0; /* the whole command, loading included */
        report_print(&e.report);
        rc = df_agree(MPI_COMM_WORLD, topo.rank == 0 ? write_outputs(a, &e.report) : 0);
    }
    evaluation_free(&e);
    tokenizer_free(tok);
    model_free(&m);
    topology_free(&topo);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    EvalArgs a = {.T = 512, .P = 1, .batch_tokens = 4096};
    const ArgSpec spec[] = {
        {"--model", ARG_STR, &a.model, "DIR|FILE.h5", "model: a Hugging Face folder or a depthfuse .h5", ARG_REQUIRED},
        {"--ppl", ARG_STR_LIST, &a.ppl, "FILE", "text file to score by perplexity", 0},
        {"--seq-len", ARG_INT, &a.T, "N", "tokens per perplexity window (default 512)", 0},
        {"--tasks", ARG_STR_LIST, &a.tasks, "FILE", "zero-shot task file (.jsonl, PIQA .jsonl, HellaSwag .txt; .bz2/.gz)", 0},
        {"--limit", ARG_INT, &a.task_opts.limit, "N", "score the first N items of each task file (default all)", 0},
        {"--labels", ARG_STR, &a.task_opts.labels, "FILE", "labels of the PIQA-format task file (default X-labels.lst)", 0},
        {"--delimiter", ARG_STR, &a.task_opts.delimiter, "STR", "between context and choice (default \" \")", 0},
        {"--json", ARG_STR, &a.json, "OUT", "write the results as JSON (replaced if it exists)", 0},
        {"--report-md", ARG_STR, &a.report_md, "OUT", "write the results as a Markdown report (replaced if it exists)", 0},
        {"--samples-out", ARG_STR, &a.samples, "FILE.jsonl", "write each task item's log-likelihoods and predictions", 0},
        {"--tokenizer", ARG_STR, &a.tokenizer, "PATH", "tokenizer.json or folder (default: the model's)", 0},
        {"--pipeline", ARG_INT, &a.P, "P", "pipeline stages (default 1; data-parallel groups = ranks / P)", 0},
        {"--batch-tokens", ARG_INT, &a.batch_tokens, "N", "tokens per micro-batch (default 4096)", 0},
        {"--no-share-prefix", ARG_FLAG, &a.no_share_prefix, NULL,
         "read every choice as its own sequence (default: an item's choices share one read of their common prefix)", 0},
        {0}};
    int rc = args_parse("eval", "Perplexity of a model on whole text files (tokenized once without BOS, cut into "
                        "non-overlapping windows of --seq-len tokens, the ragged tail dropped; the mean negative "
                        "log-likelihood of every predicted token, exponentiated) and zero-shot accuracy on task files, "
                        "scored as lm-evaluation-harness does (acc, acc_norm, standard errors; docs/evaluation.md).",
                        spec, argc, argv, NULL, NULL);
    EvalSpec es = {(const char *const *)a.ppl.items, a.ppl.n, (const char *const *)a.tasks.items, a.tasks.n, a.T,
                   a.batch_tokens, !a.no_share_prefix, a.task_opts, 0};
    if (rc == 0) rc = check_args(&a, &es);
    if (rc == 0) rc = evaluate(&a, &es);
    strlist_free(&a.ppl);
    strlist_free(&a.tasks);
    return rc < 0; /* 1: --help */
}
