/* Pre-tokenizers: Sequence, Split, ByteLevel, Metaspace, compiled into a list of steps (split on a
 * pattern, prefix, replace) that run on each piece in turn; words reach the model in text order.
 * ByteLevel's byte -> character mapping is not a step: the model works on raw bytes instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tok_internal.h"

/* the pattern of the reference's ByteLevel pre-tokenizer (GPT-2) */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int push_step(PreStep **steps, int *n, PreStep s, const char *file) {
    if (*n == MAX_PRE_STEPS) return df_fail("%s: pre_tokenizer has more than %d steps", file, MAX_PRE_STEPS);
    *steps = df_realloc(*steps, sizeof(PreStep) * (size_t)(*n + 1));
    (*steps)[(*n)++] = s;
    return 0;
}

static PreStep text_step(PreKind kind, const char *text, int first_only) {
    return (PreStep){.kind = kind, .text = df_strdup(text), .textlen = strlen(text), .first_only = first_only};
}

static int parse_behavior(const cJSON *j, SplitBehavior *b, const char *what) {
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    const char *s;
    DF_TRY(df_json_str(j, "behavior", what, &s));
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i])) {
            *b = (SplitBehavior)i;
            return 0;
        }
    return df_fail("%s: unknown split behavior '%s'", what, s);
}

static int add_pretok(const cJSON *j, PreStep **steps, int *n, int *byte_level, int ncopies, const char *file) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(type)) return df_fail("%s: pre_tokenizer without a \"type\"", file);
    const char *ty = type->valuestring;
    char what[256];
    snprintf(what, sizeof what, "%s: pre_tokenizer %s", file, ty);
    if (*byte_level) return df_fail("%s: pre_tokenizer %s after ByteLevel is not supported (ByteLevel must come last)", file, ty);
    if (!strcmp(ty, "Sequence")) {
        static const char *const keys[] = {"type", "pretokenizers", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(j, "pretokenizers"), *it;
        if (!cJSON_IsArray(list)) return df_fail("%s: \"pretokenizers\" must be a list", what);
        cJSON_ArrayForEach(it, list) DF_TRY(add_pretok(it, steps, n, byte_level, ncopies, file));
        return 0;
    }
    if (!strcmp(ty, "ByteLevel")) {
        static const char *const keys[] = {"type", "add_prefix_space", "trim_offsets", "use_regex", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        int prefix = 1, use_regex = 1, trim = 1;   /* the reference's defaults */
        DF_TRY(df_json_opt_bool(j, "add_prefix_space", what, &prefix));
        DF_TRY(df_json_opt_bool(j, "use_regex", what, &use_regex));
        DF_TRY(df_json_opt_bool(j, "trim_offsets", what, &trim));   /* offsets only */
        if (prefix) DF_TRY(push_step(steps, n, text_step(PRE_PREFIX, " ", 0), file));
        if (use_regex) {
            PreStep s = {.kind = PRE_SPLIT, .behavior = SPLIT_ISOLATED};
            DF_TRY(pattern_regex(&s.pat, GPT2_PATTERN, sizeof GPT2_PATTERN - 1, ncopies, what));
            DF_TRY(push_step(steps, n, s, file));
        }
        *byte_level = 1;
        return 0;
    }
    if (!strcmp(ty, "Split")) {
        static const char *const keys[] = {"type", "pattern", "behavior", "invert", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        PreStep s = {.kind = PRE_SPLIT};
        DF_TRY(parse_behavior(j, &s.behavior, what));
        DF_TRY(df_json_opt_bool(j, "invert", what, &s.invert));
        DF_TRY(pattern_from_json(&s.pat, cJSON_GetObjectItemCaseSensitive(j, "pattern"), ncopies, what));
        return push_step(steps, n, s, file);
    }
    if (!strcmp(ty, "Metaspace")) {
        static const char *const keys[] = {"type", "replacement", "prepend_scheme", "split", "add_prefix_space",
                                           "str_rep", NULL};
        DF_TRY(json_only_keys(j, keys, what));
        const char *rep, *scheme = NULL;
        DF_TRY(df_json_str(j, "replacement", what, &rep));
        uint32_t cp;
        if (!*rep || utf8_char((const unsigned char *)rep, strlen(rep), &cp) != (int)strlen(rep))
            return df_fail("%s: \"replacement\" must be one character", what);
        int split = 1, legacy_prefix = 1;
        DF_TRY(df_json_opt_bool(j, "split", what, &split));
        DF_TRY(df_json_opt_bool(j, "add_prefix_space", what, &legacy_prefix));
        const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
        if (ps && !cJSON_IsNull(ps)) DF_TRY(df_json_str(j, "prepend_scheme", what, &scheme));
        else scheme = legacy_prefix ? "always" : "never";   /* files written before prepend_scheme */
        if (strcmp(scheme, "always") && strcmp(scheme, "first") && strcmp(scheme, "never"))
            return df_fail("%s: unknown prepend_scheme '%s'", what, scheme);
        DF_TRY(push_step(steps, n, text_step(PRE_REPLACE, rep, 0), file));
        DF_TRY(pattern_literal(&(*steps)[*n - 1].pat, " ", 1, what));
        if (strcmp(scheme, "never")) DF_TRY(push_step(steps, n, text_step(PRE_PREFIX, rep, !strcmp(scheme, "first")), file));
        if (split) {
            PreStep s = {.kind = PRE_SPLIT, .behavior = SPLIT_MERGED_NEXT};
            DF_TRY(pattern_literal(&s.pat, rep, strlen(rep), what));
            DF_TRY(push_step(steps, n, s, file));
        }
        return 0;
    }
    return df_fail("%s: pre_tokenizer '%s' is not supported (supported: Sequence, Split, ByteLevel, Metaspace)", file, ty);
}

int pretokenize_parse(const cJSON *j, PreStep **steps, int *n, int *byte_level, int ncopies, const char *file) {
    *steps = NULL;
    *n = 0;
    *byte_level = 0;
    if (!j || cJSON_IsNull(j)) return 0;
    if (!cJSON_IsObject(j)) return df_fail("%s: \"pre_tokenizer\" must be an object or null", file);
    return add_pretok(j, steps, n, byte_level, ncopies, file);
}

void pretokenize_free(PreStep *steps, int n) {
    for (int i = 0; i < n; i++) {
        pattern_free(&steps[i].pat);
        free(steps[i].text);
    }
    free(steps);
}

void segs_push(Segs *g, size_t end, int match) {
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 256;
        g->seg = df_realloc(g->seg, g->cap * sizeof(uint64_t));
    }
    g->seg[g->n++] = (uint64_t)end << 1 | (uint64_t)(match != 0);
}

void split_scan(const PreStep *st, int thread, const char *s, size_t n, size_t limit, FindState *fs, Segs *g) {
    size_t prev = g->n ? seg_end(g->seg[g->n - 1]) : fs->last_end, b, e;
    while (pattern_next(&st->pat, thread, s, n, limit, fs, &b, &e)) {
        if (b > prev) segs_push(g, b, st->invert);
        segs_push(g, e, !st->invert);   /* an empty match too: it separates pieces */
        prev = e;
    }
}

/* does segment i end a piece? (the reference's fold over (offsets, is_match) per behavior) */
static int piece_ends(SplitBehavior b, const Segs *g, size_t i, size_t to) {
    if (i + 1 == to || b == SPLIT_ISOLATED || b == SPLIT_REMOVED) return 1;
    int m = seg_match(g->seg[i]), next = seg_match(g->seg[i + 1]);
    switch (b) {
    case SPLIT_CONTIGUOUS: return m != next;
    case SPLIT_MERGED_PREV: return !(next && !m);   /* a match after a non-match joins it */
    case SPLIT_MERGED_NEXT: return !(m && !next);   /* a match before a non-match joins it */
    default: return 1;
    }
}

void split_emit(const Tokenizer *t, Work *w, int k, const char *s, const Segs *g, size_t from, size_t to,
                size_t prev, int at_origin, IdVec *out, size_t *id_end) {
    const PreStep *st = &t->pre[k];
    size_t start = prev;
    for (size_t i = from; i < to; i++) {
        size_t end = seg_end(g->seg[i]);
        if (piece_ends(st->behavior, g, i, to)) {
            if (!(st->behavior == SPLIT_REMOVED && seg_match(g->seg[i])))
                pretok_run(t, w, k + 1, s + start, end - start, at_origin && start == 0, out);
            start = end;
        }
        if (id_end) id_end[i] = out->n;
    }
}

void pretok_run(const Tokenizer *t, Work *w, int k, const char *s, size_t n, int at_origin, IdVec *out) {
    if (n == 0) return;   /* empty pieces are dropped */
    if (k == t->npre) {
        bpe_text(t, w, s, n, 1, out);
        return;
    }
    const PreStep *st = &t->pre[k];
    if (st->kind != PRE_SPLIT) {
        s = pretok_transform(st, w->thread, s, &n, at_origin, &w->step_buf[k]);
        pretok_run(t, w, k + 1, s, n, at_origin, out);
        return;
    }
    Segs *g = &w->step_segs[k];
    g->n = 0;
    FindState fs = find_start(0);
    split_scan(st, w->thread, s, n, n + 1, &fs, g);
    if (!g->n || seg_end(g->seg[g->n - 1]) < n) segs_push(g, n, st->invert);
    split_emit(t, w, k, s, g, 0, g->n, 0, at_origin, out, NULL);
}

const char *pretok_transform(const PreStep *st, int thread, const char *s, size_t *n, int at_origin, Buf *b) {
    b->n = 0;
    if (st->kind == PRE_REPLACE) {
        pattern_replace(&st->pat, thread, s, *n, st->text, st->textlen, b);
    } else {   /* PREFIX, unless the piece already starts with it (or is not at the start of the input) */
        if ((st->first_only && !at_origin) || (*n >= st->textlen && !memcmp(s, st->text, st->textlen))) return s;
        buf_put(b, st->text, st->textlen);
        buf_put(b, s, *n);
    }
    *n = b->n;
    return b->p;
}
