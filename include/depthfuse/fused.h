/* FuseGPT's fused linears (notes/fusegpt.md §2.5), for a whole block at a time.
 *
 * A fused linear of a neighbour block computes, per linear (q k v o gate up down):
 *   W_eff = W + B A + sum_k (C_L,k C_R,k) (.) W_p,k                    (.) element-wise
 *   b_eff = b + sum_k c_b,k (.) b_p,k                                  (biased layers: Qwen2 q/k/v)
 * W [out,in] (the block's own weight), b, and every injected W_p,k, b_p,k (the k-th absorbed block's
 * weight) are frozen. Trainable: B [out,lr], A [lr,in] (lr = lora_rank), C_L,k [out,r], C_R,k [r,in],
 * c_b,k [out], and the block's two RMSNorm gains [H]. Init as the official code: B = 0, C_L = 0,
 * c_b = 0, A and C_R uniform in +-1/sqrt(in) (kaiming_uniform a = sqrt 5), seeded by (seed, block id,
 * term, linear), so W_eff == W bit for bit before any step (fused group == group with the block
 * removed). Ranks are capped by min(out, in). No alpha/r scaling.
 *
 * Sharing: an absorbed block is a refcounted Block (model.h) retained by every neighbour it was
 * injected into, never copied per neighbour. Nested fusion: a fused block that is pruned later is
 * first folded (fused_block_fold: one new Block of its effective weights), and that one Block is
 * absorbed by all its neighbours.
 *
 * Gradients: the block backward (backward.h) hands the sink of a fused block one G = dW_eff [out,in]
 * at a time; from it  dB += G A^T,  dA += B^T G,  M_k = G (.) W_p,k,  dC_L,k += M_k C_R,k^T,
 * dC_R,k += C_L,k^T M_k,  dc_b,k += db (.) b_p,k, each an sgemm; G is then dropped.
 *
 * Storage: a block's trainable numbers live in two contiguous arrays, "base" (norm gains, A, B: the
 * low learning rate) and "coef" (C_L, C_R, c_b: the coefficient learning rate), each with a gradient
 * array of the same layout. A FusedArena moves the blocks of a group into ONE parameter array and
 * ONE gradient array, [all base | all coef], so the trainer all-reduces one buffer and runs Adam
 * over it with lr_base on [0, nbase) and lr_coef on [nbase, n); its blocks share one out x in
 * scratch (for C_L C_R and G (.) W_p) instead of one each. */
#ifndef DEPTHFUSE_FUSED_H
#define DEPTHFUSE_FUSED_H
#include <stddef.h>
#include <stdint.h>

#include "depthfuse/backward.h"
#include "depthfuse/model.h"

enum { FUSE_LINEARS = 7, FUSE_MAX_TERMS = 32 };
/* the fused linears in order: BW_Q, BW_K, BW_V, BW_O, BW_GATE, BW_UP, BW_DOWN */
extern const int fuse_linear_weight[FUSE_LINEARS];
/* the bias of each (BW_Q_BIAS, BW_K_BIAS, BW_V_BIAS, BW_O_BIAS, -1, -1, -1) */
extern const int fuse_linear_bias[FUSE_LINEARS];

typedef struct {
    int rank;      /* of C_L C_R (--rank), default 128 */
    int lora_rank; /* of B A (--lora-rank), default 128; 0: no B A term */
    uint64_t seed; /* initialisation of A and C_R */
} FuseOptions;
void fuse_options_default(FuseOptions *o);

/* One linear as pointers into the arrays (built by fused_block_linear; usable on raw buffers too). */
typedef struct {
    const float *wp, *bp;  /* W_p [out,in], b_p [out] or NULL */
    float *cl, *cr, *cb;   /* C_L [out,r], C_R [r,in], c_b [out] (NULL without bias) */
    float *dcl, *dcr, *dcb;
    int rank;
} FuseTermView;
typedef struct {
    int out, in, lora_rank, nterms;
    const float *w, *bias; /* W [out,in], b [out] or NULL */
    float *a, *b, *da, *db; /* A [lr,in], B [out,lr] (NULL when lora_rank = 0) */
    FuseTermView term[FUSE_MAX_TERMS];
} FusedLinearView;

/* weff[out,in] = W + B A + sum_k (C_L C_R) (.) W_p (fp32, sgemm); beff[out] likewise when bias != NULL
 * (beff may be NULL otherwise). scratch: out*in floats. */
void fused_linear_weight(float *weff, float *beff, const FusedLinearView *v, float *scratch);
void fused_linear_weight_ref(float *weff, float *beff, const FusedLinearView *v); /* double loops */
/* From G[out,in] = dL/dW_eff and gb[out] = dL/db_eff (NULL without bias): accumulate dA, dB, dC_L,
 * dC_R, dc_b as in the header comment. scratch: out*in floats (for M_k). */
void fused_linear_backward(const FusedLinearView *v, const float *G, const float *gb, float *scratch);
void fused_linear_backward_ref(const FusedLinearView *v, const float *G, const float *gb);

typedef struct {
    Block *src;                                 /* absorbed block (retained): W_p = src->w[...] */
    int id;                                     /* its id (original layer index), for the init stream */
    int rank[FUSE_LINEARS];
    size_t cl[FUSE_LINEARS], cr[FUSE_LINEARS];  /* offsets in the coef array */
    size_t cb[FUSE_LINEARS];                    /* SIZE_MAX for an unbiased linear */
} FuseTerm;

typedef struct {
    int hidden, id;                             /* id: the block's original layer index */
    int out[FUSE_LINEARS], in[FUSE_LINEARS];
    Block *base;                                /* frozen own weights (retained) */
    FuseOptions opt;
    int lora_rank[FUSE_LINEARS];
    size_t a[FUSE_LINEARS], b[FUSE_LINEARS];    /* offsets of A, B in the base array */
    size_t g1, g2;                              /* offsets of the attention and MLP norm gains (0, H) */
    int nterms;
    FuseTerm term[FUSE_MAX_TERMS];
    float *pb, *gb;                             /* base params and grads [nbase] */
    float *pc, *gc;                             /* coef params and grads [ncoef] */
    size_t nbase, ncoef;
    int in_arena;                               /* arrays belong to a FusedArena (no absorb then) */
    Block *eff;                                 /* effective weights (fused_block_materialize) */
    size_t maxw;                                /* max out*in over the linears */
    float *scratch;                             /* [maxw] shared by the blocks of an arena while in one;
                                                   NULL outside (each call takes a temporary) */
} FusedBlock;

/* A fused block over base (retained): gains copied from base, A seeded, B = 0, no terms yet. */
FusedBlock *fused_block_new(Block *base, const ModelConfig *c, int id, const FuseOptions *o);
void fused_block_free(FusedBlock *fb);
/* Inject src (retained, shared): one term per linear, C_L = 0, c_b = 0, C_R seeded by (seed, fb->id,
 * src_id, linear). Grows the coef array (grads zeroed); not allowed inside an arena. Fails (error
 * naming the block) past FUSE_MAX_TERMS. */
int fused_block_absorb(FusedBlock *fb, Block *src, int src_id);
/* the view of linear j (0..6) of fb, pointing into its current arrays */
void fused_block_linear(const FusedBlock *fb, int j, FusedLinearView *v);
/* fb->eff <- W_eff, b_eff, gains (fp32) from the current parameters; returns fb->eff, the Block
 * to run block_forward / block_backward with. Call again after every parameter update. */
const Block *fused_block_materialize(FusedBlock *fb);
/* A new plain Block (one reference) of the effective weights in fp32, dtypes of base: the fold
 * for export, and what a later fusion injects when fb's block is pruned. */
Block *fused_block_fold(FusedBlock *fb);
/* The sink that turns block_backward's gradients into fb's parameter gradients (accumulated into
 * gb, gc; zero them per step). fb must have been materialized for the forward that is backpropagated. */
void fused_block_sink(FusedBlock *fb, GradSink *s);
/* gb, gc <- 0 */
void fused_block_zero_grad(FusedBlock *fb);

typedef struct {
    float *p, *g;           /* [n] parameters and gradients: [base of every block | coef of every block] */
    size_t n, nbase;
    float *scratch;         /* max out*in of the blocks, shared */
    FusedBlock **blocks;
    int nblocks;
} FusedArena;
/* Move the blocks' parameters into one array (values kept, gradients zeroed); the blocks read and
 * write there until fused_arena_free copies them back into their own arrays. */
void fused_arena_init(FusedArena *ar, FusedBlock **blocks, int n);
void fused_arena_free(FusedArena *ar);

#endif
