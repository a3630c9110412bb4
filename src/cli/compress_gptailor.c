/* compress --method gptailor: search over removing layers, taking layers from finetuned variants and
 * merging them (include/depthfuse/gptailor.h, docs/gptailor.md), then write the best model, its
 * mergekit recipe and the search history. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "compress.h"
#include "depthfuse/calib.h"
#include "depthfuse/dataset.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/gptailor.h"
#include "depthfuse/importance.h"
#include "depthfuse/log.h"
#include "depthfuse/stop.h"

/* the documented default budget (docs/gptailor.md: under 30 minutes on base-16L at -np 2) */
enum { DEFAULT_TRIALS = 60, DEFAULT_MIN_WINDOWS = 3, DEFAULT_MAX_WINDOWS = 27, DEFAULT_ETA = 3 };

typedef struct {
    StrList cand, obj_ppl, obj_task;
    int seq_len, trials, seed, resume, min_w, max_w, eta, task_items, no_warm, warm_windows;
    const char *time_limit, *history, *recipe, *optimizer, *head;
} GtArgs;

/* "FILE" or "FILE:WEIGHT" */
static int parse_term(GtTerm *t, char *arg, int is_task) {
    char *c = strrchr(arg, ':'), *end;
    t->weight = 1.0;
    t->is_task = is_task;
    t->path = arg;
    if (c && c[1]) {
        double w = strtod(c + 1, &end);
        if (*end == 0) {
            if (!(w > 0) || !isfinite(w)) return df_fail("--objective-%s %s: the weight must be > 0", is_task ? "task" : "ppl", arg);
            t->weight = w;
            *c = 0;
        }
    }
    if (strstr(df_basename(t->path), ".test.") || strstr(df_basename(t->path), "test."))
        return df_fail("--objective-%s %s: a test split; the search reads validation files only", is_task ? "task" : "ppl",
                       t->path);
    return 0;
}

/* SECONDS, MM:SS or HH:MM:SS */
static int parse_duration(const char *s, double *out) {
    double part[3] = {0};
    int n = 0;
    const char *p = s;
    char *end;
    for (;;) {
        if (n == 3) return df_fail("--time-limit %s: SECONDS or HH:MM:SS", s);
        part[n++] = strtod(p, &end);
        if (end == p || part[n - 1] < 0) return df_fail("--time-limit %s: SECONDS or HH:MM:SS", s);
        if (*end == 0) break;
        if (*end != ':') return df_fail("--time-limit %s: SECONDS or HH:MM:SS", s);
        p = end + 1;
    }
    *out = n == 1 ? part[0] : n == 2 ? part[0] * 60 + part[1] : part[0] * 3600 + part[1] * 60 + part[2];
    return *out > 0 ? 0 : df_fail("--time-limit %s: must be > 0", s);
}

/* every candidate's part on this rank's stage, checked against the base */
static int load_candidates(Model *cand, const GtArgs *g, const CompressRun *r) {
    ModelPart part = topology_part(&r->t);
    int rc = 0;
    for (int k = 0; k < g->cand.n && rc == 0; k++) {
        ModelConfig c;
        rc = df_agree(MPI_COMM_WORLD, model_load_config(&c, g->cand.items[k]));
        if (rc < 0) break;
        if (!gt_same_architecture(&c, &r->m.cfg))
            rc = df_fail("%s: not the base's architecture (a candidate must be a finetune of %s)", g->cand.items[k],
                         r->a->run.model);
        config_free(&c);
        if (rc == 0) rc = df_agree(MPI_COMM_WORLD, model_load(&cand[k], g->cand.items[k], &part));
        else break;
    }
    return rc;
}

/* the warm start, as the official code's: removal heuristics x candidate patterns. Removal sets: BI's
 * and MI's R lowest one-shot scores on windows of the first perplexity file, and two contiguous
 * upper-middle spans; patterns: the base, each candidate alone everywhere, every candidate merged at
 * lambda 0.5 and 0.7. */
static int warm_start(GtConfig **warm, int *n_warm, const CompressRun *r, const GtArgs *g, const GtTerm *terms,
                      int n_terms) {
    const int L = r->m.cfg.n_layers, R = r->K, K = g->cand.n;
    int sets[4][64], n_sets = 0;
    const GtTerm *first = NULL;
    for (int i = 0; i < n_terms && !first; i++)
        if (!terms[i].is_task) first = &terms[i];
    if (R > 64) return df_fail("gptailor: at most 64 removed layers");
    if (first) {
        IdVec ids = {0};
        DF_TRY(dataset_tokenize_file(&ids, r->tok, first->path, MPI_COMM_WORLD));
        CalibSet cal;
        int rc = calib_sample(&cal, &ids, g->warm_windows, g->seq_len, (uint64_t)g->seed, first->path);
        idvec_free(&ids);
        DF_TRY(rc);
        for (int mi = 0; mi < 2 && rc == 0; mi++) {
            ImportanceResult ir;
            ImportanceOpts o = {mi ? METRIC_MI : METRIC_BI, 0, 0, r->a->run.batch_tokens, NULL};
            rc = importance_run(&ir, &r->t, &r->m, &cal, &o);
            if (rc < 0) break;
            for (int i = 0; i < ir.n; i++)
                if (ir.rank[i] <= R) sets[n_sets][ir.rank[i] - 1] = ir.block[i];
            n_sets++;
            importance_free(&ir);
        }
        calib_free(&cal);
        DF_TRY(rc);
    }
    /* spans ending before the last layer and centred at 60% of the depth */
    const int starts[2] = {L - 1 - R, (int)lround(0.6 * L - R / 2.0)};
    for (int s = 0; s < 2; s++) {
        const int a = starts[s] < 1 ? 1 : starts[s] + R > L ? L - R : starts[s];
        for (int i = 0; i < R; i++) sets[n_sets][i] = a + i;
        n_sets++;
    }
    const int n_pat = 1 + K + (K >= 2 ? 2 : 0);
    *warm = df_calloc((size_t)(n_sets * n_pat), sizeof(GtConfig));
    *n_warm = 0;
    for (int s = 0; s < n_sets; s++) {
        GtConfig probe;
        gt_config_init(&probe, L, K, R);
        memcpy(probe.removed, sets[s], sizeof(int) * (size_t)R);
        gt_config_canonical(&probe);
        int dup = 0;
        for (int q = 0; q < *n_warm; q++) dup |= !memcmp((*warm)[q].removed, probe.removed, sizeof(int) * (size_t)R);
        if (dup) {
            gt_config_free(&probe);
            continue;
        }
        for (int p = 0; p < n_pat; p++) {
            GtConfig *c = &(*warm)[(*n_warm)++];
            gt_config_copy(c, &probe);
            for (int l = 0; l < L; l++) {
                c->mask[l] = p == 0 ? 0 : p <= K ? 1u << (p - 1) : (1u << K) - 1;
                c->lambda[l] = p == K + 1 ? 0.5 : p == K + 2 ? 0.7 : 1.0;
            }
            gt_config_canonical(c);
        }
        gt_config_free(&probe);
    }
    return 0;
}

/* the search's identity: what a resumed run must share with the history (all but "out") */
static cJSON *search_header(const CompressRun *r, const GtArgs *g, const GtSearch *s) {
    cJSON *h = cJSON_CreateObject();
    cJSON_AddNumberToObject(h, "gptailor_history", 1);
    cJSON_AddStringToObject(h, "model", r->a->run.model);
    cJSON *c = cJSON_AddArrayToObject(h, "candidates");
    for (int k = 0; k < g->cand.n; k++) cJSON_AddItemToArray(c, cJSON_CreateString(g->cand.items[k]));
    cJSON_AddNumberToObject(h, "remove", s->R);
    cJSON_AddNumberToObject(h, "seed", (double)s->seed);
    cJSON_AddNumberToObject(h, "groups", r->t.D);
    cJSON_AddStringToObject(h, "optimizer", s->kind == GT_OPT_TPE ? "tpe" : "random");
    cJSON *b = cJSON_AddArrayToObject(h, "budgets");
    for (int i = 0; i < s->n_budgets; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber(s->budgets[i]));
    cJSON_AddNumberToObject(h, "eta", s->eta);
    cJSON_AddNumberToObject(h, "seq_len", s->seq_len);
    cJSON_AddNumberToObject(h, "task_items_per_window", s->task_items_per_window);
    cJSON_AddStringToObject(h, "head", s->head_from_base ? "base" : "follow");
    cJSON *o = cJSON_AddArrayToObject(h, "objective");
    for (int i = 0; i < s->n_terms; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "file", s->terms[i].path);
        cJSON_AddStringToObject(t, "kind", s->terms[i].is_task ? "1 - accuracy" : "log perplexity");
        cJSON_AddNumberToObject(t, "weight", s->terms[i].weight);
        cJSON_AddItemToArray(o, t);
    }
    cJSON *w = cJSON_AddArrayToObject(h, "warm_start");
    for (int i = 0; i < s->n_warm; i++) cJSON_AddItemToArray(w, gt_config_json(&s->warm[i]));
    cJSON_AddStringToObject(h, "out", r->a->out);
    return h;
}

/* --dtype as a recipe's dtype (NULL: the sources' own) */
static const char *recipe_dtype(const char *dtype) {
    if (!dtype) return NULL;
    return !strcasecmp(dtype, "bf16") ? "bfloat16" : !strcasecmp(dtype, "f16") ? "float16" : "float32";
}

/* the block map: where every kept layer came from */
static void block_fates(CompressRun *r, const GtConfig *c, const GtArgs *g) {
    for (int l = 0; l < c->L; l++) {
        if (gt_config_is_removed(c, l)) continue;
        const int n = __builtin_popcount(c->mask[l]);
        char buf[200] = "";
        size_t len = 0;
        for (int k = 0; k < c->K; k++)
            if (c->mask[l] >> k & 1)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", len ? " + " : "", df_basename(g->cand.items[k]));
        if (n == 1) compress_block_fate(r, l, "kept, from %s", buf);
        else if (n >= 2) compress_block_fate(r, l, "kept, merged: base + %.3f x task vectors of %s", c->lambda[l], buf);
    }
}

int compress_gptailor(int argc, char **argv, const char *cmd) {
    CompressArgs a = COMPRESS_ARGS_DEFAULT;
    GtArgs g = {{0}, {0}, {0}, 512, DEFAULT_TRIALS, 0, 0, DEFAULT_MIN_WINDOWS, DEFAULT_MAX_WINDOWS, DEFAULT_ETA, 4, 0, 8,
                NULL, NULL, NULL, "tpe", "follow"};
    const ArgSpec spec[] = {
        COMPRESS_ARG_SPECS(a),
        {"--candidate", ARG_STR_LIST, &g.cand, "DIR|FILE.h5", "a finetune of the base whose layers the search may take (repeat; none: removal only)", 0},
        {"--objective-ppl", ARG_STR_LIST, &g.obj_ppl, "FILE[:W]", "a validation text file: W x log-perplexity in the objective (repeat; W 1 by default)", 0},
        {"--objective-task", ARG_STR_LIST, &g.obj_task, "FILE[:W]", "a validation task file: W x (1 - accuracy) in the objective (repeat)", 0},
        {"--seq-len", ARG_INT, &g.seq_len, "T", "tokens per perplexity window (default 512)", 0},
        {"--trials", ARG_INT, &g.trials, "N", "trials in all, resumed ones included (default 60: docs/gptailor.md)", 0},
        {"--time-limit", ARG_STR, &g.time_limit, "SECONDS|HH:MM:SS", "stop before a round would run past this, then write the best model", 0},
        {"--seed", ARG_INT, &g.seed, "S", "the search's seed (default 0)", 0},
        {"--history", ARG_STR, &g.history, "FILE", "every finished trial, JSONL (default OUT.history.jsonl)", 0},
        {"--resume", ARG_FLAG, &g.resume, NULL, "continue the search recorded in --history (a new one when there is none)", 0},
        {"--recipe", ARG_STR, &g.recipe, "FILE.yaml", "the best model as a mergekit recipe (depthfuse merge builds it)", 0},
        {"--optimizer", ARG_STR, &g.optimizer, "tpe|random", "the sampler of new configurations (default tpe; random: the control)", 0},
        {"--min-windows", ARG_INT, &g.min_w, "N", "the lowest fidelity: windows per perplexity file (default 3)", 0},
        {"--max-windows", ARG_INT, &g.max_w, "N", "the highest fidelity (default 27)", 0},
        {"--eta", ARG_INT, &g.eta, "N", "Hyperband's reduction factor (default 3)", 0},
        {"--task-items", ARG_INT, &g.task_items, "N", "task items per window of fidelity (default 4)", 0},
        {"--head", ARG_STR, &g.head, "follow|base", "embedding and head: follow the first/last kept layer (default, as GPTailor) or keep the base's", 0},
        {"--no-warm-start", ARG_FLAG, &g.no_warm, NULL, "no BI/MI/span configurations first", 0},
        {"--warm-windows", ARG_INT, &g.warm_windows, "N", "windows of the first perplexity file for the BI/MI warm start (default 8)", 0},
        {0}};
    int rc = args_parse(cmd, "GPTailor: a zero-order search (TPE with Hyperband over the number of evaluation windows) "
                        "over which layers to remove, which kept layers to take from finetuned --candidate models, and "
                        "how to merge them (task arithmetic), scored by --objective-ppl/--objective-task on validation "
                        "files; the data-parallel groups evaluate one candidate each per round. Resumable (--resume), "
                        "bounded by --trials and --time-limit; writes the best model, --recipe and the history. "
                        COMPRESS_OUTPUT_HELP, spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    const int n_terms = g.obj_ppl.n + g.obj_task.n;
    GtTerm *terms = df_calloc((size_t)n_terms + 1, sizeof(GtTerm));
    GtSearch s = {0};
    for (int i = 0; i < n_terms && rc == 0; i++)
        rc = parse_term(&terms[i], i < g.obj_ppl.n ? g.obj_ppl.items[i] : g.obj_task.items[i - g.obj_ppl.n], i >= g.obj_ppl.n);
    if (rc == 0 && n_terms == 0) rc = df_fail("depthfuse %s: gptailor needs --objective-ppl or --objective-task", cmd);
    if (rc == 0 && g.cand.n > 31) rc = df_fail("depthfuse %s: at most 31 --candidate models", cmd);
    if (rc == 0 && (g.seq_len < 2 || g.trials < 1 || g.min_w < 1 || g.max_w < g.min_w || g.eta < 2 || g.task_items < 1 ||
                    g.warm_windows < 1))
        rc = df_fail("depthfuse %s: --seq-len >= 2, --trials >= 1, 1 <= --min-windows <= --max-windows, --eta >= 2", cmd);
    if (rc == 0 && strcmp(g.optimizer, "tpe") && strcmp(g.optimizer, "random"))
        rc = df_fail("depthfuse %s: --optimizer must be tpe or random", cmd);
    if (rc == 0 && strcmp(g.head, "follow") && strcmp(g.head, "base")) rc = df_fail("depthfuse %s: --head must be follow or base", cmd);
    if (rc == 0 && g.time_limit) rc = parse_duration(g.time_limit, &s.time_limit);
    char *history = NULL;
    if (rc == 0) {
        if (g.history) {
            history = df_strdup(g.history);
        } else { /* OUT.history.jsonl beside the output (OUT/ alike) */
            size_t n = strlen(a.out);
            while (n > 1 && a.out[n - 1] == '/') n--;
            history = df_malloc(n + 16);
            snprintf(history, n + 16, "%.*s.history.jsonl", (int)n, a.out);
        }
    }
    /* a resumed search owns its --out (recorded in the history): the safe-output rule lets it replace it */
    cJSON *recorded = NULL;
    int warm_recorded = 0;
    if (rc == 0) {
        double st[3] = {0, 0, 0}; /* refused, owns --out, has a recorded warm start */
        if (df_rank() == 0 && df_exists(history)) {
            if (!g.resume) st[0] = -1;
            else if (gt_history_header(history, &recorded) < 0) st[0] = -2;
            else {
                const cJSON *o = cJSON_GetObjectItem(recorded, "out");
                if (cJSON_IsString(o)) {
                    char *x = output_resolve(o->valuestring), *y = output_resolve(a.out);
                    st[1] = !strcmp(x, y);
                    free(x), free(y);
                }
                st[2] = cJSON_IsArray(cJSON_GetObjectItem(recorded, "warm_start"));
            }
        }
        dist_bcast_doubles(st, 3);
        warm_recorded = st[2] != 0;
        if (st[0] == -1) rc = df_fail("%s exists: --resume continues that search, or give another --history", history);
        if (st[0] == -2) rc = df_agree(MPI_COMM_WORLD, -1);
        if (st[1] != 0) a.overwrite = 1;
    }
    CompressRun r;
    if (rc < 0) {
        free(terms), free(history), cJSON_Delete(recorded);
        strlist_free(&g.cand), strlist_free(&g.obj_ppl), strlist_free(&g.obj_task);
        return 1;
    }
    rc = compress_plan(&r, &a, cmd);
    for (int k = 0; k < g.cand.n; k++) output_add_model_input(&r.plan, g.cand.items[k]);
    for (int i = 0; i < n_terms; i++) output_add_input(&r.plan, terms[i].path);
    output_add_report(&r.plan, g.recipe);
    if (!a.run.state) output_set_state(&r.plan, history); /* locked with --out: one search per history */
    if (rc == 0) rc = compress_begin(&r);
    Model *models = df_calloc((size_t)g.cand.n + 1, sizeof(Model)), **mp = df_calloc((size_t)g.cand.n + 1, sizeof(Model *));
    GtConfig *warm = NULL;
    int n_warm = 0;
    GtResult res = {0};
    if (rc == 0 && !r.done) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&r.m.cfg, g.seq_len));
    double t = df_now();
    if (rc == 0 && !r.done) rc = load_candidates(models + 1, &g, &r);
    if (rc == 0 && !r.done) {
        compress_phase(&r, "load candidates", df_now() - t);
        models[0] = r.m;
        for (int k = 0; k <= g.cand.n; k++) mp[k] = &models[k];
        t = df_now();
        const cJSON *rw = recorded ? cJSON_GetObjectItem(recorded, "warm_start") : NULL;
        if (warm_recorded && df_rank() == 0) { /* the recorded warm start (rank 0's optimizer), not recomputed */
            n_warm = cJSON_GetArraySize(rw);
            warm = df_calloc((size_t)n_warm + 1, sizeof(GtConfig));
            int i = 0;
            for (const cJSON *c = rw->child; c && rc == 0; c = c->next, i++)
                rc = gt_config_from_json(&warm[i], c, r.m.cfg.n_layers, g.cand.n, r.K, history);
        } else if (!warm_recorded && !g.no_warm) {
            rc = warm_start(&warm, &n_warm, &r, &g, terms, n_terms);
        }
        rc = df_agree(MPI_COMM_WORLD, rc);
        if (rc == 0) compress_phase(&r, "warm start", df_now() - t);
    }
    if (rc == 0 && !r.done) {
        s.models = mp;
        s.K = g.cand.n;
        s.R = r.K;
        s.head_from_base = !strcmp(g.head, "base");
        s.terms = terms;
        s.n_terms = n_terms;
        s.tok = r.tok;
        s.seq_len = g.seq_len;
        s.batch_tokens = a.run.batch_tokens;
        s.task_items_per_window = g.task_items;
        s.kind = strcmp(g.optimizer, "tpe") ? GT_OPT_RANDOM : GT_OPT_TPE;
        s.seed = (uint64_t)g.seed;
        s.eta = g.eta;
        s.n_budgets = gt_hyperband_budgets(g.min_w, g.max_w, g.eta, s.budgets, 8);
        s.max_trials = g.trials;
        s.t0 = r.t0;
        s.history = history;
        s.warm = warm;
        s.n_warm = n_warm;
        if (df_rank() == 0) s.header = search_header(&r, &g, &s);
        df_info0("gptailor: %d candidates, remove %d of %d, %d objective terms, fidelities", g.cand.n, r.K, r.m.cfg.n_layers,
                 n_terms);
        for (int i = 0; i < s.n_budgets; i++) df_info0(" %d", s.budgets[i]);
        df_info0(" windows/file, %d warm-start configurations, %d trials, %d groups\n", n_warm, g.trials, r.t.D);
        t = df_now();
        rc = gt_search_run(&res, &s, &r.t);
        if (rc == 0) compress_phase(&r, "search", df_now() - t);
        if (rc == 0 && res.stopped) rc = df_stop_fail("rerun the same command with --resume");
    }
    if (rc == 0 && !r.done) {
        GtPlan plan;
        gt_plan_from_config(&plan, &res.best, s.head_from_base);
        GtModel best;
        rc = df_agree(MPI_COMM_WORLD, gt_build(&best, mp, g.cand.n + 1, &plan));
        if (rc == 0) {
            df_print0("best: trial %d, objective %.5f at %d windows/file, removed", res.best_trial, res.best_objective,
                      res.best_budget);
            for (int i = 0; i < r.K; i++) df_print0(" %d", res.best.removed[i]);
            df_print0(" (%d trials, %d resumed)\n", res.trials, res.resumed);
            block_fates(&r, &res.best, &g);
            cJSON *gj = cJSON_AddObjectToObject(r.report, "gptailor");
            cJSON_AddStringToObject(gj, "optimizer", g.optimizer);
            cJSON_AddNumberToObject(gj, "trials", res.trials);
            cJSON_AddNumberToObject(gj, "resumed_trials", res.resumed);
            cJSON_AddNumberToObject(gj, "best_trial", res.best_trial);
            cJSON_AddNumberToObject(gj, "best_objective", res.best_objective);
            cJSON_AddNumberToObject(gj, "best_budget", res.best_budget);
            cJSON_AddNumberToObject(gj, "search_seconds", res.seconds);
            cJSON_AddStringToObject(gj, "history", history);
            if (g.recipe) cJSON_AddStringToObject(gj, "recipe", g.recipe);
            cJSON_AddItemToObject(gj, "config", gt_config_json(&res.best));
            if (g.recipe && df_rank() == 0) {
                const char **paths = df_calloc((size_t)g.cand.n + 1, sizeof(char *));
                paths[0] = a.run.model;
                for (int k = 0; k < g.cand.n; k++) paths[k + 1] = g.cand.items[k];
                rc = gt_recipe_write(g.recipe, &plan, paths, g.cand.n + 1, recipe_dtype(a.dtype));
                free(paths);
            }
            rc = df_agree(MPI_COMM_WORLD, rc);
            if (rc == 0) rc = compress_finish(&r, &best.m, res.best.removed, r.K);
            gt_model_free(&best);
        }
        gt_plan_free(&plan);
    }
    gt_config_free(&res.best);
    for (int i = 0; i < n_warm; i++) gt_config_free(&warm[i]);
    free(warm);
    for (int k = 1; k <= g.cand.n; k++) model_free(&models[k]);
    free(models), free(mp), free(terms), free(history);
    cJSON_Delete(recorded);
    cJSON_Delete(s.header);
    strlist_free(&g.cand), strlist_free(&g.obj_ppl), strlist_free(&g.obj_task);
    compress_end(&r);
    return rc != 0;
}
