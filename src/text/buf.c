/* Growable byte buffer used for every piece of text the tokenizer builds. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tok_internal.h"

void buf_reserve(Buf *b, size_t extra) {
    if (b->n + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + extra) cap *= 2;
    b->p = df_realloc(b->p, cap);
    b->cap = cap;
}

void buf_put(Buf *b, const void *s, size_t n) {
    if (!n) return;
    buf_reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void buf_free(Buf *b) {
    free(b->p);
    *b = (Buf){0};
}
