/* compress --method flattengpt: flatten the most similar adjacent blocks into one wide block and
 * prune it back to the original width (include/depthfuse/flattengpt.h, docs/flattengpt.md). */
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "compress.h"
#include "depthfuse/error.h"
#include "depthfuse/flattengpt.h"
#include "depthfuse/log.h"

int compress_flattengpt(int argc, char **argv) {
    CompressArgs a = COMPRESS_ARGS_DEFAULT;
    CalibArgs ca = {NULL, 32, 256, 0};
    const char *solver = "auto", *inputs = "compressed", *head_score = "notes", *similarity = "inputs", *target = "mlp";
    FlattenOpts o = {.ridge = 1, .nb = 64};
    const ArgSpec spec[] = {
        COMPRESS_ARG_SPECS(a),
        {"--calib", ARG_STR, &ca.file, "FILE", "calibration text (tokenized whole, without BOS)", ARG_REQUIRED},
        {"--samples", ARG_INT, &ca.samples, "N", "calibration windows (default 32)", 0},
        {"--seq-len", ARG_INT, &ca.seq_len, "T", "tokens per window (default 256)", 0},
        {"--seed", ARG_INT, &ca.seed, "S", "seed of the window positions (default 0)", 0},
        {"--ridge", ARG_DOUBLE, &o.ridge, "R", "ridge lambda = R x the mean eigenvalue of each Gram matrix (default 1; the paper: 10)", 0},
        {"--wo-comp", ARG_FLAG, &o.wo_comp, NULL, "also compensate o_proj for the pruned heads (ridge solution per head)", 0},
        {"--inputs", ARG_STR, &inputs, "compressed|dense", "calibration inputs of each group: through the already compressed prefix (default) or the dense model", 0},
        {"--head-score", ARG_STR, &head_score, "notes|output", "head importance: the notes' formula (value outputs scaled by o_proj column norms) or the norm of each head's actual output (default notes)", 0},
        {"--similarity", ARG_STR, &similarity, "inputs|span", "a group's score: cos(its first block's input, its last block's input) (default) or (.., its last block's output)", 0},
        {"--mlp-target", ARG_STR, &target, "mlp|block", "down_proj refit to the flattened MLP's output (default) or to the unpruned flattened block's, absorbing the head pruning's error", 0},
        {"--solver", ARG_STR, &solver, "auto|lapack|scalapack", "Cholesky and solves: LAPACK on rank 0, ScaLAPACK on every rank, or by size (default auto)", 0},
        {"--block-size", ARG_INT, &o.nb, "NB", "ScaLAPACK block size (default 64)", 0},
        {0}};
    int rc = args_parse("compress", "FlattenGPT: merge K pairs of adjacent blocks (greedy, most similar block inputs "
                        "first), each flattened into one block with both blocks' heads and MLP channels side by side, "
                        "then pruned back to the original width: KV groups by output contribution, MLP channels by "
                        "ridge leverage with the down projection compensated by the ridge solution. Training-free; "
                        "data-parallel (--pipeline 1): every rank holds the model. " COMPRESS_OUTPUT_HELP,
                        spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    if (solver_parse(solver, &o.solver) < 0) return 1;
    if (strcmp(inputs, "compressed") && strcmp(inputs, "dense")) {
        df_fail("depthfuse compress: --inputs must be compressed or dense, not '%s'", inputs);
        return 1;
    }
    o.dense_inputs = !strcmp(inputs, "dense");
    if (strcmp(head_score, "notes") && strcmp(head_score, "output")) {
        df_fail("depthfuse compress: --head-score must be notes or output, not '%s'", head_score);
        return 1;
    }
    o.head_score_exact = !strcmp(head_score, "output");
    if (strcmp(similarity, "inputs") && strcmp(similarity, "span")) {
        df_fail("depthfuse compress: --similarity must be inputs or span, not '%s'", similarity);
        return 1;
    }
    o.span = !strcmp(similarity, "span");
    if (strcmp(target, "mlp") && strcmp(target, "block")) {
        df_fail("depthfuse compress: --mlp-target must be mlp or block, not '%s'", target);
        return 1;
    }
    o.block_target = !strcmp(target, "block");
    if (!(o.ridge >= 0) || o.nb < 1) {
        df_fail("depthfuse compress: --ridge must be >= 0 and --block-size >= 1");
        return 1;
    }
    if (a.run.state) {
        df_fail("depthfuse compress: --state does not apply to flattengpt (its groups are solved in one run)");
        return 1;
    }
    o.tokens_per_mb = a.run.batch_tokens;
    CompressRun r;
    rc = compress_plan(&r, &a, "compress");
    output_add_input(&r.plan, ca.file);
    if (rc == 0) rc = compress_begin(&r);
    if (rc < 0 || r.done) {
        compress_end(&r);
        return rc < 0;
    }
    CalibSet cal = {0};
    rc = df_agree(MPI_COMM_WORLD, calibration_load(&cal, r.tok, &ca));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&r.m.cfg, cal.T));
    FlattenResult fr;
    Model out;
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, flattengpt_run(&fr, &out, &r.t, &r.m, &cal, r.K, &o));
    if (rc == 0) {
        compress_phase(&r, "cosine", fr.seconds_cosine);
        compress_phase(&r, "flatten and prune", fr.seconds_groups);
        const int L = r.m.cfg.n_layers;
        int *removed = df_malloc(sizeof(int) * (size_t)L), nr = 0;
        for (int i = 0; i < fr.n_merged; i++) {
            const FlattenGroup *G = &fr.merged[i];
            for (int k = 0; k < G->n; k++) {
                compress_block_fate(&r, G->first + k, "flattened: blocks %d-%d into block %d", G->first,
                                    G->first + G->n - 1, G->first);
                if (k > 0) removed[nr++] = G->first + k;
            }
        }
        cJSON *fj = flattengpt_json(&fr, &r.m.cfg, &o);
        cJSON_AddNumberToObject(fj, "samples", cal.n);
        cJSON_AddNumberToObject(fj, "seq_len", cal.T);
        cJSON_AddItemToObject(r.report, "flattengpt", fj);
        rc = compress_finish(&r, &out, removed, nr);
        free(removed);
        model_free(&out);
        flattengpt_free(&fr);
    }
    calib_free(&cal);
    compress_end(&r);
    return rc != 0;
}
