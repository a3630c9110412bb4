/* The planner's cost formulas (include/depthfuse/costs.h) against what the code allocates and
 * counts: block_acts_init's and block_grad_work_init's bytes, the fused block's trainable numbers
 * (fused_block_new: base + coef arrays), and the cached sweep's block forwards against the count
 * docs/importance.md measured (544 for 16 blocks x 4 windows). */
#include "depthfuse/backward.h"
#include "depthfuse/costs.h"
#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/fused.h"
#include "depthfuse/model.h"
#include "test_util.h"

static void check_config(const char *rel) {
    ModelConfig c;
    if (model_load_config(&c, fixture(rel)) < 0) {
        CHECK(0, "%s: %s", rel, df_errmsg());
        return;
    }
    const int shapes[][2] = {{1, 1}, {2, 64}, {8, 512}, {3, 100}};
    for (int i = 0; i < 4; i++) {
        const int B = shapes[i][0], T = shapes[i][1];
        for (int cap = 0; cap < 2; cap++) {
            BlockActs a;
            block_acts_init(&a, &c, B, T, cap);
            CHECK(cost_acts_floats(&c, B, T, cap) * 4 == (double)a.bytes, "%s B %d T %d capture %d: %.0f vs %zu bytes", rel, B,
                  T, cap, cost_acts_floats(&c, B, T, cap) * 4, a.bytes);
            block_acts_free(&a);
        }
        BlockGradWork w;
        block_grad_work_init(&w, &c, B, T);
        CHECK(cost_grad_work_floats(&c, B, T) * 4 == (double)w.bytes, "%s grad work B %d T %d: %.0f vs %zu bytes", rel, B, T,
              cost_grad_work_floats(&c, B, T) * 4, w.bytes);
        block_grad_work_free(&w);
    }
    config_free(&c);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    check_config("models/base-16L");
    check_config("arch/tiny-qwen2");
    check_config("models/llama-2-70b-config");
    /* a fused base-16L block with one absorbed block: its base + coef arrays (ranks capped at 64
     * by the k/v projections' 64 outputs) */
    Model m;
    if (model_load(&m, fixture("models/base-16L"), NULL) == 0) {
        for (int lora = 0; lora <= 128; lora += 128) {
            FuseOptions o;
            fuse_options_default(&o);
            o.lora_rank = lora;
            FusedBlock *fb = fused_block_new(m.blocks[3], &m.cfg, 3, &o);
            CHECK(fused_block_absorb(fb, m.blocks[4], 4) == 0, "absorb");
            CHECK(cost_fused_params(&m.cfg, o.rank, lora, 1) == (double)(fb->nbase + fb->ncoef), "lora %d: %.0f vs %zu", lora,
                  cost_fused_params(&m.cfg, o.rank, lora, 1), fb->nbase + fb->ncoef);
            fused_block_free(fb);
        }
        model_free(&m);
    }
    CHECK(cost_sweep_block_forwards(16) * 4 == 544, "sweep of 16 blocks x 4 windows: %.0f", cost_sweep_block_forwards(16) * 4);
    /* Llama-2-70B, one absorbed block + LoRA at rank 128: 41.4M trainable numbers a block
     * (docs/distributed.md): 2 x 128 x sum(out + in) + the norm gains */
    ModelConfig c;
    if (model_load_config(&c, fixture("models/llama-2-70b-config")) == 0) {
        const double sum_io = 2 * 8192 + 2 * (1024 + 8192) + 2 * 8192 + 3 * (28672 + 8192);
        CHECK(cost_fused_params(&c, 128, 128, 1) == 2 * 128 * sum_io + 2 * 8192, "%.0f", cost_fused_params(&c, 128, 128, 1));
        /* one token through one block: 2 FLOPs per linear weight, and attention's two products over
         * its one position (q.k and p.v: 2 x 2 x heads x head_dim) */
        const double lin = config_block_params(&c) - 2.0 * 8192;
        CHECK(cost_block_flops(&c, 1) == 2 * lin + 4 * 8192, "%.0f", cost_block_flops(&c, 1));
        config_free(&c);
    }
    return test_end("costs");
}
