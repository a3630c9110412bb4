/* Decoding: ids -> token strings (added tokens first, then the model's vocab) -> decoder steps
 * (Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace) -> one string. Each step maps
 * the list of token strings to a new list, as the reference's decode_chain does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

/* ---- token lists: token i is text[end[i-1], end[i]) ---------------------------------------------- */
typedef struct {
    Buf text;
    size_t *end;
    size_t n, cap;
} TokList;

static void tl_close(TokList *l) {   /* ends the token being written */
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->end = df_realloc(l->end, l->cap * sizeof(size_t));
    }
    l->end[l->n++] = l->text.n;
}

static void tl_push(TokList *l, const char *s, size_t n) {
    buf_put(&l->text, s, n);
    tl_close(l);
}

static const char *tl_get(const TokList *l, size_t i, size_t *n) {
    size_t b = i ? l->end[i - 1] : 0;
    *n = l->end[i] - b;
    return l->text.p ? l->text.p + b : ""; /* only empty tokens so far: no buffer yet */
}

static void tl_free(TokList *l) {
    buf_free(&l->text);
    free(l->end);
    *l = (TokList){0};
}

/* ---- steps ------------------------------------------------------------------------------------------ */
static void dec_bytelevel(const TokList *in, TokList *out) {
    Buf bytes = {0};
    for (size_t i = 0; i < in->n; i++) {
        size_t n, j = 0, mark = bytes.n;
        const char *s = tl_get(in, i, &n);
        while (j < n) {   /* every character back to its byte, or the token as it is */
            uint32_t cp;
            int k = utf8_char((const unsigned char *)s + j, n - j, &cp), b = k ? bytelevel_byte(cp) : -1;
            if (b < 0) break;
            buf_putc(&bytes, (char)b);
            j += (size_t)k;
        }
        if (j < n) {
            bytes.n = mark;
            buf_put(&bytes, s, n);
        }
    }
    utf8_lossy(&out->text, bytes.p, bytes.n);
    tl_close(out);
    buf_free(&bytes);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "<0xHH>" -> the byte (u8::from_str_radix accepts "+H" as well) */
static int fallback_byte(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int hi = hexval(s[3]), lo = hexval(s[4]);
    if (s[3] == '+' && lo >= 0) return lo;
    return hi >= 0 && lo >= 0 ? hi * 16 + lo : -1;
}

static void flush_bytes(Buf *bytes, TokList *out) {
    if (!bytes->n) return;
    if (utf8_check(bytes->p, bytes->n) == bytes->n) tl_push(out, bytes->p, bytes->n);
    else
        for (size_t k = 0; k < bytes->n; k++) tl_push(out, "\xEF\xBF\xBD", 3);   /* one U+FFFD per byte */
    bytes->n = 0;
}

static void dec_bytefallback(const TokList *in, TokList *out) {
    Buf bytes = {0};
    for (size_t i = 0; i < in->n; i++) {
        size_t n;
        const char *s = tl_get(in, i, &n);
        int b = fallback_byte(s, n);
        if (b >= 0) {
            buf_putc(&bytes, (char)b);
            continue;
        }
        flush_bytes(&bytes, out);
        tl_push(out, s, n);
    }
    flush_bytes(&bytes, out);
    buf_free(&bytes);
}

static void dec_strip(const DecStep *d, const TokList *in, TokList *out) {
    for (size_t i = 0; i < in->n; i++) {
        size_t n, b = 0, e;
        const char *s = tl_get(in, i, &n);
        uint32_t cp;
        for (int k = 0; k < d->start && b < n; k++) {
            int len = utf8_char((const unsigned char *)s + b, n - b, &cp);
            if (cp != d->ch) break;
            b += (size_t)len;
        }
        e = n;
        for (int k = 0; k < d->stop && e > b; k++) {
            size_t p = e - 1;
            while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
            utf8_char((const unsigned char *)s + p, e - p, &cp);
            if (cp != d->ch) break;
            e = p;
        }
        tl_push(out, s + b, e - b);
    }
}

/* the replacement character becomes a space; in the first token it is dropped when a prefix was
 * prepended on encoding */
static void dec_metaspace(const DecStep *d, const TokList *in, TokList *out) {
    for (size_t i = 0; i < in->n; i++) {
        size_t n;
        const char *s = tl_get(in, i, &n);
        for (size_t j = 0; j < n;) {
            uint32_t cp;
            int len = utf8_char((const unsigned char *)s + j, n - j, &cp);
            if (cp != d->ch) buf_put(&out->text, s + j, (size_t)len);
            else if (!(i == 0 && d->prepend)) buf_putc(&out->text, ' ');
            j += (size_t)len;
        }
        tl_close(out);
    }
}

static void dec_step(const DecStep *d, const TokList *in, TokList *out) {
    switch (d->kind) {
    case DEC_BYTELEVEL: dec_bytelevel(in, out); return;
    case DEC_BYTEFALLBACK: dec_bytefallback(in, out); return;
    case DEC_FUSE: buf_put(&out->text, in->text.p, in->text.n); tl_close(out); return;
    case DEC_STRIP: dec_strip(d, in, out); return;
    case DEC_METASPACE: dec_metaspace(d, in, out); return;
    case DEC_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            size_t n;
            const char *s = tl_get(in, i, &n);
            pattern_replace(&d->pat, 0, s, n, d->text, d->textlen, &out->text);
            tl_close(out);
        }
        return;
    }
}

int tokenizer_decode(const Tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **text, size_t *len) {
    TokList a = {0}, b = {0};
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->nid || !t->id_text[id]) {
            tl_free(&a);
            return df_fail("token id %d is not in the vocabulary (%d ids)", id, t->nid);
        }
        if (skip_special && t->is_special[id]) continue;
        tl_push(&a, t->id_text[id], strlen(t->id_text[id]));
    }
    if (!t->has_decoder) {   /* the reference joins tokens with spaces */
        for (size_t i = 0; i < a.n; i++) {
            size_t k;
            const char *s = tl_get(&a, i, &k);
            if (i) buf_putc(&b.text, ' ');
            buf_put(&b.text, s, k);
        }
        tl_close(&b);
    } else {
        for (int k = 0; k < t->ndec; k++) {
            b.text.n = 0;
            b.n = 0;
            dec_step(&t->dec[k], &a, &b);
            TokList x = a;
            a = b;
            b = x;
        }
        b.text.n = 0;
        buf_put(&b.text, a.text.p, a.text.n);   /* decode = the chain's tokens joined */
    }
    buf_putc(&b.text, 0);
    *len = b.text.n - 1;
    *text = b.text.p;
    b.text = (Buf){0};
    tl_free(&a);
    tl_free(&b);
    return 0;
}

/* ---- parsing ------------------------------------------------------------------------------------------ */
static int one_char(const cJSON *j, const char *key, const char *what, uint32_t *cp) {
    const char *s;
    DF_TRY(df_json_str(j, key, what, &s));
    size_t n = strlen(s);
    if (!n || utf8_char((const unsigned char *)s, n, cp) != (int)n) return df_fail("%s: \"%s\" must be one character", what, key);
    return 0;
}

static int add_dec(const cJSON *j, DecStep **steps, int *n, const char *file) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return df_fail("%s: decoder without a \"type\"", file);
    const char *ty = type->valuestring;
    char what[256];
    snprintf(what, sizeof what, "%s: decoder %s", file, ty);
    DecStep d = {0};
    if (!strcmp(ty, "Sequence")) {
        static const char *const keys[] = {"type", "decoders", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "decoders"), *it;
        if (!cJSON_IsArray(list)) return df_fail("%s: \"decoders\" must be a list", what);
        cJSON_ArrayForEach(it, list) DF_TRY(add_dec(it, steps, n, file));
        return 0;
    } else if (!strcmp(ty, "ByteLevel")) {
        static const char *const keys[] = {"type", "add_prefix_space", "trim_offsets", "use_regex", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        d.kind = DEC_BYTELEVEL;
    } else if (!strcmp(ty, "ByteFallback") || !strcmp(ty, "Fuse")) {
        static const char *const keys[] = {"type", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        d.kind = !strcmp(ty, "Fuse") ? DEC_FUSE : DEC_BYTEFALLBACK;
    } else if (!strcmp(ty, "Strip")) {
        static const char *const keys[] = {"type", "content", "start", "stop", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        int64_t start, stop;
        DF_TRY(one_char(j, "content", what, &d.ch));
        DF_TRY(df_json_int(j, "start", what, &start));
        DF_TRY(df_json_int(j, "stop", what, &stop));
        if (start < 0 || stop < 0 || start > 1 << 20 || stop > 1 << 20) return df_fail("%s: bad start/stop", what);
        d.kind = DEC_STRIP;
        d.start = (int)start;
        d.stop = (int)stop;
    } else if (!strcmp(ty, "Replace")) {
        static const char *const keys[] = {"type", "pattern", "content", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const char *content;
        DF_TRY(df_json_str(j, "content", what, &content));
        DF_TRY(pattern_from_json(&d.pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), 1, what));
        d.kind = DEC_REPLACE;
        d.text = df_strdup(content);
        d.textlen = strlen(content);
    } else if (!strcmp(ty, "Metaspace")) {
        static const char *const keys[] = {"type", "replacement", "prepend_scheme", "split", "add_prefix_space",
                                           "str_rep", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        DF_TRY(one_char(j, "replacement", what, &d.ch));
        int legacy_prefix = 1;
        DF_TRY(df_json_opt_bool(j, "add_prefix_space", what, &legacy_prefix));
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
        const char *scheme = legacy_prefix ? "always" : "never";
        if (ps && !cJSON_IsNull(ps)) DF_TRY(df_json_str(j, "prepend_scheme", what, &scheme));
        d.kind = DEC_METASPACE;
        d.prepend = strcmp(scheme, "never") != 0;
    } else {
        return df_fail("%s: decoder '%s' is not supported (supported: Sequence, ByteLevel, ByteFallback, Fuse, "
                       "Strip, Replace, Metaspace)", file, ty);
    }
    *steps = df_realloc(*steps, sizeof(DecStep) * (size_t)(*n + 1));
    (*steps)[(*n)++] = d;
    return 0;
}

int decode_parse(const cJSON *j, DecStep **steps, int *n, int *has_decoder, const char *file) {
    *steps = NULL;
    *n = 0;
    *has_decoder = j && !cJSON_IsNull(j);
    if (!*has_decoder) return 0;
    if (!cJSON_IsObject(j)) return df_fail("%s: \"decoder\" must be an object or null", file);
    return add_dec(j, steps, n, file);
}

void decode_free(DecStep *steps, int n) {
    for (int i = 0; i < n; i++) {
        pattern_free(&steps[i].pat);
        free(steps[i].text);
    }
    free(steps);
}
