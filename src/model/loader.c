/* Loading a model: llama.cpp's discipline. Every expected tensor must be present with the expected
 * shape and a float dtype, and every tensor in the files must be consumed. A rank reads only the
 * tensors of its part, but checks the headers of all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/finite.h"
#include "depthfuse/h5store.h"
#include "depthfuse/model.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/tensors.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int model_load_config(ModelConfig *c, const char *path) {
    if (h5_is_store(path)) return h5_load_config(c, path);
    if (!df_is_dir(path)) return df_fail("%s: not a model folder or .h5 file", path);
    char *cp = df_path_join(path, "config.json");
    int rc = config_load(c, cp);
    free(cp);
    return rc;
}

/* find a tensor, check its shape and dtype, mark it used; read it into dst when dst != NULL */
static int take(StSet *s, const char *name, int ndim, const int64_t *shape, float *dst, DfDtype *dtype) {
    StTensor *t = st_find_mut(s, name);
    if (!t) return df_fail("%s: missing tensor \"%s\"", s->source, name);
    const char *file = s->paths[t->file];
    int ok = t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    if (!ok) {
        char want[64], got[64];
        shape_str(want, sizeof want, ndim, shape);
        shape_str(got, sizeof got, t->ndim, t->shape);
        return df_fail("%s: tensor \"%s\" has shape %s, expected %s", file, name, got, want);
    }
    if (!t->is_float)
        return df_fail("%s: tensor \"%s\" has dtype %s (expected F32, F16 or BF16)", file, name, t->dtype_name);
    t->used = 1;
    if (dtype) *dtype = t->dtype;
    return dst ? st_read_f32(s, t, dst) : 0;
}

static int load_safetensors(Model *m, const char *dir, const ModelPart *p) {
    StSet s;
    DF_TRY(st_open_model(&s, dir));
    const ModelConfig *c = &m->cfg;
    TensorRef *refs;
    const int n = tensor_refs(c, &refs);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        DfDtype dt = DF_BF16;
        rc = take(&s, refs[i].name, refs[i].ndim, refs[i].shape, tensor_ref_data(m, &refs[i]), &dt);
        tensor_ref_set_dtype(m, &refs[i], dt);
    }
    if (rc == 0 && c->tie_embeddings) {
        m->head_dtype = m->embed_dtype;
        if (p->head && !p->embed) /* the last stage holds the tied head without the embedding */
            rc = take(&s, refs[0].name, refs[0].ndim, refs[0].shape, m->lm_head, NULL);
        StTensor *t = st_find_mut(&s, "lm_head.weight"); /* some tied checkpoints store it too: same values */
        if (t) t->used = 1;
    }
    for (int i = 0; i < s.n && rc == 0; i++) {
        const char *nm = s.t[i].name;
        if (!s.t[i].used && !ends_with(nm, "rotary_emb.inv_freq")) /* older HF exports carry these */
            rc = df_fail("%s: unexpected tensor \"%s\" (not used by a %d-layer %s model with this config)",
                         s.paths[s.t[i].file], nm, c->n_layers, c->arch == ARCH_QWEN2 ? "qwen2" : "llama");
    }
    free(refs);
    st_free(&s);
    return rc;
}

/* --check-tensors: the first weight of this rank's part holding a NaN or Inf, named */
static int check_finite(const Model *m) {
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const float *x = tensor_ref_data(m, &refs[i]);
        if (!x && refs[i].kind == TK_EMBED && m->cfg.tie_embeddings) x = m->lm_head; /* the last stage's tied head */
        long long at = x ? df_first_nonfinite(x, tensor_ref_numel(&refs[i])) : -1;
        if (at >= 0)
            rc = df_fail("%s: tensor \"%s\" holds a non-finite value (%s at element %lld)", m->source, refs[i].name,
                         df_nonfinite_name(x[at]), at);
    }
    free(refs);
    return rc;
}

int model_load(Model *m, const char *path, const ModelPart *part) {
    memset(m, 0, sizeof *m);
    DF_TRY(model_load_config(&m->cfg, path));
    ModelPart all = model_part_all(&m->cfg);
    const ModelPart *p = part ? part : &all;
    m->source = df_strdup(path);
    model_alloc_part(m, p);
    int rc = h5_is_store(path) ? h5_load_model(m, path, p) : load_safetensors(m, path, p);
    if (rc == 0 && df_check_tensors()) rc = check_finite(m);
    if (rc < 0) model_free(m);
    return rc;
}
