/* Stage partitioning (pure index arithmetic, no communication): partition_balanced must find the
 * contiguous split whose heaviest stage is lightest, checked against brute force over every split. */
#include "depthfuse/topology.h"
#include "test_util.h"

static double heaviest(const int *first, const double *w, int P, const double extra[2]) {
    double worst = 0;
    for (int s = 0; s < P; s++) {
        double sum = (s == 0 ? extra[0] : 0) + (s == P - 1 ? extra[1] : 0);
        for (int i = first[s]; i < first[s + 1]; i++) sum += w[i];
        worst = sum > worst ? sum : worst;
    }
    return worst;
}

/* best over all splits into P non-empty parts, by recursion over the cut positions */
static double brute(int *first, int s, int P, int n, const double *w, const double extra[2]) {
    if (s == P) return first[P] == n ? heaviest(first, w, P, extra) : 1e300;
    double best = 1e300;
    for (int c = first[s - 1] + 1; c <= n - (P - s); c++) {
        first[s] = c;
        double v = brute(first, s + 1, P, n, w, extra);
        best = v < best ? v : best;
    }
    return best;
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    uint64_t r = 12345;
    for (int trial = 0; trial < 300; trial++) {
        int n = 1 + trial % 9, P = 1 + (trial / 9) % n;
        double w[16], extra[2];
        for (int i = 0; i < n; i++) w[i] = (double)((r = r * 6364136223846793005ull + 1) >> 40 & 1023) + 1;
        extra[0] = (double)(trial % 4) * 300;
        extra[1] = (double)(trial % 3) * 500;
        int got[17], tmp[17];
        partition_balanced(got, w, n, P, extra);
        CHECK(got[0] == 0 && got[P] == n, "trial %d: ends", trial);
        for (int s = 0; s < P; s++) CHECK(got[s] < got[s + 1], "trial %d: stage %d empty", trial, s);
        tmp[0] = 0;
        tmp[P] = n;
        double best = P == 1 ? heaviest(tmp, w, 1, extra) : brute(tmp, 1, P, n, w, extra);
        CHECK(fabs(heaviest(got, w, P, extra) - best) < 1e-9, "trial %d (n=%d P=%d): %g vs optimum %g", trial, n, P,
              heaviest(got, w, P, extra), best);
    }
    /* equal blocks with a heavy embedding and head push blocks toward the middle stages */
    double w16[16], ex[2] = {3.0, 3.0};
    for (int i = 0; i < 16; i++) w16[i] = 1.0;
    int f[5];
    partition_balanced(f, w16, 16, 4, ex);
    printf("16 equal blocks, embedding = head = 3 blocks, 4 stages: [%d,%d) [%d,%d) [%d,%d) [%d,%d)\n", f[0], f[1], f[1],
           f[2], f[2], f[3], f[3], f[4]);
    CHECK(f[1] - f[0] < f[2] - f[1], "the first stage should hold fewer blocks");
    return test_end("test_partition");
}
