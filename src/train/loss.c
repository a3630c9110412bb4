/* The group fine-tuning losses (include/depthfuse/train.h). Rows are sequences, N = T*H numbers each. */
#include <math.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/train.h"

int loss_parse(const char *s, LossKind *k) {
    if (!strcmp(s, "kl-batch")) *k = LOSS_KL_BATCH;
    else if (!strcmp(s, "mse")) *k = LOSS_MSE;
    else return df_fail("unknown loss '%s' (kl-batch or mse)", s);
    return 0;
}

const char *loss_name(LossKind k) { return k == LOSS_MSE ? "mse" : "kl-batch"; }

double loss_mse(float *dS, const float *S, const float *Y, int b, size_t N, int B) {
    const double scale = 1.0 / ((double)B * (double)N);
    const float g = (float)(2.0 * scale);
    double sum = 0;
    for (size_t i = 0; i < (size_t)b * N; i++) {
        const float d = S[i] - Y[i];
        sum += (double)d * d;
        dS[i] = g * d;
    }
    return sum * scale;
}

void kl_batch_lse(float *lse, const float *X, int b, size_t N) {
    if (b == 0) {
        for (size_t j = 0; j < N; j++) lse[j] = -INFINITY;
        return;
    }
    memcpy(lse, X, sizeof(float) * N); /* running max over the rows, then the sum of exp below it */
    for (int r = 1; r < b; r++)
        for (size_t j = 0; j < N; j++) lse[j] = fmaxf(lse[j], X[(size_t)r * N + j]);
    for (size_t j = 0; j < N; j++) {
        float s = 0;
        for (int r = 0; r < b; r++) s += expf(X[(size_t)r * N + j] - lse[j]);
        lse[j] += logf(s);
    }
}

double loss_kl_batch(float *dS, const float *S, const float *Y, const float *lse_s, const float *lse_y, int b, size_t N,
                     int B) {
    const float inv = 1.0f / (float)B;
    double sum = 0;
    for (int r = 0; r < b; r++) {
        const float *s = S + (size_t)r * N, *y = Y + (size_t)r * N;
        float *d = dS + (size_t)r * N;
        double acc = 0;
        for (size_t j = 0; j < N; j++) {
            const float lp = y[j] - lse_y[j], lq = s[j] - lse_s[j], p = expf(lp);
            acc += (double)p * (double)(lp - lq);
            d[j] = (expf(lq) - p) * inv;
        }
        sum += acc;
    }
    return sum / B;
}

double loss_mse_ref(double *dS, const float *S, const float *Y, int B, size_t N) {
    double sum = 0;
    for (size_t i = 0; i < (size_t)B * N; i++) {
        const double d = (double)S[i] - Y[i];
        sum += d * d;
        if (dS) dS[i] = 2 * d / ((double)B * N);
    }
    return sum / ((double)B * N);
}

double loss_kl_batch_ref(double *dS, const float *S, const float *Y, int B, size_t N) {
    double sum = 0;
    for (size_t j = 0; j < N; j++) {
        double zs = 0, zy = 0;
        for (int r = 0; r < B; r++) zs += exp(S[(size_t)r * N + j]), zy += exp(Y[(size_t)r * N + j]);
        for (int r = 0; r < B; r++) {
            const double p = exp(Y[(size_t)r * N + j]) / zy, q = exp(S[(size_t)r * N + j]) / zs;
            sum += p * (log(p) - log(q));
            if (dS) dS[(size_t)r * N + j] = (q - p) / B;
        }
    }
    return sum / B;
}
