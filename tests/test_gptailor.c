/* GPTailor's model building and optimizer, against hand computation:
 * - task arithmetic on two layers (one before and one after a removed layer) equals
 *   W_base[l] + lambda * sum_k (W_k[l] - W_base[l]) computed here in double, every tensor of the
 *   layer (norms included); the layer after the removal is NOT the official code's compressed-position
 *   anchor W_base[p] + lambda * sum_k (W_k[l] - W_base[p]) (that formula misses by far);
 * - one candidate is that candidate's layer (referenced, not copied), none is the base's;
 * - the embedding follows the first kept layer's sources and the final norm / lm_head the last's;
 *   --head base keeps the base's;
 * - Hyperband's rungs and brackets; the optimizer is a function of its seed and the results: the same
 *   seed gives the same proposals, another seed others, and the told order of a round does not matter
 *   beyond the results; every proposal removes R distinct layers. */
#include "depthfuse/error.h"
#include "depthfuse/gptailor.h"
#include "test_util.h"

/* max |W_out - (W_anchor + lambda * sum_k (W_k - W_anchor))| over the layer, in double */
static double ta_error(const Block *out, const Block *anchor, const Block *const *cand, int n, double lambda) {
    double e = 0;
    for (size_t i = 0; i < out->numel; i++) {
        double acc = 0;
        for (int k = 0; k < n; k++) acc += (double)cand[k]->mem[i] - anchor->mem[i];
        const double d = fabs(out->mem[i] - (anchor->mem[i] + lambda * acc));
        e = d > e ? d : e;
    }
    return e;
}

static void check_models(void) {
    Model base, kjv, wn;
    CHECK(model_load(&base, fixture("models/base-16L"), NULL) == 0, "%s", df_errmsg());
    CHECK(model_load(&kjv, fixture("models/base-16L-ft-kjv"), NULL) == 0, "%s", df_errmsg());
    CHECK(model_load(&wn, fixture("models/base-16L-ft-wordnet"), NULL) == 0, "%s", df_errmsg());
    if (g_failures) return;
    Model *models[3] = {&base, &kjv, &wn};
    const int L = base.cfg.n_layers;
    GtConfig c;
    gt_config_init(&c, L, 2, 2);
    c.removed[0] = 4, c.removed[1] = 9;
    c.mask[2] = 3, c.lambda[2] = 0.6;   /* merged, before the removals: position 2 */
    c.mask[11] = 3, c.lambda[11] = 0.3; /* merged, after both: position 9 */
    c.mask[0] = 1;                      /* kjv's layer 0 (the embedding follows it) */
    c.mask[15] = 2;                     /* wordnet's last layer (the head follows it) */
    gt_config_canonical(&c);
    GtPlan p;
    gt_plan_from_config(&p, &c, 0);
    CHECK(p.n == L - 2, "%d layers", p.n);
    GtModel g;
    CHECK(gt_build(&g, models, 3, &p) == 0, "%s", df_errmsg());
    if (g_failures) return;
    const Block *cand2[2] = {kjv.blocks[2], wn.blocks[2]}, *cand11[2] = {kjv.blocks[11], wn.blocks[11]};
    const double e2 = ta_error(g.m.blocks[2], base.blocks[2], cand2, 2, 0.6);
    const double e11 = ta_error(g.m.blocks[9], base.blocks[11], cand11, 2, 0.3);
    /* the official code's anchor: the base's layer at the compressed position (9 for original 11) */
    const double e11_compat = ta_error(g.m.blocks[9], base.blocks[9], cand11, 2, 0.3);
    printf("task arithmetic vs hand: layer 2 %.3g, layer 11 %.3g; compressed-position anchor %.3g\n", e2, e11, e11_compat);
    CHECK(e2 < 1e-6 && e11 < 1e-6, "task arithmetic misses: %g %g", e2, e11);
    CHECK(e11_compat > 1e-2, "the layer after a removal matches the compressed-position anchor (%g)", e11_compat);
    CHECK(g.m.blocks[2] != base.blocks[2] && g.m.blocks[2]->refs == 1, "a merged layer owns new memory");
    CHECK(g.m.blocks[0] == kjv.blocks[0], "one candidate: its layer, referenced");
    CHECK(g.m.blocks[1] == base.blocks[1], "no candidate: the base's layer");
    CHECK(g.m.blocks[p.n - 1] == wn.blocks[15], "the last layer from wordnet");
    CHECK(g.m.embed == kjv.embed, "the embedding follows the first kept layer (kjv)");
    CHECK(g.m.lm_head == wn.lm_head && g.m.final_norm == wn.final_norm, "the head follows the last kept layer");
    gt_model_free(&g);
    gt_plan_free(&p);
    /* the head follows a merged last layer by task arithmetic; --head base keeps the base's */
    c.mask[15] = 3, c.lambda[15] = 0.5;
    gt_plan_from_config(&p, &c, 0);
    CHECK(gt_build(&g, models, 3, &p) == 0, "%s", df_errmsg());
    const size_t VH = (size_t)base.cfg.vocab * base.cfg.hidden;
    double eh = 0;
    for (size_t i = 0; i < VH; i++) {
        const double want = base.lm_head[i] + 0.5 * (((double)kjv.lm_head[i] - base.lm_head[i]) + ((double)wn.lm_head[i] - base.lm_head[i]));
        eh = fabs(g.m.lm_head[i] - want) > eh ? fabs(g.m.lm_head[i] - want) : eh;
    }
    CHECK(eh < 1e-6, "merged head misses by %g", eh);
    gt_model_free(&g);
    gt_plan_free(&p);
    gt_plan_from_config(&p, &c, 1);
    CHECK(gt_build(&g, models, 3, &p) == 0, "%s", df_errmsg());
    CHECK(g.m.embed == base.embed && g.m.lm_head == base.lm_head && g.m.final_norm == base.final_norm, "--head base");
    gt_model_free(&g);
    gt_plan_free(&p);
    gt_config_free(&c);
    model_free(&base), model_free(&kjv), model_free(&wn);
}

/* a synthetic objective: removing late layers is good, candidate 1 is good, lambda near 0.4 */
static double synthetic(const GtConfig *c) {
    double f = 0;
    for (int i = 0; i < c->R; i++) f += (c->L - c->removed[i]) * 0.1;
    for (int l = 0; l < c->L; l++)
        if (!gt_config_is_removed(c, l)) f += (c->mask[l] & 2 ? 0 : 0.2) + (__builtin_popcount(c->mask[l]) >= 2 ? fabs(c->lambda[l] - 0.4) : 0.3);
    return f;
}

/* n rounds of D proposals; returns the proposals' checksums and the best objective */
static double run_opt(GtOptimizer kind, uint64_t seed, int D, int trials, double *sig) {
    const int budgets[3] = {1, 3, 9};
    GtOptParams p = {16, 2, 4, kind, seed, 3, budgets, 3, NULL, 0};
    GtOpt *o = gt_opt_new(&p);
    GtJob *jobs = df_calloc((size_t)D, sizeof(GtJob));
    *sig = 0;
    for (int t = 0; t < trials; t += D) {
        for (int j = 0; j < D; j++) {
            gt_opt_next(o, &jobs[j]);
            const GtConfig *c = jobs[j].cfg;
            int distinct = 1;
            for (int a = 0; a < c->R; a++)
                for (int b = a + 1; b < c->R; b++) distinct &= c->removed[a] != c->removed[b];
            CHECK(distinct, "trial %d removes a layer twice", jobs[j].trial);
            *sig = *sig * 1.000001 + synthetic(c) + jobs[j].budget_index;
        }
        for (int j = D - 1; j >= 0; j--) gt_opt_tell(o, jobs[j].trial, synthetic(jobs[j].cfg)); /* any order */
    }
    const double best = gt_opt_objective(o, gt_opt_best(o));
    free(jobs);
    gt_opt_free(o);
    return best;
}

static void check_optimizer(void) {
    int b[8];
    const int n = gt_hyperband_budgets(3, 27, 3, b, 8);
    CHECK(n == 3 && b[0] == 3 && b[1] == 9 && b[2] == 27, "rungs %d: %d %d %d", n, b[0], b[1], b[2]);
    CHECK(gt_hyperband_budgets(4, 36, 3, b, 8) == 3 && b[0] == 4 && b[2] == 36, "rungs of 4..36");
    /* SMAC's first bracket at eta 3 over three rungs: 9 configurations at the lowest budget, then 3, then 1 */
    const int budgets[3] = {1, 3, 9};
    GtOptParams p = {16, 2, 4, GT_OPT_RANDOM, 1, 3, budgets, 3, NULL, 0};
    GtOpt *o = gt_opt_new(&p);
    int per_rung[3] = {0};
    for (int t = 0; t < 13; t++) {
        GtJob j;
        gt_opt_next(o, &j);
        CHECK(j.bracket == 0, "trial %d in bracket %d", t, j.bracket);
        per_rung[j.rung]++;
        gt_opt_tell(o, j.trial, synthetic(j.cfg));
    }
    CHECK(per_rung[0] == 9 && per_rung[1] == 3 && per_rung[2] == 1, "bracket 0: %d %d %d", per_rung[0], per_rung[1], per_rung[2]);
    gt_opt_free(o);
    double s1, s2, s3;
    const double b1 = run_opt(GT_OPT_TPE, 7, 2, 60, &s1), b2 = run_opt(GT_OPT_TPE, 7, 2, 60, &s2);
    run_opt(GT_OPT_TPE, 8, 2, 60, &s3);
    CHECK(s1 == s2 && b1 == b2, "the same seed gave other proposals");
    CHECK(s1 != s3, "another seed gave the same proposals");
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    check_models();
    check_optimizer();
    return test_end("test_gptailor");
}
