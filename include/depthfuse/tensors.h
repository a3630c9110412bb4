/* The tensors of a checkpoint, as one table in Hugging Face state-dict order (embedding, blocks,
 * final norm, lm_head unless tied). Loader, HF writer and h5 store all walk this table, so a
 * tensor's name, shape and place in the Model are defined once. */
#ifndef DEPTHFUSE_TENSORS_H
#define DEPTHFUSE_TENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/model.h"

typedef enum { TK_EMBED, TK_BLOCK, TK_NORM, TK_HEAD } TensorKind;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    TensorKind kind;
    int layer;         /* TK_BLOCK */
    BlockWeight w;     /* TK_BLOCK */
} TensorRef;

/* all tensors of a model with config c; returns the count, *out to free() */
int tensor_refs(const ModelConfig *c, TensorRef **out);
uint64_t tensor_ref_numel(const TensorRef *r);
/* where the tensor's fp32 values live in m (NULL when this rank does not hold it) */
float *tensor_ref_data(const Model *m, const TensorRef *r);
DfDtype tensor_ref_dtype(const Model *m, const TensorRef *r);
void tensor_ref_set_dtype(Model *m, const TensorRef *r, DfDtype t);
/* "[a, b]" */
void shape_str(char *buf, size_t n, int ndim, const int64_t *shape);

#endif
