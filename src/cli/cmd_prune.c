/* depthfuse prune: remove blocks by mi, bi or sleb and write a checkpoint that loads anywhere. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "run_args.h"
#include "commands.h"
#include "depthfuse/error.h"
#include "depthfuse/h5store.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/importance.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/setup.h"

/* the K blocks to remove: the greedy order (mi, sleb) or the K lowest one-shot scores (bi) */
static void removed_blocks(const ImportanceResult *r, int K, int *removed) {
    if (r->greedy) {
        memcpy(removed, r->block, sizeof(int) * (size_t)K);
        return;
    }
    for (int i = 0; i < r->n; i++)
        if (r->rank[i] <= K) removed[r->rank[i] - 1] = r->block[i];
}

int cmd_prune(int argc, char **argv) {
    const char *method_s = NULL, *out = NULL, *json = NULL, *max_shard = "5GB";
    RunArgs ra = RUN_ARGS_DEFAULT;
    CalibArgs ca = CALIB_ARGS_DEFAULT;
    double sparsity = -1;
    int remove = 0;
    const ArgSpec spec[] = {
        RUN_ARG_SPECS(ra),
        {"--method", ARG_STR, &method_s, "mi|bi|sleb", "how blocks are chosen (mi and sleb greedily, bi one-shot)", ARG_REQUIRED},
        {"--sparsity", ARG_DOUBLE, &sparsity, "S", "remove round(S x blocks) blocks", 0},
        {"--remove", ARG_INT, &remove, "K", "remove K blocks", 0},
        CALIB_ARG_SPECS(ca),
        {"--out", ARG_STR, &out, "DIR|FILE.h5", "where the pruned model goes (HF folder, or .h5)", ARG_REQUIRED},
        {"--max-shard-size", ARG_STR, &max_shard, "SIZE", "largest safetensors shard (default 5GB)", 0},
        {"--json", ARG_STR, &json, "OUT", "the scores and the removed blocks as JSON", 0},
        {0}};
    int rc = args_parse("prune", "Remove blocks and write the shallower model: mi (FuseGPT's Macro Influence) and sleb "
                        "remove greedily, recomputing after each removal; bi (ShortGPT) removes the lowest-scoring "
                        "blocks at once. Layers are renumbered; the output loads in depthfuse and transformers.",
                        spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    Metric metric;
    uint64_t shard_bytes;
    if (metric_parse(method_s, &metric) < 0 || parse_byte_size(max_shard, &shard_bytes) < 0) return 1;
    if ((sparsity >= 0) == (remove > 0) || ra.batch_tokens < 1) {
        df_fail("depthfuse prune: give exactly one of --sparsity S (0 < S < 1) and --remove K (and --batch-tokens >= 1)");
        return 1;
    }
    if (ra.state && metric == METRIC_BI) {
        df_fail("depthfuse prune: --state applies to the greedy methods (mi, sleb); bi removes its blocks at once");
        return 1;
    }
    double t0 = df_now();
    Topology t;
    Model m;
    if (setup_model(&t, &m, ra.model, ra.pipeline) < 0) return 1;
    const int L = m.cfg.n_layers, K = remove > 0 ? remove : (int)lround(sparsity * L);
    rc = (K < 1 || K >= L) ? df_fail("depthfuse prune: removing %d of %d blocks is not possible (1 <= K < %d)", K, L, L) : 0;
    Tokenizer *tok = NULL;
    CalibSet cal = {0};
    ImportanceResult r = {0};
    if (rc == 0) rc = setup_tokenizer(&tok, ra.tokenizer, ra.model);
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, calibration_load(&cal, tok, &ca));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&m.cfg, cal.T));
    int *removed = df_calloc((size_t)L, sizeof(int)), *keep = df_calloc((size_t)L, sizeof(int)), nk = 0;
    if (rc == 0) {
        setup_print_layout(&t, &m);
        ImportanceOpts o = {metric, metric == METRIC_BI ? 0 : K, 0, ra.batch_tokens, ra.state};
        rc = importance_run(&r, &t, &m, &cal, &o);
    }
    if (rc == 0) {
        importance_print(&r, metric);
        removed_blocks(&r, K, removed);
        char *gone = df_calloc((size_t)L, 1);
        df_print0("removing %d of %d blocks:", K, L);
        for (int i = 0; i < K; i++) gone[removed[i]] = 1, df_print0(" %d", removed[i]);
        for (int i = 0; i < L; i++)
            if (!gone[i]) keep[nk++] = i;
        df_print0("\n");
        free(gone);
        Model pruned;
        model_select_blocks(&pruned, &m, keep, nk);
        rc = h5_is_store(out) ? h5_write_model(&pruned, &t, out) : model_write_hf(&pruned, &t, out, shard_bytes);
        rc = df_agree(MPI_COMM_WORLD, rc);
        model_free(&pruned);
    }
    if (rc == 0) {
        double secs = df_now() - t0;
        df_print0("wrote %s (%d blocks, %.1f s)\n", out, nk, secs);
        if (json && t.rank == 0) {
            cJSON *root = importance_json(ra.model, metric, &cal, &r, secs), *arr = cJSON_AddArrayToObject(root, "removed");
            for (int i = 0; i < K; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(removed[i]));
            cJSON_AddStringToObject(root, "out", out);
            rc = df_json_write(json, root);
            cJSON_Delete(root);
        }
        if (json) rc = df_agree(MPI_COMM_WORLD, rc);
    }
    free(removed);
    free(keep);
    importance_free(&r);
    calib_free(&cal);
    tokenizer_free(tok);
    model_free(&m);
    topology_free(&t);
    return rc != 0;
}
