/* Continuation log-likelihoods against transformers: the three reference sequences of base-16L
 * (with their BOS) are cut into context + continuation at every point and truncated at several
 * lengths; the expected sum of log p(continuation) and the greedy flag come from the reference
 * logits (log-softmax in double). Run with argument P at any -np: the same numbers at every layout.
 * Micro-batches of 64 and 4096 tokens mix sequences of different lengths (padding). The cases of one
 * sequence and continuation length (up to 3 truncations) form a group: read alone, as one shared row
 * each (their common prefix once, the rest of each in its own segment), and with a row limit that
 * shares some groups and not others; sharing must give what reading alone gives (1e-4). */
#include "depthfuse/error.h"
#include "depthfuse/loglik.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/setup.h"
#include "test_util.h"

typedef struct {
    int32_t *ids;
    float *logits; /* [T, V] */
    int T;
} RefSeq;

/* log p(ids[j] | ids[<j]) from the reference logits, and whether it is the argmax by a clear margin
 * (*clear = 0 when the top two logits are within 0.05: a fp32 forward may order them differently) */
static double ref_logp(const RefSeq *r, int j, int V, int *is_top, int *clear) {
    const float *z = r->logits + (size_t)(j - 1) * V;
    double mx = z[0], lse = 0;
    int top = 0;
    for (int v = 1; v < V; v++)
        if (z[v] > mx) mx = z[v], top = v;
    double second = -INFINITY;
    for (int v = 0; v < V; v++) {
        lse += exp((double)z[v] - mx);
        if (v != top && z[v] > second) second = z[v];
    }
    *is_top = top == r->ids[j];
    *clear = mx - second > 0.05;
    return (double)z[r->ids[j]] - mx - log(lse);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int P = argc > 1 ? atoi(argv[1]) : 1;
    Topology t;
    Model m;
    CHECK(setup_model(&t, &m, fixture("models/base-16L"), P) == 0, "%s", df_errmsg());
    StSet st = {0};
    CHECK(st_add_file(&st, fixture("models/base-16L/reference.safetensors")) == 0, "%s", df_errmsg());
    const int V = m.cfg.vocab;
    RefSeq ref[3];
    for (int s = 0; s < 3; s++) {
        char name[64];
        snprintf(name, sizeof name, "input_ids.%d", s);
        const StTensor *ti = st_find(&st, name);
        snprintf(name, sizeof name, "logits.%d", s);
        const StTensor *tl = st_find(&st, name);
        ref[s].T = (int)ti->numel;
        ref[s].ids = df_malloc(ti->nbytes);
        ref[s].logits = df_alloc_floats(tl->numel);
        st_read_raw(&st, ti, ref[s].ids);
        st_read_f32(&st, tl, ref[s].logits);
    }
    /* cases: prefix ids[0..e) of sequence s with its last n tokens as the continuation */
    LoglikSet set = {0};
    int n_case = 0, (*cases)[3] = df_malloc(sizeof *cases * 4096);
    double *want = df_malloc(sizeof(double) * 4096);
    int *want_greedy = df_malloc(sizeof(int) * 4096), *clear = df_malloc(sizeof(int) * 4096);
    int longest = 0;
    for (int s = 0; s < 3; s++) {
        const int T = ref[s].T, ends[] = {T, T - 3, T / 2 + 1};
        longest = T > longest ? T : longest;
        for (int n = 1; n < T; n++)
            for (int k = 0; k < 3 && n < ends[k]; k++) {
                const int e = ends[k];
                double sum = 0;
                int all_top = 1, all_clear = 1;
                for (int j = e - n; j < e; j++) {
                    int top, c;
                    sum += ref_logp(&ref[s], j, V, &top, &c);
                    all_top &= top;
                    all_clear &= c;
                }
                loglik_set_push(&set, ref[s].ids, e, n, s * 4096 + n);
                cases[n_case][0] = s, cases[n_case][1] = e, cases[n_case][2] = n;
                want[n_case] = sum, want_greedy[n_case] = all_top, clear[n_case++] = all_clear;
            }
    }
    /* rows of at most `longest` tokens hold the groups of two (T - 1 tokens), not those of three */
    const int mb_tokens[] = {64, 4096}, share_len[] = {0, 4096, longest};
    double *alone = df_malloc(sizeof(double) * (size_t)set.n);
    int shared_rows[3] = {0};
    for (int b = 0; b < 2; b++)
        for (int sh = 0; sh < 3; sh++) {
            double *ll = df_malloc(sizeof(double) * (size_t)set.n);
            int *greedy = df_malloc(sizeof(int) * (size_t)set.n);
            LoglikStats ls;
            CHECK(loglik_eval(ll, greedy, &ls, &t, &m, &set, mb_tokens[b], share_len[sh], "reference cases") == 0, "%s",
                  df_errmsg());
            double worst = 0, worst_alone = 0;
            int greedy_checked = 0, greedy_hits = 0;
            for (int i = 0; i < set.n; i++) {
                const double d = fabs(ll[i] - want[i]);
                worst = d > worst ? d : worst;
                CHECK(d <= 1e-2, "sequence %d, first %d tokens, last %d scored: ll %.6f, from transformers' logits %.6f",
                      cases[i][0], cases[i][1], cases[i][2], ll[i], want[i]);
                if (sh == 0) alone[i] = ll[i];
                const double da = fabs(ll[i] - alone[i]);
                worst_alone = da > worst_alone ? da : worst_alone;
                CHECK(da <= 1e-4, "share_len %d: sequence %d, first %d tokens, last %d: ll %.6f shared, %.6f alone",
                      share_len[sh], cases[i][0], cases[i][1], cases[i][2], ll[i], alone[i]);
                if (clear[i]) {
                    CHECK(greedy[i] == want_greedy[i], "sequence %d, first %d tokens, last %d: greedy %d, reference %d",
                          cases[i][0], cases[i][1], cases[i][2], greedy[i], want_greedy[i]);
                    greedy_checked++;
                    greedy_hits += want_greedy[i];
                }
            }
            CHECK(greedy_hits > 0 && greedy_hits < greedy_checked, "the cases must include greedy and non-greedy ones");
            CHECK(sh > 0 || (ls.shared_rows == 0 && ls.tokens == ls.separate), "share_len 0: %d shared rows, %lld tokens "
                  "of %lld", ls.shared_rows, ls.tokens, ls.separate);
            CHECK(sh == 0 || (ls.shared_rows > 0 && ls.tokens < ls.separate), "share_len %d: %d shared rows, %lld tokens "
                  "of %lld", share_len[sh], ls.shared_rows, ls.tokens, ls.separate);
            shared_rows[sh] = ls.shared_rows;
            if (rank == 0)
                printf("np %d P %d, %d-token micro-batches, rows of <= %d tokens: %d continuations (%d shared rows, %lld "
                       "input tokens of %lld), max |ll - reference| %.2e, |shared - alone| %.2e; greedy flags match on "
                       "%d clear cases (%d greedy)\n", size, P, mb_tokens[b], share_len[sh], set.n, ls.shared_rows,
                       ls.tokens, ls.separate, worst, worst_alone, greedy_checked, greedy_hits);
            free(ll);
            free(greedy);
        }
    CHECK(shared_rows[2] < shared_rows[1], "a row limit of %d tokens must leave some groups alone (%d shared rows, %d "
          "without the limit)", longest, shared_rows[2], shared_rows[1]);
    free(alone);
    loglik_set_free(&set);
    for (int s = 0; s < 3; s++) {
        free(ref[s].ids);
        free(ref[s].logits);
    }
    free(cases);
    free(want);
    free(want_greedy);
    free(clear);
    st_free(&st);
    model_free(&m);
    topology_free(&t);
    return test_end("test_loglik");
}
