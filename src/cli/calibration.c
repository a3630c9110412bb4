#include "calibration.h"

#include <mpi.h>

#include "depthfuse/dataset.h"
#include "depthfuse/error.h"
#include "depthfuse/log.h"

int calibration_load(CalibSet *cal, const Tokenizer *tok, const CalibArgs *a) {
    if (a->samples < 1 || a->seq_len < 2) return df_fail("--samples must be >= 1 and --seq-len >= 2");
    IdVec stream;
    DF_TRY(dataset_tokenize_file(&stream, tok, a->file, MPI_COMM_WORLD));
    int rc = calib_sample(cal, &stream, a->samples, a->seq_len, (uint64_t)a->seed, a->file);
    idvec_free(&stream);
    if (rc == 0) df_print0("calibration: %d windows of %d tokens from %s (seed %d)\n", cal->n, cal->T, a->file, a->seed);
    return rc;
}
