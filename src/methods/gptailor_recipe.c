/* Recipes in mergekit's YAML schema (the slices form; merge_method passthrough or task_arithmetic,
 * parameters {normalize: false}), written by the search and read by `depthfuse merge` with libyaml.
 *   task_arithmetic: each slice lists the base model's layer range and the other sources' ranges of
 *     the same length, each with parameters: {weight: w}; output layer i of the slice is
 *     base[a+i] + sum_s w_s (W_s[a_s+i] - base[a+i]); a slice whose only other source has weight 1 is
 *     that source's layer, a slice of the base alone is the base's layer.
 *   passthrough: each slice has one source, whose layers are copied in order.
 * As in mergekit, the embedding follows the first slice's sources and the final norm and lm_head the
 * last slice's; `depthfuse_embed_head: base` (our key) keeps the base's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/gptailor.h"

/* ---- writing ---- */

__attribute__((format(printf, 4, 5))) static void put_str(char **buf, size_t *len, size_t *cap, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        const int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (*len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        *cap = 2 * (*cap + (size_t)n);
        *buf = df_realloc(*buf, *cap);
    }
}

/* a YAML double-quoted scalar */
static void put_quoted(char **buf, size_t *len, size_t *cap, const char *s) {
    put_str(buf, len, cap, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put_str(buf, len, cap, "\\%c", *s);
        else put_str(buf, len, cap, "%c", *s);
    }
    put_str(buf, len, cap, "\"");
}

static void put_source(char **b, size_t *n, size_t *cap, const char *model, int layer, const float *weight) {
    put_str(b, n, cap, "      - model: ");
    put_quoted(b, n, cap, model);
    put_str(b, n, cap, "\n        layer_range: [%d, %d]\n", layer, layer + 1);
    if (weight) put_str(b, n, cap, "        parameters:\n          weight: %.9g\n", (double)*weight);
}

int gt_recipe_write(const char *path, const GtPlan *p, const char *const *paths, int n_paths, const char *dtype) {
    size_t n = 0, cap = 4096;
    char *b = df_malloc(cap);
    b[0] = 0;
    put_str(&b, &n, &cap, "# A mergekit recipe (depthfuse merge RECIPE --out DIR builds it; docs/gptailor.md)\n");
    put_str(&b, &n, &cap, "merge_method: task_arithmetic\nbase_model: ");
    put_quoted(&b, &n, &cap, paths[0]);
    put_str(&b, &n, &cap, "\nparameters:\n  normalize: false\n");
    if (dtype) put_str(&b, &n, &cap, "dtype: %s\n", dtype);
    if (p->head_from_base) put_str(&b, &n, &cap, "depthfuse_embed_head: base\n");
    put_str(&b, &n, &cap, "slices:\n");
    for (int j = 0; j < p->n; j++) {
        const GtLayerPlan *lp = &p->layer[j];
        put_str(&b, &n, &cap, "  - sources:\n");
        put_source(&b, &n, &cap, paths[0], lp->base_layer, NULL);
        for (int k = 0; k < lp->n_src; k++) {
            if (lp->src[k].model < 1 || lp->src[k].model >= n_paths) DF_FATAL("a source outside the recipe's models");
            put_source(&b, &n, &cap, paths[lp->src[k].model], lp->src[k].layer, &lp->src[k].weight);
        }
    }
    const int rc = df_write_file(path, b, n);
    free(b);
    return rc;
}

/* ---- reading ---- */

typedef struct {
    yaml_document_t doc;
    const char *file;
} Doc;

static yaml_node_t *node(Doc *d, int id) { return yaml_document_get_node(&d->doc, id); }

static int is_scalar(yaml_node_t *n) { return n && n->type == YAML_SCALAR_NODE; }

static const char *scalar(yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* the value of key in mapping m (NULL: absent) */
static yaml_node_t *get(Doc *d, yaml_node_t *m, const char *key) {
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(d, p->key);
        if (is_scalar(k) && !strcmp(scalar(k), key)) return node(d, p->value);
    }
    return NULL;
}

static int as_int(Doc *d, yaml_node_t *n, const char *what, int *out) {
    char *end;
    errno = 0;
    long v = is_scalar(n) ? strtol(scalar(n), &end, 10) : 0;
    if (!is_scalar(n) || errno || *end || end == scalar(n) || v < 0 || v > 1 << 20)
        return df_fail("%s: %s must be a non-negative integer", d->file, what);
    *out = (int)v;
    return 0;
}

static int as_float(Doc *d, yaml_node_t *n, const char *what, float *out) {
    char *end;
    double v = is_scalar(n) ? strtod(scalar(n), &end) : 0;
    if (!is_scalar(n) || *end || end == scalar(n)) return df_fail("%s: %s must be a number", d->file, what);
    *out = (float)v;
    return 0;
}

/* the index of a model path in the list, added when new */
static int model_index(char ***paths, int *n, const char *path) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*paths)[i], path)) return i;
    *paths = df_realloc(*paths, sizeof(char *) * (size_t)(*n + 1));
    (*paths)[*n] = df_strdup(path);
    return (*n)++;
}

enum { GT_MAX_RECIPE_LAYERS = 4096 }; /* far above any model's depth; bounds what a bad recipe allocates */

typedef struct {
    int model, a, b;
    float weight;
} Src;

static int read_source(Doc *d, yaml_node_t *s, int slice, char ***paths, int *n_paths, Src *out) {
    yaml_node_t *model = get(d, s, "model"), *range = get(d, s, "layer_range");
    if (!is_scalar(model)) return df_fail("%s: slice %d: a source without a model", d->file, slice);
    if (!range || range->type != YAML_SEQUENCE_NODE || range->data.sequence.items.top - range->data.sequence.items.start != 2)
        return df_fail("%s: slice %d: %s: layer_range must be [first, end]", d->file, slice, scalar(model));
    DF_TRY(as_int(d, node(d, range->data.sequence.items.start[0]), "layer_range", &out->a));
    DF_TRY(as_int(d, node(d, range->data.sequence.items.start[1]), "layer_range", &out->b));
    if (out->b <= out->a) return df_fail("%s: slice %d: %s: an empty layer_range", d->file, slice, scalar(model));
    if (out->a < 0 || out->b - out->a > GT_MAX_RECIPE_LAYERS)
        return df_fail("%s: slice %d: %s: layer_range [%d, %d] outside any model", d->file, slice, scalar(model), out->a, out->b);
    out->weight = 1.0f;
    yaml_node_t *w = get(d, get(d, s, "parameters"), "weight");
    if (w) DF_TRY(as_float(d, w, "weight", &out->weight));
    out->model = model_index(paths, n_paths, scalar(model));
    return 0;
}

static int read_slices(Doc *d, yaml_node_t *slices, int ta, GtPlan *p, char ***paths, int *n_paths) {
    int slice = 0;
    for (yaml_node_item_t *it = slices->data.sequence.items.start; it < slices->data.sequence.items.top; it++, slice++) {
        yaml_node_t *srcs = get(d, node(d, *it), "sources");
        if (!srcs || srcs->type != YAML_SEQUENCE_NODE || srcs->data.sequence.items.top == srcs->data.sequence.items.start)
            return df_fail("%s: slice %d has no sources", d->file, slice);
        const int ns = (int)(srcs->data.sequence.items.top - srcs->data.sequence.items.start);
        if (!ta && ns != 1) return df_fail("%s: slice %d: passthrough takes one source per slice", d->file, slice);
        Src *s = df_calloc((size_t)ns, sizeof(Src));
        int base = ta ? -1 : 0, rc = 0;
        for (int i = 0; i < ns && rc == 0; i++) {
            rc = read_source(d, node(d, srcs->data.sequence.items.start[i]), slice, paths, n_paths, &s[i]);
            if (rc == 0 && ta && s[i].model == 0) {
                if (base >= 0) rc = df_fail("%s: slice %d lists the base model twice", d->file, slice);
                base = i;
            }
            if (rc == 0 && s[i].b - s[i].a != s[0].b - s[0].a)
                rc = df_fail("%s: slice %d: the sources' layer ranges differ in length", d->file, slice);
        }
        if (rc == 0 && base < 0) rc = df_fail("%s: slice %d: task_arithmetic needs the base model among the sources", d->file, slice);
        for (int i = 0; rc == 0 && i < s[0].b - s[0].a; i++) {
            p->layer = df_realloc(p->layer, sizeof(GtLayerPlan) * (size_t)(p->n + 1));
            GtLayerPlan *lp = &p->layer[p->n++];
            lp->src = df_calloc((size_t)ns, sizeof(GtSource));
            lp->n_src = 0;
            if (!ta) { /* passthrough: the base's layer, or another model's as its only source */
                lp->base_layer = s[0].a + i;
                if (s[0].model != 0) lp->src[lp->n_src++] = (GtSource){s[0].model, s[0].a + i, 1.0f};
                continue;
            }
            lp->base_layer = s[base].a + i;
            for (int k = 0; k < ns; k++)
                if (k != base) lp->src[lp->n_src++] = (GtSource){s[k].model, s[k].a + i, s[k].weight};
        }
        free(s);
        DF_TRY(rc);
    }
    return 0;
}

int gt_recipe_read(const char *path, GtPlan *p, char ***paths, int *n_paths, char **dtype) {
    memset(p, 0, sizeof *p);
    *paths = NULL, *n_paths = 0, *dtype = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return df_fail("%s: cannot open: %s", path, strerror(errno));
    yaml_parser_t parser;
    Doc d = {.file = path};
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &d.doc);
    int rc = 0;
    if (!ok)
        rc = df_fail("%s:%zu: not YAML: %s", path, parser.problem_mark.line + 1, parser.problem ? parser.problem : "?");
    yaml_parser_delete(&parser);
    fclose(f);
    if (rc) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&d.doc);
    yaml_node_t *method = get(&d, root, "merge_method"), *base = get(&d, root, "base_model"),
                *slices = get(&d, root, "slices"), *dt = get(&d, root, "dtype"),
                *norm = get(&d, get(&d, root, "parameters"), "normalize"), *eh = get(&d, root, "depthfuse_embed_head");
    int ta = 0;
    if (!root || root->type != YAML_MAPPING_NODE) rc = df_fail("%s: not a mergekit recipe (a mapping)", path);
    else if (!is_scalar(method) || (strcmp(scalar(method), "task_arithmetic") && strcmp(scalar(method), "passthrough")))
        rc = df_fail("%s: merge_method must be task_arithmetic or passthrough (the subset depthfuse merges)", path);
    else if (get(&d, root, "models"))
        rc = df_fail("%s: the 'models' form is not supported; list the layers under 'slices'", path);
    else if (!slices || slices->type != YAML_SEQUENCE_NODE)
        rc = df_fail("%s: no 'slices' list", path);
    else if ((ta = !strcmp(scalar(method), "task_arithmetic")) && !is_scalar(base))
        rc = df_fail("%s: task_arithmetic needs base_model", path);
    else if (norm && !(is_scalar(norm) && !strcmp(scalar(norm), "false")))
        rc = df_fail("%s: parameters.normalize must be false (task vectors are added as weighted)", path);
    else if (dt && !(is_scalar(dt) && (!strcmp(scalar(dt), "bfloat16") || !strcmp(scalar(dt), "float16") ||
                                       !strcmp(scalar(dt), "float32"))))
        rc = df_fail("%s: dtype must be bfloat16, float16 or float32", path);
    else if (eh && !(is_scalar(eh) && !strcmp(scalar(eh), "base")))
        rc = df_fail("%s: depthfuse_embed_head must be 'base'", path);
    if (rc == 0 && ta) model_index(paths, n_paths, scalar(base));
    /* passthrough: the first slice's model (paths[0]) gives the config and the tokenizer */
    if (rc == 0) rc = read_slices(&d, slices, ta, p, paths, n_paths);
    if (rc == 0 && p->n == 0) rc = df_fail("%s: the recipe has no layers", path);
    if (rc == 0 && dt) *dtype = df_strdup(scalar(dt));
    if (rc == 0) p->head_from_base = eh != NULL;
    yaml_document_delete(&d.doc);
    if (rc) {
        gt_plan_free(p);
        for (int i = 0; i < *n_paths; i++) free((*paths)[i]);
        free(*paths);
        *paths = NULL, *n_paths = 0;
    }
    return rc;
}

int gt_recipe_check(const char *path) {
    GtPlan p;
    char **paths, *dtype;
    int n_paths;
    int rc = gt_recipe_read(path, &p, &paths, &n_paths, &dtype);
    if (rc == 0) {
        gt_plan_free(&p);
        for (int i = 0; i < n_paths; i++) free(paths[i]);
        free(paths);
        free(dtype);
    }
    return rc;
}
