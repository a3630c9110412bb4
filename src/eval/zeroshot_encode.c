/* Task requests -> token sequences, the way lm-evaluation-harness's HFLM builds them
 * (_encode_pair and _loglikelihood_tokens), on rank 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/zeroshot.h"

/* Python's str.isspace() code points */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* the code point ending at s[n) and where it starts */
static uint32_t last_char(const char *s, size_t n, size_t *start) {
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    const unsigned char *p = (const unsigned char *)s + i;
    const size_t k = n - i;
    uint32_t c = k == 1 ? p[0] : k == 2 ? p[0] & 0x1Fu : k == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t j = 1; j < k; j++) c = (c << 6) | (p[j] & 0x3Fu);
    *start = i;
    return c;
}

size_t zeroshot_context_len(const char *ctx) {
    size_t n = strlen(ctx), start;
    while (n > 0 && py_space(last_char(ctx, n, &start))) n = start;
    return n;
}

/* ids of text[0..len) without BOS, appended to v */
static int encode(const Tokenizer *tok, const char *text, size_t len, IdVec *v, const char *where) {
    if (tokenizer_encode(tok, text, len, 0, v) == 0) return 0;
    char why[700];
    snprintf(why, sizeof why, "%s", df_errmsg());
    return df_fail("%s: %s", where, why);
}

typedef struct {
    const Tokenizer *tok;
    int prefix_id, max_len;
    IdVec ctx, whole;     /* the context's ids, and scratch for context + continuation */
    const char *ctx_text; /* the context ctx holds the ids of */
} Encoder;

/* ids of the context (the part before its trailing whitespace); an empty one is the prefix token.
 * Kept while the context stays the same: the choices of an item share it. */
static int encode_context(Encoder *e, const char *text, size_t n, const char *where) {
    if (e->ctx_text && !strcmp(e->ctx_text, text)) return 0;
    e->ctx.n = 0;
    e->ctx_text = NULL;
    if (n == 0 && e->prefix_id < 0)
        return df_fail("%s: empty context, and the model has no BOS or EOS token to stand for it", where);
    if (n == 0) idvec_push(&e->ctx, e->prefix_id);
    else DF_TRY(encode(e->tok, text, n, &e->ctx, where));
    e->ctx_text = text;
    return 0;
}

/* one request -> one sequence: ctx + encode(context + continuation)[len(ctx):] (all of it after the
 * prefix token of an empty context), the oldest tokens dropped beyond max_len + 1 */
static int encode_request(Encoder *e, LoglikSet *set, const TaskRequest *q, int item, int choice, const char *where,
                          int *ntok, int *truncated) {
    const size_t n_ctx = zeroshot_context_len(q->ctx), nc = strlen(q->ctx), nq = strlen(q->cont);
    DF_TRY(encode_context(e, q->ctx, n_ctx, where));
    char *text = df_malloc(nc + nq + 1);
    memcpy(text, q->ctx, nc);
    memcpy(text + nc, q->cont, nq + 1);
    e->whole.n = 0;
    const int rc = encode(e->tok, text, nc + nq, &e->whole, where);
    free(text);
    DF_TRY(rc);
    const size_t skip = n_ctx ? e->ctx.n : 0;
    const int n_cont = e->whole.n > skip ? (int)(e->whole.n - skip) : 0;
    if (n_cont == 0) return df_fail("%s: choice %d adds no tokens to its context", where, choice);
    if (n_cont > e->max_len)
        return df_fail("%s: choice %d is %d tokens, more than the model's %d positions", where, choice, n_cont, e->max_len);
    const int len = (int)e->ctx.n + n_cont, keep = len < e->max_len + 1 ? len : e->max_len + 1;
    int32_t *seq = df_malloc(sizeof(int32_t) * (size_t)len);
    memcpy(seq, e->ctx.ids, sizeof(int32_t) * e->ctx.n);
    memcpy(seq + e->ctx.n, e->whole.ids + skip, sizeof(int32_t) * (size_t)n_cont);
    loglik_set_push(set, seq + (len - keep), keep, n_cont, item); /* the last token is only predicted */
    free(seq);
    *ntok = n_cont;
    *truncated += keep < len;
    return 0;
}

int zeroshot_encode(LoglikSet *set, int *ntok, int *truncated, const Task *t, const Tokenizer *tok, int prefix_id,
                    int max_len) {
    Encoder e = {tok, prefix_id, max_len, {0}, {0}, NULL};
    char where[700];
    int rc = 0;
    *truncated = 0;
    for (int i = 0; i < t->n_items && rc == 0; i++) {
        const TaskItem *it = &t->items[i];
        snprintf(where, sizeof where, "%s:%d", t->path, it->line);
        for (int r = it->first; r < it->first + it->n && rc == 0; r++)
            rc = encode_request(&e, set, &t->reqs[r], i, r - it->first, where, &ntok[r], truncated);
    }
    idvec_free(&e.ctx);
    idvec_free(&e.whole);
    return rc;
}
