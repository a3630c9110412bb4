/* Minimal test harness: CHECK records a failure and goes on; test_main_end returns the exit code.
 * Fixture paths come from DF_FIXTURES (set by ctest). */
#ifndef DEPTHFUSE_TEST_UTIL_H
#define DEPTHFUSE_TEST_UTIL_H
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_failures = 0;

#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            g_failures++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                            \
            fputc('\n', stderr);                                                     \
        }                                                                            \
    } while (0)

static inline const char *fixtures_dir(void) {
    const char *d = getenv("DF_FIXTURES");
    if (!d) {
        fprintf(stderr, "DF_FIXTURES is not set (run through ctest)\n");
        exit(2);
    }
    return d;
}

/* "DF_FIXTURES/rel" in a static buffer ring */
static inline const char *fixture(const char *rel) {
    static char bufs[8][1024];
    static int k = 0;
    char *b = bufs[k++ % 8];
    snprintf(b, 1024, "%s/%s", fixtures_dir(), rel);
    return b;
}

/* max |a-b| */
static inline double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

/* normalised mean squared error mse(a,b)/mse(a,0), as ggml's test-backend-ops */
static inline double nmse(const float *ref, const float *x, size_t n) {
    double e = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        e += ((double)ref[i] - x[i]) * ((double)ref[i] - x[i]);
        r += (double)ref[i] * ref[i];
    }
    return r > 0 ? e / r : e;
}

static inline void test_init(int *argc, char ***argv) { MPI_Init(argc, argv); }

static inline int test_end(const char *name) {
    if (g_failures) fprintf(stderr, "%s: %d check(s) failed\n", name, g_failures);
    else printf("%s: all checks passed\n", name);
    MPI_Finalize();
    return g_failures ? 1 : 0;
}

/* a fresh temporary folder under $TMPDIR (or /tmp) */
static inline const char *test_tmpdir(const char *tag) {
    static char buf[512];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(buf, sizeof buf, "%s/df-%s-XXXXXX", base, tag);
    extern char *mkdtemp(char *);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(2);
    }
    return buf;
}

#endif
