/* GPTailor's models: plans, task arithmetic, and a plan's model built over referenced layers. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/gptailor.h"

void gt_plan_free(GtPlan *p) {
    for (int j = 0; p->layer && j < p->n; j++) free(p->layer[j].src);
    free(p->layer);
    memset(p, 0, sizeof *p);
}

void gt_task_arithmetic(float *out, const float *base, const float *const *src, const float *w, int n, size_t numel) {
    for (size_t i = 0; i < numel; i++) {
        float acc = 0.0f;
        for (int k = 0; k < n; k++) acc += w[k] * (src[k][i] - base[i]);
        out[i] = base[i] + acc;
    }
}

/* The tensor a layer plan (or the embedding/head, which follow one) makes from per-model tensors
 * get(model): NULL when this rank holds none. *owned: a new buffer. */
typedef const float *(*TensorOf)(const Model *m);

static const float *merged(int *owned, const GtLayerPlan *lp, Model *const *models, TensorOf get, size_t numel) {
    *owned = 0;
    const float *base = get(models[0]);
    if (!base) return NULL;
    if (lp->n_src == 0) return base;
    if (lp->n_src == 1 && lp->src[0].weight == 1.0f) return get(models[lp->src[0].model]);
    const float *src[64];
    float w[64];
    if (lp->n_src > 64) DF_FATAL("a merge of %d sources (at most 64)", lp->n_src);
    for (int k = 0; k < lp->n_src; k++) {
        src[k] = get(models[lp->src[k].model]);
        if (!src[k]) return NULL;
        w[k] = lp->src[k].weight;
    }
    float *out = df_alloc_floats(numel);
    gt_task_arithmetic(out, base, src, w, lp->n_src, numel);
    *owned = 1;
    return out;
}

static const float *embed_of(const Model *m) { return m->embed; }
static const float *norm_of(const Model *m) { return m->final_norm; }
static const float *head_of(const Model *m) { return m->lm_head; }

static int sources_held(const GtLayerPlan *lp, Model *const *models) {
    for (int k = 0; k < lp->n_src; k++)
        if (!models[lp->src[k].model]->blocks[lp->src[k].layer]) return 0;
    return 1;
}

int gt_build(GtModel *out, Model *const *models, int n_models, const GtPlan *p) {
    memset(out, 0, sizeof *out);
    const Model *b = models[0];
    const ModelConfig *c = &b->cfg;
    Model *m = &out->m;
    config_copy(&m->cfg, c);
    m->cfg.n_layers = p->n;
    m->blocks = df_calloc((size_t)p->n + 1, sizeof(Block *));
    m->embed_dtype = b->embed_dtype;
    m->norm_dtype = b->norm_dtype;
    m->head_dtype = b->head_dtype;
    m->source = b->source ? df_strdup(b->source) : NULL;
    for (int j = 0; j < p->n; j++) {
        const GtLayerPlan *lp = &p->layer[j];
        for (int k = 0; k < lp->n_src; k++)
            if (lp->src[k].model < 1 || lp->src[k].model >= n_models || lp->src[k].layer < 0 ||
                lp->src[k].layer >= models[lp->src[k].model]->cfg.n_layers)
                return gt_model_free(out), df_fail("output layer %d: a source outside the models", j);
        Block *anchor = models[0]->blocks[lp->base_layer];
        if (!anchor) continue; /* another stage's layer */
        if (!sources_held(lp, models))
            return gt_model_free(out), df_fail("output layer %d: its sources are not on the anchor's stage", j);
        if (lp->n_src == 0) {
            m->blocks[j] = block_retain(anchor);
        } else if (lp->n_src == 1 && lp->src[0].weight == 1.0f) {
            m->blocks[j] = block_retain(models[lp->src[0].model]->blocks[lp->src[0].layer]);
        } else {
            Block *nb = block_new(c);
            memcpy(nb->dtype, anchor->dtype, sizeof nb->dtype);
            const float *src[64];
            float w[64];
            for (int k = 0; k < lp->n_src && k < 64; k++) {
                src[k] = models[lp->src[k].model]->blocks[lp->src[k].layer]->mem;
                w[k] = lp->src[k].weight;
            }
            if (lp->n_src > 64) DF_FATAL("a merge of %d sources (at most 64)", lp->n_src);
            gt_task_arithmetic(nb->mem, anchor->mem, src, w, lp->n_src, nb->numel);
            m->blocks[j] = nb;
        }
    }
    /* the embedding follows the first output layer, the final norm and the head the last one */
    static const GtLayerPlan BASE = {0, 0, NULL};
    const GtLayerPlan *first = p->head_from_base || p->n == 0 ? &BASE : &p->layer[0];
    const GtLayerPlan *last = p->head_from_base || p->n == 0 ? &BASE : &p->layer[p->n - 1];
    const size_t VH = (size_t)c->vocab * c->hidden;
    m->embed = (float *)merged(&out->own_embed, first, models, embed_of, VH);
    m->final_norm = (float *)merged(&out->own_norm, last, models, norm_of, (size_t)c->hidden);
    /* tied: one tensor, which follows the embedding (a head stage without it holds its own copy) */
    if (c->tie_embeddings && m->embed)
        m->lm_head = m->embed;
    else
        m->lm_head = (float *)merged(&out->own_head, c->tie_embeddings ? first : last, models, head_of, VH);
    m->owns_head_memory = 0;
    return 0;
}

void gt_model_free(GtModel *g) {
    Model *m = &g->m;
    if (m->blocks)
        for (int i = 0; i < m->cfg.n_layers; i++) block_release(m->blocks[i]);
    free(m->blocks);
    if (g->own_embed) free(m->embed);
    if (g->own_norm) free(m->final_norm);
    if (g->own_head && m->lm_head != m->embed) free(m->lm_head);
    free(m->source);
    config_free(&m->cfg);
    memset(g, 0, sizeof *g);
}

int gt_same_architecture(const ModelConfig *a, const ModelConfig *b) {
    return a->arch == b->arch && a->hidden == b->hidden && a->intermediate == b->intermediate &&
           a->n_layers == b->n_layers && a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads &&
           a->head_dim == b->head_dim && a->vocab == b->vocab && a->qkv_bias == b->qkv_bias && a->o_bias == b->o_bias &&
           a->tie_embeddings == b->tie_embeddings;
}

/* ---- configurations ---- */

void gt_config_init(GtConfig *c, int L, int K, int R) {
    c->L = L, c->K = K, c->R = R;
    c->removed = df_calloc((size_t)R + 1, sizeof(int));
    c->mask = df_calloc((size_t)L, sizeof(uint32_t));
    c->lambda = df_calloc((size_t)L, sizeof(double));
    for (int l = 0; l < L; l++) c->lambda[l] = 1.0;
}

void gt_config_free(GtConfig *c) {
    free(c->removed);
    free(c->mask);
    free(c->lambda);
    memset(c, 0, sizeof *c);
}

void gt_config_copy(GtConfig *dst, const GtConfig *src) {
    gt_config_init(dst, src->L, src->K, src->R);
    memcpy(dst->removed, src->removed, sizeof(int) * (size_t)src->R);
    memcpy(dst->mask, src->mask, sizeof(uint32_t) * (size_t)src->L);
    memcpy(dst->lambda, src->lambda, sizeof(double) * (size_t)src->L);
}

int gt_config_equal(const GtConfig *a, const GtConfig *b) {
    return a->L == b->L && a->K == b->K && a->R == b->R && !memcmp(a->removed, b->removed, sizeof(int) * (size_t)a->R) &&
           !memcmp(a->mask, b->mask, sizeof(uint32_t) * (size_t)a->L) &&
           !memcmp(a->lambda, b->lambda, sizeof(double) * (size_t)a->L);
}

int gt_config_is_removed(const GtConfig *c, int layer) {
    for (int i = 0; i < c->R; i++)
        if (c->removed[i] == layer) return 1;
    return 0;
}

static int popcount32(uint32_t x) { return __builtin_popcount(x); }

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

void gt_config_canonical(GtConfig *c) {
    qsort(c->removed, (size_t)c->R, sizeof(int), cmp_int);
    for (int l = 0; l < c->L; l++) {
        if (gt_config_is_removed(c, l)) c->mask[l] = 0;
        if (popcount32(c->mask[l]) < 2) c->lambda[l] = 1.0;
    }
}

void gt_plan_from_config(GtPlan *p, const GtConfig *c, int head_from_base) {
    memset(p, 0, sizeof *p);
    p->layer = df_calloc((size_t)c->L, sizeof(GtLayerPlan));
    p->head_from_base = head_from_base;
    for (int l = 0; l < c->L; l++) {
        if (gt_config_is_removed(c, l)) continue;
        GtLayerPlan *lp = &p->layer[p->n++];
        lp->base_layer = l;
        const int n = popcount32(c->mask[l]);
        lp->src = df_calloc((size_t)n + 1, sizeof(GtSource));
        for (int k = 0; k < c->K; k++)
            if (c->mask[l] >> k & 1) lp->src[lp->n_src++] = (GtSource){k + 1, l, n == 1 ? 1.0f : (float)c->lambda[l]};
    }
}

cJSON *gt_config_json(const GtConfig *c) {
    cJSON *j = cJSON_CreateObject(), *rem = cJSON_AddArrayToObject(j, "removed"), *ls = cJSON_AddArrayToObject(j, "layers");
    for (int i = 0; i < c->R; i++) cJSON_AddItemToArray(rem, cJSON_CreateNumber(c->removed[i]));
    for (int l = 0; l < c->L; l++) {
        if (gt_config_is_removed(c, l)) continue;
        cJSON *e = cJSON_CreateObject(), *cand = cJSON_CreateArray();
        cJSON_AddNumberToObject(e, "layer", l);
        for (int k = 0; k < c->K; k++)
            if (c->mask[l] >> k & 1) cJSON_AddItemToArray(cand, cJSON_CreateNumber(k));
        cJSON_AddItemToObject(e, "candidates", cand);
        cJSON_AddNumberToObject(e, "lambda", c->lambda[l]);
        cJSON_AddItemToArray(ls, e);
    }
    return j;
}

int gt_config_from_json(GtConfig *c, const cJSON *j, int L, int K, int R, const char *file) {
    gt_config_init(c, L, K, R);
    const cJSON *rem = cJSON_GetObjectItem(j, "removed"), *ls = cJSON_GetObjectItem(j, "layers");
    if (!cJSON_IsArray(rem) || cJSON_GetArraySize(rem) != R || !cJSON_IsArray(ls) || cJSON_GetArraySize(ls) != L - R)
        return gt_config_free(c), df_fail("%s: a configuration without %d removed and %d kept layers", file, R, L - R);
    int i = 0;
    for (const cJSON *x = rem->child; x; x = x->next, i++) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= L)
            return gt_config_free(c), df_fail("%s: a removed layer outside [0, %d)", file, L);
        c->removed[i] = (int)x->valuedouble;
    }
    for (const cJSON *e = ls->child; e; e = e->next) {
        const cJSON *l = cJSON_GetObjectItem(e, "layer"), *cand = cJSON_GetObjectItem(e, "candidates"),
                    *lam = cJSON_GetObjectItem(e, "lambda");
        if (!cJSON_IsNumber(l) || l->valuedouble < 0 || l->valuedouble >= L || !cJSON_IsArray(cand) || !cJSON_IsNumber(lam))
            return gt_config_free(c), df_fail("%s: a kept layer without layer, candidates and lambda", file);
        const int li = (int)l->valuedouble;
        for (const cJSON *k = cand->child; k; k = k->next) {
            if (!cJSON_IsNumber(k) || k->valuedouble < 0 || k->valuedouble >= K)
                return gt_config_free(c), df_fail("%s: layer %d: a candidate outside [0, %d)", file, li, K);
            c->mask[li] |= 1u << (int)k->valuedouble;
        }
        c->lambda[li] = lam->valuedouble;
    }
    return 0;
}

int gt_config_packed_len(int L, int R) { return R + 2 * L; }

void gt_config_pack(const GtConfig *c, double *buf) {
    for (int i = 0; i < c->R; i++) buf[i] = c->removed[i];
    for (int l = 0; l < c->L; l++) buf[c->R + l] = c->mask[l], buf[c->R + c->L + l] = c->lambda[l];
}

void gt_config_unpack(GtConfig *c, const double *buf) {
    for (int i = 0; i < c->R; i++) c->removed[i] = (int)buf[i];
    for (int l = 0; l < c->L; l++) c->mask[l] = (uint32_t)buf[c->R + l], c->lambda[l] = buf[c->R + c->L + l];
}
