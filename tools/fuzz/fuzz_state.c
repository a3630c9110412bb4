/* importance/prune --state files: read against the key of a 16-block run (metric mi, 4 windows of
 * 64 tokens); the seeds match that key, so mutations reach the removals' checks. */
#include "../../src/methods/importance_state.h"
#include "fuzz_util.h"

enum { L = 16 };

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_mpi_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *path = fuzz_write("state.json", data, size);
    const StateKey k = {"mi", 0, L, 4, 64, "0123456789abcdef", "fedcba9876543210"};
    int block[L], rank[L];
    double score[L], first[L];
    ImportanceResult r = {0, L, block, score, rank, 1, first, 0};
    if (importance_state_load(&r, path, L, &k) == 0) {
        if (r.n < 0 || r.n > L) abort();
        for (int i = 0; i < r.n; i++)
            if (block[i] < 0 || block[i] >= L) abort();
    }
    fuzz_check_message();
    unlink(path);
    free(path);
    return 0;
}
