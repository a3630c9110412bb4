/* dump_logits MODEL OUT.safetensors ID [ID ...]: the logits [T, V] of one token sequence (fp32, as
 * depthfuse computes them), for comparison with transformers (tools/check/transformers_check.py). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "depthfuse/error.h"
#include "depthfuse/forward.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/topology.h"

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (argc < 4) {
        fprintf(stderr, "usage: dump_logits MODEL OUT.safetensors ID [ID ...]\n");
        MPI_Finalize();
        return 2;
    }
    Model m;
    int rc = df_startup_checks() < 0 ? -1 : model_load(&m, argv[1], NULL);
    if (rc == 0) {
        const int T = argc - 3, V = m.cfg.vocab;
        int32_t *ids = df_malloc(sizeof(int32_t) * (size_t)T);
        for (int i = 0; i < T; i++) ids[i] = atoi(argv[3 + i]);
        float *logits = df_alloc_floats((size_t)T * V);
        model_forward_logits(logits, &m, ids, T);
        StWriteTensor w = {"logits", DF_F32, 2, {T, V}, logits};
        rc = st_write_file(argv[2], &w, 1);
        free(ids);
        free(logits);
        model_free(&m);
    }
    if (rc < 0) fprintf(stderr, "dump_logits: %s\n", df_errmsg());
    MPI_Finalize();
    return rc < 0;
}
