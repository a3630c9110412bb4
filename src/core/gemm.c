#include "depthfuse/gemm.h"

#include <cblas.h>

/* Tile sizes, from the shape alone: start at 512 x 256 (OpenBLAS's kernels run near peak there)
 * and, while C gives fewer than MIN_TILES tiles, halve the width down to 64, then the height down
 * to 64, so that narrow outputs (the fixture's 192 columns) still give every thread work. */
enum { TILE_M = 512, TILE_N = 256, TILE_MIN = 64, MIN_TILES = 8 };

static void tile_shape(int M, int N, int *tm, int *tn) {
    int bm = TILE_M, bn = TILE_N;
    while (((M + bm - 1) / bm) * ((N + bn - 1) / bn) < MIN_TILES) {
        if (bn > TILE_MIN && N > bn / 2) bn /= 2;
        else if (bm > TILE_MIN && M > bm / 2) bm /= 2;
        else break;
    }
    *tm = bm;
    *tn = bn;
}

void gemm_init(void) { openblas_set_num_threads(1); }

/* C[M,N] = alpha op(A) op(B) + beta C, tile by tile; a tile's rows of op(A) start at row m0 of A
 * (not transposed) or column m0 (transposed), likewise for B's columns */
static void gemm_tiled(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    static int serial_blas = 0;
    if (!serial_blas) { /* before the first parallel region; also for programs that skip df_startup_checks */
        gemm_init();
        serial_blas = 1;
    }
    int bm, bn;
    tile_shape(M, N, &bm, &bn);
    const int tm = (M + bm - 1) / bm, tn = (N + bn - 1) / bn;
#pragma omp parallel for schedule(dynamic, 1) if (tm * tn > 1)
    for (int t = 0; t < tm * tn; t++) {
        const int m0 = (t / tn) * bm, n0 = (t % tn) * bn;
        const int mm = M - m0 < bm ? M - m0 : bm, nn = N - n0 < bn ? N - n0 : bn;
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, mm, nn, K, alpha,
                    ta ? A + m0 : A + (size_t)m0 * lda, lda, tb ? B + (size_t)n0 * ldb : B + n0, ldb, beta,
                    C + (size_t)m0 * ldc + n0, ldc);
    }
}

void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc) {
    gemm_tiled(0, 1, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc) {
    gemm_tiled(0, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_tn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc) {
    gemm_tiled(1, 0, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
