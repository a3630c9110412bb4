/* The Llama decoder's ops, llm.c style: one function per op, outputs first, then inputs, then
 * weights, then sizes; shapes in the comments; row-major fp32 throughout. N = number of tokens
 * (B*T), C = input channels, OC = output channels. Linear weights are nn.Linear [OC, C].
 * The fast paths (BLAS) have a naive *_ref twin that the tests compare against.
 * Backward ops sit beside their forward: d<name> is the gradient of the loss with respect to <name>.
 * Unless a comment says "written", a backward op ACCUMULATES (+=) into its gradient outputs, as
 * llm.c does, so the caller zeroes them once; every gradient output may be NULL (not wanted).
 * Reductions over tokens (weight and gain gradients) run in fixed chunks summed in a fixed order,
 * so gradients are bit-identical at any thread count. */
#ifndef DEPTHFUSE_OPS_H
#define DEPTHFUSE_OPS_H
#include <stddef.h>
#include <stdint.h>

/* out[N,C] = table[ids[n], :] */
void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C);

/* out[N,C] = x / sqrt(mean(x^2) + eps) * w;  rstd[N] (may be NULL) keeps 1/sqrt(...) for backward */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* dx[N,C] += d/dx, dw[C] += sum_n dout[n] * x[n] * rstd[n], from dout[N,C], x[N,C], w[C] and the
 * forward's rstd[N]:  dx = rstd * (w*dout - x * rstd^2 * mean(w*dout*x)) */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int N, int C);
void rmsnorm_backward_ref(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                          int N, int C);

/* out[N,OC] = x[N,C] w[OC,C]^T + bias[OC] (bias may be NULL); OpenBLAS sgemm */
void matmul_forward(float *out, const float *x, const float *w, const float *bias, int N, int C, int OC);
void matmul_forward_ref(float *out, const float *x, const float *w, const float *bias, int N, int C, int OC);
/* Backward of matmul_forward with row strides (ldo for dout, ldx for x and dx) so that a slice of a
 * fused q|k|v or gate|up buffer is one linear:
 *   dx[N,C]   += dout[N,OC] w[OC,C]          (sgemm NN; 2 N C OC FLOPs)
 *   dw[OC,C]  += dout^T x  = G               (sgemm TN, K = N; 2 N C OC FLOPs)
 *   dbias[OC] += sum_n dout[n]
 * beta 1 accumulates as above; beta 0 writes the three instead (no zeroing pass, no read of the
 * old values: the block backward writes its scratch this way). */
void matmul_backward(float *dx, float *dw, float *dbias, const float *dout, int ldo, const float *x, int ldx,
                     const float *w, int N, int C, int OC, float beta);
void matmul_backward_ref(float *dx, float *dw, float *dbias, const float *dout, int ldo, const float *x, int ldx,
                         const float *w, int N, int C, int OC, float beta);

/* Rotary embedding tables for positions 0..T-1: cos/sin [T, hd/2] (HF rotate-half convention). */
typedef struct {
    int T, half;
    float *cos, *sin;
} Rope;
/* inv_freq[hd/2] -> tables; rope_free releases them */
void rope_init(Rope *r, const float *inv_freq, int half, int T);
void rope_free(Rope *r);
/* x viewed as [B,T,*] with row stride ld floats; rotates nheads heads of size 2*half starting at
 * column 0 of each row, in place: x[i] <- x[i] c - x[i+half] s, x[i+half] <- x[i+half] c + x[i] s
 * with the angles of token n's position: pos[n] (pos[B*T], each < r->T) or, pos NULL, n % T.
 * rope_forward is rope_forward_pos with pos NULL. */
void rope_forward_pos(float *x, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld);
void rope_forward(float *x, const Rope *r, int B, int T, int nheads, int ld);
/* RoPE is a rotation, so its backward is the inverse rotation of the gradient, in place (dx holds
 * d/d(rotated) on entry and d/d(unrotated) on exit): same layout and arguments as rope_forward_pos. */
void rope_backward_pos(float *dx, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld);
void rope_backward_ref(float *dx, const Rope *r, const int32_t *pos, int B, int T, int nheads, int ld);

/* Causal grouped-query attention, one sequence at a time, never more than a chunk of score rows:
 *   q: [B,T,*] heads of hd at column h*hd, row stride ldq;  k, v: [B,T,*] kv heads, stride ldkv
 *   out: [B,T,nh*hd];  lse[B,nh,T] (may be NULL) keeps log-sum-exp of each score row for backward
 * Query head h reads kv head h / (nh/nkv). scale = 1/sqrt(hd).
 * Segments seg[B,T] (NULL: plain causal): token t attends to s <= t only where seg[s] == 0 or
 * seg[s] == seg[t]. So one row can hold a context (segment 0) and several continuations of it
 * (segments 1, 2, ...), each reading the context and itself as if it followed the context alone
 * (with rope_forward_pos giving it the positions it would have there). attention_forward is
 * attention_forward_seg with seg NULL. */
void attention_forward_seg(float *out, float *lse, const float *q, int ldq, const float *k, const float *v,
                           int ldkv, const int32_t *seg, int B, int T, int nh, int nkv, int hd);
void attention_forward(float *out, float *lse, const float *q, int ldq, const float *k, const float *v,
                       int ldkv, int B, int T, int nh, int nkv, int hd);
void attention_forward_ref(float *out, const float *q, int ldq, const float *k, const float *v, int ldkv,
                           const int32_t *seg, int B, int T, int nh, int nkv, int hd);
/* Backward of attention_forward_seg, flash-attention-2 style: from the forward's out[B,T,nh*hd] and
 * lse[B,nh,T] the probabilities are recomputed a chunk of query rows at a time (P = exp(S - lse)),
 * never a T x T matrix per head: per thread g*chunk*T floats twice (chunk 256, g = nh/nkv).
 *   Dr = rowsum(dout * out);  dP = dout V^T;  dS = P * (dP - Dr);
 *   dq = scale dS K  (written);  dk = scale dS^T Q,  dv = P^T dout  (written, summed over the g
 *   query heads of each kv head and over chunks in a fixed order)
 * dq has row stride lddq, dk and dv lddkv (they may be slices of one d(q|k|v) buffer); q, k, v are
 * the forward's inputs (q, k after RoPE). Jobs are (sequence, kv head): seq 2048 fits. */
void attention_backward(float *dq, int lddq, float *dk, float *dv, int lddkv, const float *dout, const float *out,
                        const float *lse, const float *q, int ldq, const float *k, const float *v, int ldkv,
                        const int32_t *seg, int B, int T, int nh, int nkv, int hd);
/* naive: recomputes each row's softmax in double, no lse; same outputs (written) */
void attention_backward_ref(float *dq, int lddq, float *dk, float *dv, int lddkv, const float *dout, const float *q,
                            int ldq, const float *k, const float *v, int ldkv, const int32_t *seg, int B, int T, int nh,
                            int nkv, int hd);

/* out[N,Hi] = silu(gu[n, 0:Hi]) * gu[n, Hi:2Hi] (gate and up side by side in one row; Hi = intermediate) */
void swiglu_forward(float *out, const float *gu, int N, int Hi);
/* dgu[N,2Hi] (written) from dout[N,Hi] and the forward's gu:  with sg = sigmoid(g),
 * dg = dout * u * sg * (1 + g (1 - sg)),  du = dout * g * sg */
void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int Hi);
void swiglu_backward_ref(float *dgu, const float *dout, const float *gu, int N, int Hi);

/* x[n] += y[n] */
void residual_forward(float *x, const float *y, size_t n);
/* x += y passes dout to both: dx[n] += dout[n], dy[n] += dout[n] (either may be NULL) */
void residual_backward(float *dx, float *dy, const float *dout, size_t n);

/* Negative log-likelihood of targets under logits[N,V] (rows with target < 0 are skipped):
 * returns the sum over rows (double) and nll[N] per row when nll is not NULL. */
double cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int N, int V);
/* Log-sum-exp over a vocabulary seen a tile of columns at a time (online, as flash attention goes
 * over keys), so that [N,V] logits never exist: logits[N,Vt] are the columns v0..v0+Vt-1 of each
 * row. Start from mx[n] = -INFINITY, sum[n] = 0; after the last tile log-sum-exp = mx + log(sum),
 * and tz[n] holds the logit of targets[n]. Rows with target < 0 are skipped. */
void logsumexp_tile(float *mx, double *sum, float *tz, const float *logits, const int32_t *targets, int N, int Vt,
                    int v0);

#endif
