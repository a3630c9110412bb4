/* safetensors header: input = 4 bytes data length (little endian, at most 1 MiB) + the header JSON;
 * the file is 8-byte header length, header, data (seeds: small files of every dtype, and the
 * fixtures' headers). Every tensor the header describes is then read
 * and converted to fp32 as the loader does. */
#include "depthfuse/safetensors.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t dlen;
    memcpy(&dlen, data, 4);
    dlen &= (1u << 20) - 1;
    const uint64_t hlen = size - 4;
    size_t n = 8 + (size_t)hlen + dlen;
    uint8_t *file = calloc(n, 1);
    memcpy(file, &hlen, 8);
    memcpy(file + 8, data + 4, (size_t)hlen);
    for (uint32_t i = 0; i < dlen; i++) file[8 + hlen + i] = (uint8_t)(i * 37);
    char *path = fuzz_write("model.safetensors", file, n);
    free(file);
    StSet s = {0};
    if (st_add_file(&s, path) == 0) {
        for (int i = 0; i < s.n; i++) {
            void *buf = malloc(s.t[i].nbytes ? s.t[i].nbytes : 1);
            st_read_raw(&s, &s.t[i], buf);
            if (s.t[i].is_float) {
                float *f = malloc(sizeof(float) * (s.t[i].numel ? s.t[i].numel : 1));
                st_read_f32(&s, &s.t[i], f);
                free(f);
            }
            free(buf);
        }
        st_find(&s, "model.embed_tokens.weight");
    }
    fuzz_check_message();
    st_free(&s);
    free(path);
    return 0;
}
