/* Text data for evaluation and calibration: files read and tokenized on rank 0, the ids broadcast
 * to every rank (one tokenizer parse, one read of the file per job). */
#ifndef DEPTHFUSE_DATASET_H
#define DEPTHFUSE_DATASET_H
#include <mpi.h>

#include "depthfuse/tokenizer.h"

/* Whole file -> ids (no BOS) on every rank. tok is used on rank 0 only (may be NULL elsewhere).
 * Collective; -1 on every rank with the reason when the file cannot be read or tokenized. */
int dataset_tokenize_file(IdVec *out, const Tokenizer *tok, const char *path, MPI_Comm comm);
/* broadcast an IdVec from rank 0 of comm */
void idvec_bcast(IdVec *v, MPI_Comm comm);

#endif
