/* A model is an ordered list of blocks plus the embedding, the final norm and the head.
 * Blocks are reference counted and may be shared between models (pruned candidates, finetune
 * mixes), so editing the list never copies weights. Each block is one contiguous fp32 allocation
 * laid out in BlockWeight order, which makes q|k|v and gate|up adjacent: the block forward runs
 * each group as one GEMM. A rank holds only the parts of its pipeline stage (NULL elsewhere). */
#ifndef DEPTHFUSE_MODEL_H
#define DEPTHFUSE_MODEL_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/config.h"
#include "depthfuse/dtype.h"

typedef enum {
    BW_ATTN_NORM, BW_Q, BW_K, BW_V, BW_Q_BIAS, BW_K_BIAS, BW_V_BIAS, BW_O, BW_O_BIAS,
    BW_MLP_NORM, BW_GATE, BW_UP, BW_DOWN, BW_COUNT
} BlockWeight;

typedef struct Block {
    float *w[BW_COUNT];      /* NULL for a bias the config does not have */
    DfDtype dtype[BW_COUNT]; /* storage dtype on disk, kept for writing back bit-exactly */
    float *mem;
    size_t numel;
    int refs;
} Block;

/* "self_attn.q_proj.weight", ... (the part after "model.layers.N.") */
const char *block_weight_name(BlockWeight w);
/* shape of a weight under config c; returns 0 (ndim) for a bias the config does not have */
int block_weight_shape(const ModelConfig *c, BlockWeight w, int64_t shape[2]);
size_t block_weight_numel(const ModelConfig *c, BlockWeight w);
Block *block_new(const ModelConfig *c);      /* zero-filled, one reference */
Block *block_retain(Block *b);
void block_release(Block *b);

typedef struct {
    ModelConfig cfg;          /* cfg.n_layers == number of blocks in the list */
    float *embed;             /* [V,H] on the first stage, else NULL */
    float *final_norm;        /* [H] on the last stage */
    float *lm_head;           /* [V,H] on the last stage; == embed when tied */
    int owns_head_memory;     /* lm_head separately allocated (untied, or tied on a stage without embed) */
    DfDtype embed_dtype, norm_dtype, head_dtype;
    Block **blocks;           /* cfg.n_layers entries; NULL = not held by this rank */
    char *source;             /* the folder or .h5 it was loaded from (tokenizer files come from here) */
} Model;

/* Which parts a rank holds: blocks [block_begin, block_end), embedding, final norm + head. */
typedef struct {
    int block_begin, block_end;
    int embed, head;
} ModelPart;
ModelPart model_part_all(const ModelConfig *c);

/* allocate (uninitialised) the parts of m->cfg's model that part names */
void model_alloc_part(Model *m, const ModelPart *part);
/* Load an HF folder or a depthfuse .h5 store (every tensor checked; see docs/formats.md). */
int model_load(Model *m, const char *path, const ModelPart *part);
/* the config alone (HF folder or .h5) */
int model_load_config(ModelConfig *c, const char *path);
void model_free(Model *m);
/* a new model over a list of (shared) blocks of src; n entries of idx index src's blocks */
void model_select_blocks(Model *dst, const Model *src, const int *idx, int n);

/* "model.layers.%d.%s" */
void block_tensor_name(char *buf, size_t n, int layer, BlockWeight w);

#endif
