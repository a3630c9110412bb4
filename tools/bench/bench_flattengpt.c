/* FlattenGPT's linear algebra at the job's -np (tools/bench/bench_flattengpt.sh runs it at several):
 *   gram   dist_gram of random fp32 activations [N per rank, n] (fp64 accumulation, the fixed-order
 *          reduction into the block-cyclic layout), GFLOP/s per rank against OpenBLAS dgemm and dsyrk
 *          on the same shapes on one rank, measured back to back in each repeat
 *   solve  the SPD ridge system of size n: Cholesky + the inverse diagonal (the leverage scores) +
 *          the solve of d right-hand sides, by ScaLAPACK on every rank and by LAPACK on rank 0, with
 *          the relative difference of the two solutions (1e-8 is the bar)
 * The matrices are synthetic: A_ij = u(i, j) in [-1, 1] (symmetric) + 2 sqrt(n) I, SPD with a
 * condition number about 4, filled where they live (no rank holds the whole ScaLAPACK matrix).
 *   mpirun -np P bench_flattengpt [--gram N n] [--solve n ...] [--rhs d] [--nb NB] [--repeat R] [--no-lapack] */
#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/linalg.h"
#include "depthfuse/log.h"

static int g_rank, g_size;

static double hash_unit(uint64_t i, uint64_t j) {
    uint64_t x = (i < j ? i * 0x9E3779B97F4A7C15ull ^ j : j * 0x9E3779B97F4A7C15ull ^ i) + 0x632BE59BD9B4E019ull;
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull, x ^= x >> 33;
    return (double)(x >> 11) / 9007199254740992.0 * 2 - 1;
}

static void fill_spd(DistMat *A) {
    const double shift = 2 * sqrt((double)A->n);
    for (int lj = 0; lj < A->lc; lj++) {
        const int j = distmat_gcol(A, lj);
        for (int li = 0; li < A->lr; li++) {
            const int i = distmat_grow(A, li);
            A->a[(size_t)lj * A->lr + li] = hash_unit((uint64_t)i, (uint64_t)j) + (i == j ? shift : 0);
        }
    }
}

static void fill_rhs(DistMat *B) {
    for (int lj = 0; lj < B->lc; lj++)
        for (int li = 0; li < B->lr; li++)
            B->a[(size_t)lj * B->lr + li] = hash_unit((uint64_t)distmat_grow(B, li) + 7, ((uint64_t)distmat_gcol(B, lj) << 20) + 1);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void min_median(const double *v, int n, double *mn, double *med) {
    double *s = df_malloc(sizeof(double) * (size_t)n);
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    *mn = s[0];
    *med = s[n / 2];
    free(s);
}

static void bench_gram(long long N, int n, int nb, int R) {
    float *X = df_malloc(sizeof(float) * (size_t)N * n);
    for (size_t i = 0; i < (size_t)N * n; i++) X[i] = (float)hash_unit(i, (uint64_t)g_rank + 3);
    double *Xd = df_malloc(sizeof(double) * (size_t)N * n), *C = df_malloc(sizeof(double) * (size_t)n * n);
    for (size_t i = 0; i < (size_t)N * n; i++) Xd[i] = X[i];
    SolveGrid g;
    solve_grid_init(&g, SOLVER_SCALAPACK, n, nb);
    DistMat G;
    distmat_init(&G, &g, n, n);
    double *tg = df_malloc(sizeof(double) * R), *tm = df_malloc(sizeof(double) * R), *ts = df_malloc(sizeof(double) * R);
    for (int r = 0; r < R; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = df_now();
        dist_gram(&G, X, n, NULL, n, X, n, NULL, n, N);
        MPI_Barrier(MPI_COMM_WORLD);
        tg[r] = df_now() - t;
        t = df_now(); /* the same product on one rank's data by dgemm and by dsyrk (half the flops) */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n, n, (int)N, 1.0, Xd, n, Xd, n, 0.0, C, n);
        tm[r] = df_now() - t;
        t = df_now();
        cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n, (int)N, 1.0, Xd, n, 0.0, C, n);
        ts[r] = df_now() - t;
    }
    double gmin, gmed, mmin, mmed, smin, smed;
    min_median(tg, R, &gmin, &gmed);
    min_median(tm, R, &mmin, &mmed);
    min_median(ts, R, &smin, &smed);
    const double f = 2.0 * N * n * n * 1e-9;
    df_print0("gram  N %lld/rank n %d np %d grid %dx%d nb %d: dist_gram %.2f s (median %.2f) = %.1f GFLOP/s/rank; "
              "one rank's dgemm %.1f and dsyrk %.1f GFLOP/s on the same product (as full-matrix flops); "
              "dist_gram runs at %.2f of dgemm's rate and takes %.2fx dsyrk's time\n",
              N, n, g_size, g.pr, g.pc, nb, gmin, gmed, f / gmin, f / mmin, f / smin, mmin / gmin, gmin / smin);
    distmat_free(&G);
    solve_grid_free(&g);
    free(X), free(Xd), free(C), free(tg), free(tm), free(ts);
}

/* one solve with kind: seconds of factor+inverse-diagonal and of factor+solve; the solution gathered */
static void solve_once(SolverKind kind, int n, int d, int nb, double *t_diag, double *t_solve, double *x) {
    SolveGrid g;
    solve_grid_init(&g, kind, n, nb);
    DistMat A, B;
    distmat_init(&A, &g, n, n);
    fill_spd(&A);
    double *diag = df_malloc(sizeof(double) * (size_t)n);
    MPI_Barrier(MPI_COMM_WORLD);
    double t = df_now();
    if (dist_inverse_diag(&A, diag, "the benchmark matrix") < 0) DF_FATAL("%s", df_errmsg());
    MPI_Barrier(MPI_COMM_WORLD);
    *t_diag = df_now() - t;
    fill_spd(&A);
    distmat_init(&B, &g, n, d);
    fill_rhs(&B);
    MPI_Barrier(MPI_COMM_WORLD);
    t = df_now();
    if (dist_posv(&A, &B, "the benchmark matrix") < 0) DF_FATAL("%s", df_errmsg());
    MPI_Barrier(MPI_COMM_WORLD);
    *t_solve = df_now() - t;
    if (x) distmat_allgather(x, &B);
    distmat_free(&A);
    distmat_free(&B);
    free(diag);
    solve_grid_free(&g);
}

static void bench_solve(int n, int d, int nb, int R, int lapack) {
    double *x = df_malloc(sizeof(double) * (size_t)n * d), *y = lapack ? df_malloc(sizeof(double) * (size_t)n * d) : NULL;
    double *td = df_malloc(sizeof(double) * R), *tsv = df_malloc(sizeof(double) * R);
    for (int r = 0; r < R; r++) solve_once(SOLVER_SCALAPACK, n, d, nb, &td[r], &tsv[r], r == 0 ? x : NULL);
    double dmin, dmed, smin, smed;
    min_median(td, R, &dmin, &dmed);
    min_median(tsv, R, &smin, &smed);
    const double fl = (double)n * n * n / 3 * 1e-9;
    df_print0("solve n %d d %d np %d nb %d scalapack: potrf+potri %.2f s (median %.2f), potrf+potrs %.2f s (median %.2f), "
              "potrf ~%.1f GFLOP/s in all\n", n, d, g_size, nb, dmin, dmed, smin, smed, fl / (smin > 0 ? smin : 1));
    if (lapack) {
        double a, b;
        solve_once(SOLVER_LAPACK, n, d, nb, &a, &b, y);
        double e = 0, m = 0;
        for (size_t i = 0; i < (size_t)n * d; i++) e = fmax(e, fabs(x[i] - y[i])), m = fmax(m, fabs(y[i]));
        df_print0("solve n %d lapack on rank 0: potrf+potri %.2f s, potrf+potrs %.2f s; scalapack vs lapack: relative %.2e (%s)\n",
                  n, a, b, e / m, e / m < 1e-8 ? "ok" : "ABOVE 1e-8");
    }
    free(x), free(y), free(td), free(tsv);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    int nb = 64, R = 3, d = 192, lapack = 1, did = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nb") && i + 1 < argc) nb = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) R = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rhs") && i + 1 < argc) d = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-lapack")) lapack = 0;
    }
    FILE *f = fopen("/proc/loadavg", "r");
    char la[128] = "?\n";
    if (f && !fgets(la, sizeof la, f)) strcpy(la, "?\n");
    if (f) fclose(f);
    df_print0("bench_flattengpt: %d ranks, load average %s", g_size, la);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gram") && i + 2 < argc) {
            bench_gram(atoll(argv[i + 1]), atoi(argv[i + 2]), nb, R);
            i += 2, did = 1;
        } else if (!strcmp(argv[i], "--solve")) {
            for (; i + 1 < argc && argv[i + 1][0] != '-'; i++) bench_solve(atoi(argv[i + 1]), d, nb, R, lapack), did = 1;
        }
    }
    if (!did) df_print0("nothing to do: --gram N n and/or --solve n ...\n");
    MPI_Finalize();
    return 0;
}
