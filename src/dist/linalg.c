/* Distributed Gram matrices and SPD solves (include/depthfuse/linalg.h). Layout: global entry
 * (i, j) lives on grid process ((i / nb) % pr, (j / nb) % pc) at local row (i / (nb pr)) nb + i % nb
 * (likewise the column); grid process (r, c) is world rank r pc + c (BLACS row order). */
#include "depthfuse/linalg.h"

#include <cblas.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"

/* ScaLAPACK / BLACS / LAPACK (Fortran: trailing hidden lengths of the character arguments) */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int h);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb, const int *irsrc,
               const int *icsrc, const int *ctxt, const int *lld, int *info);
void pdpotrf_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca, int *info,
              size_t);
void pdpotri_(const char *uplo, const int *n, double *a, const int *ia, const int *ja, const int *desca, int *info,
              size_t);
void pdpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *ia, const int *ja,
              const int *desca, double *b, const int *ib, const int *jb, const int *descb, int *info, size_t);
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b,
             const int *ldb, int *info, size_t);

enum { LAPACK_NB = 1 << 30 };

int solver_parse(const char *s, SolverKind *k) {
    if (!strcmp(s, "auto")) *k = SOLVER_AUTO;
    else if (!strcmp(s, "lapack")) *k = SOLVER_LAPACK;
    else if (!strcmp(s, "scalapack")) *k = SOLVER_SCALAPACK;
    else return df_fail("--solver: unknown solver '%s' (auto, lapack or scalapack)", s);
    return 0;
}

SolverKind solver_choose(SolverKind k, int n, int ranks) {
    if (k != SOLVER_AUTO) return k;
    return ranks > 1 && n >= 4096 ? SOLVER_SCALAPACK : SOLVER_LAPACK;
}

const char *solver_name(SolverKind k) {
    return k == SOLVER_LAPACK ? "lapack" : k == SOLVER_SCALAPACK ? "scalapack" : "auto";
}

void solve_grid_init(SolveGrid *g, SolverKind kind, int n, int nb) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    memset(g, 0, sizeof *g);
    if (solver_choose(kind, n, size) == SOLVER_LAPACK) {
        g->pr = g->pc = 1;
        g->myr = g->myc = rank == 0 ? 0 : -1;
        g->nb = LAPACK_NB;
        g->ctxt = -1;
        return;
    }
    g->scalapack = 1;
    g->nb = nb;
    int pr = 1;
    for (int d = 1; d * d <= size; d++)
        if (size % d == 0) pr = d;
    g->ctxt = Csys2blacs_handle(MPI_COMM_WORLD);
    Cblacs_gridinit(&g->ctxt, "Row", pr, size / pr);
    Cblacs_gridinfo(g->ctxt, &g->pr, &g->pc, &g->myr, &g->myc);
}

void solve_grid_free(SolveGrid *g) {
    if (g->scalapack) Cblacs_gridexit(g->ctxt);
    memset(g, 0, sizeof *g);
}

/* ScaLAPACK's numroc: how many of n items (blocks of nb, dealt round-robin to np) process p holds */
static int numroc(int n, int nb, int p, int np) {
    const int nblocks = n / nb, extra = n % nb;
    int k = (nblocks / np) * nb;
    const int r = nblocks % np;
    if (p < r) k += nb;
    else if (p == r) k += extra;
    return k;
}

static int owner(int i, int nb, int np) { return (i / nb) % np; }
static int local_index(int i, int nb, int np) { return (i / (nb * np)) * nb + i % nb; }
static int global_index(int li, int nb, int p, int np) { return ((li / nb) * np + p) * nb + li % nb; }

int distmat_grow(const DistMat *M, int li) { return global_index(li, M->g->nb, M->g->myr, M->g->pr); }
int distmat_gcol(const DistMat *M, int lj) { return global_index(lj, M->g->nb, M->g->myc, M->g->pc); }

void distmat_init(DistMat *M, const SolveGrid *g, int m, int n) {
    memset(M, 0, sizeof *M);
    M->g = g;
    M->m = m;
    M->n = n;
    if (g->myr >= 0) {
        M->lr = numroc(m, g->nb, g->myr, g->pr);
        M->lc = numroc(n, g->nb, g->myc, g->pc);
    }
    const size_t len = (size_t)M->lr * M->lc;
    M->a = df_calloc(len ? len : 1, sizeof(double));
    if (g->scalapack) {
        int zero = 0, info = 0, lld = M->lr > 1 ? M->lr : 1, nb = g->nb;
        descinit_(M->desc, &m, &n, &nb, &nb, &zero, &zero, &g->ctxt, &lld, &info);
    }
}

void distmat_free(DistMat *M) {
    free(M->a);
    memset(M, 0, sizeof *M);
}

void distmat_add_diag(DistMat *M, double s) {
    for (int lj = 0; lj < M->lc; lj++) {
        const int j = distmat_gcol(M, lj);
        if (owner(j, M->g->nb, M->g->pr) != M->g->myr) continue;
        M->a[(size_t)lj * M->lr + local_index(j, M->g->nb, M->g->pr)] += s;
    }
}

void distmat_allgather(double *full, const DistMat *M) {
    memset(full, 0, sizeof(double) * (size_t)M->m * M->n);
    for (int lj = 0; lj < M->lc; lj++) {
        const size_t j = (size_t)distmat_gcol(M, lj);
        for (int li = 0; li < M->lr; li++) full[j * M->m + distmat_grow(M, li)] = M->a[(size_t)lj * M->lr + li];
    }
    /* every entry has one non-zero contributor, so the sum is a copy; in slabs below 2^31 entries */
    const size_t total = (size_t)M->m * M->n, slab = (size_t)1 << 28;
    for (size_t off = 0; off < total; off += slab)
        MPI_Allreduce(MPI_IN_PLACE, full + off, (int)(total - off < slab ? total - off : slab), MPI_DOUBLE, MPI_SUM,
                      MPI_COMM_WORLD);
}

/* world rank of grid process (r, c) */
static int grid_rank(const SolveGrid *g, int r, int c) { return r * g->pc + c; }

double dist_gram(DistMat *G, const float *A, int lda, const int *acols, int m, const float *B, int ldb,
                 const int *bcols, int p, long long N) {
    const SolveGrid *g = G->g;
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int nb = g->nb, pr = g->pr, pc = g->pc;
    /* panel: whole column blocks of every process column, about 512 columns */
    int W = g->scalapack ? nb * pc : 512;
    if (g->scalapack && W < 512) W *= (512 + W - 1) / W;
    if (W > p) W = p;
    const int NC = 256; /* tokens converted to fp64 at a time */
    double *Cp = df_malloc(sizeof(double) * (size_t)m * W);
    double *Ad = df_malloc(sizeof(double) * (size_t)m * NC), *Bd = df_malloc(sizeof(double) * (size_t)W * NC);
    int *scount = df_calloc((size_t)size, sizeof(int)), *sdispl = df_calloc((size_t)size, sizeof(int));
    int *rcount = df_calloc((size_t)size, sizeof(int)), *rdispl = df_calloc((size_t)size, sizeof(int));
    double *sendbuf = df_malloc(sizeof(double) * (size_t)m * W);
    /* panels start at multiples of W, a multiple of nb pc (or all of p): a process column owns at
     * most ceil(W / (nb pc)) of a panel's column blocks */
    const long maxcols = g->scalapack ? (W + (long)nb * pc - 1) / ((long)nb * pc) * nb : W;
    double *recvbuf = df_malloc(sizeof(double) * ((size_t)G->lr * maxcols * size + 1));
    const int sym = A == B && acols == bcols && m == p && lda == ldb;
    double flops = 0;
    memset(G->a, 0, sizeof(double) * (size_t)G->lr * G->lc);
    for (int j0 = 0; j0 < p; j0 += W) {
        const int w = p - j0 < W ? p - j0 : W, i0 = sym ? j0 : 0;
        memset(Cp, 0, sizeof(double) * (size_t)m * w);
        for (long long t0 = 0; t0 < N; t0 += NC) {
            const int nc = N - t0 < NC ? (int)(N - t0) : NC;
#pragma omp parallel for schedule(static)
            for (int t = 0; t < nc; t++) {
                const float *a = A + (size_t)(t0 + t) * lda, *b = B + (size_t)(t0 + t) * ldb;
                double *ad = Ad + (size_t)t * m, *bd = Bd + (size_t)t * w;
                for (int i = 0; i < m; i++) ad[i] = a[acols ? acols[i] : i];
                for (int j = 0; j < w; j++) bd[j] = b[bcols ? bcols[j0 + j] : j0 + j];
            }
            /* symmetric: the rows from the panel's first column down (the lower triangle and a
             * little more), which is all the 'L' factorisations read */
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, m - i0, w, nc, 1.0, Ad + i0, m, Bd, w, 1.0, Cp + i0, m);
            flops += 2.0 * (m - i0) * w * nc;
        }
        /* pack each grid process's piece: its columns of the panel, its rows, in local order */
        memset(scount, 0, sizeof(int) * (size_t)size);
        size_t off = 0;
        for (int r = 0; r < pr; r++)
            for (int c = 0; c < pc; c++) {
                const int dst = grid_rank(g, r, c);
                sdispl[dst] = (int)off;
                for (int j = j0; j < j0 + w; j++) {
                    if (owner(j, nb, pc) != c) continue;
                    for (long i = (long)r * nb; i < m; i += (long)nb * pr) { /* process row r's row blocks */
                        const long end = i + nb < m ? i + nb : m;
                        memcpy(sendbuf + off, Cp + (size_t)(j - j0) * m + i, sizeof(double) * (size_t)(end - i));
                        off += (size_t)(end - i);
                    }
                }
                scount[dst] = (int)(off - (size_t)sdispl[dst]);
            }
        int mycols = 0;
        if (g->myr >= 0)
            for (int j = j0; j < j0 + w; j++) mycols += owner(j, nb, pc) == g->myc;
        for (int s = 0; s < size; s++) {
            rcount[s] = G->lr * mycols;
            rdispl[s] = s * G->lr * mycols;
        }
        MPI_Alltoallv(sendbuf, scount, sdispl, MPI_DOUBLE, recvbuf, rcount, rdispl, MPI_DOUBLE, MPI_COMM_WORLD);
        /* sum the sources in rank order into the local columns */
        if (mycols) {
            int k = 0;
            for (int j = j0; j < j0 + w; j++) {
                if (owner(j, nb, pc) != g->myc) continue;
                double *dst = G->a + (size_t)local_index(j, nb, pc) * G->lr;
                for (int s = 0; s < size; s++) {
                    const double *src = recvbuf + (size_t)rdispl[s] + (size_t)k * G->lr;
                    for (int i = 0; i < G->lr; i++) dst[i] += src[i];
                }
                k++;
            }
        }
    }
    free(Cp);
    free(Ad);
    free(Bd);
    free(scount);
    free(sdispl);
    free(rcount);
    free(rdispl);
    free(sendbuf);
    free(recvbuf);
    return flops;
}

/* every rank learns info (the grid's, or rank 0's) */
static int agree_info(int info) {
    MPI_Allreduce(MPI_IN_PLACE, &info, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return info;
}

static int cholesky(DistMat *M, const char *what) {
    const SolveGrid *g = M->g;
    int n = M->n, one = 1, info = 0;
    if (g->scalapack) pdpotrf_("L", &n, M->a, &one, &one, M->desc, &info, 1);
    else if (g->myr == 0) dpotrf_("L", &n, M->a, &n, &info, 1);
    info = agree_info(info);
    if (info > 0)
        return df_fail("%s is not positive definite (leading minor %d of %d): the calibration activations do not "
                       "span it; use --ridge > 0 or more calibration data", what, info, n);
    if (info < 0) return df_fail("%s: the Cholesky factorisation refused argument %d", what, -info);
    return 0;
}

int dist_inverse_diag(DistMat *M, double *diag, const char *what) {
    DF_TRY(cholesky(M, what));
    const SolveGrid *g = M->g;
    int n = M->n, one = 1, info = 0;
    if (g->scalapack) pdpotri_("L", &n, M->a, &one, &one, M->desc, &info, 1);
    else if (g->myr == 0) dpotri_("L", &n, M->a, &n, &info, 1);
    if (agree_info(info) != 0) return df_fail("%s: its inverse could not be formed (singular factor)", what);
    memset(diag, 0, sizeof(double) * (size_t)n);
    for (int lj = 0; lj < M->lc; lj++) {
        const int j = distmat_gcol(M, lj);
        if (owner(j, g->nb, g->pr) == g->myr) diag[j] = M->a[(size_t)lj * M->lr + local_index(j, g->nb, g->pr)];
    }
    MPI_Allreduce(MPI_IN_PLACE, diag, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); /* one owner each */
    return 0;
}

int dist_posv(DistMat *A, DistMat *B, const char *what) {
    DF_TRY(cholesky(A, what));
    const SolveGrid *g = A->g;
    int n = A->n, nrhs = B->n, one = 1, info = 0;
    if (g->scalapack) pdpotrs_("L", &n, &nrhs, A->a, &one, &one, A->desc, B->a, &one, &one, B->desc, &info, 1);
    else if (g->myr == 0) dpotrs_("L", &n, &nrhs, A->a, &n, B->a, &n, &info, 1);
    if (agree_info(info) != 0) return df_fail("%s: the triangular solves refused argument %d", what, -info);
    return 0;
}

void dist_sum_fixed(double *x, int n) {
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double *all = df_malloc(sizeof(double) * (size_t)n * size);
    MPI_Allgather(x, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int r = 0; r < size; r++) s += all[(size_t)r * n + i];
        x[i] = s;
    }
    free(all);
}
