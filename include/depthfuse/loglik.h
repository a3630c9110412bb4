/* Log-likelihood of continuations, the primitive of zero-shot scoring: for each sequence, the sum of
 * log p(token | everything before it) over its last n_cont tokens, and whether greedy decoding
 * would have produced exactly those tokens. The model sees each sequence minus its last token.
 * A row of a micro-batch is one sequence or, when prefix sharing is on, a group of sequences (the
 * choices of a task item) whose inputs begin with the same P tokens: those once, then each input's
 * rest in a segment of its own at the positions it has alone (block_forward_packed), which is the
 * same function of the same tokens. Rows are sorted by length so that padding stays small. */
#ifndef DEPTHFUSE_LOGLIK_H
#define DEPTHFUSE_LOGLIK_H
#include <mpi.h>
#include <stdint.h>

#include "depthfuse/pipeline.h"

typedef struct {
    int n;          /* sequences */
    int32_t *ids;   /* sequence i is ids[off[i] .. off[i+1]) */
    int64_t *off;   /* [n+1] */
    int *n_cont;    /* [n]: 1 <= n_cont[i] < length of sequence i */
    int *group;     /* [n]: consecutive sequences of one group may share a row */
} LoglikSet;

void loglik_set_push(LoglikSet *s, const int32_t *ids, int len, int n_cont, int group);
void loglik_set_free(LoglikSet *s);
/* rank 0's set to every rank of comm */
void loglik_set_bcast(LoglikSet *s, MPI_Comm comm);

typedef struct {
    long long tokens, padded; /* model inputs: the rows' own tokens, and with the padding */
    long long separate;       /* the tokens with every sequence its own row (= tokens without sharing) */
    int shared_rows;          /* rows that hold a group */
} LoglikStats;

/* Collective over t->comm (the world, or a group view), the set on every rank. ll[n] and greedy[n] (0/1) on every rank. Each
 * value is computed by one rank and reduced with zeros elsewhere, so the layout changes it only
 * through float rounding in the forward. A group whose sequences share at least one input token
 * becomes one row when that row has at most share_len tokens (0: every sequence alone). st may be
 * NULL. */
int loglik_eval(double *ll, int *greedy, LoglikStats *st, const Topology *t, const Model *m, const LoglikSet *s,
                int tokens_per_mb, int share_len, const char *label);

#endif
