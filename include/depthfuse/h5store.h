/* The depthfuse HDF5 model store: one .h5 file is a complete model (config, tensors bit-exact in
 * their storage dtype, tokenizer and generation files verbatim). Layout: docs/formats.md.
 * Reads and writes are collective over MPI_COMM_WORLD (MPI-IO driver, collective transfers); a rank
 * transfers only the tensors of its stage. */
#ifndef DEPTHFUSE_H5STORE_H
#define DEPTHFUSE_H5STORE_H
#include <stddef.h>

#include "depthfuse/model.h"
#include "depthfuse/topology.h"

int h5_is_store(const char *path);                        /* by name: *.h5 */
int h5_load_config(ModelConfig *c, const char *path);     /* any rank, alone */
/* collective: every rank calls with its own part */
int h5_load_model(Model *m, const char *path, const ModelPart *part);
/* collective; t == NULL: a single process holding everything. PATH is created (it must not exist):
 * user-visible outputs go through output_write_model (output.h). */
int h5_write_model(const Model *m, const Topology *t, const char *path);
/* one of the verbatim files (tokenizer.json, ...) into a new buffer; rank-local. -1 without a
 * message when the store does not hold it. */
/* rank-local, on a closed store: adds (or replaces) the string attribute NAME of its root */
int h5_set_root_attr(const char *path, const char *name, const char *value);
int h5_read_file(const char *path, const char *name, char **data, size_t *len);

#endif
