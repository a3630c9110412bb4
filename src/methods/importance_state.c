#include "importance_state.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/topology.h"

/* FNV-1a over 64-bit words (a tail byte-wise): an identity check, not a cryptographic one */
static uint64_t fnv(uint64_t h, const void *p, size_t bytes) {
    const unsigned char *c = p;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, c + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < bytes; i++) h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

StateKey importance_state_key(const Model *m, const CalibSet *cal, const ImportanceOpts *o) {
    StateKey k = {metric_name(o->metric), o->naive, m->cfg.n_layers, cal->n, cal->T, "", ""};
    if (df_rank() != 0) return k; /* only rank 0 reads and writes the file */
    uint64_t h = 0xcbf29ce484222325ULL;
    if (m->embed) h = fnv(h, m->embed, sizeof(float) * (size_t)m->cfg.vocab * m->cfg.hidden);
    if (m->blocks[0]) h = fnv(h, m->blocks[0]->mem, sizeof(float) * m->blocks[0]->numel);
    snprintf(k.model_hash, sizeof k.model_hash, "%016" PRIx64, h);
    h = fnv(0xcbf29ce484222325ULL, cal->ids, sizeof(int32_t) * (size_t)cal->n * cal->T);
    snprintf(k.calib_hash, sizeof k.calib_hash, "%016" PRIx64, h);
    return k;
}

/* rank 0: the file's removals into r, after checking its key */
static int read_state(ImportanceResult *r, const char *path, int max_steps, const StateKey *k) {
    cJSON *root;
    DF_TRY(df_json_load(path, &root));
    const char *metric, *model_hash, *calib_hash;
    int64_t naive, blocks, windows, tokens;
    int rc = df_json_str(root, "metric", path, &metric) | df_json_int(root, "naive", path, &naive) |
             df_json_int(root, "input_blocks", path, &blocks) | df_json_int(root, "calib_windows", path, &windows) |
             df_json_int(root, "calib_tokens", path, &tokens) | df_json_str(root, "model_hash", path, &model_hash) |
             df_json_str(root, "calib_hash", path, &calib_hash);
    const cJSON *removed = cJSON_GetObjectItem(root, "removed"), *scores = cJSON_GetObjectItem(root, "scores"),
                *first = cJSON_GetObjectItem(root, "first_step_scores");
    if (rc == 0 && (!cJSON_IsArray(removed) || !cJSON_IsArray(scores) || !cJSON_IsArray(first) ||
                    cJSON_GetArraySize(removed) != cJSON_GetArraySize(scores) || cJSON_GetArraySize(first) != k->blocks))
        rc = df_fail("%s: \"removed\", \"scores\" and \"first_step_scores\" must be arrays (%d first-step scores)", path,
                     k->blocks);
    const char *other = rc ? NULL
                        : strcmp(metric, k->metric) || naive != k->naive ? "another metric or sweep"
                        : blocks != k->blocks || strcmp(model_hash, k->model_hash) ? "another model"
                        : windows != k->windows || tokens != k->tokens || strcmp(calib_hash, k->calib_hash)
                            ? "other calibration windows (file, --samples, --seq-len or --seed)"
                            : NULL;
    if (other) rc = df_fail("%s: state of a run on %s; remove it or give another --state", path, other);
    for (int i = 0; rc == 0 && i < k->blocks; i++) {
        const cJSON *f = cJSON_GetArrayItem(first, i);
        if (!cJSON_IsNumber(f)) rc = df_fail("%s: first_step_scores[%d] is not a number", path, i);
        else r->first[i] = f->valuedouble;
    }
    const int n = rc ? 0 : cJSON_GetArraySize(removed);
    int *seen = df_calloc((size_t)k->blocks, sizeof(int));
    for (int i = 0; rc == 0 && i < n && i < max_steps; i++) {
        const cJSON *b = cJSON_GetArrayItem(removed, i), *s = cJSON_GetArrayItem(scores, i);
        if (!cJSON_IsNumber(b) || !cJSON_IsNumber(s) || b->valuedouble != (int)b->valuedouble ||
            b->valuedouble < 0 || b->valuedouble >= k->blocks || seen[(int)b->valuedouble]++)
            rc = df_fail("%s: removed[%d] is not a block of the input model removed once", path, i);
        else
            r->block[i] = (int)b->valuedouble, r->score[i] = s->valuedouble, r->rank[i] = i + 1, r->n = i + 1;
    }
    free(seen);
    cJSON_Delete(root);
    return rc ? -1 : 0;
}

int importance_state_load(ImportanceResult *r, const char *path, int max_steps, const StateKey *k) {
    const int L = k->blocks;
    int rc = 0;
    r->n = 0;
    if (df_rank() == 0 && df_exists(path)) rc = read_state(r, path, max_steps, k);
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    MPI_Bcast(&r->n, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(r->block, L, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(r->rank, L, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(r->score, L, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast(r->first, L, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return 0;
}

int importance_state_save(const char *path, const ImportanceResult *r, const StateKey *k) {
    int rc = 0;
    if (df_rank() == 0) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "metric", k->metric);
        cJSON_AddNumberToObject(root, "naive", k->naive);
        cJSON_AddNumberToObject(root, "input_blocks", k->blocks);
        cJSON_AddStringToObject(root, "model_hash", k->model_hash);
        cJSON_AddNumberToObject(root, "calib_windows", k->windows);
        cJSON_AddNumberToObject(root, "calib_tokens", k->tokens);
        cJSON_AddStringToObject(root, "calib_hash", k->calib_hash);
        cJSON_AddItemToObject(root, "removed", cJSON_CreateIntArray(r->block, r->n));
        cJSON_AddItemToObject(root, "scores", cJSON_CreateDoubleArray(r->score, r->n));
        cJSON_AddItemToObject(root, "first_step_scores", cJSON_CreateDoubleArray(r->first, k->blocks));
        rc = df_json_write(path, root);
        cJSON_Delete(root);
        if (rc == 0) df_event_checkpoint(path, "greedy removal", r->n);
    }
    return df_agree(MPI_COMM_WORLD, rc);
}
