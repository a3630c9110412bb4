/* GPTailor's search: synchronous rounds of one candidate per data-parallel group. Rank 0 proposes
 * (gptailor_opt.c), every group builds its candidate from referenced layers and scores it on the
 * objective at the proposed fidelity, rank 0 gathers the results, tells the optimizer and rewrites
 * the history atomically. A round's proposals depend only on the seed, the number of groups and the
 * results of earlier rounds, so the sequence does not depend on timing, and a resumed search replays
 * the recorded trials (checking each proposal against the record) and goes on where it stopped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/dataset.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/gptailor.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/perplexity.h"
#include "depthfuse/stop.h"
#include "depthfuse/zeroshot.h"

/* ---- the objective's data: every rank ---- */

typedef struct {
    int32_t **win;   /* [n_budgets] the budget's windows, contiguous */
    size_t *n_tok;   /* [n_budgets] */
    /* task terms */
    LoglikSet set;   /* every request of the first items (max budget) */
    Task task;       /* items (first, n, gold) and each request's norm_chars; no text */
    int *n_req;      /* [n_budgets] requests of the budget's first items */
    int *n_items;    /* [n_budgets] */
} TermData;

static int prefix_token(const Model *m, const Tokenizer *tok) {
    const int bos = tokenizer_bos_id(tok);
    return bos >= 0 ? bos : m->cfg.bos_id >= 0 ? m->cfg.bos_id : m->cfg.eos_id;
}

/* the budget's windows: b of the file's W, evenly spaced (the same ones for every configuration) */
static void ppl_windows(TermData *d, const IdVec *ids, const GtSearch *s) {
    const int T = s->seq_len, W = (int)(ids->n / (size_t)T);
    d->win = df_calloc((size_t)s->n_budgets, sizeof(int32_t *));
    d->n_tok = df_calloc((size_t)s->n_budgets, sizeof(size_t));
    for (int b = 0; b < s->n_budgets; b++) {
        const int n = s->budgets[b] < W ? s->budgets[b] : W;
        d->win[b] = df_malloc(sizeof(int32_t) * (size_t)n * T);
        for (int i = 0; i < n; i++) {
            const int w = (int)(((long long)2 * i + 1) * W / (2LL * n));
            memcpy(d->win[b] + (size_t)i * T, ids->ids + (size_t)w * T, sizeof(int32_t) * (size_t)T);
        }
        d->n_tok[b] = (size_t)n * T;
    }
}

/* rank 0 reads and encodes the task's first items; the requests and what scoring needs go to all */
static int task_data(TermData *d, const GtTerm *term, const GtSearch *s, const Model *m) {
    const int max_items = s->budgets[s->n_budgets - 1] * s->task_items_per_window;
    Task full = {0};
    int rc = 0;
    if (df_rank() == 0) {
        TaskReadOpts o = {NULL, NULL, max_items};
        rc = task_read(&full, term->path, &o);
        int *ntok = NULL, trunc = 0;
        if (rc == 0) {
            ntok = df_calloc((size_t)full.n_reqs + 1, sizeof(int));
            rc = zeroshot_encode(&d->set, ntok, &trunc, &full, s->tok, prefix_token(m, s->tok),
                                 m->cfg.max_position > 0 ? m->cfg.max_position : 2048);
        }
        free(ntok);
    }
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    loglik_set_bcast(&d->set, MPI_COMM_WORLD);
    double hdr[2] = {full.kind, full.n_items};
    dist_bcast_doubles(hdr, 2);
    Task *t = &d->task;
    t->kind = (TaskKind)hdr[0];
    t->n_items = (int)hdr[1];
    t->n_reqs = d->set.n;
    double *buf = df_malloc(sizeof(double) * (size_t)(3 * t->n_items + t->n_reqs + 1));
    if (df_rank() == 0) {
        for (int i = 0; i < t->n_items; i++)
            buf[3 * i] = full.items[i].first, buf[3 * i + 1] = full.items[i].n, buf[3 * i + 2] = full.items[i].gold;
        for (int r = 0; r < t->n_reqs; r++) buf[3 * t->n_items + r] = full.reqs[r].norm_chars;
    }
    dist_bcast_doubles(buf, 3 * t->n_items + t->n_reqs);
    t->items = df_calloc((size_t)t->n_items + 1, sizeof(TaskItem));
    t->reqs = df_calloc((size_t)t->n_reqs + 1, sizeof(TaskRequest));
    for (int i = 0; i < t->n_items; i++)
        t->items[i] = (TaskItem){(int)buf[3 * i], (int)buf[3 * i + 1], (int)buf[3 * i + 2], 0};
    for (int r = 0; r < t->n_reqs; r++) t->reqs[r].norm_chars = (int)buf[3 * t->n_items + r];
    free(buf);
    task_free(&full);
    d->n_req = df_calloc((size_t)s->n_budgets, sizeof(int));
    d->n_items = df_calloc((size_t)s->n_budgets, sizeof(int));
    for (int b = 0; b < s->n_budgets; b++) {
        const int n = s->budgets[b] * s->task_items_per_window;
        d->n_items[b] = n < t->n_items ? n : t->n_items;
        d->n_req[b] = d->n_items[b] ? t->items[d->n_items[b] - 1].first + t->items[d->n_items[b] - 1].n : 0;
    }
    return 0;
}

static void term_data_free(TermData *d, int n_budgets) {
    for (int b = 0; d->win && b < n_budgets; b++) free(d->win[b]);
    free(d->win);
    free(d->n_tok);
    loglik_set_free(&d->set);
    free(d->task.items);
    free(d->task.reqs);
    free(d->n_req);
    free(d->n_items);
}

static int load_terms(TermData *d, const GtSearch *s) {
    for (int i = 0; i < s->n_terms; i++) {
        if (s->terms[i].is_task) {
            DF_TRY(task_data(&d[i], &s->terms[i], s, s->models[0]));
            continue;
        }
        IdVec ids = {0};
        DF_TRY(dataset_tokenize_file(&ids, s->tok, s->terms[i].path, MPI_COMM_WORLD));
        if (ids.n / (size_t)s->seq_len < 1) {
            idvec_free(&ids);
            return df_fail("%s: fewer tokens than one window of %d", s->terms[i].path, s->seq_len);
        }
        ppl_windows(&d[i], &ids, s);
        idvec_free(&ids);
    }
    return 0;
}

/* ---- one trial, in one group ---- */

/* vals[0] = objective, vals[1 + i] = term i's perplexity or accuracy */
static int evaluate(double *vals, const GtSearch *s, const Topology *g, const TermData *d, const GtConfig *c, int b) {
    GtPlan plan;
    gt_plan_from_config(&plan, c, s->head_from_base);
    GtModel gm;
    int rc = gt_build(&gm, s->models, s->K + 1, &plan);
    gt_plan_free(&plan);
    vals[0] = 0;
    for (int i = 0; rc == 0 && i < s->n_terms; i++) {
        const GtTerm *term = &s->terms[i];
        if (!term->is_task) {
            PplResult r;
            rc = perplexity_eval(&r, g, &gm.m, d[i].win[b], d[i].n_tok[b], s->seq_len, s->batch_tokens, NULL);
            vals[0] += term->weight * r.nll / (double)r.predicted;
            vals[1 + i] = r.ppl;
            continue;
        }
        LoglikSet sub = d[i].set;
        sub.n = d[i].n_req[b];
        Task t = d[i].task;
        t.n_items = d[i].n_items[b];
        double *ll = df_malloc(sizeof(double) * (size_t)(sub.n + 1));
        int *greedy = df_malloc(sizeof(int) * (size_t)(sub.n + 1)), *pred = df_malloc(sizeof(int) * (size_t)(t.n_items + 1)),
            *pred_norm = df_malloc(sizeof(int) * (size_t)(t.n_items + 1));
        const int max_len = gm.m.cfg.max_position > 0 ? gm.m.cfg.max_position : 2048;
        rc = loglik_eval(ll, greedy, NULL, g, &gm.m, &sub, s->batch_tokens, max_len, NULL);
        TaskScores sc;
        if (rc == 0) zeroshot_scores(&sc, &t, ll, greedy, pred, pred_norm);
        vals[0] += term->weight * (1.0 - sc.acc);
        vals[1 + i] = sc.acc;
        free(ll), free(greedy), free(pred), free(pred_norm);
    }
    gt_model_free(&gm);
    return rc;
}

/* ---- the history ---- */

typedef struct {
    cJSON **trial; /* recorded trial lines */
    int n;
    char *text;    /* what the file holds (rank 0) */
    size_t len, cap;
} History;

static void history_append(History *h, const cJSON *line) {
    char *s = cJSON_PrintUnformatted(line);
    const size_t n = strlen(s);
    if (h->len + n + 2 > h->cap) {
        h->cap = 2 * (h->len + n + 2);
        h->text = df_realloc(h->text, h->cap);
    }
    memcpy(h->text + h->len, s, n);
    h->len += n;
    h->text[h->len++] = '\n';
    h->text[h->len] = 0;
    cJSON_free(s);
}

/* the lines of a history file; a last line cut short by a kill is dropped */
static int history_lines(const char *path, cJSON ***lines, int *n) {
    char *data;
    size_t len;
    *lines = NULL, *n = 0;
    DF_TRY(df_read_file(path, &data, &len));
    int rc = 0, lineno = 0;
    for (char *p = data; rc == 0 && *p;) {
        char *e = strchr(p, '\n');
        lineno++;
        if (!e) break; /* unterminated: the write of that line never completed */
        cJSON *j = cJSON_ParseWithLength(p, (size_t)(e - p));
        if (!j || !cJSON_IsObject(j)) rc = df_fail("%s:%d: not a JSON object", path, lineno);
        else {
            *lines = df_realloc(*lines, sizeof(cJSON *) * (size_t)(*n + 1));
            (*lines)[(*n)++] = j;
        }
        p = e + 1;
    }
    free(data);
    if (rc == 0 && *n == 0) rc = df_fail("%s: an empty history", path);
    if (rc == 0 && !cJSON_IsNumber(cJSON_GetObjectItem((*lines)[0], "gptailor_history")))
        rc = df_fail("%s: not a GPTailor history (its first line has no \"gptailor_history\")", path);
    return rc;
}

int gt_history_header(const char *path, cJSON **header) {
    cJSON **lines;
    int n;
    int rc = history_lines(path, &lines, &n);
    *header = rc == 0 ? cJSON_Duplicate(lines[0], 1) : NULL;
    for (int i = 0; i < n; i++) cJSON_Delete(lines[i]);
    free(lines);
    return rc;
}

/* rank 0: the recorded trials of a search with this header (the same search, or a refusal) */
static int history_resume(History *h, const char *path, const cJSON *header) {
    cJSON **lines;
    int n;
    DF_TRY(history_lines(path, &lines, &n));
    int rc = 0;
    for (const cJSON *k = header->child; rc == 0 && k; k = k->next) {
        if (!strcmp(k->string, "out")) continue;
        const cJSON *v = cJSON_GetObjectItem(lines[0], k->string);
        if (!v || !cJSON_Compare(k, v, 1))
            rc = df_fail("%s: recorded by another search (its \"%s\" differs from this run's); give a new --history", path,
                         k->string);
    }
    if (rc == 0) history_append(h, lines[0]);
    for (int i = 1; i < n; i++) {
        if (rc == 0) {
            const cJSON *t = cJSON_GetObjectItem(lines[i], "trial");
            if (!cJSON_IsNumber(t) || (int)t->valuedouble != i - 1)
                rc = df_fail("%s:%d: trial %d expected", path, i + 1, i - 1);
        }
        if (rc == 0) {
            history_append(h, lines[i]);
            h->trial = df_realloc(h->trial, sizeof(cJSON *) * (size_t)(h->n + 1));
            h->trial[h->n++] = lines[i];
        } else {
            cJSON_Delete(lines[i]);
        }
    }
    cJSON_Delete(lines[0]);
    free(lines);
    return rc;
}

static void history_free(History *h) {
    for (int i = 0; i < h->n; i++) cJSON_Delete(h->trial[i]);
    free(h->trial);
    free(h->text);
}

/* a recorded trial's objective and values, after checking that it is the trial proposed now */
static int replay(const History *h, const GtSearch *s, const GtJob *job, double *vals, const char *path) {
    const cJSON *line = h->trial[job->trial];
    GtConfig c;
    DF_TRY(gt_config_from_json(&c, cJSON_GetObjectItem(line, "config"), job->cfg->L, s->K, s->R, path));
    const cJSON *b = cJSON_GetObjectItem(line, "budget"), *obj = cJSON_GetObjectItem(line, "objective"),
                *vs = cJSON_GetObjectItem(line, "values");
    int rc = 0;
    if (!gt_config_equal(&c, job->cfg) || !cJSON_IsNumber(b) || (int)b->valuedouble != s->budgets[job->budget_index])
        rc = df_fail("%s: trial %d is not what this search proposes (another build or other inputs); give a new --history",
                     path, job->trial);
    else if (!cJSON_IsNumber(obj) || !cJSON_IsArray(vs) || cJSON_GetArraySize(vs) != s->n_terms)
        rc = df_fail("%s: trial %d has no objective and values", path, job->trial);
    gt_config_free(&c);
    DF_TRY(rc);
    vals[0] = obj->valuedouble;
    int i = 1;
    for (const cJSON *v = vs->child; v; v = v->next) vals[i++] = v->valuedouble;
    return 0;
}

static cJSON *trial_line(const GtSearch *s, const GtJob *job, const double *vals, double seconds, int best,
                         double best_obj) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "trial", job->trial);
    cJSON_AddNumberToObject(j, "config_id", job->config);
    cJSON_AddNumberToObject(j, "bracket", job->bracket);
    cJSON_AddNumberToObject(j, "rung", job->rung);
    cJSON_AddNumberToObject(j, "budget", s->budgets[job->budget_index]);
    cJSON_AddItemToObject(j, "config", gt_config_json(job->cfg));
    cJSON_AddNumberToObject(j, "objective", vals[0]);
    cJSON *v = cJSON_AddArrayToObject(j, "values");
    for (int i = 0; i < s->n_terms; i++) cJSON_AddItemToArray(v, cJSON_CreateNumber(vals[1 + i]));
    cJSON_AddNumberToObject(j, "best", best);
    cJSON_AddNumberToObject(j, "best_objective", best_obj);
    cJSON_AddNumberToObject(j, "seconds", seconds);
    return j;
}

/* ---- the loop ---- */

int gt_search_run(GtResult *res, const GtSearch *s, const Topology *t) {
    memset(res, 0, sizeof *res);
    const int L = s->models[0]->cfg.n_layers, D = t->D, root = t->rank == 0;
    const int plen = gt_config_packed_len(L, s->R), nv = 1 + s->n_terms;
    TermData *d = df_calloc((size_t)s->n_terms, sizeof(TermData));
    int rc = load_terms(d, s);
    GtOpt *opt = NULL;
    History h = {0};
    if (rc == 0 && root) {
        GtOptParams p = {L, s->K, s->R, s->kind, s->seed, s->n_budgets, s->budgets, s->eta, s->warm, s->n_warm};
        opt = gt_opt_new(&p);
        if (df_exists(s->history)) rc = history_resume(&h, s->history, s->header);
        else history_append(&h, s->header);
        if (rc == 0 && h.n) df_info0("resuming %s: %d trials recorded\n", s->history, h.n);
        res->resumed = h.n;
    }
    rc = df_agree(MPI_COMM_WORLD, rc);
    Topology g;
    topology_group_view(&g, t);
    const int msg_len = 2 + D * (2 + plen);
    double *msg = df_malloc(sizeof(double) * (size_t)msg_len), *vals = df_malloc(sizeof(double) * (size_t)nv),
           *all = df_malloc(sizeof(double) * (size_t)(D * (nv + 1)));
    GtJob *jobs = df_calloc((size_t)D, sizeof(GtJob));
    GtConfig mine;
    gt_config_init(&mine, L, s->K, s->R);
    double eval_seconds = 0, eval_units = 0; /* this run's evaluation time per window, for --time-limit */
    const double t_start = df_now();
    int done = 0;
    while (rc == 0) {
        if (df_stop_agreed(MPI_COMM_WORLD, "trial")) {
            res->stopped = 1;
            break;
        }
        /* rank 0: the round (msg: jobs, evaluations needed, then per group: has-job, budget, config) */
        if (root) {
            int n_jobs = s->max_trials - done < D ? s->max_trials - done : D;
            if (n_jobs > 0 && s->time_limit > 0 && done >= h.n) {
                const double rate = eval_units > 0 ? eval_seconds / eval_units : 0;
                const double est = rate * s->budgets[s->n_budgets - 1];
                if (df_now() - s->t0 + est > s->time_limit) n_jobs = 0, df_info0("--time-limit: stopping before trial %d\n", done);
            }
            memset(msg, 0, sizeof(double) * (size_t)msg_len);
            msg[0] = n_jobs > 0 ? n_jobs : 0;
            for (int j = 0; j < n_jobs; j++) {
                gt_opt_next(opt, &jobs[j]);
                double *m = msg + 2 + j * (2 + plen);
                m[1] = jobs[j].budget_index;
                if (jobs[j].trial < h.n) {
                    m[0] = 0; /* replayed */
                    continue;
                }
                m[0] = 1;
                msg[1] = 1;
                gt_config_pack(jobs[j].cfg, m + 2);
            }
        }
        dist_bcast_doubles(msg, msg_len);
        const int n_jobs = (int)msg[0];
        if (n_jobs == 0) break;
        double secs = 0;
        if (msg[1] != 0) {
            const double *m = msg + 2 + t->group * (2 + plen);
            memset(vals, 0, sizeof(double) * (size_t)nv);
            const double t1 = df_now();
            if (t->group < n_jobs && m[0] != 0) {
                gt_config_unpack(&mine, m + 2);
                rc = evaluate(vals, s, &g, d, &mine, (int)m[1]);
            }
            secs = df_now() - t1;
            rc = df_agree(MPI_COMM_WORLD, rc);
            if (rc < 0) break;
            double *mv = df_malloc(sizeof(double) * (size_t)(nv + 1));
            memcpy(mv, vals, sizeof(double) * (size_t)nv);
            mv[nv] = secs;
            dist_gather_groups(t, mv, nv + 1, all);
            free(mv);
        }
        if (root) {
            for (int j = 0; j < n_jobs && rc == 0; j++) {
                double *v = all + j * (nv + 1);
                const int recorded = jobs[j].trial < h.n;
                if (recorded) rc = replay(&h, s, &jobs[j], v, s->history);
                if (rc < 0) break;
                gt_opt_tell(opt, jobs[j].trial, v[0]);
                done++;
                if (recorded) continue;
                eval_seconds += v[nv];
                eval_units += s->budgets[jobs[j].budget_index];
                const int best = gt_opt_best(opt);
                const double best_obj = gt_opt_objective(opt, best);
                cJSON *line = trial_line(s, &jobs[j], v, v[nv], best, best_obj);
                history_append(&h, line);
                cJSON_Delete(line);
                /* ETA: this run's seconds per trial so far times the trials left (or the time limit) */
                const double el = df_now() - t_start, per = el / (done - h.n);
                double eta = per * (s->max_trials - done);
                if (s->time_limit > 0 && s->time_limit - (df_now() - s->t0) < eta) eta = s->time_limit - (df_now() - s->t0);
                df_info0("trial %d/%d  bracket %d rung %d  %3d windows/file  objective %.5f  | best %.5f (trial %d)  %.0f s, "
                         "ETA %.0f s\n", jobs[j].trial, s->max_trials, jobs[j].bracket, jobs[j].rung,
                         s->budgets[jobs[j].budget_index], v[0], best_obj, best, el, eta > 0 ? eta : 0);
            }
            if (rc == 0 && msg[1] != 0) rc = df_write_file(s->history, h.text, h.len);
            if (rc == 0 && msg[1] != 0) df_event_checkpoint(s->history, "trial", h.n);
        }
        rc = df_agree(MPI_COMM_WORLD, rc);
    }
    /* the incumbent to every rank */
    double *best = df_calloc((size_t)plen + 4, sizeof(double));
    if (rc == 0 && root) {
        const int b = gt_opt_best(opt);
        best[0] = b, best[1] = done;
        if (b >= 0) {
            best[2] = gt_opt_objective(opt, b);
            best[3] = gt_opt_budget(opt, b);
            gt_config_pack(gt_opt_trial_config(opt, b), best + 4);
        }
    }
    if (rc == 0) {
        dist_bcast_doubles(best, plen + 4);
        res->best_trial = (int)best[0];
        res->trials = (int)best[1];
        res->best_objective = best[2];
        res->best_budget = s->budgets[(int)best[3]];
        gt_config_init(&res->best, L, s->K, s->R);
        if (res->best_trial >= 0) gt_config_unpack(&res->best, best + 4);
        if (res->best_trial < 0 && !res->stopped) rc = df_fail("the search ran no trial (--trials 0 or --time-limit too short)");
    }
    res->seconds = df_now() - t_start;
    free(best);
    gt_config_free(&mine);
    free(jobs);
    free(msg);
    free(vals);
    free(all);
    history_free(&h);
    gt_opt_free(opt);
    for (int i = 0; i < s->n_terms; i++) term_data_free(&d[i], s->n_budgets);
    free(d);
    return rc;
}
