#include "depthfuse/tensors.h"

#include <stdio.h>
#include <string.h>

#include "depthfuse/error.h"

static void add(TensorRef *r, int *n, const char *name, int ndim, int64_t s0, int64_t s1, TensorKind k) {
    TensorRef *t = &r[(*n)++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->shape[0] = s0;
    t->shape[1] = s1;
    t->kind = k;
}

int tensor_refs(const ModelConfig *c, TensorRef **out) {
    TensorRef *r = df_calloc((size_t)c->n_layers * BW_COUNT + 3, sizeof *r);
    int n = 0;
    add(r, &n, "model.embed_tokens.weight", 2, c->vocab, c->hidden, TK_EMBED);
    for (int l = 0; l < c->n_layers; l++)
        for (int w = 0; w < BW_COUNT; w++) {
            int64_t s[2] = {0, 0};
            int nd = block_weight_shape(c, w, s);
            if (!nd) continue;
            char name[96];
            block_tensor_name(name, sizeof name, l, w);
            add(r, &n, name, nd, s[0], s[1], TK_BLOCK);
            r[n - 1].layer = l;
            r[n - 1].w = w;
        }
    add(r, &n, "model.norm.weight", 1, c->hidden, 0, TK_NORM);
    if (!c->tie_embeddings) add(r, &n, "lm_head.weight", 2, c->vocab, c->hidden, TK_HEAD);
    *out = r;
    return n;
}

uint64_t tensor_ref_numel(const TensorRef *r) {
    uint64_t n = 1;
    for (int d = 0; d < r->ndim; d++) n *= (uint64_t)r->shape[d];
    return n;
}

float *tensor_ref_data(const Model *m, const TensorRef *r) {
    switch (r->kind) {
    case TK_EMBED: return m->embed;
    case TK_BLOCK: return m->blocks[r->layer] ? m->blocks[r->layer]->w[r->w] : NULL;
    case TK_NORM: return m->final_norm;
    case TK_HEAD: return m->lm_head;
    }
    return NULL;
}

DfDtype tensor_ref_dtype(const Model *m, const TensorRef *r) {
    switch (r->kind) {
    case TK_EMBED: return m->embed_dtype;
    case TK_BLOCK: return m->blocks[r->layer] ? m->blocks[r->layer]->dtype[r->w] : DF_BF16;
    case TK_NORM: return m->norm_dtype;
    case TK_HEAD: return m->head_dtype;
    }
    return DF_BF16;
}

void tensor_ref_set_dtype(Model *m, const TensorRef *r, DfDtype t) {
    switch (r->kind) {
    case TK_EMBED: m->embed_dtype = t; break;
    case TK_BLOCK:
        if (m->blocks[r->layer]) m->blocks[r->layer]->dtype[r->w] = t;
        break;
    case TK_NORM: m->norm_dtype = t; break;
    case TK_HEAD: m->head_dtype = t; break;
    }
}

void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}
