/* Speculative parallel scanning of one large piece whose first pre-tokenizer step splits on a
 * pattern (the ByteLevel regex, Llama-3's and Qwen2's Split regexes, ...).
 *
 * Why it is exact, for any pattern: the reference's find_iter is a deterministic scan whose whole
 * future depends only on where its last match ended (onig crate FindMatches: the next search starts
 * there, and an empty match is judged against it). The pattern always sees the whole piece, so
 * lookaheads read the same characters whatever chunk is being scanned. Chunk 0 starts where the
 * true scan starts. Every other chunk starts at a guessed state (its first byte, no previous match)
 * and records its segments, tokenizing them as it goes (Isolated and Removed make each segment a
 * piece of its own). Each chunk then runs on past its end until it ends a match at an offset where
 * the next chunk also ended a match: from there both scans are the same scan, so the next chunk's
 * segments after that point are the true ones, and by induction every chunk's are. The ids of the
 * segments before that point are dropped. If the runs never meet inside the next chunk's segments,
 * the piece is tokenized again whole. */
#include <stdlib.h>

#include "depthfuse/error.h"
#include "encode_units.h"

void sync_scan(const Tokenizer *t, Unit *u, Work *w) {
    const PreStep *st = &t->pre[u->k];
    int last = u->b == u->n;
    u->fs = find_start(u->a);
    split_scan(st, w->thread, u->s, u->n, last ? u->n + 1 : u->b, &u->fs, &u->segs);
    size_t end = u->segs.n ? seg_end(u->segs.seg[u->segs.n - 1]) : u->a;
    if (last && end < u->n) segs_push(&u->segs, u->n, st->invert);
    u->id_end = df_malloc(sizeof(size_t) * (u->segs.n + 1));
    split_emit(t, w, u->k, u->s, &u->segs, 0, u->segs.n, u->a, u->at_origin, &u->ids, u->id_end);
}

/* index of the match among nx's segments that ends at e; -1 when none */
static long match_ending_at(const Unit *nx, int invert, size_t e) {
    const Segs *g = &nx->segs;
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seg_end(g->seg[mid]) < e) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < g->n && seg_end(g->seg[i]) == e; i++)
        if (seg_match(g->seg[i]) != invert) return (long)i;
    return -1;
}

/* the end of nx's last match: past it, nx's own state is not yet known to be true */
static size_t last_match_end(const Unit *nx, int invert) {
    for (size_t i = nx->segs.n; i-- > 0;)
        if (seg_match(nx->segs.seg[i]) != invert) return seg_end(nx->segs.seg[i]);
    return 0;
}

static int in_step(Unit *u, Unit *nx, int invert, size_t e) {
    long idx = match_ending_at(nx, invert, e);
    if (idx < 0) return 0;
    nx->skip = (size_t)idx + 1;
    return 1;
}

void sync_extend(const Tokenizer *t, Unit *u, Unit *nx, Work *w) {
    const PreStep *st = &t->pre[u->k];
    size_t horizon = last_match_end(nx, st->invert);
    if (!horizon) {
        u->failed = 1;
        return;
    }
    if (u->fs.has_match && in_step(u, nx, st->invert, u->fs.last_match_end)) return;
    FindState fs = u->fs;
    size_t start = u->segs.n ? seg_end(u->segs.seg[u->segs.n - 1]) : u->a, prev = start, b, e;
    while (pattern_next(&st->pat, w->thread, u->s, u->n, u->n + 1, &fs, &b, &e) && e <= horizon) {
        if (b > prev) segs_push(&u->ext, b, st->invert);
        segs_push(&u->ext, e, !st->invert);
        prev = e;
        if (in_step(u, nx, st->invert, e)) {
            split_emit(t, w, u->k, u->s, &u->ext, 0, u->ext.n, start, u->at_origin, &u->ext_ids, NULL);
            return;
        }
    }
    u->failed = 1;
}

void sync_check(Units *us) {
    for (size_t i = 0; i < us->n; i++) {
        if (us->u[i].kind != UNIT_SYNC || !us->u[i].first) continue;
        size_t j = i + 1;
        int failed = us->u[i].failed;
        while (j < us->n && us->u[j].kind == UNIT_SYNC && !us->u[j].first) failed |= us->u[j++].failed;
        if (!failed) continue;
        us->u[i].serial = 1;
        for (size_t k = i + 1; k < j; k++) us->u[k].dead = 1;
    }
}

void sync_collect(const Unit *u, IdVec *out) {
    if (u->dead) return;
    size_t from = u->serial || !u->skip ? 0 : u->id_end[u->skip - 1];
    idvec_append(out, u->ids.ids + from, u->ids.n - from);
    if (!u->serial) idvec_append(out, u->ext_ids.ids, u->ext_ids.n);
}
