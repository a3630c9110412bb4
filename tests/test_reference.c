/* The forward pass against a reference: logits and every hidden state of the three reference
 * sequences in MODEL/reference.safetensors. hidden_states[l] is the residual stream entering block
 * l; the last entry has the final RMSNorm applied.
 *   test_reference models/base-16L 2e-2    transformers (TF32 matmuls on an H100, hence 2e-2)
 *   test_reference arch/tiny-qwen2 1e-4     tools/make_arch_fixtures.py's fp32 PyTorch forward
 * Usage: test_reference MODEL (relative to DF_FIXTURES) TOLERANCE */
#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/safetensors.h"
#include "test_util.h"

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    if (argc != 3) {
        fprintf(stderr, "usage: test_reference MODEL TOLERANCE\n");
        return 2;
    }
    const double tol = atof(argv[2]);
    char refpath[1024];
    snprintf(refpath, sizeof refpath, "%s/reference.safetensors", argv[1]);
    Model m;
    CHECK(model_load(&m, fixture(argv[1]), NULL) == 0, "%s", df_errmsg());
    StSet ref = {0};
    CHECK(st_add_file(&ref, fixture(refpath)) == 0, "%s", df_errmsg());
    if (g_failures) return test_end("test_reference");
    const int H = m.cfg.hidden, V = m.cfg.vocab, L = m.cfg.n_layers;
    for (int s = 0; s < 3 && g_failures == 0; s++) {
        char name[64];
        snprintf(name, sizeof name, "input_ids.%d", s);
        const StTensor *ti = st_find(&ref, name);
        CHECK(ti && ti->ndim >= 1, "%s missing", name);
        if (!ti) break;
        const int T = (int)ti->numel;
        int32_t *ids = df_malloc(ti->nbytes);
        st_read_raw(&ref, ti, ids);
        snprintf(name, sizeof name, "hidden_states.%d", s);
        const StTensor *th = st_find(&ref, name);
        snprintf(name, sizeof name, "logits.%d", s);
        const StTensor *tl = st_find(&ref, name);
        CHECK(th && tl && th->numel == (uint64_t)(L + 1) * T * H && tl->numel == (uint64_t)T * V, "reference shapes");
        float *hs = df_alloc_floats(th->numel), *lg = df_alloc_floats(tl->numel);
        st_read_f32(&ref, th, hs);
        st_read_f32(&ref, tl, lg);

        float *x = df_alloc_floats((size_t)T * H), *xn = df_alloc_floats((size_t)T * H), *logits = df_alloc_floats((size_t)T * V);
        BlockActs acts;
        block_acts_init(&acts, &m.cfg, 1, T, 0);
        Rope rope;
        model_rope_init(&rope, &m.cfg, T);
        model_embed(x, &m, ids, T);
        double worst = 0;
        for (int l = 0; l <= L; l++) {
            const float *want = hs + (size_t)l * T * H;
            double d;
            if (l < L) {
                d = max_abs_diff(want, x, (size_t)T * H);
                block_forward(x, &acts, m.blocks[l], &m.cfg, &rope, 1, T);
            } else {
                rmsnorm_forward(xn, NULL, x, m.final_norm, T, H, m.cfg.rms_eps);
                d = max_abs_diff(want, xn, (size_t)T * H);
            }
            CHECK(d <= tol, "sequence %d hidden state %d: max |diff| %.3g", s, l, d);
            worst = d > worst ? d : worst;
        }
        model_logits(logits, &m, x, T);
        double dl = max_abs_diff(lg, logits, (size_t)T * V);
        CHECK(dl <= tol, "sequence %d logits: max |diff| %.3g", s, dl);
        printf("sequence %d (%d tokens): hidden states max |diff| %.2e, logits max |diff| %.2e\n", s, T, worst, dl);
        rope_free(&rope);
        block_acts_free(&acts);
        free(x); free(xn); free(logits); free(hs); free(lg); free(ids);
    }
    st_free(&ref);
    model_free(&m);
    return test_end("test_reference");
}
