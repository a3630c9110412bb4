/* Tokenizer throughput: encode one text file as one string (the perplexity protocol), serial (one
 * unit on one thread) and parallel (default chunking, all OpenMP threads), best of N runs.
 *   bench_tokenizer TOKENIZER FILE [RUNS]
 * Prints one line per mode: "depthfuse MODE THREADS tokens seconds tokens/s". tools/bench/
 * bench_tokenizer.sh runs it beside the npm reference on the same machine. */
#include <mpi.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/tokenizer.h"

static double best_time(Tokenizer *tok, const char *text, size_t len, int runs, size_t *ntok) {
    double best = 1e30;
    for (int r = 0; r < runs; r++) {
        IdVec ids = {0};
        double t0 = df_now();
        if (tokenizer_encode(tok, text, len, 0, &ids) < 0) DF_FATAL("%s", df_errmsg());
        double dt = df_now() - t0;
        if (dt < best) best = dt;
        *ntok = ids.n;
        idvec_free(&ids);
    }
    return best;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (argc < 3) {
        fprintf(stderr, "usage: bench_tokenizer TOKENIZER FILE [RUNS]\n");
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    Tokenizer *tok;
    char *text;
    size_t len, n = 0;
    if (tokenizer_load(&tok, argv[1]) < 0 || df_read_file(argv[2], &text, &len) < 0) {
        fprintf(stderr, "bench_tokenizer: %s\n", df_errmsg());
        return 1;
    }
    tokenizer_set_chunk_bytes(tok, (size_t)1 << 40);
    double ts = best_time(tok, text, len, runs, &n);
    printf("depthfuse serial 1 %zu %.4f %.0f\n", n, ts, (double)n / ts);
    tokenizer_set_chunk_bytes(tok, 0);
    double tp = best_time(tok, text, len, runs, &n);
    printf("depthfuse parallel %d %zu %.4f %.0f\n", omp_get_max_threads(), n, tp, (double)n / tp);
    free(text);
    tokenizer_free(tok);
    MPI_Finalize();
    return 0;
}
