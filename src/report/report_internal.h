/* What the page (report_page.c) and the table (run_report.c) share. Runs are checked documents
 * (run_report_check), so the keys read here have their documented types when present. */
#ifndef DEPTHFUSE_REPORT_INTERNAL_H
#define DEPTHFUSE_REPORT_INTERNAL_H
#include <cjson/cJSON.h>

typedef struct {
    const char **name; /* borrowed from the runs */
    int n;
} Names;

/* eval.dense or eval.compressed of a run, NULL when absent */
const cJSON *run_eval(const cJSON *run, const char *which);
/* the dense evaluation shown: the first run's that has one (*from: that run) */
const cJSON *dense_eval(const cJSON *const *runs, int n, int *from);
/* e[group][name] (a number), or e[group][name][metric]; NAN when absent */
double eval_number(const cJSON *e, const char *group, const char *name, const char *metric);
/* the names under group ("perplexity", "tasks") of every run's dense and compressed evaluation, in
 * the order first seen (free u->name) */
void names_union(Names *u, const cJSON *const *runs, int n, const char *group);
/* a number member, NAN when absent */
double run_number(const cJSON *run, const char *key);

#endif
