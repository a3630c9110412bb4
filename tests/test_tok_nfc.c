/* NFC against the reference tokenizer's NFC normalizer (tools/oracle/nfc.js): every code point
 * alone, after 'a' and before U+0301, and before U+0323 U+0307, and 20000 random sequences of
 * combining marks, starters and Hangul jamo must normalize to exactly the reference's string.
 *   test_tok_nfc REFERENCE_FILE */
#include <stdint.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    if (argc != 2) {
        fprintf(stderr, "usage: test_tok_nfc REFERENCE_FILE\n");
        return 2;
    }
    const char *dir = test_tmpdir("nfc");
    char path[600];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    static const char JSON[] = "{\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": null, "
                               "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}";
    char *data;
    size_t len;
    Tokenizer *tok;
    CHECK(df_write_file(path, JSON, sizeof JSON - 1) == 0, "%s", df_errmsg());
    CHECK(tokenizer_load(&tok, path) == 0, "%s", df_errmsg());
    CHECK(df_read_file(argv[1], &data, &len) == 0, "%s", df_errmsg());
    if (g_failures) return test_end("tok_nfc");
    size_t cases = 0, bad = 0;
    for (const char *p = data, *end = data + len; p < end;) {
        uint32_t n, m;
        memcpy(&n, p, 4);
        const char *in = p + 4;
        memcpy(&m, in + n, 4);
        const char *want = in + n + 4;
        p = want + m;
        CHECK(p <= end, "%s: truncated", argv[1]);
        char *got;
        size_t glen;
        CHECK(tokenizer_normalize(tok, in, n, &got, &glen) == 0, "%s", df_errmsg());
        if (glen != m || memcmp(got, want, m)) {
            size_t i = 0;
            while (i < glen && i < m && got[i] == want[i]) i++;
            if (bad++ < 5) fprintf(stderr, "case %zu differs at byte %zu: reference '%.*s', depthfuse '%.*s'\n", cases, i,
                                   (int)(m - i < 24 ? m - i : 24), want + i, (int)(glen - i < 24 ? glen - i : 24), got + i);
        }
        free(got);
        cases++;
    }
    printf("%zu NFC cases, %zu differ from the reference\n", cases, bad);
    CHECK(cases > 20000 && bad == 0, "%zu of %zu cases differ", bad, cases);
    tokenizer_free(tok);
    free(data);
    df_rm_rf(dir);
    return test_end("tok_nfc");
}
