/* Where a text that is one BPE word (no pre-tokenizer split: SentencePiece-style tokenizers) can be
 * cut into independently merged parts with the same result.
 *
 * Every symbol BPE builds is a vocab token whose text is the concatenation of the units (characters,
 * or bytes when byte-level) it covers. Take a boundary between units x and y that are both in the
 * vocab (so their initial symbols are x and y themselves, not byte-fallback or unk pieces). If no
 * vocab token contains x immediately followed by y, no symbol can ever cover both, so no candidate
 * pair across the boundary ever exists; merges on either side only look at their neighbours on that
 * side, and the heap order restricted to one side is the same order (rank, then position). Each side
 * therefore merges exactly as it does inside the whole word. */
#include <string.h>

#include "tok_internal.h"

static size_t unit_len(const Bpe *m, const char *s, size_t n) {
    uint32_t cp;
    return m->byte_level ? 1 : (size_t)utf8_char((const unsigned char *)s, n, &cp);
}

static int known(const Bpe *m, const char *s, size_t len) {
    unsigned char c = (unsigned char)s[0];
    if (m->byte_level || c < 0x80) return m->unit[c] >= 0;
    return strmap_get(&m->vocab, s, len) >= 0;
}

void tokenizer_build_pairs(Tokenizer *t) {
    const StrMap *v = &t->bpe.vocab;
    strmap_init(&t->pairs, v->n);
    for (size_t i = 0; i < v->cap; i++) {
        if (!v->hash[i]) continue;
        const char *s = v->keys.p + v->key_off[i];
        size_t n = v->key_len[i], a = 0;
        while (a < n) {
            size_t la = unit_len(&t->bpe, s + a, n - a);
            if (!la) break;
            if (a + la < n) {
                size_t lb = unit_len(&t->bpe, s + a + la, n - a - la);
                if (!lb) break;
                strmap_put(&t->pairs, s + a, la + lb, 1);
            }
            a += la;
        }
    }
    t->have_pairs = 1;
}

size_t bpe_safe_cut(const Tokenizer *t, const char *s, size_t n, size_t near) {
    const Bpe *m = &t->bpe;
    size_t p = near;
    if (!m->byte_level)
        while (p < n && ((unsigned char)s[p] & 0xC0) == 0x80) p++;
    if (p == 0 || p >= n) return n;
    size_t x = p - 1;   /* start of the unit before p */
    if (!m->byte_level)
        while (x > 0 && ((unsigned char)s[x] & 0xC0) == 0x80) x--;
    while (p < n) {
        size_t ly = unit_len(m, s + p, n - p);
        if (known(m, s + x, p - x) && known(m, s + p, ly) && strmap_get(&t->pairs, s + x, p - x + ly) < 0) return p;
        x = p;
        p += ly;
    }
    return n;
}

/* A word of a tokenizer with no split step is often a whole text: cut it at every safe boundary,
 * so each part is short and usually comes from the word cache. */
void bpe_text(const Tokenizer *t, Work *w, const char *s, size_t n, int whole, IdVec *out) {
    enum { SHORT = 64 };
    const Bpe *m = &t->bpe;
    if (!t->have_pairs || n <= SHORT || (whole && m->ignore_merges && strmap_get(&m->vocab, s, n) >= 0)) {
        bpe_word(m, w, s, n, whole, out);
        return;
    }
    for (size_t p = 0; p < n;) {
        size_t q = p + bpe_safe_cut(t, s + p, n - p, 1);
        bpe_word(m, w, s + p, q - p, 0, out);
        p = q;
    }
}
