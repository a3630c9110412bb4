#include "depthfuse/hf_writer.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/h5store.h"
#include "depthfuse/json.h"
#include "depthfuse/pipeline.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/tensors.h"

const char *const HF_EXTRA_FILES[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                      "generation_config.json", "tokenizer.model", "added_tokens.json",
                                      "chat_template.jinja", "vocab.json", "merges.txt"};
const int HF_N_EXTRA_FILES = (int)(sizeof HF_EXTRA_FILES / sizeof HF_EXTRA_FILES[0]);

int parse_byte_size(const char *s, uint64_t *out) {
    char *end;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end)) end++;
    static const struct {
        const char *u;
        double mul;
    } units[] = {{"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
                 {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
    if (end == s || !(v > 0)) return df_fail("invalid size '%s' (e.g. 5GB, 500MB, 2GiB)", s);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].u)) {
            *out = (uint64_t)(v * units[i].mul);
            return 0;
        }
    return df_fail("invalid size unit in '%s' (use B, KB, MB, GB, KiB, MiB, GiB)", s);
}

static int agree(const Topology *t, int rc) { return t ? df_agree(MPI_COMM_WORLD, rc) : rc; }

static int write_index(const char *dir, const TensorRef *refs, const int *shard, const int *dtype, int n, int nshards) {
    cJSON *root = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(root, "metadata"),
          *map = cJSON_AddObjectToObject(root, "weight_map");
    double total = 0;
    char name[64];
    for (int i = 0; i < n; i++) {
        total += (double)(tensor_ref_numel(&refs[i]) * df_dtype_size((DfDtype)dtype[i]));
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard[i] + 1, nshards);
        cJSON_AddStringToObject(map, refs[i].name, name);
    }
    cJSON_AddNumberToObject(meta, "total_size", total);
    char *path = df_path_join(dir, "model.safetensors.index.json");
    int rc = df_json_write(path, root);
    free(path);
    cJSON_Delete(root);
    return rc;
}

static int write_config_and_extras(const Model *m, const char *dir) {
    char *cfg = config_to_json(&m->cfg), *path = df_path_join(dir, "config.json");
    size_t len = strlen(cfg);
    cfg = df_realloc(cfg, len + 2);
    cfg[len] = '\n';
    int rc = df_write_file(path, cfg, len + 1);
    free(path);
    free(cfg);
    /* the tokenizer and generation files, verbatim, from the source folder or .h5 store */
    for (int i = 0; i < HF_N_EXTRA_FILES && rc == 0 && m->source; i++) {
        char *dst = df_path_join(dir, HF_EXTRA_FILES[i]), *data = NULL;
        size_t n = 0;
        if (h5_is_store(m->source)) {
            if (h5_read_file(m->source, HF_EXTRA_FILES[i], &data, &n) == 0) rc = df_write_file(dst, data, n);
        } else {
            char *src = df_path_join(m->source, HF_EXTRA_FILES[i]);
            if (df_exists(src)) rc = df_copy_file(src, dst);
            free(src);
        }
        free(data);
        free(dst);
    }
    return rc;
}

int model_write_hf(const Model *m, const Topology *t, const char *dir, uint64_t max_shard_bytes) {
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs), P = t ? t->P : 1, rank = t ? t->rank : 0;
    int *dtype = df_malloc(sizeof(int) * (size_t)n), *stage = df_malloc(sizeof(int) * (size_t)n),
        *shard = df_malloc(sizeof(int) * (size_t)n);
    /* storage dtypes of every tensor, from the ranks that hold them */
    for (int i = 0; i < n; i++) dtype[i] = tensor_ref_data(m, &refs[i]) ? (int)tensor_ref_dtype(m, &refs[i]) : -1;
    if (t) MPI_Allreduce(MPI_IN_PLACE, dtype, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    /* shard plan: HF order, a new shard at a stage boundary or when the size limit would be passed */
    int nshards = 0, *bstage = df_calloc((size_t)m->cfg.n_layers + 1, sizeof(int));
    if (t) model_block_stages(t, m, bstage);
    uint64_t cur = 0;
    for (int i = 0; i < n; i++) {
        stage[i] = refs[i].kind == TK_EMBED ? 0 : refs[i].kind == TK_BLOCK ? bstage[refs[i].layer] : P - 1;
        uint64_t nb = tensor_ref_numel(&refs[i]) * df_dtype_size((DfDtype)dtype[i]);
        if (i == 0 || stage[i] != stage[i - 1] || (cur > 0 && cur + nb > max_shard_bytes)) {
            nshards++;
            cur = 0;
        }
        shard[i] = nshards - 1;
        cur += nb;
    }
    int rc = rank == 0 ? df_mkdir_p(dir) : 0;
    rc = agree(t, rc);
    /* each shard is written by the group-0 rank of its stage (world rank = stage) */
    StWriteTensor *ws = df_calloc((size_t)n, sizeof *ws);
    for (int k = 0; k < nshards && rc == 0; k++) {
        int nw = 0, writer = -1;
        for (int i = 0; i < n; i++)
            if (shard[i] == k) {
                writer = stage[i];
                ws[nw] = (StWriteTensor){refs[i].name, (DfDtype)dtype[i], refs[i].ndim, {refs[i].shape[0], refs[i].shape[1]},
                                         tensor_ref_data(m, &refs[i])};
                nw++;
            }
        if (writer != rank) continue;
        char name[64];
        if (nshards == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, nshards);
        char *path = df_path_join(dir, name);
        rc = st_write_file(path, ws, nw);
        free(path);
    }
    if (rc == 0 && rank == 0) {
        rc = write_config_and_extras(m, dir);
        if (rc == 0 && nshards > 1) rc = write_index(dir, refs, shard, dtype, n, nshards);
    }
    rc = agree(t, rc);
    free(ws);
    free(bstage);
    free(refs);
    free(dtype);
    free(stage);
    free(shard);
    return rc;
}
