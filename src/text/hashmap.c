/* Open-addressing hash maps for the vocabulary (strings) and the merges (id pairs): the hot path
 * of BPE is one lookup per candidate pair, so these are flat arrays with linear probing. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tok_internal.h"

static inline uint64_t mix64(uint64_t h) {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 32;
    return h;
}

uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, n);
    return mix64(h ^ v) | 1; /* 0 marks an empty slot */
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

void strmap_init(StrMap *m, size_t expected) {
    *m = (StrMap){0};
    m->cap = pow2_at_least(2 * expected + 1);
    m->hash = df_calloc(m->cap, sizeof(uint64_t));
    m->key_off = df_malloc(m->cap * sizeof(uint32_t));
    m->key_len = df_malloc(m->cap * sizeof(uint32_t));
    m->val = df_malloc(m->cap * sizeof(int32_t));
}

static size_t strmap_slot(const StrMap *m, uint64_t h, const char *k, size_t n) {
    size_t i = h & (m->cap - 1);
    while (m->hash[i] && !(m->hash[i] == h && m->key_len[i] == n && !memcmp(m->keys.p + m->key_off[i], k, n)))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void strmap_grow(StrMap *m) {
    StrMap g = *m;
    g.cap = m->cap * 2;
    g.hash = df_calloc(g.cap, sizeof(uint64_t));
    g.key_off = df_malloc(g.cap * sizeof(uint32_t));
    g.key_len = df_malloc(g.cap * sizeof(uint32_t));
    g.val = df_malloc(g.cap * sizeof(int32_t));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->hash[i]) continue;
        size_t j = m->hash[i] & (g.cap - 1);
        while (g.hash[j]) j = (j + 1) & (g.cap - 1);
        g.hash[j] = m->hash[i];
        g.key_off[j] = m->key_off[i];
        g.key_len[j] = m->key_len[i];
        g.val[j] = m->val[i];
    }
    free(m->hash);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    *m = g;
}

void strmap_put(StrMap *m, const char *k, size_t n, int32_t v) {
    if (2 * (m->n + 1) > m->cap) strmap_grow(m);
    uint64_t h = hash_bytes(k, n);
    size_t i = strmap_slot(m, h, k, n);
    if (!m->hash[i]) {
        if (m->keys.n + n > UINT32_MAX) DF_FATAL("vocabulary text over 4 GiB");
        m->hash[i] = h;
        m->key_off[i] = (uint32_t)m->keys.n;
        m->key_len[i] = (uint32_t)n;
        buf_put(&m->keys, k, n);
        m->n++;
    }
    m->val[i] = v;
}

int32_t strmap_get(const StrMap *m, const char *k, size_t n) {
    if (!m->cap) return -1;
    size_t i = strmap_slot(m, hash_bytes(k, n), k, n);
    return m->hash[i] ? m->val[i] : -1;
}

void strmap_free(StrMap *m) {
    free(m->hash);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    buf_free(&m->keys);
    *m = (StrMap){0};
}

static inline uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

void pairmap_init(PairMap *m, size_t expected) {
    m->cap = pow2_at_least(2 * expected + 1);
    m->key = df_malloc(m->cap * sizeof(uint64_t));
    memset(m->key, 0xFF, m->cap * sizeof(uint64_t));
    m->rank = df_malloc(m->cap * sizeof(uint32_t));
    m->id = df_malloc(m->cap * sizeof(int32_t));
}

/* the map is sized once for all merges of the file, so it never grows */
void pairmap_put(PairMap *m, int32_t a, int32_t b, uint32_t rank, int32_t id) {
    uint64_t k = pair_key(a, b);
    size_t i = mix64(k) & (m->cap - 1);
    while (m->key[i] != UINT64_MAX && m->key[i] != k) i = (i + 1) & (m->cap - 1);
    m->key[i] = k;
    m->rank[i] = rank;
    m->id[i] = id;
}

int pairmap_get(const PairMap *m, int32_t a, int32_t b, uint32_t *rank, int32_t *id) {
    uint64_t k = pair_key(a, b);
    size_t i = mix64(k) & (m->cap - 1);
    while (m->key[i] != UINT64_MAX) {
        if (m->key[i] == k) {
            *rank = m->rank[i];
            *id = m->id[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

void pairmap_free(PairMap *m) {
    free(m->key);
    free(m->rank);
    free(m->id);
    *m = (PairMap){0};
}
