/* Patterns of Split, Replace and the ByteLevel regex. Regexes run on Oniguruma compiled exactly as
 * the reference implementation compiles them (onig crate: default syntax, no options, UTF-8), so
 * \s, \p{L}, \p{N}, (?i:...) and lookaheads mean the same thing; iteration follows the onig crate's
 * find_iter. Literal patterns are plain substring searches (the reference escapes them into a
 * regex, which matches the same leftmost non-overlapping occurrences). */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tok_internal.h"

static void onig_init_once(void) {
    static int done = 0;   /* tokenizer_load runs on one thread; onig_initialize must precede onig_new */
    if (done) return;
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    onig_initialize(&enc, 1);
    done = 1;
}

int pattern_literal(Pattern *p, const char *s, size_t n, const char *what) {
    *p = (Pattern){0};
    if (n == 0) return df_fail("%s: empty pattern", what);
    p->lit = df_malloc(n);
    memcpy(p->lit, s, n);
    p->litlen = n;
    return 0;
}

int pattern_regex(Pattern *p, const char *re, size_t n, int ncopies, const char *what) {
    onig_init_once();
    *p = (Pattern){0};
    p->re = df_calloc((size_t)ncopies, sizeof(regex_t *));
    p->region = df_calloc((size_t)ncopies, sizeof(OnigRegion *));
    p->ncopies = ncopies;
    for (int i = 0; i < ncopies; i++) {
        OnigErrorInfo einfo;
        int r = onig_new(&p->re[i], (const UChar *)re, (const UChar *)re + n, ONIG_OPTION_NONE,
                         ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &einfo);
        if (r != ONIG_NORMAL) {
            UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
            onig_error_code_to_str(msg, r, &einfo);
            p->re[i] = NULL;
            pattern_free(p);
            return df_fail("%s: regex /%.*s/ does not compile: %s", what, (int)(n > 200 ? 200 : n), re, (char *)msg);
        }
        p->region[i] = onig_region_new();
    }
    return 0;
}

void pattern_free(Pattern *p) {
    free(p->lit);
    for (int i = 0; i < p->ncopies; i++) {
        if (p->re[i]) onig_free(p->re[i]);
        if (p->region[i]) onig_region_free(p->region[i], 1);
    }
    free(p->re);
    free(p->region);
    *p = (Pattern){0};
}

static const char *find_lit(const char *s, size_t n, const char *lit, size_t m) {
    if (m > n) return NULL;
    const char *end = s + n - m + 1;
    for (const char *q = s; q < end; q++) {
        q = memchr(q, lit[0], (size_t)(end - q));
        if (!q) return NULL;
        if (!memcmp(q, lit, m)) return q;
    }
    return NULL;
}

int pattern_next(const Pattern *p, int thread, const char *s, size_t n, size_t limit, FindState *st,
                 size_t *ms, size_t *me) {
    if (limit > n + 1) limit = n + 1;
    for (;;) {
        if (st->last_end > n || st->last_end >= limit) return 0;
        size_t b, e;
        if (p->lit) {
            const char *q = find_lit(s + st->last_end, n - st->last_end, p->lit, p->litlen);
            if (!q) return 0;
            b = (size_t)(q - s);
            e = b + p->litlen;
        } else {
            /* always over the whole rest: Oniguruma's optimizer can miss matches that start before a
             * shorter search range but end after it */
            const UChar *u = (const UChar *)s;
            OnigRegion *rg = p->region[thread];
            int r = onig_search(p->re[thread], u, u + n, u + st->last_end, u + n, rg, ONIG_OPTION_NONE);
            if (r == ONIG_MISMATCH) return 0;
            if (r < 0) {
                UChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
                onig_error_code_to_str(msg, r);
                DF_FATAL("regex search failed: %s", (char *)msg);
            }
            b = (size_t)rg->beg[0];
            e = (size_t)rg->end[0];
        }
        if (b >= limit) return 0;   /* the state stays, so a later call goes on from here */
        /* find_iter: an empty match where the previous match ended is skipped by one character */
        if (e == b && st->has_match && st->last_match_end == e) {
            uint32_t cp;
            int k = st->last_end < n ? utf8_char((const unsigned char *)s + st->last_end, n - st->last_end, &cp) : 1;
            st->last_end += k > 0 ? (size_t)k : 1;
            continue;
        }
        st->last_end = st->last_match_end = e;
        st->has_match = 1;
        *ms = b;
        *me = e;
        return 1;
    }
}

void pattern_replace(const Pattern *p, int thread, const char *s, size_t n, const char *with, size_t wlen, Buf *out) {
    FindState st = find_start(0);
    size_t prev = 0, b, e;
    while (pattern_next(p, thread, s, n, n + 1, &st, &b, &e)) {
        buf_put(out, s + prev, b - prev);
        buf_put(out, with, wlen);
        prev = e;
    }
    buf_put(out, s + prev, n - prev);
}

int pattern_from_json(Pattern *p, const cJSON *j, int ncopies, const char *what) {
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(j, "String");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(j, "Regex");
    if (cJSON_IsString(str) && !re) return pattern_literal(p, str->valuestring, strlen(str->valuestring), what);
    if (cJSON_IsString(re) && !str) return pattern_regex(p, re->valuestring, strlen(re->valuestring), ncopies, what);
    return df_fail("%s: pattern must be {\"String\": ...} or {\"Regex\": ...}", what);
}
