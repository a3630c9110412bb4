/* Distributed symmetric positive definite algebra for closed-form methods (FlattenGPT):
 *   Gram matrices G = A^T B of row-major fp32 activations that every rank holds for its own
 *   calibration tokens, accumulated in fp64 and reduced in fixed order (source rank 0, 1, ...)
 *   straight into a block-cyclic layout, a column panel at a time, so that no rank ever holds the
 *   whole n x n matrix (a 70B pair: n = 57344, 26 GB in fp64);
 *   Cholesky factorisation, inverse diagonal and solves by ScaLAPACK (pdpotrf/pdpotri/pdpotrs) on
 *   a pr x pc grid of every rank of the job, or by LAPACK on rank 0 alone (a 1 x 1 "grid").
 * The two back-ends share the layout code: the LAPACK grid is ScaLAPACK's with pr = pc = 1 and one
 * block the size of the matrix. Collective over MPI_COMM_WORLD. */
#ifndef DEPTHFUSE_LINALG_H
#define DEPTHFUSE_LINALG_H
#include <stddef.h>

typedef enum { SOLVER_AUTO, SOLVER_LAPACK, SOLVER_SCALAPACK } SolverKind;

int solver_parse(const char *s, SolverKind *k);
/* auto: LAPACK for one rank or n below 4096 (the factorisation takes well under a second there and
 * the grid's messages would dominate), ScaLAPACK otherwise */
SolverKind solver_choose(SolverKind k, int n, int ranks);
const char *solver_name(SolverKind k);

typedef struct {
    int scalapack;
    int ctxt;             /* BLACS context (ScaLAPACK) */
    int pr, pc, myr, myc; /* grid shape and this rank's place in it (-1: not in the grid) */
    int nb;               /* block size */
} SolveGrid;

/* pr x pc = every rank (pr the largest divisor <= sqrt), block nb (ScaLAPACK); or rank 0 alone with
 * nb = n (LAPACK). Collective. */
void solve_grid_init(SolveGrid *g, SolverKind kind, int n, int nb);
void solve_grid_free(SolveGrid *g);

/* an m x n fp64 matrix, block-cyclic on the grid, local part column-major [lr, lc], lld = max(1, lr) */
typedef struct {
    const SolveGrid *g;
    int m, n, lr, lc;
    double *a;
    int desc[9];
} DistMat;

void distmat_init(DistMat *M, const SolveGrid *g, int m, int n); /* zero-filled */
void distmat_free(DistMat *M);
/* global row/column of local row li / column lj */
int distmat_grow(const DistMat *M, int li);
int distmat_gcol(const DistMat *M, int lj);
/* M += s * I (square) */
void distmat_add_diag(DistMat *M, double s);
/* every entry on every rank: full[m, n] column-major (each entry has one owner: the sum is exact) */
void distmat_allgather(double *full, const DistMat *M);

/* G[m, p] = sum over this rank's N rows of A[:, acols]^T B[:, bcols] (fp64), summed over ranks in
 * fixed order. A: [N, lda] row-major fp32 with the m columns acols (NULL: 0..m-1); B likewise.
 * G must be initialised as m x p; it is overwritten. A Gram matrix of one operand (A == B, the same
 * columns) gets its lower triangle only (the strict upper one partly zero), which is what the 'L'
 * factorisations below read: half the flops. Returns the fp64 flops of this rank. */
double dist_gram(DistMat *G, const float *A, int lda, const int *acols, int m, const float *B, int ldb,
                 const int *bcols, int p, long long N);

/* M (SPD, lower triangle used) <- its Cholesky factor, then diag[n] = diag(M^{-1}) on every rank.
 * Returns -1 with df_fail (every rank) when M is not positive definite: what names the matrix. */
int dist_inverse_diag(DistMat *M, double *diag, const char *what);
/* B <- A^{-1} B (A SPD, overwritten by its factor). -1 + df_fail as above. */
int dist_posv(DistMat *A, DistMat *B, const char *what);

/* sum over ranks of x[n] in rank order, on every rank (small vectors) */
void dist_sum_fixed(double *x, int n);

#endif
