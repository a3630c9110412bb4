/* The fine-tuning losses and Adam (include/depthfuse/train.h), against mathematics:
 *   - mse and kl-batch values and gradients against their double-precision definitions, and the
 *     gradients against central finite differences of the definitions;
 *   - kl-batch with the batch's rows split over the ranks (run at -np 2): the per-rank lse combined
 *     by df_allreduce_lse gives the whole batch's loss and gradient;
 *   - Adam with two learning rates and the cosine schedule against a double-precision transcription of
 *     torch.optim.Adam + CosineAnnealingLR (betas 0.9/0.95, eps 1e-8), over 20 steps. */
#include "depthfuse/collective.h"
#include "depthfuse/train.h"
#include "test_util.h"

enum { B = 8, N = 301 };

static uint64_t rng = 7;
static double urand(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / (double)(1ull << 53) * 2 - 1;
}

/* max |a - b| / max(|b|) */
static double rel_err(const float *a, const double *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return e / (m > 0 ? m : 1);
}

static void check_losses(void) {
    static float S[B * N], Y[B * N], dS[B * N], lse_s[N], lse_y[N];
    static double ref[B * N];
    for (int i = 0; i < B * N; i++) S[i] = (float)(3 * urand()), Y[i] = (float)(S[i] + urand());
    /* mse */
    double L = loss_mse(dS, S, Y, B, N, B), Lr = loss_mse_ref(ref, S, Y, B, N);
    CHECK(fabs(L - Lr) <= 1e-6 * Lr, "mse %.9g vs %.9g", L, Lr);
    CHECK(rel_err(dS, ref, B * N) < 1e-6, "mse gradient rel err %.2e", rel_err(dS, ref, B * N));
    /* kl-batch */
    kl_batch_lse(lse_s, S, B, N);
    kl_batch_lse(lse_y, Y, B, N);
    L = loss_kl_batch(dS, S, Y, lse_s, lse_y, B, N, B);
    Lr = loss_kl_batch_ref(ref, S, Y, B, N);
    CHECK(fabs(L - Lr) <= 1e-5 * Lr, "kl-batch %.9g vs %.9g", L, Lr);
    CHECK(rel_err(dS, ref, B * N) < 1e-5, "kl-batch gradient rel err %.2e", rel_err(dS, ref, B * N));
    /* finite differences of the definitions at a few elements */
    const int at[] = {0, 17, N + 3, 5 * N + 200, B * N - 1};
    for (int k = 0; k < 5; k++) {
        const int i = at[k];
        const float s0 = S[i], h = 1e-2f;
        for (int which = 0; which < 2; which++) {
            S[i] = s0 + h;
            const double up = which ? loss_kl_batch_ref(NULL, S, Y, B, N) : loss_mse_ref(NULL, S, Y, B, N);
            S[i] = s0 - h;
            const double dn = which ? loss_kl_batch_ref(NULL, S, Y, B, N) : loss_mse_ref(NULL, S, Y, B, N);
            S[i] = s0;
            const double fd = (up - dn) / (2.0 * ((double)(s0 + h) - s0));
            if (which) {
                kl_batch_lse(lse_s, S, B, N);
                loss_kl_batch(dS, S, Y, lse_s, lse_y, B, N, B);
            } else {
                loss_mse(dS, S, Y, B, N, B);
            }
            CHECK(fabs(dS[i] - fd) <= 1e-3 * fabs(fd) + 1e-7, "%s d/dS[%d]: %.6g vs finite difference %.6g",
                  which ? "kl-batch" : "mse", i, dS[i], fd);
        }
    }
    /* rows split over the ranks: rank r of n takes rows [r*B/n, (r+1)*B/n) */
    int nr, r;
    MPI_Comm_size(MPI_COMM_WORLD, &nr);
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    const int b0 = r * B / nr, b = (r + 1) * B / nr - b0;
    static float lse[2 * N], dloc[B * N];
    kl_batch_lse(lse, S + (size_t)b0 * N, b, N);
    kl_batch_lse(lse + N, Y + (size_t)b0 * N, b, N);
    df_allreduce_lse(lse, 2 * N, MPI_COMM_WORLD);
    const double Ls = df_allreduce_sum_double(
        b ? loss_kl_batch(dloc, S + (size_t)b0 * N, Y + (size_t)b0 * N, lse, lse + N, b, N, B) : 0, MPI_COMM_WORLD);
    CHECK(fabs(Ls - Lr) <= 1e-5 * Lr, "kl-batch over %d ranks %.9g vs whole %.9g", nr, Ls, Lr);
    CHECK(rel_err(dloc, ref + (size_t)b0 * N, (size_t)b * N) < 1e-5, "kl-batch split gradient rel err %.2e",
          rel_err(dloc, ref + (size_t)b0 * N, (size_t)b * N));
}

/* torch.optim.Adam (amsgrad off, no weight decay) stepped with CosineAnnealingLR(T_max = total) */
static void check_adam(void) {
    enum { n = 50, nbase = 20, steps = 20 };
    float p[n], g[n];
    double pr[n], m[n] = {0}, v[n] = {0};
    for (int i = 0; i < n; i++) pr[i] = p[i] = (float)urand();
    Adam a;
    adam_init(&a, n, nbase, 1e-4, 1e-3, steps);
    double err = 0;
    for (int t = 1; t <= steps; t++) {
        for (int i = 0; i < n; i++) g[i] = (float)(urand() * (i % 3 + 1));
        adam_step(&a, p, g);
        for (int i = 0; i < n; i++) {
            const double lr = (i < nbase ? 1e-4 : 1e-3) * 0.5 * (1 + cos(M_PI * (t - 1) / steps));
            m[i] = 0.9 * m[i] + 0.1 * g[i];
            v[i] = 0.95 * v[i] + 0.05 * (double)g[i] * g[i];
            const double mh = m[i] / (1 - pow(0.9, t)), denom = sqrt(v[i]) / sqrt(1 - pow(0.95, t)) + 1e-8;
            pr[i] -= lr * mh / denom;
            err = fmax(err, fabs(p[i] - pr[i]));
        }
    }
    CHECK(err < 2e-6, "Adam after %d steps: max |p - torch's| = %.2e", steps, err);
    CHECK(fabs(cos_lr(0, 10) - 1) < 1e-15 && fabs(cos_lr(5, 10) - 0.5) < 1e-15 && fabs(cos_lr(10, 10)) < 1e-15,
          "cosine schedule 1 -> 0.5 -> 0");
    adam_free(&a);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    check_losses();
    check_adam();
    return test_end("test_train");
}
