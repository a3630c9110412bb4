/* Fused blocks on base-16L (FuseGPT §2.5), against plain removal and against the definition:
 *   - before any step, the model whose group neighbours absorbed block P gives the same logits and
 *     NLL, bit for bit, as the model with block P removed (C_L = 0, B = 0 at init);
 *   - the pruned block is stored once: every neighbour's W_p is the pruned Block's own memory;
 *   - with the factors moved off zero, the folded model's logits equal the unfolded fused model's
 *     (W_eff from the double-precision definition, fused_linear_weight_ref) within 1e-5;
 *   - nested fusion injects the fold of a fused block, shared by its neighbours;
 *   - a group's arena keeps every parameter and gives the same effective weights. */
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/forward.h"
#include "depthfuse/fused.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

enum { P = 8, G0 = 4, G1 = 11, T = 128 }; /* the generic group: 4 before, P, 3 after */

static uint64_t rng = 99;
static float frand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

/* logits[T,V] and the NLL of the next tokens of ids under m */
static double logits_nll(float *logits, const Model *m, const int32_t *ids) {
    model_forward_logits(logits, m, ids, T);
    return cross_entropy_forward(NULL, logits, ids + 1, T - 1, m->cfg.vocab);
}

/* m's blocks without P; with repl (not NULL) the 7 group neighbours replaced by repl[k] */
static void removal_model(Model *dst, const Model *m, Block **repl) {
    int idx[32], n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        if (l != P) idx[n++] = l;
    model_select_blocks(dst, m, idx, n);
    if (!repl) return;
    for (int l = G0, k = 0; l <= G1; l++) {
        if (l == P) continue;
        const int at = l < P ? l : l - 1;
        block_release(dst->blocks[at]);
        dst->blocks[at] = block_retain(repl[k++]);
    }
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    Model m;
    CHECK(model_load(&m, fixture("models/base-16L"), NULL) == 0, "%s", df_errmsg());
    Tokenizer *tok = NULL;
    CHECK(tokenizer_load(&tok, fixture("models/base-16L")) == 0, "%s", df_errmsg());
    char *text = NULL;
    size_t len = 0;
    CHECK(df_read_file(fixture("data/brown.test.txt"), &text, &len) == 0, "%s", df_errmsg());
    IdVec v = {0};
    CHECK(!g_failures && tokenizer_encode(tok, text, len < 8000 ? len : 8000, 0, &v) == 0 && v.n >= T,
          "tokenizing brown.test.txt");
    if (g_failures) return test_end("test_fused");
    const ModelConfig *c = &m.cfg;
    const size_t TV = (size_t)T * c->vocab;
    float *lr = df_alloc_floats(TV), *lf = df_alloc_floats(TV), *lu = df_alloc_floats(TV);

    /* removal vs fused at init */
    Model rm, fm;
    removal_model(&rm, &m, NULL);
    const double nll_rm = logits_nll(lr, &rm, v.ids);
    FuseOptions o;
    fuse_options_default(&o);
    o.seed = 3;
    FusedBlock *fb[7];
    Block *eff[7];
    for (int l = G0, k = 0; l <= G1; l++) {
        if (l == P) continue;
        fb[k] = fused_block_new(m.blocks[l], c, l, &o);
        CHECK(fused_block_absorb(fb[k], m.blocks[P], P) == 0, "%s", df_errmsg());
        eff[k] = (Block *)fused_block_materialize(fb[k]);
        k++;
    }
    CHECK(m.blocks[P]->refs == 1 + 7, "pruned block has %d references, want 1 + 7 neighbours", m.blocks[P]->refs);
    for (int k = 0; k < 7; k++) {
        FusedLinearView lv;
        fused_block_linear(fb[k], 6, &lv);
        CHECK(lv.term[0].wp == m.blocks[P]->w[BW_DOWN], "neighbour %d: W_p is a copy, not the pruned block", k);
        CHECK(lv.lora_rank == 128 && lv.term[0].rank == 128, "default ranks 128 (capped by min(out, in) = 192)");
    }
    removal_model(&fm, &m, eff);
    const double nll_fm = logits_nll(lf, &fm, v.ids);
    CHECK(memcmp(lr, lf, TV * sizeof(float)) == 0 && nll_rm == nll_fm,
          "fused-at-init != removal: max |logit diff| %.3g, nll %.9g vs %.9g", max_abs_diff(lr, lf, TV), nll_fm, nll_rm);
    printf("removal of block %d: nll/token %.6f; fused group at init: %.6f\n", P, nll_rm / (T - 1), nll_fm / (T - 1));

    /* factors as after some training; folded vs the definition */
    for (int k = 0; k < 7; k++) {
        for (int j = 0; j < FUSE_LINEARS; j++) {
            FusedLinearView lv;
            fused_block_linear(fb[k], j, &lv);
            for (size_t i = 0; i < (size_t)lv.out * lv.lora_rank; i++) lv.b[i] = 0.01f * frand();
            for (size_t i = 0; i < (size_t)lv.out * lv.term[0].rank; i++) lv.term[0].cl[i] = 0.02f * frand();
        }
        for (int i = 0; i < 2 * c->hidden; i++) fb[k]->pb[i] *= 1.0f + 0.05f * frand();
    }
    Block *fold[7], *unf[7];
    for (int k = 0; k < 7; k++) {
        fold[k] = fused_block_fold(fb[k]);
        unf[k] = block_new(c);
        memcpy(unf[k]->mem, fold[k]->mem, unf[k]->numel * sizeof(float)); /* gains */
        for (int j = 0; j < FUSE_LINEARS; j++) {
            FusedLinearView lv;
            fused_block_linear(fb[k], j, &lv);
            fused_linear_weight_ref(unf[k]->w[fuse_linear_weight[j]], NULL, &lv);
        }
    }
    Model fo, un;
    removal_model(&fo, &m, fold);
    removal_model(&un, &m, unf);
    const double nll_fo = logits_nll(lf, &fo, v.ids), nll_un = logits_nll(lu, &un, v.ids);
    double mx = 0;
    for (size_t i = 0; i < TV; i++) mx = fabs(lu[i]) > mx ? fabs(lu[i]) : mx;
    const double d = max_abs_diff(lu, lf, TV);
    CHECK(d <= 1e-5 * mx, "folded vs unfolded: max |logit diff| %.3g (max |logit| %.3g)", d, mx);
    CHECK(max_abs_diff(lu, lr, TV) > 1e-3, "the factors changed nothing: the comparison above proves nothing");
    printf("folded vs unfolded (trained-like factors): max |logit diff| %.3g of %.3g; nll/token %.6f vs %.6f\n", d, mx,
           nll_fo / (T - 1), nll_un / (T - 1));

    /* nested fusion: neighbour 3 (block 7, fused) is pruned next; its fold is absorbed by 6, 5 */
    Block *inj = fused_block_fold(fb[3]);
    CHECK(fused_block_absorb(fb[2], inj, 7) == 0 && fused_block_absorb(fb[4], inj, 7) == 0, "%s", df_errmsg());
    FusedLinearView l2, l4;
    fused_block_linear(fb[2], 0, &l2);
    fused_block_linear(fb[4], 0, &l4);
    CHECK(l2.nterms == 2 && l2.term[1].wp == inj->w[BW_Q] && l4.term[1].wp == inj->w[BW_Q] && inj->refs == 3,
          "nested fusion: the fold is not shared (refs %d)", inj->refs);
    block_release(inj);
    /* a fresh term does not change the effective weight */
    Block *before = fused_block_fold(fb[0]);
    CHECK(fused_block_absorb(fb[0], m.blocks[P + 1], P + 1) == 0, "%s", df_errmsg());
    const Block *after = fused_block_materialize(fb[0]);
    CHECK(memcmp(before->mem, after->mem, before->numel * sizeof(float)) == 0, "absorbing changed W_eff");
    block_release(before);

    /* the arena: one [base | coef] buffer, values kept, same effective weights */
    Block *ref[7];
    size_t want = 0, wbase = 0;
    for (int k = 0; k < 7; k++) {
        ref[k] = fused_block_fold(fb[k]);
        want += fb[k]->nbase + fb[k]->ncoef;
        wbase += fb[k]->nbase;
    }
    FusedArena ar;
    fused_arena_init(&ar, fb, 7);
    CHECK(ar.n == want && ar.nbase == wbase && fb[1]->pb == ar.p + fb[0]->nbase && fb[0]->pc == ar.p + ar.nbase,
          "arena layout");
    for (int k = 0; k < 7; k++) {
        const Block *e = fused_block_materialize(fb[k]);
        CHECK(memcmp(e->mem, ref[k]->mem, e->numel * sizeof(float)) == 0, "arena changed block %d", k);
    }
    ar.p[ar.nbase] += 1.0f; /* a coefficient of block 0 moves: its W_eff too, once out of the arena */
    fused_arena_free(&ar);
    const Block *e0 = fused_block_materialize(fb[0]);
    CHECK(memcmp(e0->mem, ref[0]->mem, e0->numel * sizeof(float)) != 0, "arena writes did not reach the block");
    for (int k = 1; k < 7; k++) {
        const Block *e = fused_block_materialize(fb[k]);
        CHECK(memcmp(e->mem, ref[k]->mem, e->numel * sizeof(float)) == 0, "arena round trip changed block %d", k);
    }
    for (int k = 0; k < 7; k++) {
        block_release(ref[k]);
        block_release(fold[k]);
        block_release(unf[k]);
    }
    model_free(&rm); model_free(&fm); model_free(&fo); model_free(&un);
    for (int k = 0; k < 7; k++) fused_block_free(fb[k]);
    CHECK(m.blocks[P]->refs == 1, "references left on the pruned block: %d", m.blocks[P]->refs);
    free(lr); free(lf); free(lu); free(text);
    idvec_free(&v);
    tokenizer_free(tok);
    model_free(&m);
    return test_end("test_fused");
}
