/* Calibration windows, FuseGPT's scheme: the file tokenized once (no BOS), N windows of T tokens
 * starting at uniformly random positions in [0, len - T - 1] (windows may overlap), seeded. */
#ifndef DEPTHFUSE_CALIB_H
#define DEPTHFUSE_CALIB_H
#include <stdint.h>

#include "depthfuse/tokenizer.h"

typedef struct {
    int n, T;
    int32_t *ids; /* [n, T] */
} CalibSet;

/* Same on every rank (same stream, same seed). When the stream is too short, T is capped to
 * len - 1 and N to len / T, with a notice on rank 0; fewer than 2 tokens is an error naming what. */
int calib_sample(CalibSet *c, const IdVec *stream, int n, int T, uint64_t seed, const char *what);
void calib_free(CalibSet *c);

/* splitmix64: the project's seeded generator */
uint64_t df_rng_next(uint64_t *state);
/* uniform integer in [0, n) */
uint64_t df_rng_below(uint64_t *state, uint64_t n);

#endif
