#include "depthfuse/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What cJSON accepts but cannot write back as read: a number past the double range (it keeps inf
 * and prints null), and an object naming a key twice (cJSON reads the first, Python's json the
 * last: transformers would load another model than ours). Sorting the names keeps the check
 * O(n log n) on a tokenizer's 128k-entry vocabulary. */
static int check_value(const cJSON *v, const char *what) {
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
        return df_fail("%s: \"%s\": a number out of the double range", what, v->string ? v->string : "(array item)");
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v)) return 0;
    int n = 0, rc = 0;
    for (const cJSON *c = v->child; c; c = c->next) n++;
    const char **names = cJSON_IsObject(v) && n > 1 ? df_malloc(sizeof(char *) * (size_t)n) : NULL;
    int k = 0;
    for (const cJSON *c = v->child; c && rc == 0; c = c->next) {
        if (names) names[k++] = c->string;
        rc = check_value(c, what);
    }
    if (rc == 0 && names) {
        qsort(names, (size_t)n, sizeof(char *), cmp_names);
        for (int i = 1; i < n && rc == 0; i++)
            if (!strcmp(names[i - 1], names[i])) rc = df_fail("%s: the key \"%s\" appears twice in one object", what, names[i]);
    }
    free(names);
    return rc;
}

int df_json_parse(const char *text, size_t len, const char *what, cJSON **root) {
    const char *end = NULL, *nul = memchr(text, 0, len);
    *root = NULL;
    /* cJSON would keep a string cut at the NUL, and the text could not be parsed again (fuzz_config) */
    if (nul) return df_fail("%s: NUL byte at offset %ld (not a JSON text)", what, (long)(nul - text));
    *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!*root) {
        long off = end ? (long)(end - text) : -1;
        return df_fail("%s: invalid JSON near byte %ld", what, off);
    }
    if (check_value(*root, what)) {
        cJSON_Delete(*root);
        *root = NULL;
        return -1;
    }
    return 0;
}

int df_json_load(const char *path, cJSON **root) {
    char *text;
    size_t len;
    DF_TRY(df_read_file(path, &text, &len));
    int rc = df_json_parse(text, len, path, root);
    free(text);
    return rc;
}

int df_json_as_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double d = item->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int get_int(const cJSON *it, const char *key, const char *file, int64_t *out) {
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || floor(d) != d || fabs(d) > 9007199254740992.0)
        return df_fail("%s: \"%s\" must be an integer", file, key);
    *out = (int64_t)d;
    return 0;
}

int df_json_int(const cJSON *obj, const char *key, const char *file, int64_t *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return df_fail("%s: missing \"%s\"", file, key);
    return get_int(it, key, file, out);
}

int df_json_num(const cJSON *obj, const char *key, const char *file, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return df_fail("%s: missing \"%s\"", file, key);
    if (!cJSON_IsNumber(it)) return df_fail("%s: \"%s\" must be a number", file, key);
    *out = it->valuedouble;
    return 0;
}

int df_json_opt_num(const cJSON *obj, const char *key, const char *file, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it)) return df_fail("%s: \"%s\" must be a number", file, key);
    *out = it->valuedouble;
    return 0;
}

int df_json_opt_bool(const cJSON *obj, const char *key, const char *file, int *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsBool(it)) return df_fail("%s: \"%s\" must be true or false", file, key);
    *out = cJSON_IsTrue(it);
    return 0;
}

int df_json_str(const cJSON *obj, const char *key, const char *file, const char **out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) return df_fail("%s: missing \"%s\"", file, key);
    if (!cJSON_IsString(it)) return df_fail("%s: \"%s\" must be a string", file, key);
    *out = it->valuestring;
    return 0;
}

int df_json_write(const char *path, const cJSON *root) {
    char *s = cJSON_Print(root);
    if (!s) return df_fail("%s: cannot serialise JSON", path);
    size_t n = strlen(s);
    char *buf = df_malloc(n + 2);
    memcpy(buf, s, n);
    buf[n] = '\n';
    cJSON_free(s);
    int rc = df_write_file(path, buf, n + 1);
    free(buf);
    return rc;
}
