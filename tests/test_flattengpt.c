/* FlattenGPT's weight surgery against its mathematics:
 *   - the flattened block of g adjacent blocks equals the blocks applied in parallel: u = x + the sum
 *     of their attentions on x, y = u + the sum of their MLPs on u (each sublayer taken from the real
 *     block forward with the other sublayer's output projection zeroed), to 1e-5 relative, for Llama
 *     GQA, Qwen2 q/k/v biases and Llama attention_bias (o bias), g = 2 and 3;
 *   - keeping block j's KV heads and MLP channels of the flattened block gives back block j;
 *   - the greedy grouping equals the literal rule on the matrix (merge the largest superdiagonal
 *     entry, delete column l-1 and row l) on random matrices. */
#include "depthfuse/error.h"
#include "depthfuse/flattengpt.h"
#include "depthfuse/forward.h"
#include "test_util.h"

static float frand(uint64_t *s) { return (float)((double)(df_rng_next(s) >> 11) / 9007199254740992.0 * 2 - 1); }

static Block *block_copy(const ModelConfig *c, const Block *b) {
    Block *k = block_new(c);
    memcpy(k->mem, b->mem, sizeof(float) * b->numel);
    return k;
}

static void zero(float *w, const ModelConfig *c, BlockWeight k) {
    if (w) memset(w, 0, sizeof(float) * block_weight_numel(c, k));
}

/* max |a - b| / max |b| */
static double rel_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(b[i]) > m ? fabs(b[i]) : m;
    return max_abs_diff(a, b, n) / m;
}

static void check_parallel(const char *dir, int first, int g) {
    Model m;
    CHECK(model_load(&m, fixture(dir), NULL) == 0, "%s", df_errmsg());
    if (g_failures) return;
    const ModelConfig *c = &m.cfg;
    const int B = 2, T = 24, H = c->hidden;
    const size_t n = (size_t)B * T * H;
    uint64_t seed = 7;
    float *x = df_alloc_floats(n), *y = df_alloc_floats(n), *u = df_alloc_floats(n), *ref = df_alloc_floats(n),
          *tmp = df_alloc_floats(n);
    for (size_t i = 0; i < n; i++) x[i] = frand(&seed);
    Rope rope;
    model_rope_init(&rope, c, T);
    BlockActs a;
    const ModelConfig cw = flatten_config(c, g);
    block_acts_init(&a, &cw, B, T, 0);
    /* reference: u = x + sum_j attn_j(x), ref = u + sum_j mlp_j(u) */
    memcpy(u, x, sizeof(float) * n);
    for (int j = 0; j < g; j++) {
        Block *b = block_copy(c, m.blocks[first + j]);
        zero(b->w[BW_DOWN], c, BW_DOWN);
        memcpy(tmp, x, sizeof(float) * n);
        block_forward(tmp, &a, b, c, &rope, B, T);
        for (size_t i = 0; i < n; i++) u[i] += tmp[i] - x[i];
        block_release(b);
    }
    memcpy(ref, u, sizeof(float) * n);
    for (int j = 0; j < g; j++) {
        Block *b = block_copy(c, m.blocks[first + j]);
        zero(b->w[BW_O], c, BW_O);
        zero(b->w[BW_O_BIAS], c, BW_O_BIAS);
        memcpy(tmp, u, sizeof(float) * n);
        block_forward(tmp, &a, b, c, &rope, B, T);
        for (size_t i = 0; i < n; i++) ref[i] += tmp[i] - u[i];
        block_release(b);
    }
    Block *w = flatten_blocks(c, m.blocks + first, g);
    memcpy(y, x, sizeof(float) * n);
    block_forward(y, &a, w, &cw, &rope, B, T);
    const double d = rel_diff(y, ref, n);
    printf("%s blocks %d..%d: flattened vs parallel sum: %.2e\n", dir, first, first + g - 1, d);
    CHECK(d < 1e-5, "%s: the flattened block differs from the parallel sum by %.2e", dir, d);

    /* block j's heads and channels of the flattened block give back block j */
    const int I = c->intermediate;
    for (int j = 0; j < g; j++) {
        int *kv = df_malloc(sizeof(int) * (size_t)c->n_kv_heads), *ch = df_malloc(sizeof(int) * (size_t)I);
        for (int k = 0; k < c->n_kv_heads; k++) kv[k] = j * c->n_kv_heads + k;
        for (int k = 0; k < I; k++) ch[k] = j * I + k;
        Block *mixed = flatten_keep_heads(&cw, w, kv, c->n_kv_heads, NULL);
        ModelConfig cm = cw;
        cm.n_heads = c->n_heads;
        cm.n_kv_heads = c->n_kv_heads;
        float *down = df_alloc_floats((size_t)H * I);
        for (int r = 0; r < H; r++) memcpy(down + (size_t)r * I, mixed->w[BW_DOWN] + (size_t)r * cm.intermediate + j * I, sizeof(float) * I);
        Block *back = flatten_keep_channels(&cm, mixed, ch, I, down);
        if (c->o_bias) /* the flattened block's o bias is the blocks' sum; block j alone has its own */
            memcpy(back->w[BW_O_BIAS], m.blocks[first + j]->w[BW_O_BIAS], sizeof(float) * (size_t)H);
        memcpy(y, x, sizeof(float) * n);
        memcpy(ref, x, sizeof(float) * n);
        block_forward(y, &a, back, c, &rope, B, T);
        block_forward(ref, &a, m.blocks[first + j], c, &rope, B, T);
        const double e = rel_diff(y, ref, n);
        CHECK(e < 1e-5, "%s: block %d taken back out of the flattened block differs by %.2e", dir, first + j, e);
        block_release(back);
        block_release(mixed);
        free(down);
        free(kv);
        free(ch);
    }
    block_release(w);
    block_acts_free(&a);
    rope_free(&rope);
    free(x);
    free(y);
    free(u);
    free(ref);
    free(tmp);
    model_free(&m);
}

/* the literal rule: groups as rows/columns of a shrinking matrix M[i][j] = S[i][j + span] */
static void literal_groups(const double *S0, int L, int merges, int span, int *first) {
    double *S = df_malloc(sizeof(double) * (size_t)L * L);
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) S[(size_t)i * L + j] = S0[(size_t)i * (L + 1) + j + span];
    int n = L;
    for (int i = 0; i < L; i++) first[i] = i;
    for (int step = 0; step < merges; step++) {
        int k = 0;
        for (int i = 1; i + 1 < n; i++)
            if (S[(size_t)i * L + i + 1] > S[(size_t)k * L + k + 1]) k = i;
        /* merge k and k+1: delete row k+1 and column k (the group's row is k's, its column k+1's) */
        double *T2 = df_malloc(sizeof(double) * (size_t)L * L);
        for (int p = 0; p + 1 < n; p++)
            for (int q = 0; q + 1 < n; q++) {
                const int r = p <= k ? p : p + 1, col = q < k ? q : q + 1;
                T2[(size_t)p * L + q] = S[(size_t)r * L + col];
            }
        memcpy(S, T2, sizeof(double) * (size_t)L * L);
        free(T2);
        memmove(first + k + 1, first + k + 2, sizeof(int) * (size_t)(n - k - 2));
        n--;
    }
    free(S);
}

static void check_groups(void) {
    uint64_t seed = 11;
    for (int trial = 0; trial < 400; trial++) {
        const int L = 3 + trial % 14, merges = 1 + (int)(df_rng_below(&seed, (uint64_t)L - 1)), span = trial % 2;
        double *S = df_calloc((size_t)(L + 1) * (L + 1), sizeof(double));
        for (int i = 0; i <= L; i++)
            for (int j = i + 1; j <= L; j++) S[(size_t)i * (L + 1) + j] = frand(&seed);
        int *a = df_malloc(sizeof(int) * (size_t)L), *b = df_malloc(sizeof(int) * (size_t)L);
        flatten_choose_groups(S, L, merges, span, a);
        literal_groups(S, L, merges, span, b);
        int same = 1;
        for (int k = 0; k < L - merges; k++) same &= a[k] == b[k];
        CHECK(same, "trial %d (L %d, %d merges, span %d): grouping differs from the literal rule", trial, L, merges, span);
        free(S);
        free(a);
        free(b);
    }
    /* a hand case (L 4, inputs): S[1][2] largest, then the group [1..2] joins [3] (S[1][3] beats S[0][1]) */
    double S[25] = {0};
    S[0 * 5 + 1] = 0.5, S[1 * 5 + 2] = 0.9, S[2 * 5 + 3] = 0.2, S[1 * 5 + 3] = 0.8, S[0 * 5 + 2] = 0.1;
    int f[4];
    flatten_choose_groups(S, 4, 2, 0, f);
    CHECK(f[0] == 0 && f[1] == 1, "hand case: groups start at %d, %d (want 0, 1)", f[0], f[1]);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    check_parallel("models/base-16L", 3, 2);
    check_parallel("models/base-16L", 7, 3);
    check_parallel("arch/tiny-qwen2", 0, 2);
    check_parallel("arch/tiny-llama-attn-bias", 1, 2);
    check_groups();
    return test_end("test_flattengpt");
}
