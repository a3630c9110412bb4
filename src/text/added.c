/* Added tokens: split out of the text before anything else runs on it, matched leftmost-longest
 * (the reference's Aho-Corasick MatchKind::LeftmostLongest) with their single_word, lstrip and
 * rstrip rules. Tokens with normalized=false are matched in the raw text, the others in each
 * normalized piece, against their own normalized form. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

/* ---- byte trie ------------------------------------------------------------------------------------ */
typedef struct {
    int32_t child, sibling, tok;   /* tok: index into Added.tok of the token ending here, -1 */
    unsigned char byte;
} TrieNode;
struct Trie {
    TrieNode *node;
    int n;
    uint8_t first[256];            /* bytes a token can start with */
};

static int32_t trie_child(const Trie *t, int32_t node, unsigned char b) {
    for (int32_t c = t->node[node].child; c >= 0; c = t->node[c].sibling)
        if (t->node[c].byte == b) return c;
    return -1;
}

static void trie_add(Trie *t, const char *s, size_t n, int tok) {
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = trie_child(t, node, (unsigned char)s[i]);
        if (c < 0) {
            t->node = df_realloc(t->node, sizeof(TrieNode) * (size_t)(t->n + 1));
            c = t->n++;
            t->node[c] = (TrieNode){-1, t->node[node].child, -1, (unsigned char)s[i]};
            t->node[node].child = c;
        }
        node = c;
    }
    if (t->node[node].tok < 0) t->node[node].tok = tok;   /* the first of equal contents wins */
    t->first[(unsigned char)s[0]] = 1;
}

static Trie *trie_new(void) {
    Trie *t = df_calloc(1, sizeof(Trie));
    t->node = df_malloc(sizeof(TrieNode));
    t->node[0] = (TrieNode){-1, -1, -1, 0};
    t->n = 1;
    return t;
}

static void trie_free(Trie *t) {
    if (!t) return;
    free(t->node);
    free(t);
}

/* leftmost match at or after from, the longest one there */
static int trie_find(const Trie *t, const char *s, size_t n, size_t from, size_t *ms, size_t *me, int *tok) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        if (!t->first[u[i]]) continue;
        int best = -1;
        size_t end = i;
        int32_t node = 0;
        for (size_t j = i; j < n && (node = trie_child(t, node, u[j])) >= 0; j++)
            if (t->node[node].tok >= 0) {
                best = t->node[node].tok;
                end = j + 1;
            }
        if (best >= 0) {
            *ms = i;
            *me = end;
            *tok = best;
            return 1;
        }
    }
    return 0;
}

/* ---- \w and \s of the reference's checks (Rust regex, Unicode) -------------------------------------- */
static int class_at(const Pattern *p, const char *s, size_t n, size_t at) {
    const UChar *u = (const UChar *)s;
    return onig_match(p->re[0], u, u + n, u + at, NULL, ONIG_OPTION_NONE) > 0;
}

static size_t char_before(const char *s, size_t at) {
    do at--;
    while (at > 0 && ((unsigned char)s[at] & 0xC0) == 0x80);
    return at;
}

static size_t char_after(const char *s, size_t n, size_t at) {
    uint32_t cp;
    return at + (size_t)utf8_char((const unsigned char *)s + at, n - at, &cp);
}

void added_split(const Added *a, int normalized, const char *s, size_t n, Parts *out) {
    const Trie *t = normalized ? a->norm : a->raw;
    size_t pos = 0, start_offset = 0, b, e;
    int k;
    out->n = 0;
    while (t && trie_find(t, s, n, pos, &b, &e, &k)) {
        pos = e;
        const AddedToken *tok = &a->tok[k];
        if (tok->single_word) {
            int word_before = b > 0 && class_at(&a->word_end, s, n, char_before(s, b));
            int word_after = e < n && class_at(&a->word_end, s, n, e);
            if (word_before || word_after) continue;
        }
        size_t start = b, stop = e;
        if (tok->lstrip) {
            size_t ls = b;
            while (ls > 0 && class_at(&a->space, s, n, char_before(s, ls))) ls = char_before(s, ls);
            start = ls > start_offset ? ls : start_offset;
        }
        if (tok->rstrip)
            while (stop < n && class_at(&a->space, s, n, stop)) stop = char_after(s, n, stop);
        if (out->n + 2 > out->cap) {
            out->cap = out->cap ? 2 * out->cap : 16;
            out->p = df_realloc(out->p, out->cap * sizeof(Part));
        }
        if (start_offset < start) out->p[out->n++] = (Part){start_offset, start, -1};
        out->p[out->n++] = (Part){start, stop, tok->id};
        start_offset = stop;
    }
    if (start_offset < n) {
        if (out->n + 1 > out->cap) {
            out->cap = out->cap ? 2 * out->cap : 16;
            out->p = df_realloc(out->p, out->cap * sizeof(Part));
        }
        out->p[out->n++] = (Part){start_offset, n, -1};
    }
}

/* ---- parsing ------------------------------------------------------------------------------------------ */
static int parse_token(const cJSON *j, AddedToken *t, const char *file, int index) {
    char what[256];
    snprintf(what, sizeof what, "%s: added_tokens[%d]", file, index);
    static const char *const keys[] = {"id", "content", "single_word", "lstrip", "rstrip", "normalized", "special", NULL};
    DF_TRY(json_only_keys(j, keys, what));
    int64_t id;
    const char *content;
    DF_TRY(df_json_int(j, "id", what, &id));
    DF_TRY(df_json_str(j, "content", what, &content));
    if (id < 0 || id >= INT32_MAX) return df_fail("%s: id %lld out of range", what, (long long)id);
    *t = (AddedToken){.content = df_strdup(content), .len = strlen(content), .id = (int32_t)id, .normalized = 1};
    DF_TRY(df_json_opt_bool(j, "special", what, &t->special));
    DF_TRY(df_json_opt_bool(j, "single_word", what, &t->single_word));
    DF_TRY(df_json_opt_bool(j, "lstrip", what, &t->lstrip));
    DF_TRY(df_json_opt_bool(j, "rstrip", what, &t->rstrip));
    DF_TRY(df_json_opt_bool(j, "normalized", what, &t->normalized));
    if (!t->len) return df_fail("%s: empty content", what);
    return 0;
}

int added_parse(Added *a, const cJSON *arr, const NormStep *norm, int nnorm, const char *file) {
    *a = (Added){0};
    if (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr)) return df_fail("%s: \"added_tokens\" must be a list", file);
    int n = arr ? cJSON_GetArraySize(arr) : 0;
    a->tok = df_calloc((size_t)n + 1, sizeof(AddedToken));
    for (int i = 0; i < n; i++) {
        DF_TRY(parse_token(cJSON_GetArrayItem(arr, i), &a->tok[i], file, i));
        a->n++;
    }
    static const char WORD[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]", SPACE[] = "\\p{White_Space}";
    DF_TRY(pattern_regex(&a->word_end, WORD, sizeof WORD - 1, 1, file));
    DF_TRY(pattern_regex(&a->space, SPACE, sizeof SPACE - 1, 1, file));
    /* the reference lists special tokens before the others when it builds its matchers */
    Buf nf = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < a->n; i++) {
            AddedToken *t = &a->tok[i];
            if (t->special != (pass == 0)) continue;
            if (!t->normalized) {
                if (!a->raw) a->raw = trie_new();
                trie_add(a->raw, t->content, t->len, i);
                continue;
            }
            normalize_apply(norm, nnorm, t->content, t->len, &nf);
            if (!nf.n) continue;
            if (!a->norm) a->norm = trie_new();
            trie_add(a->norm, nf.p, nf.n, i);
        }
    buf_free(&nf);
    return 0;
}

void added_free(Added *a) {
    for (int i = 0; i < a->n; i++) free(a->tok[i].content);
    free(a->tok);
    trie_free(a->raw);
    trie_free(a->norm);
    pattern_free(&a->word_end);
    pattern_free(&a->space);
    *a = (Added){0};
}
