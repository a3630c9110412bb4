/* Normalizers: Sequence, Prepend, Replace, NFC. Each runs on one piece of raw text between added
 * tokens, so Prepend puts its prefix after every added token too, as the reference does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

static int add_step(const cJSON *j, NormStep **steps, int *n, int ncopies, const char *file) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return df_fail("%s: normalizer without a \"type\"", file);
    const char *ty = type->valuestring;
    char what[256];
    snprintf(what, sizeof what, "%s: normalizer %s", file, ty);
    if (!strcmp(ty, "Sequence")) {
        static const char *const keys[] = {"type", "normalizers", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
        if (!cJSON_IsArray(list)) return df_fail("%s: \"normalizers\" must be a list", what);
        const cJSON *it;
        cJSON_ArrayForEach(it, list) DF_TRY(add_step(it, steps, n, ncopies, file));
        return 0;
    }
    NormStep s = {0};
    if (!strcmp(ty, "Prepend")) {
        static const char *const keys[] = {"type", "prepend", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const char *pre;
        DF_TRY(df_json_str(j, "prepend", what, &pre));
        s.kind = NORM_PREPEND;
        s.text = df_strdup(pre);
        s.textlen = strlen(pre);
    } else if (!strcmp(ty, "Replace")) {
        static const char *const keys[] = {"type", "pattern", "content", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const char *content;
        DF_TRY(df_json_str(j, "content", what, &content));
        DF_TRY(pattern_from_json(&s.pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), ncopies, what));
        s.kind = NORM_REPLACE;
        s.text = df_strdup(content);
        s.textlen = strlen(content);
    } else if (!strcmp(ty, "NFC")) {
        static const char *const keys[] = {"type", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        s.kind = NORM_NFC;
    } else {
        return df_fail("%s: normalizer '%s' is not supported (supported: Sequence, Prepend, Replace, NFC)", file, ty);
    }
    *steps = df_realloc(*steps, sizeof(NormStep) * (size_t)(*n + 1));
    (*steps)[(*n)++] = s;
    return 0;
}

int normalize_parse(const cJSON *j, NormStep **steps, int *n, int ncopies, const char *file) {
    *steps = NULL;
    *n = 0;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return df_fail("%s: \"normalizer\" must be an object or null", file);
    return add_step(j, steps, n, ncopies, file);
}

void normalize_free(NormStep *steps, int n) {
    for (int i = 0; i < n; i++) {
        free(steps[i].text);
        pattern_free(&steps[i].pat);
    }
    free(steps);
}

void normalize_apply(const NormStep *steps, int n, const char *s, size_t len, Buf *out) {
    Buf tmp = {0};
    out->n = 0;
    buf_put(out, s, len);
    for (int i = 0; i < n; i++) {
        const NormStep *st = &steps[i];
        tmp.n = 0;
        switch (st->kind) {
        case NORM_PREPEND:
            if (out->n == 0) continue;   /* the reference prepends to non-empty text only */
            buf_put(&tmp, st->text, st->textlen);
            buf_put(&tmp, out->p, out->n);
            break;
        case NORM_REPLACE: pattern_replace(&st->pat, 0, out->p, out->n, st->text, st->textlen, &tmp); break;
        case NORM_NFC: nfc_apply(out->p, out->n, &tmp); break;
        }
        Buf t = *out;
        *out = tmp;
        tmp = t;
    }
    buf_free(&tmp);
}

int tokenizer_normalize(const Tokenizer *t, const char *text, size_t len, char **out, size_t *out_len) {
    size_t bad = utf8_check(text, len);
    if (bad < len) return df_fail("invalid UTF-8 at byte %zu", bad);
    Buf b = {0};
    normalize_apply(t->norm, t->nnorm, text, len, &b);
    buf_putc(&b, 0);
    *out = b.p;
    *out_len = b.n - 1;
    return 0;
}
