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
        const int T = argc - 3, V = m.cfg.vocab, H = m.cfg.hidden;
        int32_t *ids = df_malloc(sizeof(int32_t) * (size_t)T);
        for (int i = 0; i < T; i++) ids[i] = atoi(argv[3 + i]);
        float *x = df_alloc_floats((size_t)T * H), *logits = df_alloc_floats((size_t)T * V);
        BlockActs a;
        Rope r;
        block_acts_init(&a, &m.cfg, 1, T, 0);
        model_rope_init(&r, &m.cfg, T);
        model_embed(x, &m, ids, T);
        for (int l = 0; l < m.cfg.n_layers; l++) block_forward(x, &a, m.blocks[l], &m.cfg, &r, 1, T);
        model_logits(logits, &m, x, T);
        StWriteTensor w = {"logits", DF_F32, 2, {T, V}, logits};
        rc = st_write_file(argv[2], &w, 1);
        rope_free(&r);
        block_acts_free(&a);
        free(ids);
        free(x);
        free(logits);
        model_free(&m);
    }
    if (rc < 0) fprintf(stderr, "dump_logits: %s\n", df_errmsg());
    MPI_Finalize();
    return rc < 0;
}
