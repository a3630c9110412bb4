#include "depthfuse/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"

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
