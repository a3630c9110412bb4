/* GEMMs for the decoder, threaded by tiles: C is cut into tiles whose sizes depend on the shape
 * alone, each tile is one single-threaded OpenBLAS sgemm, and the tiles run on the OpenMP threads.
 * Every element is therefore computed by the same instructions whatever the thread count, so a
 * result at -np 4 (one thread per rank) equals the result at -np 1 (all cores) bit for bit;
 * OpenBLAS's own threading splits the work by thread count and changes the rounding. */
#ifndef DEPTHFUSE_GEMM_H
#define DEPTHFUSE_GEMM_H

/* C[M,N] = alpha A[M,K] B[N,K]^T + beta C   (row-major, leading dimensions lda, ldb, ldc) */
void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc);
/* C[M,N] = alpha A[M,K] B[K,N] + beta C   (dx = dy W in a linear's backward) */
void gemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc);
/* C[M,N] = alpha A[K,M]^T B[K,N] + beta C   (G = dy^T x: K is the token count) */
void gemm_tn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc);
/* OpenBLAS runs on the calling thread from here on (the tiles are the parallelism) */
void gemm_init(void);
/* First thing in main, before MPI_Init. OpenBLAS 0.3.21 (Debian 12) picks its kernels when it loads,
 * from the CPUs it knows; on newer ones (Zen 5; a Xeon that a hypervisor names only "Intel(R)
 * Xeon(R) Processor") it falls back to older kernels, 1.5-3x slower (docs/performance.md). Only the
 * environment can change that choice, so the program re-executes itself once with
 * OPENBLAS_CORETYPE set (SkylakeX on AVX-512, Haswell on AVX2); a user's own setting is kept. */
void gemm_pick_kernels(char **argv);

#endif
