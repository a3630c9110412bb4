/* Every gradient of a real block against PyTorch autograd (float64, tests/block_grad_torch.py):
 * the hidden states entering block LAYER of MODEL on real text (the fixture's calibration file when
 * the model has a tokenizer, else fixed ids), a random dy, loss = sum(dy * block(x)). Checked:
 *   plain block: dx, both norm gains, every linear (and bias) weight;
 *   fused block (LAYER absorbing LAYER+1 and LAYER-1, factors moved off their zero init): dx, both
 *   gains, A, B, C_L, C_R (and c_b) of every linear.
 * Here (exactly, no oracle needed): recomputing the activations from the block input gives the
 * same bits as keeping them.
 * Usage: test_block_grad MODEL LAYER PYTHON SCRIPT */
#include <sys/stat.h>

#include "depthfuse/backward.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/fused.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

enum { B = 2, T = 80 };

static const char *g_dir;
static void dump(const char *name, const float *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.bin", g_dir, name);
    CHECK(df_write_file(path, p, n * sizeof(float)) == 0, "%s", df_errmsg());
}

static uint64_t rng = 12345;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* ids[B*T]: the calibration text through the model's tokenizer, or (no tokenizer) fixed ids */
static void real_ids(int32_t *ids, const char *model, int vocab) {
    char tokpath[1024];
    snprintf(tokpath, sizeof tokpath, "%s/tokenizer.json", model);
    Tokenizer *tok = NULL;
    char *text = NULL;
    size_t len = 0;
    IdVec v = {0};
    if (df_exists(tokpath) && tokenizer_load(&tok, model) == 0 &&
        df_read_file(fixture("data/calib.train.txt"), &text, &len) == 0 &&
        tokenizer_encode(tok, text, len < 20000 ? len : 20000, 0, &v) == 0 && v.n >= (size_t)B * T) {
        memcpy(ids, v.ids, (size_t)B * T * sizeof(int32_t));
    } else {
        for (int i = 0; i < B * T; i++) ids[i] = (int32_t)((i * 2654435761u) % (unsigned)vocab);
    }
    idvec_free(&v);
    free(text);
    if (tok) tokenizer_free(tok);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    if (argc != 5) {
        fprintf(stderr, "usage: test_block_grad MODEL LAYER PYTHON SCRIPT\n");
        return 2;
    }
    const char *model = fixture(argv[1]);
    const int layer = atoi(argv[2]);
    Model m;
    CHECK(model_load(&m, model, NULL) == 0, "%s", df_errmsg());
    if (g_failures) return test_end("test_block_grad");
    const ModelConfig *c = &m.cfg;
    CHECK(layer >= 1 && layer + 1 < c->n_layers, "LAYER %d needs a block on each side", layer);
    if (g_failures) return test_end("test_block_grad");
    const int N = B * T, H = c->hidden;
    const size_t NH = (size_t)N * H;
    g_dir = test_tmpdir("blockgrad");

    int32_t *ids = df_malloc((size_t)N * sizeof(int32_t));
    real_ids(ids, model, c->vocab);
    float *x = df_alloc_floats(NH), *y = df_alloc_floats(NH), *dy = df_alloc_floats(NH), *dx = df_alloc_floats(NH);
    BlockActs a;
    block_acts_init(&a, c, B, T, 1);
    Rope rope;
    model_rope_init(&rope, c, T);
    model_embed(x, &m, ids, N);
    for (int l = 0; l < layer; l++) block_forward(x, &a, m.blocks[l], c, &rope, B, T);
    double ss = 0;
    for (size_t i = 0; i < NH; i++) ss += (double)x[i] * x[i];
    printf("hidden state entering block %d: rms %.3g\n", layer, sqrt(ss / NH));
    for (size_t i = 0; i < NH; i++) dy[i] = frand() / (float)N;
    dump("x", x, NH);
    dump("dy", dy, NH);

    /* plain block */
    const Block *blk = m.blocks[layer];
    Block *grads = block_new(c);
    BlockGradSink gs;
    grad_sink_block(&gs, grads, GRAD_WANT_ALL);
    BlockGradWork wk;
    block_grad_work_init(&wk, c, B, T);
    memcpy(y, x, NH * sizeof(float));
    block_forward(y, &a, blk, c, &rope, B, T);
    block_backward(dx, dy, &a, NULL, blk, c, &rope, NULL, NULL, B, T, &wk, &gs.sink);
    dump("dx", dx, NH);
    for (int w = 0; w < BW_COUNT; w++) {
        if (!blk->w[w]) continue;
        char name[64];
        snprintf(name, sizeof name, "w.%s", block_weight_name(w));
        dump(name, blk->w[w], block_weight_numel(c, w));
        snprintf(name, sizeof name, "g.%s", block_weight_name(w));
        dump(name, grads->w[w], block_weight_numel(c, w));
    }
    /* checkpointing: the same gradients from the block input alone (a fresh, scribbled scratch) */
    {
        BlockActs a2;
        block_acts_init(&a2, c, B, T, 1);
        memset(a2.mem, 0x7f, a2.bytes);
        Block *g2 = block_new(c);
        BlockGradSink gs2;
        grad_sink_block(&gs2, g2, GRAD_WANT_ALL);
        float *dx2 = df_alloc_floats(NH);
        block_backward(dx2, dy, &a2, x, blk, c, &rope, NULL, NULL, B, T, &wk, &gs2.sink);
        CHECK(memcmp(dx2, dx, NH * sizeof(float)) == 0 && memcmp(g2->mem, grads->mem, g2->numel * sizeof(float)) == 0,
              "recomputed activations give other gradients");
        /* in place (dx == dy) and dx only (no sink) */
        memcpy(dx2, dy, NH * sizeof(float));
        block_backward(dx2, dx2, &a2, x, blk, c, &rope, NULL, NULL, B, T, &wk, NULL);
        CHECK(memcmp(dx2, dx, NH * sizeof(float)) == 0, "in-place dx without a sink differs");
        free(dx2);
        block_release(g2);
        block_acts_free(&a2);
    }

    /* fused block: absorbs the next and the previous block; factors off their zero init */
    FuseOptions o;
    fuse_options_default(&o);
    o.rank = 16;
    o.lora_rank = 8;
    o.seed = 7;
    FusedBlock *fb = fused_block_new(m.blocks[layer], c, layer, &o);
    CHECK(fused_block_absorb(fb, m.blocks[layer + 1], layer + 1) == 0, "%s", df_errmsg());
    CHECK(fused_block_absorb(fb, m.blocks[layer - 1], layer - 1) == 0, "%s", df_errmsg());
    for (int j = 0; j < FUSE_LINEARS; j++) {
        FusedLinearView v;
        fused_block_linear(fb, j, &v);
        for (size_t i = 0; i < (size_t)v.out * v.lora_rank; i++) v.b[i] = 0.02f * frand();
        for (int k = 0; k < v.nterms; k++) {
            for (size_t i = 0; i < (size_t)v.out * v.term[k].rank; i++) v.term[k].cl[i] = 0.05f * frand();
            if (v.term[k].cb)
                for (int i = 0; i < v.out; i++) v.term[k].cb[i] = 0.1f * frand();
        }
    }
    for (int i = 0; i < 2 * H; i++) fb->pb[i] *= 1.0f + 0.1f * frand(); /* the gains too */
    const Block *eff = fused_block_materialize(fb);
    GradSink fs;
    fused_block_sink(fb, &fs);
    memcpy(y, x, NH * sizeof(float));
    block_forward(y, &a, eff, c, &rope, B, T);
    block_backward(dx, dy, &a, NULL, eff, c, &rope, NULL, NULL, B, T, &wk, &fs);
    dump("f.dx", dx, NH);
    dump("f.gains", fb->pb + fb->g1, 2 * (size_t)H);
    dump("f.d.gains", fb->gb + fb->g1, 2 * (size_t)H);
    FILE *meta;
    {
        char path[1024];
        snprintf(path, sizeof path, "%s/meta.txt", g_dir);
        meta = fopen(path, "w");
        fprintf(meta, "B %d\nT %d\nterms %d\n", B, T, fb->nterms);
    }
    for (int j = 0; j < FUSE_LINEARS; j++) {
        FusedLinearView v;
        fused_block_linear(fb, j, &v);
        const char *lin = block_weight_name(fuse_linear_weight[j]);
        char name[128];
        fprintf(meta, "linear %s %d %d %d", lin, v.out, v.in, v.lora_rank);
#define DUMP(tag, k, p, n) (snprintf(name, sizeof name, "f.%s.%d.%s", tag, k, lin), dump(name, p, n))
        DUMP("A", 0, v.a, (size_t)v.lora_rank * v.in);
        DUMP("B", 0, v.b, (size_t)v.out * v.lora_rank);
        DUMP("dA", 0, v.da, (size_t)v.lora_rank * v.in);
        DUMP("dB", 0, v.db, (size_t)v.out * v.lora_rank);
        for (int k = 0; k < v.nterms; k++) {
            const FuseTermView *t = &v.term[k];
            fprintf(meta, " %d%s", t->rank, t->cb ? "b" : "");
            DUMP("Wp", k, t->wp, (size_t)v.out * v.in);
            DUMP("CL", k, t->cl, (size_t)v.out * t->rank);
            DUMP("CR", k, t->cr, (size_t)t->rank * v.in);
            DUMP("dCL", k, t->dcl, (size_t)v.out * t->rank);
            DUMP("dCR", k, t->dcr, (size_t)t->rank * v.in);
            if (t->cb) {
                DUMP("bp", k, t->bp, (size_t)v.out);
                DUMP("cb", k, t->cb, (size_t)v.out);
                DUMP("dcb", k, t->dcb, (size_t)v.out);
            }
        }
#undef DUMP
        fprintf(meta, "\n");
    }
    fclose(meta);
    if (g_failures) return test_end("test_block_grad");

    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s %s %s %s 1e-4", argv[3], argv[4], g_dir, model);
    const int rc = system(cmd);
    CHECK(rc == 0, "PyTorch autograd disagrees (see above)");
    if (rc == 0) df_rm_rf(g_dir);
    fused_block_free(fb);
    block_release(grads);
    block_grad_work_free(&wk);
    block_acts_free(&a);
    rope_free(&rope);
    free(ids); free(x); free(y); free(dy); free(dx);
    model_free(&m);
    return test_end("test_block_grad");
}
