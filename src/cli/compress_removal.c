/* compress --method mi|bi|sleb (and depthfuse prune, the same): remove blocks chosen by an importance
 * metric and write the shallower model. mi and sleb remove greedily, recomputing after each removal
 * (resumable with --state); bi removes the lowest-scoring blocks at once. */
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "compress.h"
#include "depthfuse/error.h"
#include "depthfuse/importance.h"
#include "depthfuse/log.h"

/* the K blocks to remove: the greedy order (mi, sleb) or the K lowest one-shot scores (bi) */
static void removed_blocks(const ImportanceResult *r, int K, int *removed) {
    if (r->greedy) {
        memcpy(removed, r->block, sizeof(int) * (size_t)K);
        return;
    }
    for (int i = 0; i < r->n; i++)
        if (r->rank[i] <= K) removed[r->rank[i] - 1] = r->block[i];
}

/* the report: the importance table (as `importance --json` writes it) under the shared keys */
static void add_importance(cJSON *rep, const char *model, Metric metric, const CalibSet *cal, const ImportanceResult *r) {
    cJSON *imp = importance_json(model, metric, cal, r, 0);
    for (cJSON *it = imp->child; it; it = it->next)
        if (strcmp(it->string, "model") && strcmp(it->string, "seconds"))
            cJSON_AddItemToObject(rep, it->string, cJSON_Duplicate(it, 1));
    cJSON_Delete(imp);
}

int compress_removal(int argc, char **argv, const char *cmd) {
    CompressArgs a = COMPRESS_ARGS_DEFAULT;
    CalibArgs ca = CALIB_ARGS_DEFAULT;
    const ArgSpec spec[] = {COMPRESS_ARG_SPECS(a), CALIB_ARG_SPECS(ca), {0}};
    int rc = args_parse(cmd, "Remove blocks and write the shallower model: --method mi (FuseGPT's Macro Influence) and "
                        "sleb remove greedily, recomputing after each removal; bi (ShortGPT) removes the lowest-scoring "
                        "blocks at once. Layers are renumbered; the output loads in depthfuse and transformers. "
                        COMPRESS_OUTPUT_HELP, spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    Metric metric;
    if (metric_parse(a.method, &metric) < 0) return 1;
    if (a.run.state && metric == METRIC_BI) {
        df_fail("depthfuse %s: --state applies to the greedy methods (mi, sleb); bi removes its blocks at once", cmd);
        return 1;
    }
    CompressRun r;
    rc = compress_plan(&r, &a, cmd);
    output_add_input(&r.plan, ca.file);
    if (rc == 0) rc = compress_begin(&r);
    if (rc < 0 || r.done) {
        compress_end(&r);
        return rc < 0;
    }
    const int L = r.m.cfg.n_layers, K = r.K;
    CalibSet cal = {0};
    ImportanceResult ir = {0};
    rc = df_agree(MPI_COMM_WORLD, calibration_load(&cal, r.tok, &ca));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&r.m.cfg, cal.T));
    double t = df_now();
    if (rc == 0) {
        ImportanceOpts o = {metric, metric == METRIC_BI ? 0 : K, 0, a.run.batch_tokens, a.run.state};
        rc = importance_run(&ir, &r.t, &r.m, &cal, &o);
    }
    int *removed = df_calloc((size_t)L, sizeof(int)), *keep = df_calloc((size_t)L, sizeof(int)), nk = 0;
    if (rc == 0) {
        compress_phase(&r, "importance", df_now() - t);
        importance_print(&ir, metric);
        removed_blocks(&ir, K, removed);
        char *gone = df_calloc((size_t)L, 1);
        df_print0("removing %d of %d blocks:", K, L);
        for (int i = 0; i < K; i++) gone[removed[i]] = 1, df_print0(" %d", removed[i]);
        for (int i = 0; i < L; i++)
            if (!gone[i]) keep[nk++] = i;
        df_print0("\n");
        free(gone);
        add_importance(r.report, a.run.model, metric, &cal, &ir);
        Model pruned;
        model_select_blocks(&pruned, &r.m, keep, nk);
        rc = compress_finish(&r, &pruned, removed, K);
        model_free(&pruned);
    }
    free(removed);
    free(keep);
    importance_free(&ir);
    calib_free(&cal);
    compress_end(&r);
    return rc != 0;
}
