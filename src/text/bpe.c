/* BPE on one word: the lowest-ranked adjacent pair merges first, the leftmost on a tie, from a heap
 * of candidate pairs (O(n log n), so a whole SentencePiece-style text can be one word). Stale heap
 * entries are recognised as the reference does: the pair at their position no longer produces their
 * token (a pair's span only grows, so a stale entry can never look current). Words seen recently
 * come from a per-thread cache. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tok_internal.h"

struct Sym {
    int32_t id;            /* -1: merged into the symbol on its left */
    int32_t prev, next;
};
struct Cand {
    uint32_t rank, pos;
    int32_t id;
};

/* ---- cache: word text -> ids, cleared when full -------------------------------------------------- */
enum { CACHE_SLOTS = 1 << 15, CACHE_MAX_WORD = 64, CACHE_MAX_BYTES = 4 << 20 };
struct BpeCache {
    uint64_t hash[CACHE_SLOTS];
    uint32_t off[CACHE_SLOTS];
    uint16_t klen[CACHE_SLOTS], nids[CACHE_SLOTS];
    size_t n;
    Buf data;               /* key bytes then int32 ids, per entry */
};

static int cache_get(const BpeCache *c, uint64_t h, const char *s, size_t n, IdVec *out) {
    for (size_t i = h & (CACHE_SLOTS - 1); c->hash[i]; i = (i + 1) & (CACHE_SLOTS - 1)) {
        if (c->hash[i] != h || c->klen[i] != n || memcmp(c->data.p + c->off[i], s, n)) continue;
        const char *ids = c->data.p + c->off[i] + n;
        for (int k = 0; k < c->nids[i]; k++) {
            int32_t id;
            memcpy(&id, ids + 4 * (size_t)k, 4);
            idvec_push(out, id);
        }
        return 1;
    }
    return 0;
}

static void cache_put(BpeCache *c, uint64_t h, const char *s, size_t n, const int32_t *ids, size_t nids) {
    if (2 * (c->n + 1) > CACHE_SLOTS || c->data.n + n + 4 * nids > CACHE_MAX_BYTES) {
        memset(c->hash, 0, sizeof c->hash);
        c->n = 0;
        c->data.n = 0;
    }
    size_t i = h & (CACHE_SLOTS - 1);
    while (c->hash[i]) i = (i + 1) & (CACHE_SLOTS - 1);
    c->hash[i] = h;
    c->off[i] = (uint32_t)c->data.n;
    c->klen[i] = (uint16_t)n;
    c->nids[i] = (uint16_t)nids;
    buf_put(&c->data, s, n);
    buf_put(&c->data, ids, 4 * nids);
    c->n++;
}

void work_init(Work *w, int thread) {
    *w = (Work){.thread = thread};
    w->cache = df_calloc(1, sizeof(BpeCache));
}

void work_free(Work *w) {
    free(w->sym);
    free(w->heap);
    buf_free(&w->cache->data);
    free(w->cache);
    for (int i = 0; i < 8; i++) {
        buf_free(&w->step_buf[i]);
        free(w->step_segs[i].seg);
    }
    *w = (Work){0};
}

/* ---- heap of candidate merges, least (rank, pos) on top -------------------------------------------- */
static inline int cand_less(const struct Cand *a, const struct Cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(Work *w, size_t *n, struct Cand c) {
    if (*n == w->cap_heap) {
        w->cap_heap = w->cap_heap ? 2 * w->cap_heap : 256;
        w->heap = df_realloc(w->heap, w->cap_heap * sizeof(struct Cand));
    }
    struct Cand *h = w->heap;
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static struct Cand heap_pop(Work *w, size_t *n) {
    struct Cand *h = w->heap, top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void try_pair(const Bpe *m, Work *w, size_t *nh, int32_t pos) {
    const struct Sym *s = w->sym;
    uint32_t rank;
    int32_t id;
    if (s[pos].next >= 0 && pairmap_get(&m->merges, s[pos].id, s[s[pos].next].id, &rank, &id))
        heap_push(w, nh, (struct Cand){rank, (uint32_t)pos, id});
}

/* ---- initial symbols ---------------------------------------------------------------------------- */
static void sym_push(Work *w, size_t *ns, int32_t id) {
    if (*ns == w->cap_sym) {
        w->cap_sym = w->cap_sym ? 2 * w->cap_sym : 256;
        w->sym = df_realloc(w->sym, w->cap_sym * sizeof(struct Sym));
    }
    w->sym[*ns] = (struct Sym){id, (int32_t)*ns - 1, (int32_t)*ns + 1};
    (*ns)++;
}

/* The model's units are bytes (byte-level) or characters. A unit missing from the vocab becomes its
 * <0xNN> tokens (byte_fallback, when all exist) or unk; consecutive unks fuse with fuse_unk; an unk
 * waits until the next known unit, exactly as the reference orders them. */
static size_t initial_symbols(const Bpe *m, Work *w, const char *s, size_t n) {
    size_t ns = 0;
    int unk_pending = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        char fb[4];
        size_t len = 1, nfb;
        int32_t id;
        uint32_t cp = u[i];
        if (m->byte_level) {
            id = m->unit[u[i]];
            nfb = (size_t)utf8_put(fb, bytelevel_char(u[i]));   /* the character the vocab knows it by */
        } else {
            len = u[i] < 0x80 ? 1 : (size_t)utf8_char(u + i, n - i, &cp);
            id = u[i] < 0x80 ? m->unit[u[i]] : strmap_get(&m->vocab, s + i, len);
            memcpy(fb, s + i, len);
            nfb = len;
        }
        i += len;
        if (id >= 0) {
            if (unk_pending) sym_push(w, &ns, m->unk_id);
            unk_pending = 0;
            sym_push(w, &ns, id);
            continue;
        }
        int all = m->byte_fallback;
        for (size_t k = 0; k < nfb && all; k++) all = m->fallback[(unsigned char)fb[k]] >= 0;
        if (all) {
            for (size_t k = 0; k < nfb; k++) sym_push(w, &ns, m->fallback[(unsigned char)fb[k]]);
            continue;
        }
        if (m->unk_id < 0) continue;   /* no unk token: the reference drops the unit */
        if (unk_pending && !m->fuse_unk) sym_push(w, &ns, m->unk_id);
        unk_pending = 1;
    }
    if (unk_pending) sym_push(w, &ns, m->unk_id);
    if (ns) w->sym[ns - 1].next = -1;
    return ns;
}

void bpe_word(const Bpe *m, Work *w, const char *s, size_t n, int whole, IdVec *out) {
    if (whole && m->ignore_merges) {
        int32_t id = strmap_get(&m->vocab, s, n);
        if (id >= 0) {
            idvec_push(out, id);
            return;
        }
    }
    uint64_t h = 0;
    if (n <= CACHE_MAX_WORD) {
        h = hash_bytes(s, n);
        if (cache_get(w->cache, h, s, n, out)) return;
    }
    size_t ns = initial_symbols(m, w, s, n), nh = 0;
    for (size_t i = 0; i + 1 < ns; i++) try_pair(m, w, &nh, (int32_t)i);
    struct Sym *sym = w->sym;
    while (nh) {
        struct Cand c = heap_pop(w, &nh);
        struct Sym *a = &sym[c.pos];
        if (a->id < 0 || a->next < 0) continue;
        uint32_t rank;
        int32_t id;
        if (!pairmap_get(&m->merges, a->id, sym[a->next].id, &rank, &id) || id != c.id) continue;   /* stale */
        struct Sym *b = &sym[a->next];
        a->id = c.id;
        a->next = b->next;
        if (b->next >= 0) sym[b->next].prev = (int32_t)c.pos;
        b->id = -1;
        if (a->prev >= 0) try_pair(m, w, &nh, a->prev);
        try_pair(m, w, &nh, (int32_t)c.pos);
    }
    size_t first = out->n;
    for (int32_t i = ns ? 0 : -1; i >= 0; i = sym[i].next) idvec_push(out, sym[i].id);
    if (n <= CACHE_MAX_WORD && out->n - first <= UINT16_MAX) cache_put(w->cache, h, s, n, out->ids + first, out->n - first);
}
