#include "depthfuse/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/topology.h"

void idvec_bcast(IdVec *v, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    long long n = (long long)v->n;
    MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, comm);
    if (rank != 0) {
        free(v->ids);
        v->ids = df_malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
        v->n = v->cap = (size_t)n;
    }
    for (long long off = 0; off < n; off += 1 << 28) { /* MPI counts are int */
        long long k = n - off < (1 << 28) ? n - off : (1 << 28);
        MPI_Bcast(v->ids + off, (int)k, MPI_INT32_T, 0, comm);
    }
}

int dataset_tokenize_file(IdVec *out, const Tokenizer *tok, const char *path, MPI_Comm comm) {
    int rank, rc = 0;
    MPI_Comm_rank(comm, &rank);
    memset(out, 0, sizeof *out);
    if (rank == 0) {
        char *text = NULL;
        size_t len = 0;
        rc = df_read_file(path, &text, &len);
        if (rc == 0 && tokenizer_encode(tok, text, len, 0, out) < 0) {
            char why[900];
            snprintf(why, sizeof why, "%s", df_errmsg());
            rc = df_fail("%s: %s", path, why);
        }
        free(text);
    }
    DF_TRY(df_agree(comm, rc));
    idvec_bcast(out, comm);
    return 0;
}
