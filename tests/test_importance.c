/* Importance metrics against references and mathematics (run at -np 1 and 2, P = np):
 *  - bi of blocks 0..14 on the three reference sequences equals 1 - mean cos(hidden_states[i],
 *    hidden_states[i+1]) computed from transformers' hidden states (the last block's output is
 *    post-norm there, so block 15 is not comparable);
 *  - mi cached == mi naive (to 1e-5), with at most 0.6x the block forwards;
 *  - sleb's first-step score of each candidate equals the perplexity of the model without that
 *    block, measured by the perplexity evaluator on the same windows. */
#include "depthfuse/error.h"
#include "depthfuse/importance.h"
#include "depthfuse/perplexity.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/setup.h"
#include "test_util.h"

static double cos_mean(const float *a, const float *b, int T, int H) {
    double s = 0;
    for (int t = 0; t < T; t++) {
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < H; i++) {
            xy += (double)a[t * H + i] * b[t * H + i];
            xx += (double)a[t * H + i] * a[t * H + i];
            yy += (double)b[t * H + i] * b[t * H + i];
        }
        s += xy / sqrt(xx * yy);
    }
    return s / T;
}

static void test_bi(const Topology *t, const Model *m, int rank) {
    StSet ref = {0};
    CHECK(st_add_file(&ref, fixture("models/base-16L/reference.safetensors")) == 0, "%s", df_errmsg());
    const int H = m->cfg.hidden, L = m->cfg.n_layers;
    double worst = 0;
    for (int s = 0; s < 3; s++) {
        char name[64];
        snprintf(name, sizeof name, "input_ids.%d", s);
        const StTensor *ti = st_find(&ref, name);
        snprintf(name, sizeof name, "hidden_states.%d", s);
        const StTensor *th = st_find(&ref, name);
        const int T = (int)ti->numel;
        CalibSet cal = {1, T, df_malloc(ti->nbytes)};
        st_read_raw(&ref, ti, cal.ids);
        float *hs = df_alloc_floats(th->numel);
        st_read_f32(&ref, th, hs);
        ImportanceOpts o = {METRIC_BI, 0, 0, 4096, NULL};
        ImportanceResult r;
        CHECK(importance_run(&r, t, m, &cal, &o) == 0, "%s", df_errmsg());
        for (int i = 0; i + 1 < L; i++) {
            double want = 1.0 - cos_mean(hs + (size_t)i * T * H, hs + (size_t)(i + 1) * T * H, T, H);
            double d = fabs(r.score[i] - want);
            worst = d > worst ? d : worst;
            CHECK(d < 2e-3, "sequence %d block %d: bi %.6f, from transformers %.6f", s, i, r.score[i], want);
        }
        importance_free(&r);
        calib_free(&cal);
        free(hs);
    }
    if (rank == 0) printf("bi vs transformers' hidden states: max |diff| %.2e (blocks 0..14, 3 sequences)\n", worst);
    st_free(&ref);
}

static CalibSet windows(const Model *m, int n, int T) {
    CalibSet c = {n, T, df_malloc(sizeof(int32_t) * (size_t)n * T)};
    uint64_t x = 7;
    for (int i = 0; i < n * T; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        c.ids[i] = (int32_t)((x >> 33) % (uint64_t)m->cfg.vocab);
    }
    return c;
}

static void test_mi(const Topology *t, const Model *m, int rank) {
    CalibSet cal = windows(m, 3, 96);
    ImportanceOpts cached = {METRIC_MI, 0, 0, 200, NULL}, naive = {METRIC_MI, 0, 1, 200, NULL};
    ImportanceResult a, b;
    CHECK(importance_run(&a, t, m, &cal, &cached) == 0, "%s", df_errmsg());
    CHECK(importance_run(&b, t, m, &cal, &naive) == 0, "%s", df_errmsg());
    double worst = 0;
    for (int i = 0; i < a.n; i++) {
        double d = fabs(a.score[i] - b.score[i]);
        worst = d > worst ? d : worst;
        CHECK(d <= 1e-5, "block %d: cached %.8f naive %.8f", i, a.score[i], b.score[i]);
        CHECK(a.score[i] > -1e-6 && a.score[i] < 2, "block %d: mi %.6f outside [0, 2]", i, a.score[i]);
    }
    double ratio = (double)a.block_forwards / (double)b.block_forwards;
    CHECK(ratio <= 0.6, "cached sweep runs %lld block forwards, naive %lld (ratio %.3f)", a.block_forwards,
          b.block_forwards, ratio);
    if (rank == 0)
        printf("mi cached vs naive: max |diff| %.2e; block forwards %lld vs %lld (%.3f)\n", worst, a.block_forwards,
               b.block_forwards, ratio);
    importance_free(&a);
    importance_free(&b);
    calib_free(&cal);
}

static void test_sleb(const Topology *t, const Model *m, int rank) {
    const int n = 3, T = 64, L = m->cfg.n_layers;
    CalibSet cal = windows(m, n, T);
    ImportanceOpts o = {METRIC_SLEB, 1, 0, 256, NULL};
    ImportanceResult r;
    CHECK(importance_run(&r, t, m, &cal, &o) == 0, "%s", df_errmsg());
    /* the chosen block's score is the perplexity without it, and no other block does better */
    int keep[64], k = 0;
    for (int i = 0; i < L; i++)
        if (i != r.block[0]) keep[k++] = i;
    Model pruned;
    model_select_blocks(&pruned, m, keep, k);
    PplResult p;
    CHECK(perplexity_eval(&p, t, &pruned, cal.ids, (size_t)n * T, T, 256, "sleb check") == 0, "%s", df_errmsg());
    CHECK(fabs(p.ppl - r.score[0]) <= 1e-6 * p.ppl, "sleb score %.8f vs perplexity without block %d: %.8f", r.score[0],
          r.block[0], p.ppl);
    if (rank == 0) printf("sleb step 1 removes block %d: score %.6f, perplexity evaluator %.6f\n", r.block[0], r.score[0], p.ppl);
    model_free(&pruned);
    importance_free(&r);
    calib_free(&cal);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    Topology t;
    Model m;
    CHECK(setup_model(&t, &m, fixture("models/base-16L"), size) == 0, "%s", df_errmsg());
    test_bi(&t, &m, rank);
    test_mi(&t, &m, rank);
    test_sleb(&t, &m, rank);
    model_free(&m);
    topology_free(&t);
    return test_end("test_importance");
}
