#include "depthfuse/finite.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "depthfuse/error.h"

long long df_first_nonfinite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long long)i;
    return -1;
}

const char *df_nonfinite_name(double v) { return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"; }

static int g_check_tensors;

void df_check_tensors_option(int *argc, char **argv) {
    int k = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--check-tensors")) g_check_tensors = 1;
        else argv[k++] = argv[i];
    }
    *argc = k;
    argv[k] = NULL;
}

int df_check_tensors(void) { return g_check_tensors; }

int df_fail_nonfinite(const char *what, double loss, int block, long long step, long long window) {
    char at[160] = "";
    size_t k = 0;
    if (block == DF_AT_HEAD) k += (size_t)snprintf(at + k, sizeof at - k, " in the head (final norm, lm_head)");
    else if (block >= 0) k += (size_t)snprintf(at + k, sizeof at - k, " at block %d", block);
    if (step >= 0 && k < sizeof at) k += (size_t)snprintf(at + k, sizeof at - k, "%s step %lld", k ? "," : " at", step);
    if (window >= 0 && k < sizeof at) snprintf(at + k, sizeof at - k, "%s window %lld", k ? "," : " at", window);
    return df_fail("%s: non-finite loss (%s)%s; stopped", what, df_nonfinite_name(loss), at);
}
