/* GPTailor's optimizer on rank 0: Hyperband brackets (successive halving over the number of
 * evaluation windows) whose new configurations come from the warm start, then from a TPE sampler
 * (Bergstra et al. 2011, as BOHB uses it: a density of the good and one of the bad configurations at
 * the highest budget with enough results, the candidate of highest l/g among a few drawn from l) or,
 * as a control, uniformly at random. Everything is a function of the seed and of the results told. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/calib.h"
#include "depthfuse/error.h"
#include "depthfuse/gptailor.h"

enum { TPE_MIN_OBS = 8, TPE_CANDIDATES = 24 };
static const double TPE_GAMMA = 0.25, TPE_RANDOM_FRACTION = 0.2, KDE_BANDWIDTH = 0.1;

typedef struct {
    int config, bracket, rung, budget_index, done;
    double obj;
} Trial;

typedef struct {
    int s, rung, n_in_rung, issued; /* rung r of s+1; n_in_rung slots; issued of them so far */
    int *ids;                       /* [n0] configurations of the current rung (promotions) */
    int *trials;                    /* [n0] the trials issued in the current rung */
    int finished;
} Bracket;

struct GtOpt {
    GtOptParams p;
    int *budgets;
    uint64_t rng;
    GtConfig *cfg;
    int n_cfg, cap_cfg;
    Trial *tr;
    int n_tr, cap_tr;
    Bracket *br;
    int n_br, cap_br;
    int next_s, warm_used;
};

static double urand(GtOpt *o) { return (double)(df_rng_next(&o->rng) >> 11) * 0x1.0p-53; }

static double nrand(GtOpt *o) {
    const double u = urand(o), v = urand(o);
    return sqrt(-2.0 * log(u > 0 ? u : 0x1.0p-53)) * cos(2.0 * M_PI * v);
}

GtOpt *gt_opt_new(const GtOptParams *p) {
    GtOpt *o = df_calloc(1, sizeof *o);
    o->p = *p;
    o->budgets = df_malloc(sizeof(int) * (size_t)p->n_budgets);
    memcpy(o->budgets, p->budgets, sizeof(int) * (size_t)p->n_budgets);
    o->p.budgets = o->budgets;
    o->rng = p->seed * 0x9E3779B97F4A7C15ull + 0x5851F42D4C957F2Dull;
    o->next_s = p->n_budgets - 1;
    return o;
}

void gt_opt_free(GtOpt *o) {
    if (!o) return;
    for (int i = 0; i < o->n_cfg; i++) gt_config_free(&o->cfg[i]);
    for (int b = 0; b < o->n_br; b++) free(o->br[b].ids), free(o->br[b].trials);
    free(o->cfg);
    free(o->tr);
    free(o->br);
    free(o->budgets);
    free(o);
}

const GtConfig *gt_opt_config(const GtOpt *o, int config) { return &o->cfg[config]; }
double gt_opt_objective(const GtOpt *o, int trial) { return o->tr[trial].obj; }
int gt_opt_budget(const GtOpt *o, int trial) { return o->tr[trial].budget_index; }
const GtConfig *gt_opt_trial_config(const GtOpt *o, int trial) { return &o->cfg[o->tr[trial].config]; }

/* ---- sampling ---- */

static void sample_prior(GtOpt *o, GtConfig *c) {
    const int L = o->p.L, K = o->p.K;
    for (int i = 0; i < c->R; i++) { /* R distinct layers */
        int l, dup;
        do {
            l = (int)df_rng_below(&o->rng, (uint64_t)L);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= c->removed[j] == l;
        } while (dup);
        c->removed[i] = l;
    }
    for (int l = 0; l < L; l++) {
        c->mask[l] = 0;
        for (int k = 0; k < K; k++)
            if (urand(o) < 0.5) c->mask[l] |= 1u << k;
        c->lambda[l] = urand(o);
    }
}

/* the TPE densities over the observations at one budget, split into good (the best gamma) and bad */
typedef struct {
    double *rem[2];  /* [L] probability that a draw of the removal set picks layer l */
    double *bit[2];  /* [L*K] probability that candidate k is on at kept layer l */
    double **lam[2]; /* [L] lambdas of merged layers; nlam[L] of them */
    int *nlam[2];
} Tpe;

static int cmp_obs(const void *a, const void *b) {
    const double *x = a, *y = b; /* {objective, trial} */
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] > y[1]) - (x[1] < y[1]);
}

static void tpe_fit(Tpe *t, const GtOpt *o, const double *obs, int n) {
    const int L = o->p.L, K = o->p.K, R = o->p.R;
    int n_good = (int)ceil(TPE_GAMMA * n);
    n_good = n_good < 2 ? 2 : n_good;
    for (int g = 0; g < 2; g++) {
        t->rem[g] = df_calloc((size_t)L, sizeof(double));
        t->bit[g] = df_calloc((size_t)L * (K ? K : 1), sizeof(double));
        t->lam[g] = df_calloc((size_t)L, sizeof(double *));
        t->nlam[g] = df_calloc((size_t)L, sizeof(int));
        double *kept = df_calloc((size_t)L, sizeof(double));
        const int lo = g == 0 ? 0 : n_good, hi = g == 0 ? n_good : n;
        for (int l = 0; l < L; l++) t->lam[g][l] = df_malloc(sizeof(double) * (size_t)(hi - lo + 1));
        for (int i = lo; i < hi; i++) {
            const GtConfig *c = &o->cfg[o->tr[(int)obs[2 * i + 1]].config];
            for (int l = 0; l < L; l++) {
                if (gt_config_is_removed(c, l)) {
                    t->rem[g][l] += 1;
                    continue;
                }
                kept[l] += 1;
                for (int k = 0; k < K; k++) t->bit[g][l * K + k] += c->mask[l] >> k & 1;
                if (__builtin_popcount(c->mask[l]) >= 2) t->lam[g][l][t->nlam[g][l]++] = c->lambda[l];
            }
        }
        /* one prior pseudo-observation: uniform removal, bits at 1/2 */
        for (int l = 0; l < L; l++) {
            t->rem[g][l] = (t->rem[g][l] + (double)R / L) / ((hi - lo) + 1.0);
            for (int k = 0; k < K; k++) t->bit[g][l * K + k] = (t->bit[g][l * K + k] + 0.5) / (kept[l] + 1.0);
        }
        free(kept);
    }
}

static void tpe_free(Tpe *t, int L) {
    for (int g = 0; g < 2; g++) {
        for (int l = 0; l < L; l++) free(t->lam[g][l]);
        free(t->rem[g]), free(t->bit[g]), free(t->lam[g]), free(t->nlam[g]);
    }
}

/* a mixture of the uniform prior and Gaussians at the observed lambdas, on [0, 1] */
static double kde(const double *x, int n, double v) {
    double s = 1.0;
    for (int i = 0; i < n; i++) {
        const double z = (v - x[i]) / KDE_BANDWIDTH;
        s += exp(-0.5 * z * z) / (KDE_BANDWIDTH * sqrt(2.0 * M_PI));
    }
    return s / (n + 1.0);
}

static void tpe_sample(GtOpt *o, const Tpe *t, GtConfig *c) {
    const int L = o->p.L, K = o->p.K, R = o->p.R;
    double *w = df_malloc(sizeof(double) * (size_t)L);
    memcpy(w, t->rem[0], sizeof(double) * (size_t)L);
    for (int i = 0; i < R; i++) { /* weighted draws without replacement */
        double tot = 0;
        for (int l = 0; l < L; l++) tot += w[l];
        double u = urand(o) * tot;
        int pick = L - 1;
        for (int l = 0; l < L; l++) {
            if (w[l] <= 0) continue;
            if (u < w[l]) {
                pick = l;
                break;
            }
            u -= w[l];
        }
        while (w[pick] <= 0) pick--; /* rounding at the end of the scan */
        c->removed[i] = pick;
        w[pick] = 0;
    }
    free(w);
    for (int l = 0; l < L; l++) {
        c->mask[l] = 0;
        for (int k = 0; k < K; k++)
            if (urand(o) < t->bit[0][l * K + k]) c->mask[l] |= 1u << k;
        const int n = t->nlam[0][l];
        if (n == 0 || urand(o) < 1.0 / (n + 1.0)) {
            c->lambda[l] = urand(o);
        } else {
            double v = t->lam[0][l][df_rng_below(&o->rng, (uint64_t)n)] + KDE_BANDWIDTH * nrand(o);
            c->lambda[l] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
}

static double tpe_score(const GtOpt *o, const Tpe *t, const GtConfig *c) {
    const int L = o->p.L, K = o->p.K;
    double s = 0;
    for (int l = 0; l < L; l++) {
        if (gt_config_is_removed(c, l)) {
            s += log(t->rem[0][l] / t->rem[1][l]);
            continue;
        }
        for (int k = 0; k < K; k++) {
            const double pg = t->bit[0][l * K + k], pb = t->bit[1][l * K + k];
            s += (c->mask[l] >> k & 1) ? log(pg / pb) : log((1 - pg) / (1 - pb));
        }
        if (__builtin_popcount(c->mask[l]) >= 2)
            s += log(kde(t->lam[0][l], t->nlam[0][l], c->lambda[l]) / kde(t->lam[1][l], t->nlam[1][l], c->lambda[l]));
    }
    return s;
}

/* the observations {objective, trial} at the highest budget that has enough of them (NULL: none) */
static double *tpe_observations(const GtOpt *o, int *n) {
    double *obs = df_malloc(sizeof(double) * 2 * (size_t)(o->n_tr + 1));
    for (int b = o->p.n_budgets - 1; b >= 0; b--) {
        *n = 0;
        for (int i = 0; i < o->n_tr; i++)
            if (o->tr[i].done && o->tr[i].budget_index == b) obs[2 * *n] = o->tr[i].obj, obs[2 * *n + 1] = i, ++*n;
        if (*n >= TPE_MIN_OBS) {
            qsort(obs, (size_t)*n, 2 * sizeof(double), cmp_obs);
            return obs;
        }
    }
    free(obs);
    return NULL;
}

static void sample_tpe(GtOpt *o, GtConfig *c) {
    int n;
    double *obs = tpe_observations(o, &n);
    if (!obs || urand(o) < TPE_RANDOM_FRACTION) {
        free(obs);
        sample_prior(o, c);
        return;
    }
    Tpe t;
    tpe_fit(&t, o, obs, n);
    GtConfig cand;
    gt_config_init(&cand, o->p.L, o->p.K, o->p.R);
    double best = -INFINITY;
    for (int i = 0; i < TPE_CANDIDATES; i++) {
        tpe_sample(o, &t, &cand);
        gt_config_canonical(&cand);
        const double s = tpe_score(o, &t, &cand);
        if (s > best) {
            best = s;
            memcpy(c->removed, cand.removed, sizeof(int) * (size_t)c->R);
            memcpy(c->mask, cand.mask, sizeof(uint32_t) * (size_t)c->L);
            memcpy(c->lambda, cand.lambda, sizeof(double) * (size_t)c->L);
        }
    }
    gt_config_free(&cand);
    tpe_free(&t, o->p.L);
    free(obs);
}

static int seen(const GtOpt *o, const GtConfig *c) {
    for (int i = 0; i < o->n_cfg; i++)
        if (gt_config_equal(&o->cfg[i], c)) return 1;
    return 0;
}

/* lambdas on a grid of 1/1000, so that recipes and histories read as they were searched */
static void round_lambdas(GtConfig *c) {
    for (int l = 0; l < c->L; l++) c->lambda[l] = round(c->lambda[l] * 1000.0) / 1000.0;
}

static int new_config(GtOpt *o) {
    if (o->n_cfg == o->cap_cfg) {
        o->cap_cfg = o->cap_cfg ? 2 * o->cap_cfg : 64;
        o->cfg = df_realloc(o->cfg, sizeof(GtConfig) * (size_t)o->cap_cfg);
    }
    GtConfig *c = &o->cfg[o->n_cfg];
    if (o->warm_used < o->p.n_warm) {
        gt_config_copy(c, &o->p.warm[o->warm_used++]);
        gt_config_canonical(c);
        return o->n_cfg++;
    }
    gt_config_init(c, o->p.L, o->p.K, o->p.R);
    for (int attempt = 0; attempt < 32; attempt++) { /* a configuration already tried is drawn again */
        if (o->p.kind == GT_OPT_TPE && attempt < 8) sample_tpe(o, c);
        else sample_prior(o, c);
        round_lambdas(c);
        gt_config_canonical(c);
        if (!seen(o, c)) break;
    }
    return o->n_cfg++;
}

/* ---- Hyperband ---- */

int gt_hyperband_budgets(int b_min, int b_max, int eta, int *budgets, int max_n) {
    int n = 0;
    double b = b_max;
    while (n < max_n && (int)floor(b + 1e-9) >= b_min && (n == 0 || (int)floor(b + 1e-9) < budgets[n - 1])) {
        budgets[n++] = (int)floor(b + 1e-9);
        b /= eta;
    }
    for (int i = 0; i < n / 2; i++) {
        const int x = budgets[i];
        budgets[i] = budgets[n - 1 - i], budgets[n - 1 - i] = x;
    }
    return n;
}

/* configurations in the first rung of a bracket that promotes s times: ceil((s_max+1)/(s+1) eta^s) */
static int bracket_n0(const GtOpt *o, int s) {
    const int smax = o->p.n_budgets - 1;
    return (int)ceil((smax + 1.0) / (s + 1.0) * pow(o->p.eta, s) - 1e-9);
}

static int rung_size(const GtOpt *o, const Bracket *b, int r) {
    int n = bracket_n0(o, b->s);
    for (int i = 0; i < r; i++) n /= o->p.eta;
    return n < 1 ? 1 : n;
}

static void issue(GtOpt *o, Bracket *b, int bi, int config, GtJob *job) {
    if (o->n_tr == o->cap_tr) {
        o->cap_tr = o->cap_tr ? 2 * o->cap_tr : 64;
        o->tr = df_realloc(o->tr, sizeof(Trial) * (size_t)o->cap_tr);
    }
    const int budget = o->p.n_budgets - 1 - b->s + b->rung;
    o->tr[o->n_tr] = (Trial){config, bi, b->rung, budget, 0, 0};
    b->trials[b->issued++] = o->n_tr;
    *job = (GtJob){o->n_tr, config, bi, b->rung, budget, &o->cfg[config]};
    o->n_tr++;
}

static int rung_done(const GtOpt *o, const Bracket *b) {
    if (b->issued < b->n_in_rung) return 0;
    for (int i = 0; i < b->issued; i++)
        if (!o->tr[b->trials[i]].done) return 0;
    return 1;
}

/* the best n of the rung's trials go on (ties: the earlier trial) */
static void promote(GtOpt *o, Bracket *b) {
    double *obs = df_malloc(sizeof(double) * 2 * (size_t)b->issued);
    for (int i = 0; i < b->issued; i++) obs[2 * i] = o->tr[b->trials[i]].obj, obs[2 * i + 1] = b->trials[i];
    qsort(obs, (size_t)b->issued, 2 * sizeof(double), cmp_obs);
    b->rung++;
    b->n_in_rung = rung_size(o, b, b->rung);
    for (int i = 0; i < b->n_in_rung; i++) b->ids[i] = o->tr[(int)obs[2 * i + 1]].config;
    b->issued = 0;
    free(obs);
}

void gt_opt_next(GtOpt *o, GtJob *job) {
    for (int bi = 0; bi < o->n_br; bi++) {
        Bracket *b = &o->br[bi];
        if (b->finished) continue;
        if (b->issued == b->n_in_rung && rung_done(o, b)) {
            if (b->rung == b->s) {
                b->finished = 1;
                continue;
            }
            promote(o, b);
        }
        if (b->issued < b->n_in_rung) {
            issue(o, b, bi, b->rung == 0 ? new_config(o) : b->ids[b->issued], job);
            return;
        }
    }
    if (o->n_br == o->cap_br) {
        o->cap_br = o->cap_br ? 2 * o->cap_br : 16;
        o->br = df_realloc(o->br, sizeof(Bracket) * (size_t)o->cap_br);
    }
    Bracket *b = &o->br[o->n_br];
    const int n0 = bracket_n0(o, o->next_s);
    *b = (Bracket){o->next_s, 0, n0, 0, df_calloc((size_t)n0, sizeof(int)), df_calloc((size_t)n0, sizeof(int)), 0};
    o->next_s = o->next_s == 0 ? o->p.n_budgets - 1 : o->next_s - 1;
    o->n_br++;
    issue(o, b, o->n_br - 1, new_config(o), job);
}

void gt_opt_tell(GtOpt *o, int trial, double objective) {
    o->tr[trial].obj = objective;
    o->tr[trial].done = 1;
}

int gt_opt_best(const GtOpt *o) {
    int best = -1;
    for (int i = 0; i < o->n_tr; i++) {
        const Trial *t = &o->tr[i];
        if (!t->done) continue;
        if (best < 0 || t->budget_index > o->tr[best].budget_index ||
            (t->budget_index == o->tr[best].budget_index && t->obj < o->tr[best].obj))
            best = i;
    }
    return best;
}
