/* What every compression method does around its own work (compress.h). */
#include "compress.h"

#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/provenance.h"
#include "depthfuse/run_report.h"
#include "depthfuse/setup.h"
#include "depthfuse/stop.h"
#include "depthfuse/tensors.h"

/* --dtype bf16|f16|f32, any case */
static int dtype_flag(const char *s, DfDtype *t) {
    for (int i = DF_F32; i <= DF_BF16; i++)
        if (!strcasecmp(s, df_dtype_name((DfDtype)i))) {
            *t = (DfDtype)i;
            return 0;
        }
    return -1;
}

static EvalSpec eval_spec(const CompressArgs *a) {
    return (EvalSpec){(const char *const *)a->eval_ppl.items, a->eval_ppl.n, (const char *const *)a->eval_tasks.items,
                      a->eval_tasks.n, a->eval_seq_len, a->run.batch_tokens, 1, {NULL, NULL, a->eval_limit}, 0};
}

static int evaluating(const CompressArgs *a) { return a->eval_ppl.n + a->eval_tasks.n > 0; }

int compress_plan(CompressRun *r, CompressArgs *a, const char *cmd) {
    memset(r, 0, sizeof *r);
    r->a = a;
    r->cmd = cmd;
    r->t0 = df_now();
    DfDtype dt;
    if ((a->sparsity >= 0) == (a->remove > 0) || (a->sparsity >= 0 && !(a->sparsity > 0 && a->sparsity < 1)))
        return df_fail("depthfuse %s: give exactly one of --sparsity S (0 < S < 1) and --remove K (K >= 1)", cmd);
    if (a->run.batch_tokens < 1 || a->run.pipeline < 1)
        return df_fail("depthfuse %s: --batch-tokens and --pipeline must be >= 1", cmd);
    if (a->dtype && dtype_flag(a->dtype, &dt) < 0)
        return df_fail("depthfuse %s: --dtype must be bf16, f16 or f32, got '%s'", cmd, a->dtype);
    DF_TRY(parse_byte_size(a->max_shard, &r->shard_bytes));
    if (a->eval_seq_len < 2 || a->eval_limit < 0)
        return df_fail("depthfuse %s: --eval-seq-len must be >= 2 and --eval-limit >= 0", cmd);
    if (a->compare.n && !a->report_html) return df_fail("depthfuse %s: --report-compare needs --report-html", cmd);
    if (a->eval_dense && !evaluating(a)) return df_fail("depthfuse %s: --eval-dense needs --eval-ppl or --eval-tasks", cmd);
    const EvalSpec es = eval_spec(a);
    DF_TRY(evaluate_check(&es, cmd));
    output_add_model_input(&r->plan, a->run.model);
    output_add_input(&r->plan, a->run.tokenizer);
    output_set_state(&r->plan, a->run.state);
    for (int i = 0; i < a->eval_ppl.n; i++) output_add_input(&r->plan, a->eval_ppl.items[i]);
    for (int i = 0; i < a->eval_tasks.n; i++) output_add_input(&r->plan, a->eval_tasks.items[i]);
    for (int i = 0; i < a->compare.n; i++) output_add_input(&r->plan, a->compare.items[i]);
    output_add_input(&r->plan, a->eval_dense);
    output_set_model(&r->plan, a->out);
    output_add_report(&r->plan, a->json);
    output_add_report(&r->plan, a->report_html);
    r->plan.overwrite = a->overwrite;
    return 0;
}

/* rank 0: does the state file record a completed run whose output is this --out and still there? */
static int state_completed(const CompressArgs *a) {
    if (!a->run.state || !df_exists(a->run.state) || !df_exists(a->out)) return 0;
    cJSON *root;
    if (df_json_load(a->run.state, &root) < 0) return 0; /* the method's own loader reports it */
    const cJSON *c = cJSON_GetObjectItem(root, "completed"), *out = c ? cJSON_GetObjectItem(c, "out") : NULL;
    int done = 0;
    if (cJSON_IsString(out)) {
        char *x = output_resolve(out->valuestring), *y = output_resolve(a->out);
        done = !strcmp(x, y);
        free(x);
        free(y);
    }
    cJSON_Delete(root);
    return done;
}

/* rank 0: --eval-dense, an eval --json report of this model on every --eval-* file */
static int load_dense(CompressRun *r) {
    const CompressArgs *a = r->a;
    const char *f = a->eval_dense;
    DF_TRY(df_json_load(f, &r->dense));
    const cJSON *blocks = cJSON_GetObjectItem(r->dense, "blocks"), *T = cJSON_GetObjectItem(r->dense, "seq_len");
    if (!cJSON_IsNumber(blocks) || blocks->valuedouble != r->m.cfg.n_layers)
        return df_fail("%s: not an eval --json report of a %d-block model (\"blocks\")", f, r->m.cfg.n_layers);
    if (a->eval_ppl.n && (!cJSON_IsNumber(T) || T->valuedouble != a->eval_seq_len))
        return df_fail("%s: its perplexities are not of --eval-seq-len %d windows (\"seq_len\")", f, a->eval_seq_len);
    for (int i = 0; i < a->eval_ppl.n + a->eval_tasks.n; i++) {
        const int ppl = i < a->eval_ppl.n;
        const char *file = ppl ? a->eval_ppl.items[i] : a->eval_tasks.items[i - a->eval_ppl.n];
        const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(r->dense, ppl ? "perplexity" : "tasks"), df_basename(file));
        if (ppl ? !cJSON_IsNumber(v) : !cJSON_IsObject(v))
            return df_fail("%s: has no %s of %s", f, ppl ? "perplexity" : "task result", df_basename(file));
        if (!ppl && a->eval_limit > 0 && !(cJSON_IsNumber(cJSON_GetObjectItem(v, "n")) &&
                                            cJSON_GetObjectItem(v, "n")->valuedouble <= a->eval_limit))
            return df_fail("%s: %s was scored on more items than --eval-limit %d", f, df_basename(file), a->eval_limit);
    }
    return 0;
}

int compress_begin(CompressRun *r) {
    CompressArgs *a = r->a;
    DF_TRY(output_lock(&r->plan)); /* before the state is read: a run still writing it refuses this one */
    r->done = df_rank() == 0 ? state_completed(a) : 0;
    MPI_Bcast(&r->done, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (r->done) {
        df_print0("%s: the run recorded in %s is complete and %s exists; nothing to do\n", a->out, a->run.state, a->out);
        return 0;
    }
    DF_TRY(output_check(&r->plan));
    if (df_rank() == 0 && a->compare.n) r->compare = df_calloc((size_t)a->compare.n, sizeof(cJSON *));
    int ok = 0;
    for (int i = 0; i < a->compare.n && df_rank() == 0 && ok == 0; i++) ok = run_report_load(a->compare.items[i], &r->compare[i]);
    DF_TRY(df_agree(MPI_COMM_WORLD, ok));
    DF_TRY(setup_model(&r->t, &r->m, a->run.model, a->run.pipeline));
    r->began = 1;
    const int L = r->m.cfg.n_layers;
    r->K = a->remove > 0 ? a->remove : (int)lround(a->sparsity * L);
    int rc = (r->K < 1 || r->K >= L)
                 ? df_fail("depthfuse %s: removing %d of %d blocks is not possible (1 <= K < %d)", r->cmd, r->K, L, L)
                 : 0;
    if (rc == 0) rc = setup_tokenizer(&r->tok, a->run.tokenizer, a->run.model);
    DF_TRY(rc);
    setup_print_layout(&r->t, &r->m);
    r->fate = df_calloc((size_t)L, sizeof(char *));
    cJSON *rep = r->report = cJSON_CreateObject();
    cJSON_AddStringToObject(rep, "method", a->method);
    cJSON_AddStringToObject(rep, "command", df_command_line());
    cJSON_AddItemToObject(rep, "versions", df_versions_json());
    cJSON_AddStringToObject(rep, "model", a->run.model);
    cJSON_AddStringToObject(rep, "out", a->out);
    cJSON_AddNumberToObject(rep, "blocks_before", L);
    cJSON_AddNumberToObject(rep, "params_before", (double)config_model_params(&r->m.cfg));
    cJSON_AddItemToObject(rep, "layout", topology_layout_json(&r->t));
    cJSON_AddArrayToObject(rep, "phases");
    if (!evaluating(a)) return 0;
    if (a->eval_dense) return df_agree(MPI_COMM_WORLD, df_rank() == 0 ? load_dense(r) : 0);
    const EvalSpec es = eval_spec(a);
    Evaluation e;
    df_info0("evaluating the dense model\n");
    rc = evaluate_model(&e, &es, &r->t, &r->m, r->tok, a->run.model);
    if (rc == 0) compress_phase(r, "eval dense", e.report.seconds);
    if (rc == 0 && r->t.rank == 0) r->dense = report_to_json(&e.report); /* the task files are read on rank 0 alone */
    evaluation_free(&e);
    return rc;
}

void compress_phase(CompressRun *r, const char *name, double seconds) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "phase", name);
    cJSON_AddNumberToObject(e, "seconds", seconds);
    df_event("phase_end", e);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "name", name);
    cJSON_AddNumberToObject(p, "seconds", seconds);
    cJSON_AddItemToArray(cJSON_GetObjectItem(r->report, "phases"), p);
}

void compress_block_fate(CompressRun *r, int block, const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(r->fate[block]);
    r->fate[block] = df_strdup(buf);
}

static void set_dtype(Model *m, DfDtype dt) {
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs);
    for (int i = 0; i < n; i++)
        if (tensor_ref_data(m, &refs[i])) tensor_ref_set_dtype(m, &refs[i], dt);
    free(refs);
}

/* rank 0: "completed": {"out": OUT} added to the state file, so that a rerun knows (atomic rewrite) */
static int mark_state_complete(const CompressArgs *a) {
    if (!a->run.state || !df_exists(a->run.state)) return 0;
    cJSON *root;
    DF_TRY(df_json_load(a->run.state, &root));
    cJSON_DeleteItemFromObject(root, "completed");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "completed"), "out", a->out);
    int rc = df_json_write(a->run.state, root);
    cJSON_Delete(root);
    if (rc == 0) df_event_checkpoint(a->run.state, "complete", 1);
    return rc;
}

/* --eval-* on the compressed model, beside the dense model's in the report's "eval" */
static int evaluate_compressed(CompressRun *r, const Model *out) {
    EvalSpec es = eval_spec(r->a);
    es.no_stop = 1; /* the model is written: a stop here would leave a state no rerun completes */
    Evaluation e;
    df_info0("evaluating the compressed model\n");
    int rc = evaluate_model(&e, &es, &r->t, out, r->tok, r->a->out);
    if (rc == 0) compress_phase(r, "eval compressed", e.report.seconds);
    if (rc == 0 && r->t.rank == 0) {
        cJSON *ev = cJSON_AddObjectToObject(r->report, "eval"), *c = report_to_json(&e.report);
        cJSON_AddItemToObject(ev, "dense", cJSON_Duplicate(r->dense, 1));
        cJSON_AddItemToObject(ev, "compressed", c);
        df_end_line();
        report_print_compare(r->dense, c);
    }
    evaluation_free(&e);
    return rc;
}

/* rank 0: the --report-html page of this run beside the --report-compare runs */
static int write_html(const CompressRun *r) {
    const CompressArgs *a = r->a;
    const int n = a->compare.n + 1;
    const cJSON **runs = df_malloc(sizeof(cJSON *) * (size_t)n);
    const char **names = df_malloc(sizeof(char *) * (size_t)n);
    for (int i = 0; i < a->compare.n; i++) runs[i] = r->compare[i], names[i] = a->compare.items[i];
    /* the page shows what the --json file holds: the report as printed (cJSON keeps 15 digits when
     * they read back within an epsilon) and parsed again */
    char *text = cJSON_Print(r->report);
    cJSON *printed = cJSON_Parse(text);
    cJSON_free(text);
    runs[n - 1] = printed;
    names[n - 1] = a->json ? a->json : "this run";
    char *html = run_report_html(runs, names, n);
    cJSON_Delete(printed);
    int rc = df_write_file(a->report_html, html, strlen(html));
    if (rc == 0) printf("wrote %s\n", a->report_html);
    free(html);
    free(runs);
    free(names);
    return rc;
}

int compress_finish(CompressRun *r, Model *out, const int *removed, int n_removed) {
    const CompressArgs *a = r->a;
    if (a->dtype) {
        DfDtype dt = DF_BF16;
        dtype_flag(a->dtype, &dt); /* checked by compress_plan */
        set_dtype(out, dt);
    }
    /* the last safe point: what a method keeps in its state is complete here, so a rerun only writes */
    if (df_stop_agreed(MPI_COMM_WORLD, "write")) return df_stop_fail(NULL);
    const int L = r->m.cfg.n_layers;
    char *gone = df_calloc((size_t)L, 1);
    cJSON *rep = r->report, *arr = cJSON_AddArrayToObject(rep, "removed"), *map = cJSON_AddArrayToObject(rep, "block_map");
    for (int i = 0; i < n_removed; i++) {
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(removed[i]));
        gone[removed[i]] = 1;
    }
    for (int i = 0; i < L; i++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "block", i);
        cJSON_AddStringToObject(b, "fate", r->fate[i] ? r->fate[i] : gone[i] ? "removed" : "kept");
        cJSON_AddItemToArray(map, b);
    }
    free(gone);
    cJSON_AddNumberToObject(rep, "blocks_after", out->cfg.n_layers);
    cJSON_AddNumberToObject(rep, "params_after", (double)config_model_params(&out->cfg));
    /* depthfuse.json: what the report says about the model (not its timings or evaluations) */
    cJSON *prov = cJSON_CreateObject();
    static const char *const keys[] = {"method", "model", "blocks_before", "blocks_after", "params_before",
                                       "params_after", "removed", "block_map", "layout"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_AddItemToObject(prov, keys[i], cJSON_Duplicate(cJSON_GetObjectItem(rep, keys[i]), 1));
    r->plan.provenance = prov;
    double t = df_now();
    int wrc = output_write_model(out, &r->t, &r->plan, r->shard_bytes);
    r->plan.provenance = NULL;
    cJSON_Delete(prov);
    DF_TRY(wrc);
    compress_phase(r, "write", df_now() - t);
    df_info0("wrote %s (%d blocks, %.1f s)\n", a->out, out->cfg.n_layers, df_now() - r->t0);
    if (evaluating(a)) DF_TRY(evaluate_compressed(r, out));
    cJSON_AddNumberToObject(rep, "seconds", df_now() - r->t0);
    int rc = 0;
    if (r->t.rank == 0) {
        if (a->json) rc = df_json_write(a->json, rep);
        if (rc == 0) df_event_output(a->json);
        if (rc == 0 && a->report_html) rc = write_html(r);
        if (rc == 0) df_event_output(a->report_html);
        if (rc == 0) rc = mark_state_complete(a);
    }
    return df_agree(MPI_COMM_WORLD, rc);
}

void compress_end(CompressRun *r) {
    for (int i = 0; r->compare && i < r->a->compare.n; i++) cJSON_Delete(r->compare[i]);
    free(r->compare);
    cJSON_Delete(r->dense);
    strlist_free(&r->a->eval_ppl);
    strlist_free(&r->a->eval_tasks);
    strlist_free(&r->a->compare);
    if (r->fate)
        for (int i = 0; i < r->m.cfg.n_layers; i++) free(r->fate[i]);
    free(r->fate);
    cJSON_Delete(r->report);
    tokenizer_free(r->tok);
    if (r->began) {
        model_free(&r->m);
        topology_free(&r->t);
    }
    output_plan_free(&r->plan);
}
