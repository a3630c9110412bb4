#include "depthfuse/gemm.h"

#include <cblas.h>

/* Tile sizes: big enough for OpenBLAS's kernels to run near peak (a tile is >= 256 x 256 x K
 * unless C is smaller), small enough to give every thread work (a 4096 x 2048 output is 32 tiles). */
enum { TILE_M = 512, TILE_N = 256 };

void gemm_init(void) { openblas_set_num_threads(1); }

void gemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
             int ldc) {
    static int serial_blas = 0;
    if (!serial_blas) { /* before the first parallel region; also for programs that skip df_startup_checks */
        gemm_init();
        serial_blas = 1;
    }
    const int tm = (M + TILE_M - 1) / TILE_M, tn = (N + TILE_N - 1) / TILE_N;
#pragma omp parallel for schedule(dynamic, 1) if (tm * tn > 1)
    for (int t = 0; t < tm * tn; t++) {
        const int m0 = (t / tn) * TILE_M, n0 = (t % tn) * TILE_N;
        const int mm = M - m0 < TILE_M ? M - m0 : TILE_M, nn = N - n0 < TILE_N ? N - n0 : TILE_N;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mm, nn, K, alpha, A + (size_t)m0 * lda, lda,
                    B + (size_t)n0 * ldb, ldb, beta, C + (size_t)m0 * ldc + n0, ldc);
    }
}
