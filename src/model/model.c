#include "depthfuse/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"

static const char *const BW_NAMES[BW_COUNT] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
    "self_attn.q_proj.bias",  "self_attn.k_proj.bias",   "self_attn.v_proj.bias",   "self_attn.o_proj.weight",
    "self_attn.o_proj.bias",  "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
    "mlp.down_proj.weight"};

const char *block_weight_name(BlockWeight w) { return BW_NAMES[w]; }

void block_tensor_name(char *buf, size_t n, int layer, BlockWeight w) {
    snprintf(buf, n, "model.layers.%d.%s", layer, BW_NAMES[w]);
}

int block_weight_shape(const ModelConfig *c, BlockWeight w, int64_t s[2]) {
    const int64_t H = c->hidden, I = c->intermediate, Q = (int64_t)c->n_heads * c->head_dim,
                  KV = (int64_t)c->n_kv_heads * c->head_dim;
    switch (w) {
    case BW_ATTN_NORM:
    case BW_MLP_NORM: s[0] = H; return 1;
    case BW_Q: s[0] = Q; s[1] = H; return 2;
    case BW_K:
    case BW_V: s[0] = KV; s[1] = H; return 2;
    case BW_Q_BIAS: s[0] = Q; return c->qkv_bias ? 1 : 0;
    case BW_K_BIAS:
    case BW_V_BIAS: s[0] = KV; return c->qkv_bias ? 1 : 0;
    case BW_O: s[0] = H; s[1] = Q; return 2;
    case BW_O_BIAS: s[0] = H; return c->o_bias ? 1 : 0;
    case BW_GATE:
    case BW_UP: s[0] = I; s[1] = H; return 2;
    case BW_DOWN: s[0] = H; s[1] = I; return 2;
    case BW_COUNT: break;
    }
    return 0;
}

size_t block_weight_numel(const ModelConfig *c, BlockWeight w) {
    int64_t s[2];
    int nd = block_weight_shape(c, w, s);
    size_t n = nd ? 1 : 0;
    for (int d = 0; d < nd; d++) n *= (size_t)s[d];
    return n;
}

Block *block_new(const ModelConfig *c) {
    Block *b = df_calloc(1, sizeof *b);
    for (int w = 0; w < BW_COUNT; w++) b->numel += block_weight_numel(c, w);
    b->mem = df_alloc_floats(b->numel);
    memset(b->mem, 0, b->numel * sizeof(float));
    float *p = b->mem;
    for (int w = 0; w < BW_COUNT; w++) {
        size_t n = block_weight_numel(c, w);
        b->w[w] = n ? p : NULL;
        b->dtype[w] = DF_BF16;
        p += n;
    }
    b->refs = 1;
    return b;
}

Block *block_retain(Block *b) {
    if (b) b->refs++;
    return b;
}

void block_release(Block *b) {
    if (!b || --b->refs > 0) return;
    free(b->mem);
    free(b);
}

ModelPart model_part_all(const ModelConfig *c) {
    ModelPart p = {0, c->n_layers, 1, 1};
    return p;
}

void model_alloc_part(Model *m, const ModelPart *p) {
    const ModelConfig *c = &m->cfg;
    const size_t VH = (size_t)c->vocab * c->hidden;
    m->blocks = df_calloc((size_t)c->n_layers + 1, sizeof(Block *));
    for (int l = p->block_begin; l < p->block_end; l++) m->blocks[l] = block_new(c);
    if (p->embed) m->embed = df_alloc_floats(VH);
    if (p->head) {
        m->final_norm = df_alloc_floats((size_t)c->hidden);
        if (c->tie_embeddings && p->embed) {
            m->lm_head = m->embed;
        } else {
            m->lm_head = df_alloc_floats(VH);
            m->owns_head_memory = 1;
        }
    }
}

void model_free(Model *m) {
    if (m->blocks)
        for (int i = 0; i < m->cfg.n_layers; i++) block_release(m->blocks[i]);
    free(m->blocks);
    if (m->owns_head_memory) free(m->lm_head);
    free(m->embed);
    free(m->final_norm);
    free(m->source);
    config_free(&m->cfg);
    memset(m, 0, sizeof *m);
}

static float *copy_floats(const float *src, size_t n) {
    if (!src) return NULL;
    float *p = df_alloc_floats(n);
    memcpy(p, src, n * sizeof(float));
    return p;
}

void model_select_blocks(Model *dst, const Model *src, const int *idx, int n) {
    memset(dst, 0, sizeof *dst);
    config_copy(&dst->cfg, &src->cfg);
    dst->cfg.n_layers = n;
    const size_t VH = (size_t)src->cfg.vocab * src->cfg.hidden;
    dst->embed = copy_floats(src->embed, VH);
    dst->final_norm = copy_floats(src->final_norm, (size_t)src->cfg.hidden);
    if (src->lm_head && src->lm_head == src->embed) {
        dst->lm_head = dst->embed;
    } else {
        dst->lm_head = copy_floats(src->lm_head, VH);
        dst->owns_head_memory = dst->lm_head != NULL;
    }
    dst->embed_dtype = src->embed_dtype;
    dst->norm_dtype = src->norm_dtype;
    dst->head_dtype = src->head_dtype;
    dst->blocks = df_calloc((size_t)n + 1, sizeof(Block *));
    for (int i = 0; i < n; i++) dst->blocks[i] = block_retain(src->blocks[idx[i]]);
    dst->source = src->source ? df_strdup(src->source) : NULL;
}
