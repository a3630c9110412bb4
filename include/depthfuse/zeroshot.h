/* Zero-shot tasks scored as lm-evaluation-harness does.
 *
 * Requests: the context's trailing whitespace moves to the front of the continuation; then
 * ctx_ids = encode(ctx), cont_ids = encode(ctx + cont)[len(ctx_ids):], no BOS (an empty context is
 * the BOS token alone), and the model reads ctx_ids + cont_ids cut from the left to its
 * max_position_embeddings + 1 tokens. ll = sum of log p(cont_ids | before).
 * Metrics over items (each a 0/1 score; stderr = sample standard deviation / sqrt(n)):
 *   multiple choice  acc: argmax ll is gold; acc_norm: argmax ll / characters of the choice is gold
 *   schema           acc: argmax ll is gold (the continuation is shared, so acc_norm would equal acc)
 *   language model   acc: greedy decoding gives the continuation; perplexity = exp(-mean ll)
 * Ties go to the first choice (numpy's argmax). */
#ifndef DEPTHFUSE_ZEROSHOT_H
#define DEPTHFUSE_ZEROSHOT_H
#include "depthfuse/loglik.h"
#include "depthfuse/tasks.h"
#include "depthfuse/tokenizer.h"

typedef struct {
    int n;             /* items */
    double acc, acc_stderr;
    double acc_norm, acc_norm_stderr; /* multiple choice only, else NAN */
    double perplexity;                /* language modelling only, else NAN */
    double chance;                    /* accuracy of a uniform guess: mean of 1 / choices (0 for LM) */
    int truncated;                    /* requests cut from the left to fit the model */
    /* model input tokens: read, with padding, with every request its own sequence, and what a
     * forward sharing all common prefixes of an item's requests would read (their prefix tree) */
    long long tokens, padded, separate, prefix_shared;
    int shared_items;                 /* items whose requests were read as one row (loglik.h) */
    double seconds;
} TaskScores;

typedef struct {
    TaskScores s; /* every rank */
    /* rank 0 only: the items, each request's ll, greedy flag and continuation tokens, and each
     * item's predictions (for --samples-out) */
    Task task;
    double *ll;
    int *greedy, *ntok, *pred, *pred_norm;
} TaskRun;

/* Read, tokenize (rank 0), score (everyone) and measure one task file. With share_prefix, the
 * requests of an item that begin with the same tokens are read as one row of at most the model's
 * positions (loglik_eval). Collective; a bad file fails on every rank with rank 0's "FILE:LINE: ..."
 * message. */
int zeroshot_eval(TaskRun *r, const Topology *t, const Model *m, const Tokenizer *tok, const char *path,
                  const TaskReadOpts *o, int tokens_per_mb, int share_prefix);
void task_run_free(TaskRun *r);

/* lm-evaluation-harness's split of (ctx, cont): the length of ctx once its trailing whitespace (as
 * Python's str.rstrip() sees it) is moved to the continuation */
size_t zeroshot_context_len(const char *ctx);
/* rank 0: every request of t as a sequence to score (grouped by item); ntok[r] = continuation
 * tokens, *truncated = how many were cut from the left to max_len + 1 tokens */
int zeroshot_encode(LoglikSet *set, int *ntok, int *truncated, const Task *t, const Tokenizer *tok, int prefix_id,
                    int max_len);
/* the metrics of the items of t from each request's ll and greedy flag; pred[i], pred_norm[i] per item */
void zeroshot_scores(TaskScores *s, const Task *t, const double *ll, const int *greedy, int *pred, int *pred_norm);
/* lm-evaluation-harness's mean_stderr: sample standard deviation (n - 1) / sqrt(n); NAN when n < 2 */
double zeroshot_stderr(const double *x, int n);

#endif
