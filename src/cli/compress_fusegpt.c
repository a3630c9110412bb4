/* compress --method fusegpt: FuseGPT (include/depthfuse/fusegpt.h) through the compress skeleton. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibration.h"
#include "compress.h"
#include "depthfuse/error.h"
#include "depthfuse/fusegpt.h"
#include "depthfuse/log.h"

typedef struct {
    int mi_samples, mi_seq_len, epochs, before, after, rank, lora_rank, batch, recompute, parallel;
    double lr_coef, lr_base;
    const char *loss, *teacher;
} FuseArgs;

/* the report's chart: the fine-tuning loss per epoch of every fusion (epoch 0: before any step) */
static void add_chart(cJSON *rep, const cJSON *its) {
    cJSON *charts = cJSON_AddArrayToObject(rep, "charts"), *ch = cJSON_CreateObject();
    cJSON_AddStringToObject(ch, "title", "FuseGPT group fine-tuning loss");
    cJSON_AddStringToObject(ch, "x_label", "epoch");
    cJSON_AddStringToObject(ch, "y_label", "loss");
    cJSON *series = cJSON_AddArrayToObject(ch, "series");
    int k = 0;
    for (const cJSON *it = its->child; it; it = it->next, k++) {
        cJSON *s = cJSON_CreateObject(), *x = cJSON_CreateArray(), *y = cJSON_CreateArray();
        char name[64];
        snprintf(name, sizeof name, "fusion %d: block %d", k + 1, cJSON_GetObjectItem(it, "block")->valueint);
        cJSON_AddStringToObject(s, "name", name);
        cJSON_AddItemToArray(x, cJSON_CreateNumber(0));
        cJSON_AddItemToArray(y, cJSON_CreateNumber(cJSON_GetObjectItem(it, "loss_init")->valuedouble));
        int e = 1;
        for (const cJSON *l = cJSON_GetObjectItem(it, "loss")->child; l; l = l->next, e++) {
            cJSON_AddItemToArray(x, cJSON_CreateNumber(e));
            cJSON_AddItemToArray(y, cJSON_CreateNumber(l->valuedouble));
        }
        cJSON_AddItemToObject(s, "x", x);
        cJSON_AddItemToObject(s, "y", y);
        cJSON_AddItemToArray(series, s);
    }
    cJSON_AddItemToArray(charts, ch);
}

int compress_fusegpt(int argc, char **argv) {
    CompressArgs a = COMPRESS_ARGS_DEFAULT;
    CalibArgs ca = {NULL, 512, 256, 0};
    FuseArgs f = {32, 0, 10, 4, 3, 128, 128, 8, 0, 1, 1e-3, 1e-4, "kl-batch", "dense"};
    const ArgSpec spec[] = {
        COMPRESS_ARG_SPECS(a),
        {"--calib", ARG_STR, &ca.file, "FILE", "calibration and fine-tuning text (tokenized whole, without BOS)", ARG_REQUIRED},
        {"--samples", ARG_INT, &ca.samples, "N", "fine-tuning windows (default 512)", 0},
        {"--seq-len", ARG_INT, &ca.seq_len, "T", "tokens per fine-tuning window (default 256)", 0},
        {"--mi-samples", ARG_INT, &f.mi_samples, "N", "Macro Influence windows (default 32, as FuseGPT)", 0},
        {"--mi-seq-len", ARG_INT, &f.mi_seq_len, "T", "tokens per Macro Influence window (default: --seq-len)", 0},
        {"--seed", ARG_INT, &ca.seed, "S", "seed of the window positions and of the factor initialisation (default 0)", 0},
        {"--epochs", ARG_INT, &f.epochs, "N", "fine-tuning epochs per fusion (default 10)", 0},
        {"--batch", ARG_INT, &f.batch, "N", "sequences per fine-tuning step (default 8, as FuseGPT)", 0},
        {"--group-before", ARG_INT, &f.before, "N", "blocks before the pruned one in its group (default 4)", 0},
        {"--group-after", ARG_INT, &f.after, "N", "blocks after it (default 3)", 0},
        {"--rank", ARG_INT, &f.rank, "R", "rank of the coefficient factors C_L C_R (default 128, capped by the linear)", 0},
        {"--lora-rank", ARG_INT, &f.lora_rank, "R", "rank of B A on the neighbour's own weight (default 128; 0: none)", 0},
        {"--loss", ARG_STR, &f.loss, "kl-batch|mse", "fine-tuning loss at the group output (default kl-batch)", 0},
        {"--teacher", ARG_STR, &f.teacher, "dense|current",
         "the target: the dense model's hidden state after the group's last block, or the pre-fusion group's output "
         "(the official code) (default dense)", 0},
        {"--lr-coef", ARG_DOUBLE, &f.lr_coef, "LR", "learning rate of C_L, C_R and the bias coefficients (default 1e-3)", 0},
        {"--lr-base", ARG_DOUBLE, &f.lr_base, "LR", "learning rate of A, B and the group's norm gains (default 1e-4)", 0},
        {"--parallel-fusions", ARG_INT, &f.parallel, "K",
         "per round, fuse up to K blocks of lowest MI whose groups do not overlap at once, each by its share of the "
         "data-parallel groups (default 1; at most the number of groups)", 0},
        {"--recompute", ARG_FLAG, &f.recompute, NULL, "recompute each block's activations in backward (less memory)", 0},
        {0}};
    int rc = args_parse("compress", "FuseGPT: remove the blocks of lowest Macro Influence one at a time, injecting each "
                        "into the other blocks of its group (frozen weights gated by learnable low-rank factors), "
                        "fine-tuning the group against a teacher, and folding everything into plain weights. "
                        "With --state FILE the state after every fusion is kept and a killed run continues from it. "
                        COMPRESS_OUTPUT_HELP, spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    FuseGptOpts o = {0};
    fuse_options_default(&o.fuse);
    o.before = f.before, o.after = f.after;
    o.fuse.rank = f.rank, o.fuse.lora_rank = f.lora_rank, o.fuse.seed = (uint64_t)ca.seed;
    o.train = (TrainOpts){f.epochs, f.batch, LOSS_KL_BATCH, f.lr_base, f.lr_coef, f.recompute};
    o.tokens_per_mb = a.run.batch_tokens;
    o.parallel = f.parallel;
    o.state = a.run.state;
    if (loss_parse(f.loss, &o.train.loss) < 0 || teacher_parse(f.teacher, &o.teacher) < 0) return 1;
    if (f.before < 0 || f.after < 0 || f.rank < 1 || f.lora_rank < 0 || f.epochs < 0 || f.batch < 1 ||
        f.mi_samples < 1 || f.parallel < 1 || f.mi_seq_len < 0 || !(f.lr_coef >= 0) || !(f.lr_base >= 0)) {
        df_fail("depthfuse compress: --group-before/--group-after/--lora-rank/--epochs must be >= 0, --rank, --batch "
                "and --mi-samples >= 1, the learning rates >= 0");
        return 1;
    }
    char opts[512];
    snprintf(opts, sizeof opts,
             "before=%d after=%d rank=%d lora_rank=%d epochs=%d batch=%d loss=%s teacher=%s lr_coef=%.9g lr_base=%.9g "
             "seed=%d parallel=%d",
             f.before, f.after, f.rank, f.lora_rank, f.epochs, f.batch, f.loss, f.teacher, f.lr_coef, f.lr_base, ca.seed, f.parallel);
    o.options = opts;
    CompressRun r;
    rc = compress_plan(&r, &a, "compress");
    output_add_input(&r.plan, ca.file);
    if (rc == 0) rc = compress_begin(&r);
    if (rc < 0 || r.done) {
        compress_end(&r);
        return rc < 0;
    }
    o.K = r.K;
    CalibSet ft = {0}, mi = {0};
    CalibArgs cm = {ca.file, f.mi_samples, f.mi_seq_len ? f.mi_seq_len : ca.seq_len, ca.seed};
    rc = df_agree(MPI_COMM_WORLD, calibration_load(&ft, r.tok, &ca));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, calibration_load(&mi, r.tok, &cm));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&r.m.cfg, ft.T > mi.T ? ft.T : mi.T));
    FuseGptResult res = {0};
    const double t = df_now();
    if (rc == 0) rc = fusegpt_run(&res, &r.t, &r.m, &ft, &mi, &o);
    if (rc == 0) {
        compress_phase(&r, "fusion", df_now() - t);
        cJSON *fg = cJSON_AddObjectToObject(r.report, "fusegpt");
        cJSON_AddNumberToObject(fg, "samples", ft.n);
        cJSON_AddNumberToObject(fg, "seq_len", ft.T);
        cJSON_AddNumberToObject(fg, "mi_samples", mi.n);
        cJSON_AddNumberToObject(fg, "mi_seq_len", mi.T);
        cJSON_AddStringToObject(fg, "options", opts);
        cJSON_AddItemToObject(fg, "iterations", cJSON_Duplicate(res.iterations, 1));
        add_chart(r.report, res.iterations);
        for (int i = 0; i < res.n_removed; i++) {
            const cJSON *it = cJSON_GetArrayItem(res.iterations, i), *g = cJSON_GetObjectItem(it, "group");
            compress_block_fate(&r, res.removed[i], "fused into %d..%d", cJSON_GetArrayItem(g, 0)->valueint,
                                cJSON_GetArrayItem(g, 1)->valueint);
        }
        rc = compress_finish(&r, &res.out, res.removed, res.n_removed);
    }
    fusegpt_free(&res);
    calib_free(&ft);
    calib_free(&mi);
    compress_end(&r);
    return rc != 0;
}
