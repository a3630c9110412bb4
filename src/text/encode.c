/* tokenizer_encode: raw text -> pieces (added tokens split out, the rest normalized) -> units of
 * work -> ids. A small input is one unit, run on one thread. A large one is cut into units of about
 * chunk_bytes that run in parallel and give exactly the ids of the one-unit run:
 *  - pieces between added tokens never interact, so runs of small pieces are units of their own;
 *  - a large piece whose first pre-tokenizer step splits on a pattern (Isolated or Removed) is cut
 *    anywhere and scanned speculatively (encode_sync.c);
 *  - a large piece with no split step is one BPE word, cut only where no merge can cross (between
 *    two characters that no vocab token holds side by side, bpe_safe_cut);
 *  - a large piece split on one literal character into MergedWithNext pieces (Metaspace) is cut
 *    just before an occurrence of it, which always starts a piece;
 *  - anything else stays whole. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "encode_units.h"

void idvec_push(IdVec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->ids = df_realloc(v->ids, v->cap * sizeof(int32_t));
    }
    v->ids[v->n++] = id;
}

void idvec_free(IdVec *v) {
    free(v->ids);
    *v = (IdVec){0};
}

void idvec_append(IdVec *v, const int32_t *ids, size_t n) {
    if (v->n + n > v->cap) {
        while (v->n + n > v->cap) v->cap = v->cap ? 2 * v->cap : 256;
        v->ids = df_realloc(v->ids, v->cap * sizeof(int32_t));
    }
    if (n) memcpy(v->ids + v->n, ids, n * sizeof(int32_t));
    v->n += n;
}

/* ---- raw text -> pieces ------------------------------------------------------------------------------- */
static void piece_push(Pieces *ps, Piece p) {
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 64;
        ps->p = df_realloc(ps->p, ps->cap * sizeof(Piece));
    }
    ps->p[ps->n++] = p;
}

/* Added tokens out of the raw text; the normalizer on each gap; normalized added tokens out of
 * that. Normalized text goes to ps->norm, so pieces hold offsets until it stops growing. */
static void make_pieces(const Tokenizer *t, const char *text, size_t len, Pieces *ps) {
    Parts raw = {0}, sub = {0};
    Buf seg = {0};
    added_split(&t->added, 0, text, len, &raw);
    for (size_t i = 0; i < raw.n; i++) {
        const Part *r = &raw.p[i];
        if (r->id >= 0) {
            piece_push(ps, (Piece){.id = r->id});
            continue;
        }
        const char *s = text + r->start;
        size_t n = r->end - r->start, base = 0;
        int in_norm = t->nnorm > 0;
        if (in_norm) {
            normalize_apply(t->norm, t->nnorm, s, n, &seg);
            base = ps->norm.n;
            buf_put(&ps->norm, seg.p, seg.n);
            s = seg.p;
            n = seg.n;
        } else {
            base = r->start;
        }
        added_split(&t->added, 1, s, n, &sub);
        for (size_t k = 0; k < sub.n; k++) {
            const Part *q = &sub.p[k];
            if (q->id >= 0) piece_push(ps, (Piece){.id = q->id});
            else if (q->end > q->start)
                piece_push(ps, (Piece){.id = -1, .in_norm = in_norm, .off = base + q->start, .n = q->end - q->start,
                                       .at_origin = r->start == 0 && q->start == 0});
        }
    }
    for (size_t i = 0; i < ps->n; i++)
        if (ps->p[i].id < 0) ps->p[i].s = (ps->p[i].in_norm ? ps->norm.p : text) + ps->p[i].off;
    free(raw.p);
    free(sub.p);
    buf_free(&seg);
}

/* ---- pieces -> units ---------------------------------------------------------------------------------- */
static Unit *unit_push(Units *us, Unit u) {
    if (us->n == us->cap) {
        us->cap = us->cap ? 2 * us->cap : 16;
        us->u = df_realloc(us->u, us->cap * sizeof(Unit));
    }
    us->u[us->n] = u;
    return &us->u[us->n++];
}

/* the pre-tokenizer steps before the first split, applied to a whole piece (text in own) */
static const char *lead_steps(const Tokenizer *t, int k0, const Piece *p, Buf *own, size_t *n) {
    Buf tmp = {0};
    const char *s = p->s;
    *n = p->n;
    for (int k = 0; k < k0; k++) {
        const char *r = pretok_transform(&t->pre[k], 0, s, n, p->at_origin, &tmp);
        if (r == s) continue;
        Buf x = *own;
        *own = tmp;
        tmp = x;
        s = own->p;
    }
    buf_free(&tmp);
    return s;
}

/* cut [0, n) at cut(...) near every multiple of chunk into units of one kind */
static void cut_units(Units *us, Unit proto, const char *s, size_t n, size_t chunk,
                      size_t (*cut)(const Tokenizer *, const PreStep *, const char *, size_t, size_t),
                      const Tokenizer *t, const PreStep *st) {
    size_t a = 0;
    while (a < n) {
        size_t b = a + chunk < n ? cut(t, st, s, n, a + chunk) : n;
        if (b <= a) b = n;
        Unit u = proto;
        u.a = a;
        u.b = b;
        u.first = a == 0;
        unit_push(us, u);
        a = b;
    }
}

static size_t utf8_boundary(const Tokenizer *t, const PreStep *st, const char *s, size_t n, size_t p) {
    while (p < n && ((unsigned char)s[p] & 0xC0) == 0x80) p++;
    return p;
}

static int one_char(const char *s, size_t n) {
    uint32_t cp;
    return utf8_char((const unsigned char *)s, n, &cp) == (int)n;
}

static size_t word_cut(const Tokenizer *t, const PreStep *st, const char *s, size_t n, size_t p) {
    return bpe_safe_cut(t, s, n, p);
}

static size_t literal_cut(const Tokenizer *t, const PreStep *st, const char *s, size_t n, size_t p) {
    FindState fs = find_start(p);
    size_t b, e;
    return pattern_next(&st->pat, 0, s, n, n + 1, &fs, &b, &e) ? b : n;
}

static void big_piece_units(const Tokenizer *t, const Piece *p, Units *us, Bufs *keep) {
    int k0 = 0;
    while (k0 < t->npre && t->pre[k0].kind != PRE_SPLIT) k0++;
    Buf own = {0};
    size_t n;
    const char *s = lead_steps(t, k0, p, &own, &n);
    if (own.p) {
        keep->b = df_realloc(keep->b, sizeof(Buf) * (keep->n + 1));
        keep->b[keep->n++] = own;
    }
    Unit proto = {.s = s, .n = n, .k = k0, .at_origin = p->at_origin};
    size_t chunk = t->chunk_bytes;
    const PreStep *st = k0 < t->npre ? &t->pre[k0] : NULL;
    if (!st) {
        proto.kind = UNIT_WORD;
        if (t->have_pairs && !(t->bpe.ignore_merges && strmap_get(&t->bpe.vocab, s, n) >= 0)) {
            cut_units(us, proto, s, n, chunk, word_cut, t, NULL);
            if (us->u[us->n - 1].first) us->u[us->n - 1].whole = 1;   /* no safe cut: still one whole word */
            return;
        }
        proto.b = n;
        proto.first = proto.whole = 1;
        unit_push(us, proto);
    } else if (st->behavior == SPLIT_ISOLATED || st->behavior == SPLIT_REMOVED) {
        proto.kind = UNIT_SYNC;
        cut_units(us, proto, s, n, chunk, utf8_boundary, t, st);
    } else if (st->behavior == SPLIT_MERGED_NEXT && !st->invert && st->pat.lit && one_char(st->pat.lit, st->pat.litlen)) {
        proto.kind = UNIT_STEPS;
        cut_units(us, proto, s, n, chunk, literal_cut, t, st);
    } else {
        proto.kind = UNIT_STEPS;
        proto.b = n;
        proto.first = 1;
        unit_push(us, proto);
    }
}

static void make_units(const Tokenizer *t, const Pieces *ps, int parallel, Units *us, Bufs *keep) {
    size_t chunk = t->chunk_bytes, group = 0;
    Unit *g = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        const Piece *p = &ps->p[i];
        if (parallel && p->id < 0 && p->n >= chunk) {
            g = NULL;
            big_piece_units(t, p, us, keep);
            continue;
        }
        if (!g || (parallel && group >= chunk)) {
            g = unit_push(us, (Unit){.kind = UNIT_GROUP, .p0 = i});
            group = 0;
        }
        g->p1 = i + 1;
        group += p->id < 0 ? p->n : 1;
    }
}

/* ---- running units ------------------------------------------------------------------------------------ */
static void run_unit(const Tokenizer *t, const Pieces *ps, Unit *u, Work *w) {
    switch (u->kind) {
    case UNIT_GROUP:
        for (size_t i = u->p0; i < u->p1; i++) {
            const Piece *p = &ps->p[i];
            if (p->id >= 0) idvec_push(&u->ids, p->id);
            else pretok_run(t, w, 0, p->s, p->n, p->at_origin, &u->ids);
        }
        return;
    case UNIT_WORD: bpe_text(t, w, u->s + u->a, u->b - u->a, u->whole, &u->ids); return;
    case UNIT_STEPS: pretok_run(t, w, u->k, u->s + u->a, u->b - u->a, u->at_origin && u->first, &u->ids); return;
    case UNIT_SYNC: sync_scan(t, u, w); return;
    }
}

static void count_units(const Units *us, TokEncodeStats *st) {
    *st = (TokEncodeStats){.units = us->n};
    for (size_t i = 0; i < us->n; i++) {
        const Unit *u = &us->u[i];
        st->sync_chunks += u->kind == UNIT_SYNC;
        st->sync_rescans += u->serial;
        st->word_chunks += u->kind == UNIT_WORD && !u->whole;
    }
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int add_special, IdVec *out) {
    return tokenizer_encode_stats(t, text, len, add_special, out, NULL);
}

int tokenizer_encode_stats(const Tokenizer *t, const char *text, size_t len, int add_special, IdVec *out,
                           TokEncodeStats *stats) {
    Buf fixed = {0};
    size_t bad = utf8_check(text, len);
    if (bad < len) {
        if (!t->replace_invalid)
            return df_fail("invalid UTF-8 at byte %zu (--replace-invalid substitutes U+FFFD)", bad);
        utf8_lossy(&fixed, text, len);
        text = fixed.p;
        len = fixed.n;
    }
    Pieces ps = {0};
    make_pieces(t, text, len, &ps);
    int threads = omp_get_max_threads();
    if (threads > t->ncopies) threads = t->ncopies;
    int parallel = threads > 1 && len >= 2 * t->chunk_bytes;
    Units us = {0};
    Bufs keep = {0};
    make_units(t, &ps, parallel, &us, &keep);
    if (us.n < 2) threads = 1;
    Work *works = df_malloc(sizeof(Work) * (size_t)threads);
    for (int i = 0; i < threads; i++) work_init(&works[i], i);

    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t i = 0; i < us.n; i++) run_unit(t, &ps, &us.u[i], &works[omp_get_thread_num()]);
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t i = 0; i < us.n; i++)
        if (us.u[i].kind == UNIT_SYNC && i + 1 < us.n && us.u[i + 1].kind == UNIT_SYNC && !us.u[i + 1].first)
            sync_extend(t, &us.u[i], &us.u[i + 1], &works[omp_get_thread_num()]);
    sync_check(&us);
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (size_t i = 0; i < us.n; i++) {
        Unit *u = &us.u[i];
        if (!u->serial) continue;
        u->ids.n = 0;
        pretok_run(t, &works[omp_get_thread_num()], u->k, u->s, u->n, u->at_origin, &u->ids);
    }

    if (stats) count_units(&us, stats);
    if (add_special) idvec_append(out, t->post.prefix, (size_t)t->post.nprefix);
    for (size_t i = 0; i < us.n; i++) {
        Unit *u = &us.u[i];
        if (u->kind == UNIT_SYNC) sync_collect(u, out);
        else idvec_append(out, u->ids.ids, u->ids.n);
        idvec_free(&u->ids);
        idvec_free(&u->ext_ids);
        free(u->segs.seg);
        free(u->ext.seg);
        free(u->id_end);
    }
    if (add_special) idvec_append(out, t->post.suffix, (size_t)t->post.nsuffix);
    for (int i = 0; i < threads; i++) work_free(&works[i]);
    free(works);
    for (size_t i = 0; i < keep.n; i++) buf_free(&keep.b[i]);
    free(keep.b);
    free(us.u);
    free(ps.p);
    buf_free(&ps.norm);
    buf_free(&fixed);
    return 0;
}
