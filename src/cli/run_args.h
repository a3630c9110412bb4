/* The options importance and prune share: the model, its tokenizer, the layout, the resume state. */
#ifndef DEPTHFUSE_CLI_RUN_ARGS_H
#define DEPTHFUSE_CLI_RUN_ARGS_H
#include "depthfuse/args.h"

typedef struct {
    const char *model, *tokenizer, *state;
    int pipeline, batch_tokens;
} RunArgs;

#define RUN_ARGS_DEFAULT {NULL, NULL, NULL, 1, 4096}
#define RUN_ARG_SPECS(a)                                                                                             \
    {"--model", ARG_STR, &(a).model, "DIR|FILE.h5", "model: a Hugging Face folder or a depthfuse .h5", ARG_REQUIRED}, \
    {"--tokenizer", ARG_STR, &(a).tokenizer, "PATH", "tokenizer.json or folder (default: the model's)", 0},             \
    {"--pipeline", ARG_INT, &(a).pipeline, "P", "pipeline stages (default 1; data-parallel groups = ranks / P)", 0},    \
    {"--batch-tokens", ARG_INT, &(a).batch_tokens, "N", "tokens per micro-batch (default 4096)", 0},                  \
    {"--state", ARG_STR, &(a).state, "FILE",                                                                          \
     "greedy runs: record each removal in FILE and resume from it (same model, metric and calibration)", 0}

#endif
