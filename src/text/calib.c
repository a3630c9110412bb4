#include "depthfuse/calib.h"

#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/log.h"

uint64_t df_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t df_rng_below(uint64_t *s, uint64_t n) {
    /* rejection keeps it unbiased */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = df_rng_next(s);
    while (x >= limit);
    return x % n;
}

int calib_sample(CalibSet *c, const IdVec *stream, int n, int T, uint64_t seed, const char *what) {
    memset(c, 0, sizeof *c);
    const size_t len = stream->n;
    if (len < 2) return df_fail("%s: %zu tokens is too short for calibration", what, len);
    if ((size_t)T + 1 > len) {
        df_print0("note: %s has %zu tokens: --seq-len capped from %d to %zu\n", what, len, T, len - 1);
        T = (int)(len - 1);
    }
    if ((size_t)n * (size_t)T > len) {
        int cap = (int)(len / (size_t)T);
        df_print0("note: %s has %zu tokens: --samples capped from %d to %d windows of %d\n", what, len, n, cap, T);
        n = cap;
    }
    c->n = n;
    c->T = T;
    c->ids = df_malloc(sizeof(int32_t) * (size_t)n * T);
    uint64_t state = seed;
    for (int i = 0; i < n; i++) {
        size_t start = (size_t)df_rng_below(&state, (uint64_t)(len - (size_t)T)); /* randint(0, len-T-1) */
        memcpy(c->ids + (size_t)i * T, stream->ids + start, sizeof(int32_t) * (size_t)T);
    }
    return 0;
}

void calib_free(CalibSet *c) {
    free(c->ids);
    memset(c, 0, sizeof *c);
}
