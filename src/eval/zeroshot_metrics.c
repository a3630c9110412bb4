/* Per-item scores and their aggregation, as lm-evaluation-harness's multiple_choice and
 * loglikelihood process_results (acc, acc_norm, perplexity) and mean_stderr do. */
#include <math.h>
#include <stdlib.h>

#include "depthfuse/error.h"
#include "depthfuse/zeroshot.h"

double zeroshot_stderr(const double *x, int n) {
    if (n < 2) return NAN;
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    return sqrt(ss / (n - 1)) / sqrt((double)n);
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

/* index of the largest ll[r] / div[r] (div NULL: 1), the first on ties */
static int argmax(const double *ll, const TaskRequest *req, int n, int normalise) {
    int best = 0;
    double top = -INFINITY;
    for (int r = 0; r < n; r++) {
        const double v = normalise ? ll[r] / req[r].norm_chars : ll[r];
        if (v > top) top = v, best = r;
    }
    return best;
}

void zeroshot_scores(TaskScores *s, const Task *t, const double *ll, const int *greedy, int *pred, int *pred_norm) {
    const int n = t->n_items;
    double *acc = df_malloc(sizeof(double) * (size_t)n), *acc_norm = df_malloc(sizeof(double) * (size_t)n);
    double sum_ll = 0, chance = 0;
    for (int i = 0; i < n; i++) {
        const TaskItem *it = &t->items[i];
        if (t->kind == TASK_LM) {
            pred[i] = pred_norm[i] = 0;
            acc[i] = acc_norm[i] = greedy[it->first] != 0;
            sum_ll += ll[it->first];
            continue;
        }
        pred[i] = argmax(ll + it->first, t->reqs + it->first, it->n, 0);
        pred_norm[i] = argmax(ll + it->first, t->reqs + it->first, it->n, 1);
        acc[i] = pred[i] == it->gold;
        acc_norm[i] = pred_norm[i] == it->gold;
        chance += 1.0 / it->n;
    }
    s->n = n;
    s->acc = mean_of(acc, n);
    s->acc_stderr = zeroshot_stderr(acc, n);
    s->acc_norm = t->kind == TASK_CHOICE ? mean_of(acc_norm, n) : NAN;
    s->acc_norm_stderr = t->kind == TASK_CHOICE ? zeroshot_stderr(acc_norm, n) : NAN;
    s->perplexity = t->kind == TASK_LM ? exp(-sum_ll / n) : NAN;
    s->chance = chance / n;
    free(acc);
    free(acc_norm);
}
