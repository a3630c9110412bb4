/* The oracle test: every case of a file written by tools/oracle/oracle.js (the inputs with the ids
 * and decoded text of Hugging Face tokenizers) is tokenized by depthfuse, which must give identical
 * ids, without and with special tokens; decoding the reference ids must give the reference's text,
 * with special tokens kept and skipped; and where the reference round trips (decode(encode(x)) ==
 * x), so must depthfuse. Every id of the vocabulary decoded alone must give the reference's text.
 * With --chunks, each case is also encoded in parallel chunks of 4096 and 301 bytes, which must give
 * the same ids.
 *   test_tok_oracle ORACLE_FILE TOKENIZER [--chunks] */
#include <stdint.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

typedef struct {
    const char *p, *end;
} Reader;

static int take(Reader *r, void *dst, size_t n) {
    if ((size_t)(r->end - r->p) < n) return -1;
    memcpy(dst, r->p, n);
    r->p += n;
    return 0;
}

static int take_span(Reader *r, const char **s, uint64_t *n, size_t elsize) {
    if (take(r, n, 8) < 0 || *n > (uint64_t)(r->end - r->p) / elsize) return -1;
    *s = r->p;
    r->p += *n * elsize;
    return 0;
}

typedef struct {
    char name[16];
    size_t cases, ids, id_mismatch, dec_mismatch, roundtrips, rt_fail;
} Group;

/* first index where got differs from want (n when equal) */
static size_t first_difference(const IdVec *got, const int32_t *want, size_t n) {
    size_t i = 0;
    while (i < got->n && i < n && got->ids[i] == want[i]) i++;
    return i == got->n && i == n ? (size_t)-1 : i;
}

/* decode(ids) == want; otherwise, while show > 0, print both around the first difference */
static int decode_is(const Tokenizer *tok, const int32_t *ids, size_t n, int skip, const char *want, size_t wlen,
                     const char *name, int *show) {
    char *dec;
    size_t len, i = 0;
    if (tokenizer_decode(tok, ids, n, skip, &dec, &len) < 0) return 0;
    while (i < len && i < wlen && dec[i] == want[i]) i++;
    int same = i == len && i == wlen;
    if (!same && (*show)-- > 0) {
        size_t a = i > 20 ? i - 20 : 0;
        fprintf(stderr, "DECODE MISMATCH %s (skip_special %d) at byte %zu:\n    reference: '%.*s'\n    depthfuse: '%.*s'\n",
                name, skip, i, (int)((wlen - a) < 60 ? wlen - a : 60), want + a, (int)((len - a) < 60 ? len - a : 60), dec + a);
    }
    free(dec);
    return same;
}

static Group *group_of(Group *g, int *ng, const char *case_name) {
    size_t k = strcspn(case_name, ":");
    for (int i = 0; i < *ng; i++)
        if (strlen(g[i].name) == k && !strncmp(g[i].name, case_name, k)) return &g[i];
    Group *n = &g[(*ng)++];
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%.*s", (int)k, case_name);
    return n;
}

static void show_ids(const Tokenizer *tok, const char *label, const int32_t *ids, size_t n, size_t at) {
    size_t a = at > 4 ? at - 4 : 0, b = at + 6 < n ? at + 6 : n;
    fprintf(stderr, "    %s:", label);
    for (size_t i = a; i < b; i++) {
        char *s;
        size_t len;
        if (tokenizer_decode(tok, ids + i, 1, 0, &s, &len) == 0) {
            fprintf(stderr, " %d'%s'", ids[i], s);
            free(s);
        }
    }
    fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--chunks"))) {
        fprintf(stderr, "usage: test_tok_oracle ORACLE_FILE TOKENIZER [--chunks]\n");
        return 2;
    }
    int chunks = argc == 4;
    char *data;
    size_t len;
    Tokenizer *tok;
    CHECK(df_read_file(argv[1], &data, &len) == 0, "%s", df_errmsg());
    CHECK(tokenizer_load(&tok, argv[2]) == 0, "%s", df_errmsg());
    if (g_failures) return test_end("tok_oracle");
    Reader r = {data, data + len};
    char magic[10];
    CHECK(take(&r, magic, 10) == 0 && !memcmp(magic, "DFORACLE2\n", 10), "%s: not an oracle file", argv[1]);
    Group groups[8];
    int ng = 0, shown = 0, show_dec = 3;
    double t_enc = 0;
    while (g_failures == 0 && r.p < r.end && !(r.end - r.p >= 8 && !memcmp(r.p, "DFVOCAB\n", 8))) {
        uint32_t nlen;
        char name[256];
        const char *text, *ref_ids, *ref_sp, *ref_dec, *ref_skip;
        uint64_t tlen, nids, nsp, dlen, slen;
        if (take(&r, &nlen, 4) < 0 || nlen >= sizeof name || take(&r, name, nlen) < 0 ||
            take_span(&r, &text, &tlen, 1) < 0 || take_span(&r, &ref_ids, &nids, 4) < 0 ||
            take_span(&r, &ref_sp, &nsp, 4) < 0 || take_span(&r, &ref_dec, &dlen, 1) < 0 ||
            take_span(&r, &ref_skip, &slen, 1) < 0 || ng == 8) {
            CHECK(0, "%s: truncated or malformed", argv[1]);
            break;
        }
        name[nlen] = 0;
        int32_t *want = df_malloc(nids * 4 + 4), *want_sp = df_malloc(nsp * 4 + 4);
        memcpy(want, ref_ids, nids * 4);
        memcpy(want_sp, ref_sp, nsp * 4);
        Group *g = group_of(groups, &ng, name);
        g->cases++;
        g->ids += nids;

        IdVec got = {0}, got_sp = {0};
        double t0 = df_now();
        CHECK(tokenizer_encode(tok, text, tlen, 0, &got) == 0, "%s: %s", name, df_errmsg());
        t_enc += df_now() - t0;
        CHECK(tokenizer_encode(tok, text, tlen, 1, &got_sp) == 0, "%s: %s", name, df_errmsg());
        size_t first = first_difference(&got, want, nids);
        int bad_ids = first != (size_t)-1 || first_difference(&got_sp, want_sp, nsp) != (size_t)-1;
        static const size_t CHUNK[] = {4096, 301};
        for (int c = 0; c < 2 * chunks && !bad_ids; c++) {
            IdVec par = {0};
            tokenizer_set_chunk_bytes(tok, CHUNK[c]);
            CHECK(tokenizer_encode(tok, text, tlen, 0, &par) == 0, "%s: %s", name, df_errmsg());
            tokenizer_set_chunk_bytes(tok, 0);
            if (first_difference(&par, want, nids) != (size_t)-1) {
                bad_ids = 1;
                fprintf(stderr, "MISMATCH %s: chunks of %zu bytes\n", name, CHUNK[c]);
            }
            idvec_free(&par);
        }
        if (bad_ids) {
            g->id_mismatch++;
            if (shown++ < 3 && first != (size_t)-1) {
                fprintf(stderr, "MISMATCH %s: %zu ids (reference %llu), first difference at id %zu\n", name, got.n,
                        (unsigned long long)nids, first);
                show_ids(tok, "reference", want, nids, first);
                show_ids(tok, "depthfuse", got.ids, got.n, first);
            }
        }
        if (!decode_is(tok, want, nids, 0, ref_dec, dlen, name, &show_dec) ||
            !decode_is(tok, want, nids, 1, ref_skip, slen, name, &show_dec))
            g->dec_mismatch++;
        if (dlen == tlen && !memcmp(ref_dec, text, tlen)) {
            g->roundtrips++;
            if (!decode_is(tok, got.ids, got.n, 0, text, tlen, name, &show_dec)) g->rt_fail++;
        }
        idvec_free(&got);
        idvec_free(&got_sp);
        free(want);
        free(want_sp);
    }
    uint32_t nvocab = 0, vocab_bad = 0;
    CHECK(r.end - r.p >= 12 && !memcmp(r.p, "DFVOCAB\n", 8), "%s: no vocabulary section", argv[1]);
    if (g_failures == 0) {
        r.p += 8;
        take(&r, &nvocab, 4);
        CHECK((int)nvocab == tokenizer_vocab_size(tok), "vocabulary size %d, reference %u", tokenizer_vocab_size(tok), nvocab);
        for (uint32_t id = 0; id < nvocab && g_failures == 0; id++) {
            uint32_t dl;
            if (take(&r, &dl, 4) < 0 || dl > (size_t)(r.end - r.p)) {
                CHECK(0, "%s: truncated vocabulary section", argv[1]);
                break;
            }
            char name[32];
            snprintf(name, sizeof name, "id %u", id);
            int32_t one = (int32_t)id;
            vocab_bad += !decode_is(tok, &one, 1, 0, r.p, dl, name, &show_dec);
            r.p += dl;
        }
        printf("vocab   %5u ids decoded alone: %u differ\n", nvocab, vocab_bad);
    }
    size_t bad = vocab_bad;
    for (int i = 0; i < ng; i++) {
        const Group *g = &groups[i];
        printf("%-7s %5zu cases %9zu ids: %zu id mismatches, %zu decode mismatches, %zu/%zu round trips fail\n",
               g->name, g->cases, g->ids, g->id_mismatch, g->dec_mismatch, g->rt_fail, g->roundtrips);
        bad += g->id_mismatch + g->dec_mismatch + g->rt_fail;
    }
    printf("depthfuse encode time %.2f s\n", t_enc);
    CHECK(ng >= 3, "expected file, c4 and stress cases, found %d groups", ng);
    CHECK(bad == 0, "%zu mismatches against the reference", bad);
    tokenizer_free(tok);
    free(data);
    return test_end("tok_oracle");
}
