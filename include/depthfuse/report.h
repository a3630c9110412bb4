/* What depthfuse eval reports: the tables on stdout, --json, --report-md and --samples-out.
 * Written by rank 0, atomically. */
#ifndef DEPTHFUSE_REPORT_H
#define DEPTHFUSE_REPORT_H
#include <cjson/cJSON.h>

#include "depthfuse/perplexity.h"
#include "depthfuse/zeroshot.h"

typedef struct {
    const char *file;
    PplResult r;
} PplRow;

typedef struct {
    const char *model;
    int blocks, seq_len;
    double seconds;
    const PplRow *ppl;
    int n_ppl;
    const TaskRun *tasks; /* tasks[i].task.path names each */
    int n_tasks;
} EvalReport;

void report_print(const EvalReport *r);
/* two report_to_json documents of the same files side by side (dense, compressed) on stdout */
void report_print_compare(const cJSON *dense, const cJSON *compressed);
/* {"model", "blocks", "seq_len", "perplexity": {basename: ppl}, "tokens": {basename: n},
 *  "tasks": {basename: metrics}, "seconds"}: what report_json writes */
cJSON *report_to_json(const EvalReport *r);
int report_json(const char *path, const EvalReport *r);
int report_markdown(const char *path, const EvalReport *r);
/* one JSON line per item: the log-likelihood of each request and the predictions */
int report_samples(const char *path, const TaskRun *tasks, int n);

#endif
