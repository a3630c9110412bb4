#include "depthfuse/gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "depthfuse/error.h"

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

static int core_is(const char *core, const char *const *names) {
    for (; *names; names++)
        if (!strncasecmp(core, *names, strlen(*names))) return 1;
    return 0;
}

void gemm_pick_kernels(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return; /* the user's choice, or this is the re-executed run */
    static const char *const before_avx2[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                                              "Sandybridge", "Katmai", "Coppermine", "Northwood", "Banias", NULL};
    static const char *const avx2_only[] = {"Haswell", "Zen", NULL};
    const char *core = openblas_get_corename(), *want = NULL;
    const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                       __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    const int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx512 && (core_is(core, before_avx2) || core_is(core, avx2_only))) want = "SkylakeX";
    else if (avx2 && core_is(core, before_avx2)) want = "Haswell";
    if (!want) return;
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE"); /* no re-exec (no /proc): go on with the kernels loaded */
}

/* A small C with a long K (a weight gradient dY^T X: out x in over thousands of tokens) gives few
 * full tiles, and tiles cut thinner than 512 x 256 run OpenBLAS at half speed (each repacks the
 * whole K). Such products are split along K instead: chunks of at least KSPLIT_MIN, each a job
 * writing its own partial product of the whole C, the partials then summed in chunk order into C.
 * Chunk count and boundaries come from the shape alone: the same result at any thread count. Only
 * gemm_tn (gradients) splits: the forward's products keep one K pass per element, so a forward's
 * bits do not depend on how many rows a rank holds. */
enum { KSPLIT_MIN = 256, KSPLIT_MAX_C = 1 << 22 };

static void gemm_ksplit(int ta, int tb, int M, int N, int K, int nk, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    const int kc = (K + nk - 1) / nk;
    const size_t MN = (size_t)M * N;
    float *part = df_alloc_floats(MN * nk);
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < nk; k++) {
        const int k0 = k * kc, kk = K - k0 < kc ? K - k0 : kc;
        if (kk <= 0) {
            memset(part + MN * k, 0, MN * sizeof(float));
            continue;
        }
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, kk, 1.0f,
                    ta ? A + (size_t)k0 * lda : A + k0, lda, tb ? B + k0 : B + (size_t)k0 * ldb, ldb, 0.0f,
                    part + MN * k, N);
    }
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        for (int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (int k = 0; k < nk; k++) acc += part[MN * k + (size_t)i * N + j];
            c[j] = (beta == 0.0f ? 0.0f : beta * c[j]) + alpha * acc;
        }
    }
    free(part);
}

/* C[M,N] = alpha op(A) op(B) + beta C, tile by tile; a tile's rows of op(A) start at row m0 of A
 * (not transposed) or column m0 (transposed), likewise for B's columns */
static void gemm_tiled(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    static int serial_blas = 0;
    if (!serial_blas) { /* before the first parallel region; also for programs that skip df_startup_checks */
        gemm_init();
        serial_blas = 1;
    }
    const int full = ((M + TILE_M - 1) / TILE_M) * ((N + TILE_N - 1) / TILE_N);
    if (ta && !tb && full < MIN_TILES && K >= 2 * KSPLIT_MIN && (size_t)M * N <= KSPLIT_MAX_C) {
        int nk = K / KSPLIT_MIN;
        nk = nk < MIN_TILES ? nk : MIN_TILES;
        gemm_ksplit(ta, tb, M, N, K, nk, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
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
