/* GPTailor (Su et al. 2025, arXiv 2506.20480): a zero-order search over removing layers, taking
 * layers from finetuned variants of the base, and merging them by task arithmetic. docs/gptailor.md.
 *
 * The search space (the official code's PruneMoMerge, with its anchor fixed):
 *   R distinct removed original layers; for every kept layer l an on/off bit per candidate k and a
 *   coefficient lambda_l in [0,1]:
 *     no candidate    the base's layer l
 *     one candidate   that candidate's whole layer l
 *     two or more     task arithmetic anchored at the base's layer of the SAME original index l:
 *                     W = W_base[l] + lambda_l * sum_k (W_k[l] - W_base[l]), every tensor (norms too)
 *                     (the official code anchors at the layer's position in the compressed model)
 *   The embedding follows the first kept layer's sources, the final norm and lm_head the last kept
 *   layer's (as the official code and mergekit do), or all three stay the base's (head_from_base).
 *
 * A candidate model is a GtPlan: one entry per output layer naming its anchor and its sources. The
 * same plan comes from a search configuration (gt_plan_from_config) or from a mergekit recipe
 * (gt_recipe_read), and gt_build makes the model from it: layers are referenced, never copied, unless
 * they are merged. */
#ifndef DEPTHFUSE_GPTAILOR_H
#define DEPTHFUSE_GPTAILOR_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/model.h"
#include "depthfuse/tokenizer.h"
#include "depthfuse/topology.h"

/* ---- models and plans ------------------------------------------------------------------------ */

typedef struct {
    int model;    /* index into the model list: 0 = the base, k+1 = candidate k */
    int layer;    /* original layer index in that model */
    float weight; /* task-arithmetic weight of its task vector */
} GtSource;

typedef struct {
    int base_layer; /* the anchor: the base's layer of this index */
    int n_src;      /* 0: the base's layer; 1 at weight 1: that source's layer; else task arithmetic */
    GtSource *src;
} GtLayerPlan;

typedef struct {
    int n;                /* output layers */
    GtLayerPlan *layer;
    int head_from_base;   /* embedding, final norm and lm_head stay the base's */
} GtPlan;

void gt_plan_free(GtPlan *p);

/* out[i] = base[i] + sum_k w[k] * (src[k][i] - base[i]), in fp32 (the one place it is computed) */
void gt_task_arithmetic(float *out, const float *base, const float *const *src, const float *w, int n, size_t numel);

/* A built model and what it owns (merged layers, merged embedding/head); the rest is referenced. */
typedef struct {
    Model m;
    int own_embed, own_norm, own_head;
} GtModel;

/* The parts this rank holds of models[0..n_models) (0 = the base) turned into plan p's model: output
 * layer j is present where the base's layer p->layer[j].base_layer is. -1 + df_fail when a source
 * layer this rank needs is not held. */
int gt_build(GtModel *out, Model *const *models, int n_models, const GtPlan *p);
void gt_model_free(GtModel *g);
/* the shapes a layer of one can replace a layer of the other with (finetunes of one base) */
int gt_same_architecture(const ModelConfig *a, const ModelConfig *b);

/* ---- the search space ------------------------------------------------------------------------ */

typedef struct {
    int L, K, R;
    int *removed;     /* [R] original indices, ascending */
    uint32_t *mask;   /* [L] bit k: candidate k's layer is selected (0 on removed layers) */
    double *lambda;   /* [L] task-arithmetic coefficient, used where two or more bits are set */
} GtConfig;

void gt_config_init(GtConfig *c, int L, int K, int R);
void gt_config_free(GtConfig *c);
void gt_config_copy(GtConfig *dst, const GtConfig *src);
int gt_config_equal(const GtConfig *a, const GtConfig *b);
int gt_config_is_removed(const GtConfig *c, int layer);
/* removed layers sorted, masks of removed layers cleared, lambdas of unmerged layers set to 1 */
void gt_config_canonical(GtConfig *c);
/* the plan of configuration c (model k+1 = candidate k) */
void gt_plan_from_config(GtPlan *p, const GtConfig *c, int head_from_base);
/* {"removed": [...], "layers": [{"layer", "candidates": [...], "lambda"}]} and back (checked) */
cJSON *gt_config_json(const GtConfig *c);
int gt_config_from_json(GtConfig *c, const cJSON *j, int L, int K, int R, const char *file);
/* flat form for a broadcast: R + L + L doubles */
int gt_config_packed_len(int L, int R);
void gt_config_pack(const GtConfig *c, double *buf);
void gt_config_unpack(GtConfig *c, const double *buf);

/* ---- recipes (mergekit's YAML schema, the passthrough and task_arithmetic subset) ------------- */

/* Write plan p over models paths[0..n_paths) (0 = the base) as a mergekit recipe. dtype: the
 * recipe's "dtype" (bfloat16, float16, float32), NULL for none. Atomic. */
int gt_recipe_write(const char *path, const GtPlan *p, const char *const *paths, int n_paths, const char *dtype);
/* Parse a recipe: the plan, the model paths (0 = base_model, then in order of appearance) and the
 * dtype (NULL when absent). Every problem is one line naming the file. */
int gt_recipe_read(const char *path, GtPlan *p, char ***paths, int *n_paths, char **dtype);
/* Parse and check a recipe, keeping nothing (the fuzzer's hook). */
int gt_recipe_check(const char *path);

/* ---- the optimizer (rank 0; no communication) ------------------------------------------------ */

typedef enum { GT_OPT_TPE, GT_OPT_RANDOM } GtOptimizer;

typedef struct {
    int L, K, R;
    GtOptimizer kind;
    uint64_t seed;
    int n_budgets;         /* Hyperband rungs */
    const int *budgets;    /* [n_budgets] ascending fidelities (evaluation windows per file) */
    int eta;
    const GtConfig *warm;  /* configurations evaluated first (warm start), n_warm of them */
    int n_warm;
} GtOptParams;

typedef struct {
    int trial;      /* 0, 1, ... in proposal order */
    int config;     /* the configuration's id (a config promoted to a higher rung keeps its id) */
    int bracket, rung, budget_index;
    const GtConfig *cfg;
} GtJob;

typedef struct GtOpt GtOpt;
GtOpt *gt_opt_new(const GtOptParams *p);
void gt_opt_free(GtOpt *o);
/* the next job: a pending promotion, else a new configuration (warm start first, then the sampler).
 * Depends only on the seed and on the results told so far. */
void gt_opt_next(GtOpt *o, GtJob *job);
void gt_opt_tell(GtOpt *o, int trial, double objective);
/* the incumbent: the best trial at the highest budget evaluated (-1: none yet) */
int gt_opt_best(const GtOpt *o);
const GtConfig *gt_opt_config(const GtOpt *o, int config);
/* a told trial's objective, budget index and configuration */
double gt_opt_objective(const GtOpt *o, int trial);
int gt_opt_budget(const GtOpt *o, int trial);
const GtConfig *gt_opt_trial_config(const GtOpt *o, int trial);

/* Hyperband's rungs: n budgets from b_max down by eta, the lowest >= b_min (fills budgets[]) */
int gt_hyperband_budgets(int b_min, int b_max, int eta, int *budgets, int max_n);

/* ---- the search (collective) ---------------------------------------------------------------- */

/* One term of the objective: weight x log-perplexity of a validation text file, or weight x
 * (1 - accuracy) of a validation task file. */
typedef struct {
    const char *path;
    double weight;
    int is_task;
} GtTerm;

typedef struct {
    Model *const *models; /* this rank's parts: 0 = the base, k+1 = candidate k */
    int K, R, head_from_base;
    const GtTerm *terms;
    int n_terms;
    const Tokenizer *tok; /* rank 0 */
    int seq_len, batch_tokens;
    int task_items_per_window; /* a task term reads budget x this many items */
    GtOptimizer kind;
    uint64_t seed;
    int n_budgets, eta;
    int budgets[8];
    int max_trials;       /* stop after this many trials in all (resumed ones count) */
    double time_limit;    /* seconds from t0 (0: none); the search stops before a round would pass it */
    double t0;
    const char *history;  /* JSONL, rewritten atomically after every round */
    cJSON *header;        /* rank 0: the search's identity, the history's first line (resume checks it) */
    const GtConfig *warm;
    int n_warm;
} GtSearch;

typedef struct {
    GtConfig best;
    int best_trial, trials, resumed;
    double best_objective;
    int best_budget;
    double seconds;
    int stopped;          /* a stop signal arrived: the history is on disk, nothing else is done */
} GtResult;

/* Runs (or continues, from s->history) the search; every rank gets the result. */
int gt_search_run(GtResult *res, const GtSearch *s, const Topology *t);
/* rank 0: the header and trial count of an existing history (the resume checks); -1 + message */
int gt_history_header(const char *path, cJSON **header);

#endif
