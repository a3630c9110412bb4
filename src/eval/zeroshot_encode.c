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

int zeroshot_encode(LoglikSet *set, int *ntok, int *truncated, const Task *t, const Tokenizer *tok, int prefix_id,
                    int max_len) {
    IdVec ctx = {0}, whole = {0};
    const char *last_ctx = NULL;
    char where[700];
    int rc = 0;
    *truncated = 0;
    for (int i = 0; i < t->n_items && rc == 0; i++) {
        const TaskItem *it = &t->items[i];
        snprintf(where, sizeof where, "%s:%d", t->path, it->line);
        for (int r = it->first; r < it->first + it->n && rc == 0; r++) {
            const TaskRequest *q = &t->reqs[r];
            const size_t n_ctx = zeroshot_context_len(q->ctx);
            if (!last_ctx || strcmp(last_ctx, q->ctx)) { /* the choices of an item share their context */
                ctx.n = 0;
                if (n_ctx == 0 && prefix_id < 0) {
                    rc = df_fail("%s: empty context, and the model has no BOS or EOS token to stand for it", where);
                    break;
                }
                if (n_ctx == 0) idvec_push(&ctx, prefix_id);
                else if ((rc = encode(tok, q->ctx, n_ctx, &ctx, where)) < 0) break;
                last_ctx = q->ctx;
            }
            /* whole = ctx + cont; after the prefix token of an empty context, all of it is continuation */
            whole.n = 0;
            const size_t n_whole = strlen(q->ctx) + strlen(q->cont);
            char *text = df_malloc(n_whole + 1);
            memcpy(text, q->ctx, strlen(q->ctx));
            memcpy(text + strlen(q->ctx), q->cont, strlen(q->cont) + 1);
            rc = encode(tok, text, n_whole, &whole, where);
            free(text);
            if (rc < 0) break;
            const size_t skip = n_ctx ? ctx.n : 0;
            const int n_cont = whole.n > skip ? (int)(whole.n - skip) : 0;
            if (n_cont == 0) {
                rc = df_fail("%s: choice %d adds no tokens to its context", where, r - it->first);
                break;
            }
            if (n_cont > max_len) {
                rc = df_fail("%s: choice %d is %d tokens, more than the model's %d positions", where, r - it->first,
                             n_cont, max_len);
                break;
            }
            /* ctx + cont, the oldest tokens dropped beyond max_len + 1 (the last one is only predicted) */
            const int len = (int)ctx.n + n_cont, keep = len < max_len + 1 ? len : max_len + 1;
            int32_t *seq = df_malloc(sizeof(int32_t) * (size_t)len);
            memcpy(seq, ctx.ids, sizeof(int32_t) * ctx.n);
            memcpy(seq + ctx.n, whole.ids + skip, sizeof(int32_t) * (size_t)n_cont);
            loglik_set_push(set, seq + (len - keep), keep, n_cont);
            free(seq);
            ntok[r] = n_cont;
            *truncated += keep < len;
        }
    }
    idvec_free(&ctx);
    idvec_free(&whole);
    return rc;
}
