/* tokenizer.json: the fuzzed file loaded; a loaded tokenizer encodes a fixed text (with and without
 * the post-processor, in one piece and in small parallel units) and decodes the ids back. */
#include "depthfuse/tokenizer.h"
#include "fuzz_util.h"

static const char TEXT[] = "Hello world! The  quick\tbrown fox, 1234 caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80 <s> \n\n end";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Tokenizer *t = NULL;
    if (tokenizer_parse(&t, (const char *)data, size, "tokenizer.json") == 0) {
        for (int chunked = 0; chunked < 2; chunked++) {
            tokenizer_set_chunk_bytes(t, chunked ? 8 : 0);
            for (int special = 0; special < 2; special++) {
                IdVec ids = {0};
                if (tokenizer_encode(t, TEXT, sizeof TEXT - 1, special, &ids) == 0) {
                    char *back = NULL;
                    size_t len = 0;
                    if (tokenizer_decode(t, ids.ids, ids.n, special, &back, &len) == 0) free(back);
                }
                fuzz_check_message();
                idvec_free(&ids);
            }
        }
        char *norm = NULL;
        size_t nlen = 0;
        if (tokenizer_normalize(t, TEXT, sizeof TEXT - 1, &norm, &nlen) == 0) free(norm);
        tokenizer_free(t);
    }
    fuzz_check_message();
    return 0;
}
