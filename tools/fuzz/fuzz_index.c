/* model.safetensors.index.json of a sharded checkpoint: the fuzzed index in a folder beside two
 * small valid shards (model-00001-of-00002.safetensors, model-00002-of-00002.safetensors). */
#include "depthfuse/safetensors.h"
#include "fuzz_util.h"

static void write_shards(void) {
    static int done;
    if (done) return;
    done = 1;
    static const float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {1, 0, 0, 1};
    StWriteTensor t1[2] = {{"model.embed_tokens.weight", DF_BF16, 2, {3, 2}, a}, {"model.norm.weight", DF_F32, 1, {2}, a}};
    StWriteTensor t2[1] = {{"lm_head.weight", DF_F16, 2, {2, 2}, b}};
    char *p1 = df_path_join(fuzz_dir(), "model-00001-of-00002.safetensors");
    char *p2 = df_path_join(fuzz_dir(), "model-00002-of-00002.safetensors");
    if (st_write_file(p1, t1, 2) < 0 || st_write_file(p2, t2, 1) < 0) abort();
    free(p1);
    free(p2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    write_shards();
    free(fuzz_write("model.safetensors.index.json", data, size));
    StSet s = {0};
    if (st_open_model(&s, fuzz_dir()) == 0) {
        float f[8];
        for (int i = 0; i < s.n; i++)
            if (s.t[i].is_float && s.t[i].numel <= 8) st_read_f32(&s, &s.t[i], f);
    }
    fuzz_check_message();
    st_free(&s);
    return 0;
}
