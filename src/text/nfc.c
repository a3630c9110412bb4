/* NFC (Unicode Standard Annex #15): full canonical decomposition, canonical ordering of combining
 * marks, canonical composition; Hangul syllables algorithmically. Text with no character at or
 * above U+0300 (no combining mark, nothing that decomposes into one) is already NFC and is copied. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "nfc_data.h"
#include "tok_internal.h"

enum { SBASE = 0xAC00, LBASE = 0x1100, VBASE = 0x1161, TBASE = 0x11A7, LCOUNT = 19, VCOUNT = 21, TCOUNT = 28,
       NCOUNT = VCOUNT * TCOUNT, SCOUNT = LCOUNT * NCOUNT };

static int ccc_of(uint32_t cp) {
    int lo = 0, hi = NFC_NCLASS;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (NFC_CLASS[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < NFC_NCLASS && NFC_CLASS[lo].cp == cp ? NFC_CLASS[lo].ccc : 0;
}

typedef struct {
    uint32_t *c;
    size_t n, cap;
} Cps;

static void cps_push(Cps *v, uint32_t c) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 256;
        v->c = df_realloc(v->c, v->cap * sizeof(uint32_t));
    }
    v->c[v->n++] = c;
}

static void decompose(uint32_t cp, Cps *out) {
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE;
        cps_push(out, LBASE + s / NCOUNT);
        cps_push(out, VBASE + (s % NCOUNT) / TCOUNT);
        if (s % TCOUNT) cps_push(out, TBASE + s % TCOUNT);
        return;
    }
    int lo = 0, hi = NFC_NDECOMP;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (NFC_DECOMP[mid].cp < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo < NFC_NDECOMP && NFC_DECOMP[lo].cp == cp)
        for (uint32_t i = 0; i < NFC_DECOMP[lo].len; i++) cps_push(out, NFC_POOL[NFC_DECOMP[lo].off + i]);
    else cps_push(out, cp);
}

/* the primary composite of a + b, 0 when there is none */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = NFC_NCOMPOSE;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        const NfcPair *p = &NFC_COMPOSE[mid];
        if (p->first < a || (p->first == a && p->second < b)) lo = mid + 1;
        else hi = mid;
    }
    return lo < NFC_NCOMPOSE && NFC_COMPOSE[lo].first == a && NFC_COMPOSE[lo].second == b ? NFC_COMPOSE[lo].composite : 0;
}

void nfc_apply(const char *s, size_t n, Buf *out) {
    size_t i = 0;
    while (i < n && (unsigned char)s[i] < 0xCC) i++;   /* lead bytes of U+0300 and above start at 0xCC */
    if (i == n) {
        buf_put(out, s, n);
        return;
    }
    Cps d = {0};
    for (size_t k = 0; k < n;) {
        uint32_t cp;
        int len = utf8_char((const unsigned char *)s + k, n - k, &cp);
        decompose(cp, &d);
        k += (size_t)len;
    }
    /* canonical order: a stable sort by class of each run of non-starters */
    for (size_t k = 1; k < d.n; k++) {
        uint32_t c = d.c[k];
        int cc = ccc_of(c);
        size_t j = k;
        while (cc && j > 0 && ccc_of(d.c[j - 1]) > cc) {
            d.c[j] = d.c[j - 1];
            j--;
        }
        d.c[j] = c;
    }
    /* composition: a character joins the last starter unless a character between them blocks it */
    size_t m = 0, starter = 0;
    int have_starter = 0, last = -1;   /* last: class of the last character kept after the starter */
    for (size_t k = 0; k < d.n; k++) {
        uint32_t c = d.c[k];
        int cc = ccc_of(c);
        if (have_starter && (last == -1 || (last != 0 && last < cc))) {
            uint32_t comp = compose(d.c[starter], c);
            if (comp) {
                d.c[starter] = comp;
                continue;
            }
        }
        if (cc == 0) {
            have_starter = 1;
            starter = m;
            last = -1;
        } else {
            last = cc;
        }
        d.c[m++] = c;
    }
    char enc[4];
    for (size_t k = 0; k < m; k++) buf_put(out, enc, (size_t)utf8_put(enc, d.c[k]));
    free(d.c);
}
