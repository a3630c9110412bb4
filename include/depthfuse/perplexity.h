/* Perplexity by the standard (WikiText-2 / GPTQ) protocol: the token stream of a whole file, cut
 * into non-overlapping windows of T tokens (ragged tail dropped), no BOS; the mean negative
 * log-likelihood over every predicted token (T-1 per window), exponentiated. */
#ifndef DEPTHFUSE_PERPLEXITY_H
#define DEPTHFUSE_PERPLEXITY_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/pipeline.h"

typedef struct {
    double nll;          /* sum over predicted tokens */
    long long predicted; /* windows * (T-1) */
    int windows;
    double ppl;
} PplResult;

/* Collective over t->comm (the world, or a group view); every rank gets the same result. tokens: the whole stream, on every
 * rank (stage 0 embeds it, the last stage scores it). The window sums are reduced to rank 0 and
 * added in window order, so the result does not depend on the layout beyond float rounding. */
int perplexity_eval(PplResult *r, const Topology *t, const Model *m, const int32_t *tokens, size_t n, int T,
                    int tokens_per_mb, const char *label);

#endif
