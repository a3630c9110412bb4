/* Post-processors, applied when special tokens are asked for: TemplateProcessing (the ids its
 * single-sequence template puts around the text), ByteLevel (ids unchanged; it only trims offsets),
 * and Sequence of those. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

static void push_ids(int32_t **v, int *n, const int32_t *ids, int k) {
    *v = df_realloc(*v, sizeof(int32_t) * (size_t)(*n + k + 1));
    if (k > 0) memcpy(*v + *n, ids, sizeof(int32_t) * (size_t)k);
    *n += k;
}

/* the ids of one template SpecialToken, from the processor's special_tokens table */
static int special_ids(const cJSON *table, const char *name, int32_t *ids, int *k, const char *what) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(table, name);
    const cJSON *list = e ? cJSON_GetObjectItemCaseSensitive(e, "ids") : NULL, *it;
    if (!cJSON_IsArray(list)) return df_fail("%s: special token '%s' is not in special_tokens", what, name);
    *k = 0;
    cJSON_ArrayForEach(it, list) {
        uint64_t id;
        if (df_json_as_u64(it, &id) < 0 || id >= INT32_MAX || *k == 64)
            return df_fail("%s: bad ids of special token '%s'", what, name);
        ids[(*k)++] = (int32_t)id;
    }
    return 0;
}

static int parse_template(PostProc *pp, const cJSON *j, const char *what) {
    static const char *const keys[] = {"type", "single", "pair", "special_tokens", NULL};
    DF_TRY(json_only_keys(j, keys, what));
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(j, "single"), *it;
    const cJSON *table = cJSON_GetObjectItemCaseSensitive(j, "special_tokens");
    if (!cJSON_IsArray(single)) return df_fail("%s: \"single\" must be a list", what);
    int32_t *pre = NULL, *suf = NULL;
    int npre = 0, nsuf = 0, seen_a = 0, rc = 0;
    cJSON_ArrayForEach(it, single) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(sp ? sp : sq, "id");
        if (!cJSON_IsString(id)) {
            rc = df_fail("%s: template pieces must be SpecialToken or Sequence with an id", what);
            break;
        }
        if (sq) {
            if (strcmp(id->valuestring, "A") || seen_a++) {
                rc = df_fail("%s: the single template must hold sequence A exactly once", what);
                break;
            }
            continue;
        }
        int32_t ids[64];
        int k = 0;
        if ((rc = special_ids(table, id->valuestring, ids, &k, what)) < 0) break;
        if (seen_a) push_ids(&suf, &nsuf, ids, k);
        else push_ids(&pre, &npre, ids, k);
    }
    if (rc == 0 && !seen_a) rc = df_fail("%s: the single template has no sequence A", what);
    if (rc == 0) {
        /* inside a Sequence, a later template wraps what the earlier ones produced */
        int32_t *p2 = NULL, *s2 = NULL;
        int np2 = 0, ns2 = 0;
        push_ids(&p2, &np2, pre, npre);
        push_ids(&p2, &np2, pp->prefix, pp->nprefix);
        push_ids(&s2, &ns2, pp->suffix, pp->nsuffix);
        push_ids(&s2, &ns2, suf, nsuf);
        free(pp->prefix);
        free(pp->suffix);
        *pp = (PostProc){p2, s2, np2, ns2};
    }
    free(pre);
    free(suf);
    return rc;
}

static int add_proc(PostProc *pp, const cJSON *j, const char *file) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return df_fail("%s: post_processor without a \"type\"", file);
    const char *ty = type->valuestring;
    char what[256];
    snprintf(what, sizeof what, "%s: post_processor %s", file, ty);
    if (!strcmp(ty, "Sequence")) {
        static const char *const keys[] = {"type", "processors", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "processors"), *it;
        if (!cJSON_IsArray(list)) return df_fail("%s: \"processors\" must be a list", what);
        cJSON_ArrayForEach(it, list) DF_TRY(add_proc(pp, it, file));
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        static const char *const keys[] = {"type", "add_prefix_space", "trim_offsets", "use_regex", NULL};
        return json_only_keys(j, keys, what);
    }
    if (!strcmp(ty, "TemplateProcessing")) return parse_template(pp, j, what);
    return df_fail("%s: post_processor '%s' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)", file, ty);
}

int postprocess_parse(PostProc *pp, const cJSON *j, const char *file) {
    *pp = (PostProc){0};
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return df_fail("%s: \"post_processor\" must be an object or null", file);
    return add_proc(pp, j, file);
}
