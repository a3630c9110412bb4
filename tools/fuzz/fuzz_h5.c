/* The .h5 model store: the fuzzed bytes are the file (seeds: real stores written by depthfuse
 * convert). Its metadata is read as the commands read it: format and config_json attributes, the
 * verbatim files (tokenizer.json), then every tensor dataset's dtype attribute, shape and the
 * groups' members, and, for a small model, the data. HDF5 itself (Debian's 1.10) parses the
 * container; depthfuse checks what it returns. */
#include "depthfuse/h5store.h"
#include "depthfuse/model.h"
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_mpi_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *path = fuzz_write("model.h5", data, size);
    ModelConfig c;
    memset(&c, 0, sizeof c);
    if (h5_load_config(&c, path) == 0) {
        const int small = config_model_params(&c) <= (1u << 22);
        config_free(&c);
        Model m;
        if (small && model_load(&m, path, NULL) == 0) model_free(&m);
    }
    fuzz_check_message();
    char *tok = NULL;
    size_t len = 0;
    if (h5_read_file(path, "tokenizer.json", &tok, &len) == 0) free(tok);
    fuzz_check_message();
    unlink(path);
    free(path);
    return 0;
}
