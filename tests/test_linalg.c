/* The distributed Gram matrices and SPD solves (include/depthfuse/linalg.h), at any -np:
 *   - dist_gram over every rank's rows equals A^T B computed here from every rank's data (the data
 *     are regenerated from each rank's seed), column subsets and ragged panels included, and A^T A's
 *     lower triangle;
 *   - ScaLAPACK and LAPACK give the same inverse diagonal and ridge solutions to 1e-8 relative, on
 *     the Gram matrix of the 2 x 512 flattened MLP channels of base-16L blocks 3-4 and on a
 *     synthetic SPD matrix whose size is no multiple of the block; the solution solves the system;
 *   - a singular Gram matrix (fewer tokens than channels, no ridge) fails on every rank with the
 *     one line naming it. */
#include "depthfuse/error.h"
#include "depthfuse/flattengpt.h"
#include "depthfuse/forward.h"
#include "depthfuse/linalg.h"
#include "test_util.h"

static double urand(uint64_t *s) { return (double)(df_rng_next(s) >> 11) / 9007199254740992.0 * 2 - 1; }

static int g_rank, g_size;

/* rank r's rows: N_r = 37 + 11 r rows of [N_r, cols] */
static int rows_of(int r) { return 37 + 11 * r; }
static void rank_data(float *x, int r, int cols, uint64_t salt) {
    uint64_t s = 1000 + (uint64_t)r * 7919 + salt;
    for (size_t i = 0; i < (size_t)rows_of(r) * cols; i++) x[i] = (float)urand(&s);
}

static double rel_max(const double *a, const double *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return d / m;
}

static void check_gram(SolverKind kind) {
    const int lda = 50, ldb = 40, m = 23, p = 37, nb = 4;
    int acols[23], bcols[37];
    for (int i = 0; i < m; i++) acols[i] = (i * 7) % lda;
    for (int j = 0; j < p; j++) bcols[j] = ldb - 1 - j;
    SolveGrid g;
    solve_grid_init(&g, kind, 1 << 20, nb);
    DistMat G;
    distmat_init(&G, &g, m, p);
    float *A = df_malloc(sizeof(float) * (size_t)rows_of(g_rank) * lda), *B = df_malloc(sizeof(float) * (size_t)rows_of(g_rank) * ldb);
    rank_data(A, g_rank, lda, 1);
    rank_data(B, g_rank, ldb, 2);
    dist_gram(&G, A, lda, acols, m, B, ldb, bcols, p, rows_of(g_rank));
    double *got = df_malloc(sizeof(double) * m * p), *want = df_calloc((size_t)m * p, sizeof(double));
    distmat_allgather(got, &G);
    for (int r = 0; r < g_size; r++) {
        float *Ar = df_malloc(sizeof(float) * (size_t)rows_of(r) * lda), *Br = df_malloc(sizeof(float) * (size_t)rows_of(r) * ldb);
        rank_data(Ar, r, lda, 1);
        rank_data(Br, r, ldb, 2);
        for (int t = 0; t < rows_of(r); t++)
            for (int j = 0; j < p; j++)
                for (int i = 0; i < m; i++)
                    want[(size_t)j * m + i] += (double)Ar[(size_t)t * lda + acols[i]] * Br[(size_t)t * ldb + bcols[j]];
        free(Ar);
        free(Br);
    }
    const double e = rel_max(got, want, (size_t)m * p);
    CHECK(e < 1e-12, "%s Gram: relative error %.2e", solver_name(kind), e);
    /* one operand: the lower triangle of A^T A */
    DistMat S;
    distmat_init(&S, &g, m, m);
    dist_gram(&S, A, lda, acols, m, A, lda, acols, m, rows_of(g_rank));
    double *sym = df_malloc(sizeof(double) * m * m), es = 0, ms = 0;
    distmat_allgather(sym, &S);
    for (int j = 0; j < m; j++)
        for (int i = j; i < m; i++) {
            double r = 0;
            for (int q = 0; q < g_size; q++) {
                float *Aq = df_malloc(sizeof(float) * (size_t)rows_of(q) * lda);
                rank_data(Aq, q, lda, 1);
                for (int t = 0; t < rows_of(q); t++) r += (double)Aq[(size_t)t * lda + acols[i]] * Aq[(size_t)t * lda + acols[j]];
                free(Aq);
            }
            es = fmax(es, fabs(sym[(size_t)j * m + i] - r));
            ms = fmax(ms, fabs(r));
        }
    CHECK(es / ms < 1e-12, "%s symmetric Gram: relative error %.2e in the lower triangle", solver_name(kind), es / ms);
    free(sym);
    distmat_free(&S);
    free(A);
    free(B);
    free(got);
    free(want);
    distmat_free(&G);
    solve_grid_free(&g);
}

typedef struct {
    double *diag, *x; /* inverse diagonal [n], solution [n, d] */
} Solution;

/* Gram of X [N, n] (this rank's rows) + lam I: its inverse diagonal and the solution of
 * (X^T X + lam I) W = X^T Y, with the given solver */
static int solve_with(Solution *s, SolverKind kind, const float *X, int n, const float *Y, int d, long long N, double lam) {
    SolveGrid g;
    solve_grid_init(&g, kind, n, 64);
    DistMat C, A, B;
    distmat_init(&C, &g, n, n);
    distmat_init(&A, &g, n, n);
    distmat_init(&B, &g, n, d);
    dist_gram(&C, X, n, NULL, n, X, n, NULL, n, N);
    dist_gram(&A, X, n, NULL, n, X, n, NULL, n, N);
    dist_gram(&B, X, n, NULL, n, Y, d, NULL, d, N);
    distmat_add_diag(&C, lam);
    distmat_add_diag(&A, lam);
    s->diag = df_malloc(sizeof(double) * n);
    s->x = df_malloc(sizeof(double) * (size_t)n * d);
    int rc = dist_inverse_diag(&C, s->diag, "the test matrix");
    if (rc == 0) rc = dist_posv(&A, &B, "the test matrix");
    if (rc == 0) distmat_allgather(s->x, &B);
    distmat_free(&C);
    distmat_free(&A);
    distmat_free(&B);
    solve_grid_free(&g);
    return rc;
}

static void compare_solvers(const char *what, const float *X, int n, const float *Y, int d, long long N, double lam) {
    Solution a, b;
    CHECK(solve_with(&a, SOLVER_LAPACK, X, n, Y, d, N, lam) == 0, "%s", df_errmsg());
    CHECK(solve_with(&b, SOLVER_SCALAPACK, X, n, Y, d, N, lam) == 0, "%s", df_errmsg());
    if (g_failures) return;
    const double ed = rel_max(b.diag, a.diag, n), ex = rel_max(b.x, a.x, (size_t)n * d);
    if (g_rank == 0) printf("%s (n %d, lambda %.3g, %d ranks): scalapack vs lapack: diag %.2e, solution %.2e\n", what, n, lam, g_size, ed, ex);
    CHECK(ed < 1e-8 && ex < 1e-8, "%s: scalapack and lapack differ: diag %.2e, solution %.2e", what, ed, ex);
    /* the solution solves the system: (G + lam I) x = X^T Y, checked on column 0 */
    double *Gx = df_calloc((size_t)n, sizeof(double)), *rhs = df_calloc((size_t)n, sizeof(double));
    for (long long t = 0; t < N; t++) {
        double xt = 0;
        for (int i = 0; i < n; i++) xt += (double)X[t * n + i] * a.x[i];
        for (int i = 0; i < n; i++) {
            Gx[i] += X[t * n + i] * xt;
            rhs[i] += (double)X[t * n + i] * Y[t * d];
        }
    }
    dist_sum_fixed(Gx, n);
    dist_sum_fixed(rhs, n);
    for (int i = 0; i < n; i++) Gx[i] += lam * a.x[i];
    const double res = rel_max(Gx, rhs, n);
    CHECK(res < 1e-8, "%s: the solution leaves a relative residual %.2e", what, res);
    free(Gx);
    free(rhs);
    free(a.diag), free(a.x), free(b.diag), free(b.x);
}

/* psi [N, 2I] and the MLP output [N, H] of base-16L blocks 3-4 flattened, on this rank's random tokens */
static void flattened_activations(float **psi, float **y, int *n, int *H, long long *N) {
    Model m;
    CHECK(model_load(&m, fixture("models/base-16L"), NULL) == 0, "%s", df_errmsg());
    const ModelConfig *c = &m.cfg, cw = flatten_config(c, 2);
    const int T = 64, B = 4;
    int32_t ids[4 * 64];
    uint64_t s = 99 + (uint64_t)g_rank;
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)df_rng_below(&s, (uint64_t)c->vocab);
    float *x = df_alloc_floats((size_t)B * T * c->hidden);
    model_embed(x, &m, ids, B * T);
    Rope rope;
    model_rope_init(&rope, c, T);
    BlockActs a;
    block_acts_init(&a, &cw, B, T, 0);
    for (int l = 0; l < 3; l++) block_forward(x, &a, m.blocks[l], c, &rope, B, T);
    Block *w = flatten_blocks(c, m.blocks + 3, 2);
    block_forward(x, &a, w, &cw, &rope, B, T);
    *n = cw.intermediate;
    *H = c->hidden;
    *N = (long long)B * T;
    *psi = df_alloc_floats((size_t)*N * *n);
    *y = df_alloc_floats((size_t)*N * *H);
    memcpy(*psi, a.s, sizeof(float) * (size_t)*N * *n);
    memcpy(*y, a.tmp, sizeof(float) * (size_t)*N * *H);
    block_release(w);
    block_acts_free(&a);
    rope_free(&rope);
    free(x);
    model_free(&m);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    check_gram(SOLVER_LAPACK);
    check_gram(SOLVER_SCALAPACK);

    float *psi, *y;
    int n, H;
    long long N;
    flattened_activations(&psi, &y, &n, &H, &N);
    if (g_failures) return test_end("test_linalg");
    double tr = 0;
    for (long long i = 0; i < N * n; i++) tr += (double)psi[i] * psi[i];
    dist_sum_fixed(&tr, 1);
    compare_solvers("base-16L blocks 3-4 MLP Gram", psi, n, y, H, N, 10 * tr / n);
    compare_solvers("base-16L blocks 3-4 MLP Gram", psi, n, y, H, N, 1e-3 * tr / n);

    /* synthetic: n = 1500 (not a multiple of 64), 600 rows per rank, a ridge of 1% */
    const int ns = 1500, Ns = 600, ds = 3;
    float *X = df_malloc(sizeof(float) * (size_t)Ns * ns), *Ys = df_malloc(sizeof(float) * (size_t)Ns * ds);
    uint64_t s = 5 + (uint64_t)g_rank;
    for (size_t i = 0; i < (size_t)Ns * ns; i++) X[i] = (float)urand(&s);
    for (size_t i = 0; i < (size_t)Ns * ds; i++) Ys[i] = (float)urand(&s);
    compare_solvers("synthetic", X, ns, Ys, ds, Ns, 0.01 * Ns * g_size);
    free(X);
    free(Ys);

    /* singular: 256 tokens per rank over 1024 channels (fewer than 1024 tokens in all at -np <= 3),
     * no ridge; at -np 4 and more, a zero column makes it singular */
    for (long long t = 0; t < N; t++) psi[t * n + 5] = 0;
    for (int k = 0; k < 2; k++) {
        Solution z;
        df_clear_error();
        const int rc = solve_with(&z, k ? SOLVER_SCALAPACK : SOLVER_LAPACK, psi, n, y, H, N, 0);
        CHECK(rc < 0 && strstr(df_errmsg(), "the test matrix is not positive definite"),
              "a singular Gram matrix gave rc %d, '%s'", rc, df_errmsg());
        free(z.diag);
        free(z.x);
    }
    free(psi);
    free(y);
    return test_end("test_linalg");
}
