/* Training (src/train): the losses of FuseGPT's group fine-tuning, Adam with two learning rates and
 * a cosine schedule, and the group trainer that fine-tunes a fused group against a cached teacher.
 *
 * Data parallelism: a batch of B sequences is split over the D data-parallel groups (each holds
 * b_loc of them); every loss below is written so that the global value and gradient come from local
 * terms plus the reductions named (dist/collective.h), so that any layout follows the -np 1
 * trajectory to float rounding. */
#ifndef DEPTHFUSE_TRAIN_H
#define DEPTHFUSE_TRAIN_H
#include <mpi.h>
#include <stddef.h>

#include "depthfuse/fused.h"
#include "depthfuse/log.h"
#include "depthfuse/ops.h"

typedef enum { LOSS_KL_BATCH, LOSS_MSE } LossKind;
int loss_parse(const char *s, LossKind *k);
const char *loss_name(LossKind k);

/* --loss mse: L = sum over the batch's B rows of N numbers of (S - Y)^2 / (B N). This rank's b rows
 * S, Y [b,N]: returns their share of L and writes dS = dL/dS [b,N] (the global B and N normalise). */
double loss_mse(float *dS, const float *S, const float *Y, int b, size_t N, int B);

/* --loss kl-batch (the official one, notes/fusegpt.md §2.6): at every element j of [N], p = softmax
 * over the B rows of Y[., j], q = the same of S; L = (1/B) sum_{b,j} p (log p - log q), dL/dS = (q - p)/B.
 * lse[N] = log sum_b exp(X[b, j]) over this rank's b rows (-inf when b = 0); combine them over the
 * groups with df_allreduce_lse, then loss_kl_batch gives this rank's share of L and its dS. */
void kl_batch_lse(float *lse, const float *X, int b, size_t N);
double loss_kl_batch(float *dS, const float *S, const float *Y, const float *lse_s, const float *lse_y, int b, size_t N,
                     int B);
/* double-precision definitions of both (tests) */
double loss_mse_ref(double *dS, const float *S, const float *Y, int B, size_t N);
double loss_kl_batch_ref(double *dS, const float *S, const float *Y, int B, size_t N);

/* Adam (torch.optim.Adam semantics: bias-corrected, eps outside the square root, no weight decay)
 * over one fp32 parameter array [n] whose first nbase numbers take lr_base and the rest lr_coef,
 * both scaled by the cosine schedule cos_lr(step, total) (CosineAnnealingLR to 0, stepped after
 * every update: the first update uses the full rate). Moments in fp32. */
typedef struct {
    size_t n, nbase;
    float *m, *v;
    long step, total;
    double lr_base, lr_coef, beta1, beta2, eps;
} Adam;
void adam_init(Adam *a, size_t n, size_t nbase, double lr_base, double lr_coef, long total_steps);
void adam_free(Adam *a);
/* scale of the learning rate at step s of total: (1 + cos(pi s / total)) / 2 */
double cos_lr(long step, long total);
void adam_step(Adam *a, float *p, const float *g);

typedef struct {
    int epochs;        /* passes over the batches (default 10) */
    int batch;         /* sequences per step, over all groups (8, as the official code) */
    LossKind loss;
    double lr_base, lr_coef;
    int recompute;     /* keep only each block's input between forward and backward */
} TrainOpts;

/* The group to fine-tune and its data on this rank. Global batch k is the sequences
 * [k*batch, (k+1)*batch) of the fine-tuning set; this rank's data-parallel group holds b_loc of each.
 * Pipeline: the group's blocks may sit on several stages; this rank runs its own n of them (n may be
 * 0 on a stage that only relays), receives its input from pipe rank prev (-1: it holds the student
 * input x) and sends its output to next (-1: it computes the loss against the teacher output y).
 * x on the first stage and y on the last are [n_batches][b_loc][T*H]. The b_loc rows of a batch run
 * as n_mb micro-batches, so that the stages work on different ones at once. */
typedef struct {
    FusedBlock **blocks;
    int n;
    const ModelConfig *c;
    const Rope *rope;
    int T, n_batches, b_loc, n_mb;
    const float *x, *y;
    MPI_Comm comm;     /* the ranks of this stage that share the batches (D groups) */
    MPI_Comm pipe;     /* this group's stages (MPI_COMM_SELF at P = 1) */
    int prev, next;    /* pipe ranks of the neighbouring stages of the group, -1: none */
    int active;        /* this rank takes part (holds a group block or relays between two) */
} GroupData;

/* Collective over g->comm. Fine-tunes the blocks' trainable parameters (norm gains, A, B at lr_base;
 * C_L, C_R, c_b at lr_coef) for o->epochs x n_batches steps, gradients all-reduced in a fixed order.
 * epoch_loss[e] = the mean over the epoch's batches of the batch loss (global, every rank the same).
 * On return every block is materialized with its final parameters. prog (rank 0; may be NULL) is
 * advanced by one per step. */
void group_train(double *epoch_loss, const GroupData *g, const TrainOpts *o, Progress *prog);
/* the loss of the blocks' current parameters on the data, without a step (collective) */
double group_loss(const GroupData *g, const TrainOpts *o);

#endif
