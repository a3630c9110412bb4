#include "depthfuse/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"

enum { ST_MAX_HEADER = 100000000 };

static const struct {
    const char *name;
    int size;
} ST_DTYPES[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2},
                 {"F16", 2},  {"BF16", 2}, {"I32", 4}, {"U32", 4},     {"F32", 4},     {"F64", 8}, {"I64", 8},
                 {"U64", 8}};

static int dtype_size(const char *s) {
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; i++)
        if (!strcmp(ST_DTYPES[i].name, s)) return ST_DTYPES[i].size;
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const StTensor *)a)->name, ((const StTensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
    uint64_t x = (*(StTensor *const *)a)->offset, y = (*(StTensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* parse one tensor entry of a header */
static int parse_entry(const cJSON *e, const char *path, StTensor *t) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return df_fail("%s: header entry \"%s\" is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return df_fail("%s: tensor \"%s\" needs dtype, shape and data_offsets [begin, end]", path, nm);
    t->elsize = dtype_size(dt->valuestring);
    if (!t->elsize) return df_fail("%s: tensor \"%s\" has unknown dtype \"%.11s\"", path, nm, dt->valuestring);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dt->valuestring);
    t->is_float = df_dtype_parse(dt->valuestring, &t->dtype) == 0;
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > ST_MAX_DIMS) return df_fail("%s: tensor \"%s\" has too many dimensions", path, nm);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v;
        if (df_json_as_u64(cJSON_GetArrayItem(sh, d), &v) < 0)
            return df_fail("%s: tensor \"%s\" has an invalid shape", path, nm);
        if (v && t->numel > UINT64_MAX / 16 / v) return df_fail("%s: tensor \"%s\" is too large", path, nm);
        t->shape[d] = (int64_t)v;
        t->numel *= v;
    }
    uint64_t b, en;
    if (df_json_as_u64(cJSON_GetArrayItem(of, 0), &b) < 0 || df_json_as_u64(cJSON_GetArrayItem(of, 1), &en) < 0 || en < b)
        return df_fail("%s: tensor \"%s\" has invalid data_offsets", path, nm);
    if (en - b != t->numel * (uint64_t)t->elsize)
        return df_fail("%s: tensor \"%s\": data_offsets span %llu bytes but shape and dtype need %llu", path, nm,
                       (unsigned long long)(en - b), (unsigned long long)(t->numel * (uint64_t)t->elsize));
    t->offset = b; /* relative for now */
    t->nbytes = en - b;
    t->name = df_strdup(nm);
    return 0;
}

int st_add_file(StSet *s, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return df_fail("%s: cannot open: %s", path, strerror(errno));
    uint64_t fsize = (uint64_t)lseek(fd, 0, SEEK_END);
    unsigned char lenbuf[8];
    char *hdr = NULL;
    cJSON *root = NULL;
    StTensor *ts = NULL;
    int nt = 0, rc = -1;
    if (fsize < 8) {
        df_fail("%s: not a safetensors file (%llu bytes)", path, (unsigned long long)fsize);
        goto done;
    }
    if (df_pread_exact(fd, lenbuf, 8, 0, path) < 0) goto done;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lenbuf[i];
    if (hlen == 0 || hlen > ST_MAX_HEADER || 8 + hlen > fsize) {
        df_fail("%s: corrupted safetensors header (header length %llu, file size %llu)", path, (unsigned long long)hlen,
                (unsigned long long)fsize);
        goto done;
    }
    hdr = df_malloc(hlen + 1);
    if (df_pread_exact(fd, hdr, hlen, 8, path) < 0) goto done;
    hdr[hlen] = 0;
    if (hdr[0] != '{' || !(root = cJSON_ParseWithLength(hdr, hlen)) || !cJSON_IsObject(root)) {
        df_fail("%s: corrupted safetensors header (not a JSON object)", path);
        goto done;
    }
    ts = df_calloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(StTensor));
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (parse_entry(e, path, &ts[nt]) < 0) goto done;
        nt++;
    }
    /* the data buffer must be covered exactly: sorted by offset, each tensor where the last ended */
    StTensor **ord = df_malloc((size_t)(nt + 1) * sizeof *ord);
    for (int i = 0; i < nt; i++) ord[i] = &ts[i];
    qsort(ord, (size_t)nt, sizeof *ord, cmp_offset);
    uint64_t pos = 0;
    for (int i = 0; i < nt && rc == -1; i++) {
        if (ord[i]->offset != pos) {
            df_fail("%s: corrupted safetensors header (tensor \"%s\" at data offset %llu, expected %llu)", path,
                    ord[i]->name, (unsigned long long)ord[i]->offset, (unsigned long long)pos);
            free(ord);
            goto done;
        }
        pos += ord[i]->nbytes;
    }
    free(ord);
    if (8 + hlen + pos != fsize) {
        df_fail("%s: %s (header describes %llu bytes of data, file holds %llu)", path,
                8 + hlen + pos > fsize ? "file is truncated" : "file has trailing bytes", (unsigned long long)pos,
                (unsigned long long)(fsize - 8 - hlen));
        goto done;
    }
    /* append to the set, checking for duplicates across files */
    int fi = s->nfiles;
    s->paths = df_realloc(s->paths, (size_t)(fi + 1) * sizeof(char *));
    s->paths[s->nfiles++] = df_strdup(path);
    s->t = df_realloc(s->t, (size_t)(s->n + nt + 1) * sizeof(StTensor));
    for (int i = 0; i < nt; i++) {
        ts[i].offset += 8 + hlen;
        ts[i].file = fi;
        s->t[s->n + i] = ts[i];
    }
    s->n += nt;
    nt = 0;
    qsort(s->t, (size_t)s->n, sizeof(StTensor), cmp_name);
    rc = 0;
    for (int i = 1; i < s->n && rc == 0; i++)
        if (!strcmp(s->t[i].name, s->t[i - 1].name))
            rc = df_fail("%s: tensor \"%s\" appears twice (also in %s)", path, s->t[i].name,
                         s->paths[s->t[i].file == fi ? s->t[i - 1].file : s->t[i].file]);
done:
    for (int i = 0; i < nt; i++) free(ts[i].name);
    free(ts);
    cJSON_Delete(root);
    free(hdr);
    close(fd);
    return rc;
}

static int open_index(StSet *s, const char *dir, const char *index) {
    cJSON *root;
    DF_TRY(df_json_load(index, &root));
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    int rc = 0;
    if (!cJSON_IsObject(map) || !map->child) rc = df_fail("%s: missing or empty \"weight_map\"", index);
    /* open each distinct shard once */
    for (const cJSON *e = map ? map->child : NULL; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            rc = df_fail("%s: weight_map entry \"%s\" must name a shard file in the same folder", index, e->string);
            break;
        }
        char *p = df_path_join(dir, e->valuestring);
        int seen = 0;
        for (int i = 0; i < s->nfiles; i++) seen |= !strcmp(s->paths[i], p);
        if (!seen) rc = st_add_file(s, p);
        free(p);
    }
    /* every mapped tensor must be in the shard the index names */
    for (const cJSON *e = map ? map->child : NULL; e && rc == 0; e = e->next) {
        const StTensor *t = st_find(s, e->string);
        if (!t) rc = df_fail("%s: tensor \"%s\" is listed but not in %s", index, e->string, e->valuestring);
        else if (strcmp(df_basename(s->paths[t->file]), e->valuestring))
            rc = df_fail("%s: tensor \"%s\" is listed in %s but stored in %s", index, e->string, e->valuestring,
                         s->paths[t->file]);
    }
    if (rc == 0 && cJSON_GetArraySize(map) != s->n)
        rc = df_fail("%s: the shards hold %d tensors but weight_map lists %d", index, s->n, cJSON_GetArraySize(map));
    cJSON_Delete(root);
    return rc;
}

int st_open_model(StSet *s, const char *dir) {
    memset(s, 0, sizeof *s);
    char *index = df_path_join(dir, "model.safetensors.index.json");
    char *single = df_path_join(dir, "model.safetensors");
    int rc;
    if (df_exists(index)) {
        s->source = df_strdup(index);
        rc = open_index(s, dir, index);
    } else if (df_exists(single)) {
        s->source = df_strdup(single);
        rc = st_add_file(s, single);
    } else {
        rc = df_fail("%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    free(index);
    free(single);
    if (rc < 0) st_free(s);
    return rc;
}

StTensor *st_find_mut(StSet *s, const char *name) {
    StTensor key = {.name = (char *)name};
    return bsearch(&key, s->t, (size_t)s->n, sizeof(StTensor), cmp_name);
}

const StTensor *st_find(const StSet *s, const char *name) { return st_find_mut((StSet *)s, name); }

static int read_range(const StSet *s, const StTensor *t, void *dst, uint64_t off, uint64_t n, int fd) {
    return df_pread_exact(fd, dst, n, t->offset + off, s->paths[t->file]);
}

static int open_tensor_file(const StSet *s, const StTensor *t) {
    int fd = open(s->paths[t->file], O_RDONLY);
    if (fd < 0) df_fail("%s: cannot open: %s", s->paths[t->file], strerror(errno));
    return fd;
}

int st_read_raw(const StSet *s, const StTensor *t, void *dst) {
    int fd = open_tensor_file(s, t);
    if (fd < 0) return -1;
    int rc = read_range(s, t, dst, 0, t->nbytes, fd);
    close(fd);
    return rc;
}

int st_read_f32(const StSet *s, const StTensor *t, float *dst) {
    if (!t->is_float)
        return df_fail("%s: tensor \"%s\" has dtype %s (expected F32, F16 or BF16)", s->paths[t->file], t->name,
                       t->dtype_name);
    if (t->dtype == DF_F32) return st_read_raw(s, t, dst);
    /* 16-bit values are read a chunk at a time and widened */
    enum { CHUNK = 1 << 22 };
    int fd = open_tensor_file(s, t);
    if (fd < 0) return -1;
    uint16_t *buf = df_malloc((size_t)CHUNK * 2);
    int rc = 0;
    for (uint64_t i = 0; i < t->numel && rc == 0; i += CHUNK) {
        size_t m = t->numel - i < CHUNK ? (size_t)(t->numel - i) : CHUNK;
        rc = read_range(s, t, buf, i * 2, m * 2, fd);
        if (rc == 0) df_convert_to_f32(dst + i, buf, m, t->dtype);
    }
    free(buf);
    close(fd);
    return rc;
}

void st_free(StSet *s) {
    for (int i = 0; i < s->n; i++) free(s->t[i].name);
    for (int i = 0; i < s->nfiles; i++) free(s->paths[i]);
    free(s->t);
    free(s->paths);
    free(s->source);
    memset(s, 0, sizeof *s);
}

/* ---- writing ---------------------------------------------------------------------------------- */

uint64_t st_write_nbytes(const StWriteTensor *t) {
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n * df_dtype_size(t->dtype);
}

static int cmp_write(const void *a, const void *b) {
    const StWriteTensor *x = *(const StWriteTensor *const *)a, *y = *(const StWriteTensor *const *)b;
    size_t sx = df_dtype_size(x->dtype), sy = df_dtype_size(y->dtype);
    if (sx != sy) return sx > sy ? -1 : 1; /* descending alignment, then name */
    return strcmp(x->name, y->name);
}

int st_write_file(const char *path, const StWriteTensor *ts, int n) {
    const StWriteTensor **ord = df_malloc((size_t)(n + 1) * sizeof *ord);
    for (int i = 0; i < n; i++) ord[i] = &ts[i];
    qsort(ord, (size_t)n, sizeof *ord, cmp_write);
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, ord[i]->name);
        cJSON_AddStringToObject(e, "dtype", df_dtype_name(ord[i]->dtype));
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < ord[i]->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ord[i]->shape[d]));
        uint64_t nb = st_write_nbytes(ord[i]);
        cJSON *of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)pos));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(pos + nb)));
        pos += nb;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t jlen = strlen(json), hlen = (jlen + 7) & ~(size_t)7;
    unsigned char *head = df_malloc(8 + hlen);
    for (int i = 0; i < 8; i++) head[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(head + 8, json, jlen);
    memset(head + 8 + jlen, ' ', hlen - jlen);
    cJSON_free(json);

    char *tmp = df_tmp_path(path);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) rc = df_fail("%s: cannot create: %s", tmp, strerror(errno));
    uint64_t off = 0;
    if (rc == 0) rc = df_pwrite_exact(fd, head, 8 + hlen, 0, tmp);
    off = 8 + hlen;
    enum { CHUNK = 1 << 22 };
    void *buf = df_malloc((size_t)CHUNK * 4);
    for (int i = 0; i < n && rc == 0; i++) {
        uint64_t numel = st_write_nbytes(ord[i]) / df_dtype_size(ord[i]->dtype);
        for (uint64_t j = 0; j < numel && rc == 0; j += CHUNK) {
            size_t m = numel - j < CHUNK ? (size_t)(numel - j) : CHUNK;
            df_convert_from_f32(buf, ord[i]->data + j, m, ord[i]->dtype);
            size_t nb = m * df_dtype_size(ord[i]->dtype);
            rc = df_pwrite_exact(fd, buf, nb, off, tmp);
            off += nb;
        }
    }
    free(buf);
    if (fd >= 0 && close(fd) != 0 && rc == 0) rc = df_fail("%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0) rc = df_commit_path(tmp, path);
    else unlink(tmp);
    free(tmp);
    free(head);
    free(ord);
    return rc;
}
