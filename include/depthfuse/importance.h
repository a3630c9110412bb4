/* Block importance and greedy removal:
 *   mi   FuseGPT's Macro Influence: 1 - mean over every token of cos(last block output of the
 *        current model, the same with block i skipped); before the final norm; fp32 inputs,
 *        double accumulation.
 *   bi   ShortGPT's Block Influence: 1 - mean cos(block input, block output).
 *   sleb SLEB: calibration perplexity with block i skipped; greedy removal.
 * Lower score = less important = removed first (rank 1). Every block is a candidate.
 * The leave-one-out sweeps (mi, sleb) cache the residual stream entering every block once per step
 * (computed once by the data-parallel groups together, held by every group on the stage holding the
 * block), so candidate i starts at block i+1 from the cached output of block i-1; the candidates'
 * work is dealt to the groups. Greedy runs can record each removal and resume (opts.state). */
#ifndef DEPTHFUSE_IMPORTANCE_H
#define DEPTHFUSE_IMPORTANCE_H

#include <cjson/cJSON.h>

#include "depthfuse/calib.h"
#include "depthfuse/model.h"
#include "depthfuse/topology.h"

typedef enum { METRIC_MI, METRIC_BI, METRIC_SLEB } Metric;

typedef struct {
    Metric metric;
    int steps;         /* greedy removals (mi --iterative K, sleb); 0: one-shot scores of every block */
    int naive;         /* mi/sleb: every candidate from the embeddings, no cache (the reference) */
    int tokens_per_mb; /* micro-batch size in tokens (fixed: results do not depend on the layout) */
    const char *state; /* greedy runs: record each removal here and resume from it (NULL: none) */
} ImportanceOpts;

typedef struct {
    int n;              /* rows of the table: every block (one-shot) or the removal steps */
    int n_input_blocks;
    int *block;         /* [n] block index in the input model */
    double *score;      /* [n] score (at the step of removal when greedy) */
    int *rank;          /* [n] 1 = first to remove */
    int greedy;         /* the table is a removal order */
    double *first;      /* [blocks of the input model] every block's score at the first step */
    long long block_forwards; /* blocks x sequences run, over the whole job */
} ImportanceResult;

int metric_parse(const char *s, Metric *m);
const char *metric_name(Metric m);
/* Collective; every rank gets the same result. */
int importance_run(ImportanceResult *r, const Topology *t, const Model *m, const CalibSet *cal, const ImportanceOpts *o);
void importance_free(ImportanceResult *r);
/* the table on rank 0 */
void importance_print(const ImportanceResult *r, Metric metric);
/* {"model", "metric", "samples", "seq_len", "blocks": [{"block", "score", "rank"}], "removal_order"
 * and "first_step_scores" (every block's score before the first removal; greedy only), "seconds"} */
cJSON *importance_json(const char *model, Metric metric, const CalibSet *cal, const ImportanceResult *r, double seconds);

#endif
