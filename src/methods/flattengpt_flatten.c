/* FlattenGPT's weight surgery (include/depthfuse/flattengpt.h): flatten g blocks into one wide
 * block, keep KV groups, keep MLP channels. HF layout: weights are [out, in] row-major. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/flattengpt.h"

ModelConfig flatten_config(const ModelConfig *c, int g) {
    ModelConfig w = *c;
    w.n_heads *= g;
    w.n_kv_heads *= g;
    w.intermediate *= g;
    return w;
}

/* dst rows [rows, cols] = src rows, each column multiplied by gain (NULL: 1) */
static void copy_rows_scaled(float *dst, const float *src, const float *gain, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < cols; k++) dst[(size_t)r * cols + k] = src[(size_t)r * cols + k] * (gain ? gain[k] : 1.0f);
}

/* dst[rows, ld] columns [c0, c0 + n) = src[rows, n] */
static void copy_cols(float *dst, int ld, int c0, const float *src, int rows, int n) {
    for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * ld + c0, src + (size_t)r * n, sizeof(float) * (size_t)n);
}

static void set_ones(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = 1.0f;
}

static void copy_dtypes(Block *dst, const Block *src) { memcpy(dst->dtype, src->dtype, sizeof dst->dtype); }

Block *flatten_blocks(const ModelConfig *c, Block *const *blks, int g) {
    const ModelConfig cw = flatten_config(c, g);
    const int H = c->hidden, I = c->intermediate, Q = c->n_heads * c->head_dim, KV = c->n_kv_heads * c->head_dim;
    Block *w = block_new(&cw);
    copy_dtypes(w, blks[0]);
    set_ones(w->w[BW_ATTN_NORM], H);
    set_ones(w->w[BW_MLP_NORM], H);
    for (int j = 0; j < g; j++) {
        const Block *b = blks[j];
        const float *an = b->w[BW_ATTN_NORM], *mn = b->w[BW_MLP_NORM];
        copy_rows_scaled(w->w[BW_Q] + (size_t)j * Q * H, b->w[BW_Q], an, Q, H);
        copy_rows_scaled(w->w[BW_K] + (size_t)j * KV * H, b->w[BW_K], an, KV, H);
        copy_rows_scaled(w->w[BW_V] + (size_t)j * KV * H, b->w[BW_V], an, KV, H);
        copy_rows_scaled(w->w[BW_GATE] + (size_t)j * I * H, b->w[BW_GATE], mn, I, H);
        copy_rows_scaled(w->w[BW_UP] + (size_t)j * I * H, b->w[BW_UP], mn, I, H);
        copy_cols(w->w[BW_O], g * Q, j * Q, b->w[BW_O], H, Q);
        copy_cols(w->w[BW_DOWN], g * I, j * I, b->w[BW_DOWN], H, I);
        if (c->qkv_bias) {
            memcpy(w->w[BW_Q_BIAS] + (size_t)j * Q, b->w[BW_Q_BIAS], sizeof(float) * (size_t)Q);
            memcpy(w->w[BW_K_BIAS] + (size_t)j * KV, b->w[BW_K_BIAS], sizeof(float) * (size_t)KV);
            memcpy(w->w[BW_V_BIAS] + (size_t)j * KV, b->w[BW_V_BIAS], sizeof(float) * (size_t)KV);
        }
        if (c->o_bias)
            for (int i = 0; i < H; i++) w->w[BW_O_BIAS][i] += b->w[BW_O_BIAS][i];
    }
    return w;
}

/* dst[n, cols] = rows idx[0..n) of src[*, cols] */
static void gather_rows(float *dst, const float *src, const int *idx, int n, int cols) {
    for (int r = 0; r < n; r++) memcpy(dst + (size_t)r * cols, src + (size_t)idx[r] * cols, sizeof(float) * (size_t)cols);
}

/* dst[rows, n] = columns idx[0..n) of src[rows, ld] */
static void gather_cols(float *dst, const float *src, int ld, const int *idx, int n, int rows) {
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++) dst[(size_t)r * n + k] = src[(size_t)r * ld + idx[k]];
}

Block *flatten_keep_heads(const ModelConfig *cw, const Block *w, const int *keep, int nkv, const float *wo) {
    const int hd = cw->head_dim, H = cw->hidden, rep = cw->n_heads / cw->n_kv_heads, nh = nkv * rep;
    ModelConfig cm = *cw;
    cm.n_heads = nh;
    cm.n_kv_heads = nkv;
    Block *b = block_new(&cm);
    copy_dtypes(b, w);
    /* rows (of q/k/v) and columns (of o) of the kept heads, in head-dimension units */
    int *qrow = df_malloc(sizeof(int) * (size_t)nh * hd), *kvrow = df_malloc(sizeof(int) * (size_t)nkv * hd);
    for (int k = 0; k < nkv; k++) {
        for (int d = 0; d < hd; d++) kvrow[k * hd + d] = keep[k] * hd + d;
        for (int h = 0; h < rep; h++)
            for (int d = 0; d < hd; d++) qrow[(k * rep + h) * hd + d] = (keep[k] * rep + h) * hd + d;
    }
    gather_rows(b->w[BW_Q], w->w[BW_Q], qrow, nh * hd, H);
    gather_rows(b->w[BW_K], w->w[BW_K], kvrow, nkv * hd, H);
    gather_rows(b->w[BW_V], w->w[BW_V], kvrow, nkv * hd, H);
    if (cw->qkv_bias) {
        gather_rows(b->w[BW_Q_BIAS], w->w[BW_Q_BIAS], qrow, nh * hd, 1);
        gather_rows(b->w[BW_K_BIAS], w->w[BW_K_BIAS], kvrow, nkv * hd, 1);
        gather_rows(b->w[BW_V_BIAS], w->w[BW_V_BIAS], kvrow, nkv * hd, 1);
    }
    if (wo) memcpy(b->w[BW_O], wo, sizeof(float) * (size_t)H * nh * hd);
    else gather_cols(b->w[BW_O], w->w[BW_O], cw->n_heads * hd, qrow, nh * hd, H);
    if (cw->o_bias) memcpy(b->w[BW_O_BIAS], w->w[BW_O_BIAS], sizeof(float) * (size_t)H);
    memcpy(b->w[BW_ATTN_NORM], w->w[BW_ATTN_NORM], sizeof(float) * (size_t)H);
    memcpy(b->w[BW_MLP_NORM], w->w[BW_MLP_NORM], sizeof(float) * (size_t)H);
    const size_t mlp = (size_t)cw->intermediate * H;
    memcpy(b->w[BW_GATE], w->w[BW_GATE], sizeof(float) * mlp);
    memcpy(b->w[BW_UP], w->w[BW_UP], sizeof(float) * mlp);
    memcpy(b->w[BW_DOWN], w->w[BW_DOWN], sizeof(float) * mlp);
    free(qrow);
    free(kvrow);
    return b;
}

Block *flatten_keep_channels(const ModelConfig *cm, const Block *w, const int *keep, int I, const float *down) {
    const int H = cm->hidden;
    ModelConfig cn = *cm;
    cn.intermediate = I;
    Block *b = block_new(&cn);
    copy_dtypes(b, w);
    for (int k = 0; k < BW_GATE; k++)
        if (w->w[k]) memcpy(b->w[k], w->w[k], sizeof(float) * block_weight_numel(cm, (BlockWeight)k));
    gather_rows(b->w[BW_GATE], w->w[BW_GATE], keep, I, H);
    gather_rows(b->w[BW_UP], w->w[BW_UP], keep, I, H);
    memcpy(b->w[BW_DOWN], down, sizeof(float) * (size_t)H * I);
    return b;
}

void flatten_choose_groups(const double *S, int L, int merges, int span, int *first) {
    int n = L;
    for (int i = 0; i < L; i++) first[i] = i;
    for (int step = 0; step < merges; step++) {
        int best = 0;
        double bs = 0;
        for (int k = 0; k + 1 < n; k++) {
            const int a = first[k], c = (k + 2 < n ? first[k + 2] : L) - 1;
            const double s = S[(size_t)a * (L + 1) + c + span];
            if (k == 0 || s > bs) bs = s, best = k;
        }
        memmove(first + best + 1, first + best + 2, sizeof(int) * (size_t)(n - best - 2));
        n--;
    }
}
