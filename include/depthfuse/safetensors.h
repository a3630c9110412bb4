/* safetensors reading (single file or sharded with model.safetensors.index.json) and writing.
 * Headers are checked the way the reference implementation checks them: length within the file,
 * JSON object, dtype/shape/data_offsets per tensor, sizes consistent, the data buffer covered
 * exactly (no holes, no overlap), file size = 8 + header + data. Offsets are 64-bit. */
#ifndef DEPTHFUSE_SAFETENSORS_H
#define DEPTHFUSE_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/dtype.h"

enum { ST_MAX_DIMS = 8 };

typedef struct {
    char *name;
    char dtype_name[12];    /* as written in the file ("BF16", "I32", ...) */
    int is_float;           /* F32/F16/BF16: dtype is valid */
    DfDtype dtype;
    int elsize;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t numel;
    uint64_t offset;        /* absolute byte offset in its file */
    uint64_t nbytes;
    int file;               /* index into StSet.paths */
    int used;               /* set by consumers (unused-tensor check) */
} StTensor;

typedef struct {
    char *source;           /* the index or single file opened (for messages) */
    char **paths;
    int nfiles;
    StTensor *t;            /* sorted by name */
    int n;
} StSet;

/* add one .safetensors file's tensors to the set */
int st_add_file(StSet *s, const char *path);
/* a model folder: model.safetensors.index.json (sharded) or model.safetensors */
int st_open_model(StSet *s, const char *dir);
const StTensor *st_find(const StSet *s, const char *name);
StTensor *st_find_mut(StSet *s, const char *name);
/* tensor data converted to fp32 (float dtypes only) */
int st_read_f32(const StSet *s, const StTensor *t, float *dst);
/* raw bytes (any dtype) */
int st_read_raw(const StSet *s, const StTensor *t, void *dst);
void st_free(StSet *s);

/* Writing: tensors given in fp32, stored as dtype. The header is sorted by name as the reference
 * writer does (all our dtypes are 2- or 4-byte), padded with spaces to 8 bytes, and carries
 * __metadata__ {"format": "pt"}. The file is written under a temporary name and renamed. */
typedef struct {
    const char *name;
    DfDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const float *data;
} StWriteTensor;
int st_write_file(const char *path, const StWriteTensor *ts, int n);
/* bytes a tensor takes on disk */
uint64_t st_write_nbytes(const StWriteTensor *t);

#endif
