/* Adam with two learning rates and the cosine schedule (include/depthfuse/train.h). */
#include <math.h>
#include <stdlib.h>

#include "depthfuse/error.h"
#include "depthfuse/train.h"

void adam_init(Adam *a, size_t n, size_t nbase, double lr_base, double lr_coef, long total_steps) {
    *a = (Adam){n, nbase, df_alloc_floats(n), df_alloc_floats(n), 0, total_steps, lr_base, lr_coef, 0.9, 0.95, 1e-8};
    for (size_t i = 0; i < n; i++) a->m[i] = a->v[i] = 0;
}

void adam_free(Adam *a) {
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

double cos_lr(long step, long total) { return total > 0 ? 0.5 * (1 + cos(M_PI * (double)step / (double)total)) : 1; }

void adam_step(Adam *a, float *p, const float *g) {
    const double sched = cos_lr(a->step, a->total);
    a->step++;
    const double c1 = 1 - pow(a->beta1, (double)a->step), c2 = sqrt(1 - pow(a->beta2, (double)a->step));
    const float b1 = (float)a->beta1, b2 = (float)a->beta2, eps = (float)a->eps, ic2 = (float)(1 / c2);
    const float step[2] = {(float)(a->lr_base * sched / c1), (float)(a->lr_coef * sched / c1)};
    for (size_t i = 0; i < a->n; i++) {
        const float gi = g[i];
        a->m[i] = b1 * a->m[i] + (1 - b1) * gi;
        a->v[i] = b2 * a->v[i] + (1 - b2) * gi * gi;
        p[i] -= step[i >= a->nbase] * a->m[i] / (sqrtf(a->v[i]) * ic2 + eps);
    }
}
