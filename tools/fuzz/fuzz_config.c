/* config.json: parsed, then used as the commands use it (the layout's parameter counts, RoPE
 * frequencies, the sequence-length check, the config written back and parsed again). */
#include "depthfuse/config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    ModelConfig c;
    memset(&c, 0, sizeof c);
    if (config_parse(&c, text, size, "config.json") == 0) {
        config_block_params(&c);
        config_model_params(&c);
        config_check_seq_len(&c, 2048);
        if (c.head_dim > 0 && c.head_dim <= 1 << 16) {
            float *inv = malloc(sizeof(float) * (size_t)(c.head_dim / 2 + 1));
            config_rope_inv_freq(&c, inv);
            free(inv);
        }
        char *out = config_to_json(&c);
        ModelConfig again;
        memset(&again, 0, sizeof again);
        if (config_parse(&again, out, strlen(out), "written config.json") != 0) {
            fprintf(stderr, "the config written back does not parse: %s\n", df_errmsg());
            abort();
        }
        config_free(&again);
        free(out);
        config_free(&c);
    }
    fuzz_check_message();
    free(text);
    return 0;
}
