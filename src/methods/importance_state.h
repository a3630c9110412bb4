/* Resumable greedy runs: after each removal rank 0 records the removals so far in a JSON state file
 * (written atomically); a run given the same file replays them instead of recomputing, then goes on.
 * The file is tied to what the removals depend on: the metric and sweep kind, the input model (block
 * count and a hash of its embedding and first block) and the calibration windows (a hash of their
 * token ids); any other file is refused with a message naming it. */
#ifndef DEPTHFUSE_IMPORTANCE_STATE_H
#define DEPTHFUSE_IMPORTANCE_STATE_H

#include "depthfuse/importance.h"

/* what the removals depend on (hashes on rank 0 only, which holds the embedding and block 0) */
typedef struct {
    const char *metric;
    int naive, blocks, windows, tokens;
    char model_hash[17], calib_hash[17];
} StateKey;

StateKey importance_state_key(const Model *m, const CalibSet *cal, const ImportanceOpts *o);
/* Collective. r's arrays hold the input model's block count; fills r->n (at most max_steps) rows of
 * block/score/rank and r->first from the file, or leaves r->n = 0 when the file does not exist. */
int importance_state_load(ImportanceResult *r, const char *path, int max_steps, const StateKey *k);
/* Collective: rank 0 writes r's removals so far. */
int importance_state_save(const char *path, const ImportanceResult *r, const StateKey *k);

#endif
