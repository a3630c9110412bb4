/* The calibration options shared by importance and prune, and their set-up. */
#ifndef DEPTHFUSE_CLI_CALIBRATION_H
#define DEPTHFUSE_CLI_CALIBRATION_H
#include "depthfuse/args.h"
#include "depthfuse/calib.h"
#include "depthfuse/tokenizer.h"

typedef struct {
    const char *file;
    int samples, seq_len, seed;
} CalibArgs;

#define CALIB_ARGS_DEFAULT {NULL, 32, 2048, 0}
#define CALIB_ARG_SPECS(a)                                                                                       \
    {"--calib", ARG_STR, &(a).file, "FILE", "calibration text (tokenized whole, without BOS)", ARG_REQUIRED},    \
    {"--samples", ARG_INT, &(a).samples, "N", "calibration windows (default 32, as FuseGPT)", 0},                  \
    {"--seq-len", ARG_INT, &(a).seq_len, "T", "tokens per window (default 2048)", 0},                             \
    {"--seed", ARG_INT, &(a).seed, "S", "seed of the window positions (default 0)", 0}

/* tokenize the file (rank 0, broadcast) and sample the windows; collective */
int calibration_load(CalibSet *cal, const Tokenizer *tok, const CalibArgs *a);

#endif
