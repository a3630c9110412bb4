/* The fuzzed bytes as text: encoded by the bundled tokenizers (byte-level BPE: base-16L, Llama-3;
 * SentencePiece-style: Llama-2), invalid UTF-8 refused or replaced, in one piece and in small
 * parallel units (which must give the same ids), decoded back; the bytes as token ids decoded too.
 * DF_FUZZ_TOKENIZERS: the tokenizer.json files, colon-separated (tools/fuzz/run.sh sets it). */
#include "depthfuse/tokenizer.h"
#include "fuzz_util.h"

static Tokenizer *g_tok[8];
static int g_ntok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *env = getenv("DF_FUZZ_TOKENIZERS");
    if (!env) {
        fprintf(stderr, "fuzz_encode: set DF_FUZZ_TOKENIZERS=a/tokenizer.json:b/tokenizer.json\n");
        exit(2);
    }
    char *list = df_strdup(env);
    for (char *save = NULL, *p = strtok_r(list, ":", &save); p && g_ntok < 8; p = strtok_r(NULL, ":", &save))
        if (tokenizer_load(&g_tok[g_ntok], p) == 0) g_ntok++;
        else fprintf(stderr, "fuzz_encode: %s\n", df_errmsg()), exit(2);
    free(list);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    if (size > 4097) size = 4097; /* long texts only repeat what short ones reach, slowly */
    Tokenizer *t = g_tok[data[0] % g_ntok];
    const char *text = (const char *)data + 1;
    const size_t n = size - 1;
    tokenizer_set_replace_invalid(t, data[0] & 0x80);
    IdVec one = {0}, units = {0};
    tokenizer_set_chunk_bytes(t, 0);
    const int rc = tokenizer_encode(t, text, n, data[0] & 0x40, &one);
    fuzz_check_message();
    tokenizer_set_chunk_bytes(t, 64);
    const int rc2 = tokenizer_encode(t, text, n, data[0] & 0x40, &units);
    fuzz_check_message();
    if (rc != rc2 || (rc == 0 && (one.n != units.n || memcmp(one.ids, units.ids, one.n * sizeof(int32_t))))) {
        fprintf(stderr, "parallel units gave other ids than one piece\n");
        abort();
    }
    if (rc == 0) {
        char *back = NULL;
        size_t len = 0;
        if (tokenizer_decode(t, one.ids, one.n, 0, &back, &len) == 0) free(back);
        fuzz_check_message();
    }
    /* the bytes as ids: any id in the vocabulary decodes; others are refused */
    size_t k = n / 4;
    int32_t *ids = malloc(sizeof(int32_t) * (k ? k : 1));
    for (size_t i = 0; i < k; i++) {
        uint32_t v;
        memcpy(&v, text + 4 * i, 4);
        ids[i] = (int32_t)(v % (uint32_t)(tokenizer_vocab_size(t) + 2)) - 1;
    }
    char *back = NULL;
    size_t len = 0;
    if (tokenizer_decode(t, ids, k, data[0] & 1, &back, &len) == 0) free(back);
    fuzz_check_message();
    free(ids);
    idvec_free(&one);
    idvec_free(&units);
    return 0;
}
