/* Parallel encoding gives exactly the ids of the one-unit (serial) path, for the three fixture
 * tokenizers, on the fixture data files, on all of them joined into one large text, and on text
 * with special tokens every few hundred bytes; chunk sizes from the default down to a few bytes
 * put cuts everywhere (inside words, whitespace runs, multi-byte characters). The chunk statistics
 * show the parallel paths really ran: speculative chunks for the byte-level regex tokenizers, cut
 * BPE words for Llama-2 (no pre-tokenizer). */
#include <omp.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

static const char *FILES[] = {"data/brown.test.txt", "data/kjv.test.txt", "data/nlpc.valid.txt", "data/wordnet.test.txt",
                              "data/wikitext-2-raw/wiki.test.raw", "data/calib.train.txt"};
enum { NFILES = sizeof FILES / sizeof FILES[0] };

static int same(const IdVec *a, const IdVec *b) { return a->n == b->n && !memcmp(a->ids, b->ids, a->n * 4); }

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    omp_set_num_threads(4);   /* more threads than cores: more interleavings, and regex copies for 4 */
    static const char *TOKS[] = {"models/base-16L", "tokenizers/llama2-hf", "tokenizers/llama3-hf"};
    static const char *SPECIAL[] = {"<|end_of_text|>", "</s>", "<|eot_id|>"};
    char *text[NFILES + 2];
    size_t len[NFILES + 2];
    size_t total = 0;
    for (int f = 0; f < NFILES; f++) {
        CHECK(df_read_file(fixture(FILES[f]), &text[f], &len[f]) == 0, "%s", df_errmsg());
        total += len[f];
    }
    if (g_failures) return test_end("tok_parallel");
    text[NFILES] = df_malloc(total);   /* everything joined */
    len[NFILES] = 0;
    for (int f = 0; f < NFILES; f++) {
        memcpy(text[NFILES] + len[NFILES], text[f], len[f]);
        len[NFILES] += len[f];
    }
    for (int k = 0; k < 3; k++) {
        Tokenizer *tok;
        CHECK(tokenizer_load(&tok, fixture(TOKS[k])) == 0, "%s", df_errmsg());
        if (g_failures) break;
        /* KJV with a special token every 300 bytes or so (at a line start) */
        size_t sl = strlen(SPECIAL[k]), n = 0;
        char *sp = df_malloc(len[1] + (len[1] / 100 + 1) * sl);
        for (size_t i = 0, last = 0; i < len[1]; i++) {
            sp[n++] = text[1][i];
            if (text[1][i] == '\n' && i - last > 300) {
                memcpy(sp + n, SPECIAL[k], sl);
                n += sl;
                last = i;
            }
        }
        text[NFILES + 1] = sp;
        len[NFILES + 1] = n;
        size_t sync = 0, rescans = 0, words = 0, cases = 0;
        for (int f = 0; f < NFILES + 2; f++) {
            IdVec ref = {0};
            tokenizer_set_chunk_bytes(tok, (size_t)1 << 40);   /* one unit */
            CHECK(tokenizer_encode(tok, text[f], len[f], 0, &ref) == 0, "%s", df_errmsg());
            static const size_t CHUNKS[] = {0, 65536, 4096, 301, 17};
            for (int c = 0; c < 5; c++) {
                if (f == NFILES && CHUNKS[c] && CHUNKS[c] < 4096) continue;   /* the joined text: keep it quick */
                IdVec got = {0};
                TokEncodeStats st;
                tokenizer_set_chunk_bytes(tok, CHUNKS[c]);
                CHECK(tokenizer_encode_stats(tok, text[f], len[f], 0, &got, &st) == 0, "%s", df_errmsg());
                CHECK(same(&ref, &got), "%s, input %d, chunk %zu: parallel ids differ from serial (%zu vs %zu ids)",
                      TOKS[k], f, CHUNKS[c], got.n, ref.n);
                size_t chunk = CHUNKS[c] ? CHUNKS[c] : 64 << 10;
                CHECK(len[f] < 2 * chunk || st.units > 1, "%s, input %d, chunk %zu: not split", TOKS[k], f, chunk);
                sync += st.sync_chunks;
                rescans += st.sync_rescans;
                words += st.word_chunks;
                cases++;
                idvec_free(&got);
            }
            idvec_free(&ref);
        }
        printf("%s: %zu encodes equal to serial; %zu speculative chunks (%zu pieces rescanned), %zu cut BPE words\n",
               TOKS[k], cases, sync, rescans, words);
        if (k == 1) CHECK(words > 1000, "Llama-2 words were not cut (%zu)", words);
        else CHECK(sync > 1000 && rescans * 20 < sync, "speculative chunks %zu, rescans %zu", sync, rescans);
        free(sp);
        tokenizer_free(tok);
    }
    for (int f = 0; f <= NFILES; f++) free(text[f]);
    return test_end("tok_parallel");
}
