/* The BPE model of a tokenizer.json: vocab, merges ("a b" strings or ["a", "b"] pairs), unk_token,
 * byte_fallback, fuse_unk, ignore_merges. With a ByteLevel pre-tokenizer the model is keyed by raw
 * bytes (each token's characters mapped back through GPT-2's table), so words never need mapping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

/* a token of the byte-level alphabet back to its bytes; 0 when a character is outside it */
static int bytelevel_decode(const char *s, Buf *out) {
    size_t n = strlen(s);
    out->n = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_char((const unsigned char *)s + i, n - i, &cp);
        int b = k ? bytelevel_byte(cp) : -1;
        if (b < 0) return 0;
        buf_putc(out, (char)b);
        i += (size_t)k;
    }
    return 1;
}

static int parse_vocab(Bpe *m, const cJSON *vocab, StrMap *by_text, char ***id_text, int *nid, const char *what) {
    if (!cJSON_IsObject(vocab)) return df_fail("%s: \"vocab\" must be an object", what);
    int n = cJSON_GetArraySize(vocab), max_id = -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        uint64_t id;
        if (df_json_as_u64(it, &id) < 0 || id > INT32_MAX - 1)
            return df_fail("%s: vocab entry '%s' must be a non-negative integer id", what, it->string);
        if ((int)id > max_id) max_id = (int)id;
    }
    *nid = max_id + 1;
    *id_text = df_calloc((size_t)*nid, sizeof(char *));
    strmap_init(by_text, (size_t)n);
    strmap_init(&m->vocab, (size_t)n);
    Buf raw = {0};
    cJSON_ArrayForEach(it, vocab) {
        int32_t id = (int32_t)it->valuedouble;
        if ((*id_text)[id]) {
            buf_free(&raw);
            return df_fail("%s: vocab id %d is given to both '%s' and '%s'", what, id, (*id_text)[id], it->string);
        }
        (*id_text)[id] = df_strdup(it->string);
        strmap_put(by_text, it->string, strlen(it->string), id);
        /* tokens with characters outside the alphabet can never come out of a byte-level word */
        if (!m->byte_level) strmap_put(&m->vocab, it->string, strlen(it->string), id);
        else if (bytelevel_decode(it->string, &raw)) strmap_put(&m->vocab, raw.p, raw.n, id);
    }
    buf_free(&raw);
    return 0;
}

static int merge_pair(const cJSON *it, const char **a, const char **b, Buf *tmp) {
    if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
        cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
        *a = cJSON_GetArrayItem(it, 0)->valuestring;
        *b = cJSON_GetArrayItem(it, 1)->valuestring;
        return 0;
    }
    if (!cJSON_IsString(it)) return -1;
    /* "a b": exactly one space, as the reference requires */
    const char *s = it->valuestring, *sp = strchr(s, ' ');
    size_t n = strlen(s);
    if (!sp || strchr(sp + 1, ' ')) return -1;
    tmp->n = 0;
    buf_put(tmp, s, n + 1);
    tmp->p[sp - s] = 0;
    *a = tmp->p;
    *b = tmp->p + (sp - s) + 1;
    return 0;
}

static int parse_merges(Bpe *m, const cJSON *merges, const StrMap *by_text, const char *what) {
    if (!cJSON_IsArray(merges)) return df_fail("%s: \"merges\" must be a list", what);
    pairmap_init(&m->merges, (size_t)cJSON_GetArraySize(merges));
    Buf cat = {0}, tmp = {0};
    uint32_t rank = 0;
    const cJSON *it;
    int rc = 0;
    cJSON_ArrayForEach(it, merges) {
        if (cJSON_IsString(it) && !strncmp(it->valuestring, "#version", 8)) continue;   /* not a merge */
        const char *a, *b;
        if (merge_pair(it, &a, &b, &tmp) < 0) {
            rc = df_fail("%s: merge %u is neither \"a b\" nor [\"a\", \"b\"]", what, rank + 1);
            break;
        }
        cat.n = 0;
        buf_put(&cat, a, strlen(a));
        buf_put(&cat, b, strlen(b));
        int32_t ia = strmap_get(by_text, a, strlen(a)), ib = strmap_get(by_text, b, strlen(b));
        int32_t ic = strmap_get(by_text, cat.p, cat.n);
        if (ia < 0 || ib < 0 || ic < 0) {
            rc = df_fail("%s: merge %u ('%s' '%s'): '%s' is not in the vocab", what, rank + 1, a, b,
                         ia < 0 ? a : ib < 0 ? b : "the merged token");
            break;
        }
        pairmap_put(&m->merges, ia, ib, rank++, ic);   /* a repeated merge keeps its last rank */
    }
    buf_free(&cat);
    buf_free(&tmp);
    return rc;
}

/* single-unit ids: bytes (byte-level) or ASCII characters, and the <0xNN> byte fallback tokens */
static void unit_tables(Bpe *m, const StrMap *by_text) {
    for (int b = 0; b < 256; b++) {
        char c = (char)b, name[8];
        m->unit[b] = (m->byte_level || b < 128) ? strmap_get(&m->vocab, &c, 1) : -1;
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->fallback[b] = m->byte_fallback ? strmap_get(by_text, name, strlen(name)) : -1;
    }
}

int bpe_parse(Bpe *m, const cJSON *model, int byte_level, char ***id_text, int *nid, StrMap *by_text, const char *file) {
    *m = (Bpe){.byte_level = byte_level, .unk_id = -1};
    char what[256];
    snprintf(what, sizeof what, "%s: model", file);
    if (!cJSON_IsObject(model)) return df_fail("%s: missing \"model\"", file);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))
        return df_fail("%s: model type '%s' is not supported (supported: BPE)", file,
                       cJSON_IsString(type) ? type->valuestring : "?");
    static const char *const keys[] = {"type", "dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix",
                                       "fuse_unk", "byte_fallback", "ignore_merges", "vocab", "merges", NULL};
    DF_TRY(json_only_keys(model, keys, what));
    double dropout = 0;
    DF_TRY(df_json_opt_num(model, "dropout", what, &dropout));
    if (dropout != 0) return df_fail("%s: BPE dropout %g is not supported (tokenization would be random)", file, dropout);
    static const char *const unsupported[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, unsupported[i]);
        if (x && !cJSON_IsNull(x)) return df_fail("%s: BPE %s is not supported", file, unsupported[i]);
    }
    DF_TRY(df_json_opt_bool(model, "fuse_unk", what, &m->fuse_unk));
    DF_TRY(df_json_opt_bool(model, "byte_fallback", what, &m->byte_fallback));
    DF_TRY(df_json_opt_bool(model, "ignore_merges", what, &m->ignore_merges));
    int rc = parse_vocab(m, cJSON_GetObjectItemCaseSensitive(model, "vocab"), by_text, id_text, nid, what);
    if (rc == 0) rc = parse_merges(m, cJSON_GetObjectItemCaseSensitive(model, "merges"), by_text, what);
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (rc == 0 && unk && !cJSON_IsNull(unk)) {
        if (!cJSON_IsString(unk)) rc = df_fail("%s: \"unk_token\" must be a string or null", what);
        else if ((m->unk_id = strmap_get(by_text, unk->valuestring, strlen(unk->valuestring))) < 0)
            rc = df_fail("%s: unk_token '%s' is not in the vocab", what, unk->valuestring);
    }
    if (rc == 0) unit_tables(m, by_text);
    return rc;
}

void bpe_free(Bpe *m) {
    strmap_free(&m->vocab);
    pairmap_free(&m->merges);
}
