/* The 12 tokenizer probes of base-16L's reference.json (ids computed by Hugging Face tokenizers):
 * depthfuse's ids without and with BOS must be exactly the reference ids, and decoding the ids
 * without BOS must give the probe text back (the byte-level tokenizer is lossless). */
#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "depthfuse/tokenizer.h"
#include "test_util.h"

static int ids_equal(const IdVec *v, const cJSON *want) {
    if (!cJSON_IsArray(want) || (size_t)cJSON_GetArraySize(want) != v->n) return 0;
    for (size_t i = 0; i < v->n; i++)
        if (cJSON_GetArrayItem(want, (int)i)->valuedouble != v->ids[i]) return 0;
    return 1;
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    Tokenizer *tok;
    cJSON *ref;
    CHECK(tokenizer_load(&tok, fixture("models/base-16L")) == 0, "%s", df_errmsg());
    CHECK(df_json_load(fixture("models/base-16L/reference.json"), &ref) == 0, "%s", df_errmsg());
    if (g_failures) return test_end("tok_probes");
    const cJSON *probes = cJSON_GetObjectItemCaseSensitive(ref, "tokenizer_probes"), *p;
    CHECK(cJSON_GetArraySize(probes) == 12, "expected 12 probes, found %d", cJSON_GetArraySize(probes));
    CHECK(tokenizer_bos_id(tok) == 0, "BOS id %d", tokenizer_bos_id(tok));
    int n = 0;
    cJSON_ArrayForEach(p, probes) {
        const char *text = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        IdVec plain = {0}, bos = {0};
        CHECK(tokenizer_encode(tok, text, strlen(text), 0, &plain) == 0, "%s", df_errmsg());
        CHECK(tokenizer_encode(tok, text, strlen(text), 1, &bos) == 0, "%s", df_errmsg());
        CHECK(ids_equal(&plain, cJSON_GetObjectItemCaseSensitive(p, "ids")), "probe '%s': ids differ", text);
        CHECK(ids_equal(&bos, cJSON_GetObjectItemCaseSensitive(p, "ids_with_bos")), "probe '%s': ids with BOS differ", text);
        char *back;
        size_t len;
        CHECK(tokenizer_decode(tok, plain.ids, plain.n, 0, &back, &len) == 0, "%s", df_errmsg());
        CHECK(len == strlen(text) && !memcmp(back, text, len), "probe '%s' decodes to '%s'", text, back);
        free(back);
        idvec_free(&plain);
        idvec_free(&bos);
        n++;
    }
    printf("%d probes checked\n", n);
    cJSON_Delete(ref);
    tokenizer_free(tok);
    return test_end("tok_probes");
}
