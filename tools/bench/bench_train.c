/* FuseGPT fine-tuning speed against OpenBLAS sgemm's peak and PyTorch CPU, side by side in one run
 * with the same thread count (a benchmark, not a test: see README.md).
 *
 *   bench_train [--repeat R] [--torch SCRIPT] [--only group|block|fused] [--recompute] [FIXTURE_DIR]
 *
 * Three measurements, each repeat timing sgemm, depthfuse and torch back to back:
 *   group  one fine-tuning step of a 7-block fused group at the fixture's shapes (FIXTURE_DIR, default
 *          tests/fixtures/models/base-16L: its blocks 4..11 without 8, each absorbing block 8), 8 x 256
 *          tokens: materialize W_eff, forward keeping activations, MSE at the group output, backward
 *          with every factor gradient, one Adam step over the group's arena (a plain loop here; the
 *          trainer's is in src/train);
 *   block  forward + backward (dx and every weight gradient) of one hidden-2048 Llama block (I 5632,
 *          32/4 heads of 64, random weights) at seq 512;
 *   fused  the same block fused (absorbing another), one fine-tuning step as in "group", seq 512.
 * FLOPs: model = 3 x the forward's (linears 2 N in out, attention 2*2 hd nh T(T+1)/2 per sequence),
 * factors = 6 out in (lora_rank + rank) per fused linear and absorbed block; elementwise not counted.
 * With --recompute the backward recomputes each block's activations from its input (checkpointing). */
#include <mpi.h>

#include "bench_util.h"
#include "depthfuse/backward.h"
#include "depthfuse/forward.h"
#include "depthfuse/fused.h"
#include "depthfuse/topology.h"

enum { RANK = 128, LORA = 128 };

/* ---- the step ------------------------------------------------------------------------------- */

typedef struct {
    const ModelConfig *c;
    int B, T, nblk, recompute, fused;
    const Block **plain;   /* nblk plain blocks (fused = 0) */
    FusedBlock **fb;       /* nblk fused blocks (fused = 1) */
    FusedArena arena;
    float *m, *v;          /* Adam moments over the arena */
    int step;
    BlockActs *acts;       /* nblk (or 1 with recompute) */
    float **xin;           /* block inputs with recompute */
    BlockGradWork wk;
    Block *grads;          /* plain: every weight's gradient */
    float *x0, *tgt, *x;
    Rope rope;
    double flops_model, flops_factor;
} Step;

static double block_fwd_flops(const ModelConfig *c, int B, int T) {
    const double N = (double)B * T, H = c->hidden, Hi = c->intermediate, hd = c->head_dim, nh = c->n_heads,
                 Q = nh * hd, KV = (double)c->n_kv_heads * hd;
    return 2 * N * H * (Q + 2 * KV) + 2 * N * Q * H + 2 * N * H * 2 * Hi + 2 * N * Hi * H +
           B * 2.0 * 2.0 * hd * nh * (T * (T + 1.0) / 2.0);
}

static void step_init(Step *s, const ModelConfig *c, int B, int T, int recompute) {
    const size_t NH = (size_t)B * T * c->hidden;
    s->c = c;
    s->B = B;
    s->T = T;
    s->recompute = recompute;
    const int na = recompute ? 1 : s->nblk;
    s->acts = df_calloc((size_t)na, sizeof *s->acts);
    for (int k = 0; k < na; k++) block_acts_init(&s->acts[k], c, B, T, 1);
    s->xin = df_calloc((size_t)s->nblk, sizeof *s->xin);
    for (int k = 0; recompute && k < s->nblk; k++) s->xin[k] = df_alloc_floats(NH);
    block_grad_work_init(&s->wk, c, B, T);
    s->x0 = df_alloc_floats(NH);
    s->tgt = df_alloc_floats(NH);
    s->x = df_alloc_floats(NH);
    fill_normal(s->x0, NH, 1.0);
    fill_normal(s->tgt, NH, 1.0);
    model_rope_init(&s->rope, c, T);
    s->flops_model = 3.0 * s->nblk * block_fwd_flops(c, B, T);
    if (s->fused) {
        fused_arena_init(&s->arena, s->fb, s->nblk);
        s->m = df_alloc_floats(s->arena.n);
        s->v = df_alloc_floats(s->arena.n);
        memset(s->m, 0, s->arena.n * sizeof(float));
        memset(s->v, 0, s->arena.n * sizeof(float));
        for (int k = 0; k < s->nblk; k++)
            for (int j = 0; j < FUSE_LINEARS; j++)
                s->flops_factor += 6.0 * s->fb[k]->out[j] * s->fb[k]->in[j] *
                                   (s->fb[k]->lora_rank[j] + s->fb[k]->nterms * s->fb[k]->term[0].rank[j]);
    } else {
        s->grads = block_new(c);
    }
}

/* Adam (beta 0.9 / 0.95, eps 1e-8), lr 1e-4 on [0, nbase), 1e-3 on the coefficients */
static void adam(Step *s) {
    const FusedArena *a = &s->arena;
    s->step++;
    const float b1 = 0.9f, b2 = 0.95f, c1 = 1.0f - powf(b1, (float)s->step), c2 = 1.0f - powf(b2, (float)s->step);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < a->n; i++) {
        const float g = a->g[i], lr = i < a->nbase ? 1e-4f : 1e-3f;
        s->m[i] = b1 * s->m[i] + (1 - b1) * g;
        s->v[i] = b2 * s->v[i] + (1 - b2) * g * g;
        a->p[i] -= lr * (s->m[i] / c1) / (sqrtf(s->v[i] / c2) + 1e-8f);
    }
}

/* one step; returns seconds */
static double step_run(Step *s) {
    const ModelConfig *c = s->c;
    const int B = s->B, T = s->T, nb = s->nblk;
    const size_t NH = (size_t)B * T * c->hidden;
    const double t0 = df_now();
    const Block *blk[16];
    for (int k = 0; k < nb; k++) blk[k] = s->fused ? fused_block_materialize(s->fb[k]) : s->plain[k];
    memcpy(s->x, s->x0, NH * sizeof(float));
    for (int k = 0; k < nb; k++) {
        if (s->recompute) memcpy(s->xin[k], s->x, NH * sizeof(float));
        block_forward(s->x, &s->acts[s->recompute ? 0 : k], blk[k], c, &s->rope, B, T);
    }
    const float scale = 2.0f / (float)NH; /* d/dy of mean((y - tgt)^2) */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < NH; i++) s->x[i] = scale * (s->x[i] - s->tgt[i]);
    if (s->fused) memset(s->arena.g, 0, s->arena.n * sizeof(float));
    else memset(s->grads->mem, 0, s->grads->numel * sizeof(float));
    for (int k = nb - 1; k >= 0; k--) {
        GradSink sink;
        BlockGradSink gs;
        if (s->fused) fused_block_sink(s->fb[k], &sink);
        else grad_sink_block(&gs, s->grads, GRAD_WANT_ALL);
        block_backward(s->x, s->x, &s->acts[s->recompute ? 0 : k], s->recompute ? s->xin[k] : NULL, blk[k], c,
                       &s->rope, NULL, NULL, B, T, &s->wk, s->fused ? &sink : &gs.sink);
    }
    if (s->fused) adam(s);
    return df_now() - t0;
}

static void step_free(Step *s) {
    const int na = s->recompute ? 1 : s->nblk;
    for (int k = 0; k < na; k++) block_acts_free(&s->acts[k]);
    for (int k = 0; k < s->nblk; k++) free(s->xin[k]);
    free(s->acts);
    free(s->xin);
    block_grad_work_free(&s->wk);
    if (s->fused) {
        fused_arena_free(&s->arena);
        free(s->m);
        free(s->v);
    } else {
        block_release(s->grads);
    }
    free(s->x0);
    free(s->tgt);
    free(s->x);
    rope_free(&s->rope);
}

/* ---- one measurement: peak, depthfuse, torch, back to back per repeat ----------------------- */

static void measure(const char *title, Step *s, int repeat, Torch *tp, const Peak *peak, int threads) {
    const double gflop = (s->flops_model + s->flops_factor) / 1e9, peak_gflop = 2.0 * peak->n * peak->n * (double)peak->n / 1e9;
    printf("\n%s: %d block(s), %d x %d tokens; GFLOP per step %.2f = model %.2f + factors %.2f\n", title, s->nblk,
           s->B, s->T, gflop, s->flops_model / 1e9, s->flops_factor / 1e9);
    double *t = df_calloc(6 * (size_t)(repeat + 1), sizeof(double));
    double *tpk = t, *td = t + (repeat + 1), *tt = t + 2 * (repeat + 1), *rp = t + 3 * (repeat + 1),
           *rt = t + 4 * (repeat + 1), *rtp = t + 5 * (repeat + 1);
    double cpu = 0, wall = 0;
    for (int r = 0; r <= repeat; r++) { /* r == 0: warm-up */
        settle();
        tpk[r] = peak_time(peak);
        settle();
        double c0 = cpu_seconds(), w0 = df_now();
        td[r] = step_run(s);
        cpu += cpu_seconds() - c0, wall += df_now() - w0;
        rp[r] = (gflop / td[r]) / (peak_gflop / tpk[r]);
        if (tp->pid) {
            settle();
            if (torch_run(tp, &tt[r]) < 0) {
                printf("  torch: %s\n", df_errmsg());
                torch_stop(tp);
                tp->pid = 0;
            }
        }
        if (tp->pid) rt[r] = tt[r] / td[r], rtp[r] = (gflop / tt[r]) / (peak_gflop / tpk[r]);
    }
    printf("  this process used %.0f%% of %d cores while timed (less: other processes took some)\n",
           100 * cpu / (wall * threads), threads);
    report("sgemm peak", tpk + 1, repeat, peak_gflop, NULL);
    report("depthfuse step", td + 1, repeat, gflop, NULL);
    Stat sp = stat_of(rp + 1, repeat);
    printf("  depthfuse: %.1f%% of the sgemm peak (median of paired repeats; worst %.1f%%)\n", 100 * sp.median,
           100 * sp.min);
    if (tp->pid) {
        report("torch step", tt + 1, repeat, gflop, NULL);
        Stat a = stat_of(rtp + 1, repeat), b = stat_of(rt + 1, repeat);
        printf("  torch: %.1f%% of the sgemm peak; depthfuse / torch speed %.2fx (median of paired repeats; worst "
               "%.2fx)\n", 100 * a.median, b.median, b.min);
    }
    free(t);
}

static int torch_open(Torch *tp, const char *script, const char *mode, const char *cfg, int B, int T, int threads,
                      int nblk) {
    char seq[16], batch[16], thr[16], nb[16];
    snprintf(seq, sizeof seq, "%d", T);
    snprintf(batch, sizeof batch, "%d", B);
    snprintf(thr, sizeof thr, "%d", threads);
    snprintf(nb, sizeof nb, "%d", nblk);
    char *const argv[] = {(char *)script, "--mode", (char *)mode, "--config", (char *)cfg, "--seq", seq, "--batch",
                          batch, "--threads", thr, "--blocks", nb, NULL};
    memset(tp, 0, sizeof *tp);
    if (!script) return 0;
    if (torch_start_argv(tp, argv) < 0) {
        printf("  torch: %s\n", df_errmsg());
        memset(tp, 0, sizeof *tp);
        return -1;
    }
    return 0;
}

static const char *SYNTH =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_act\": \"silu\",\n"
    " \"hidden_size\": 2048, \"intermediate_size\": 5632, \"num_attention_heads\": 32,\n"
    " \"num_key_value_heads\": 4, \"num_hidden_layers\": 2, \"vocab_size\": 32000,\n"
    " \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
    " \"tie_word_embeddings\": false}";

static Block *random_block(const ModelConfig *c) {
    Block *b = block_new(c);
    for (int w = 0; w < BW_COUNT; w++) {
        const size_t n = block_weight_numel(c, w);
        if (w == BW_ATTN_NORM || w == BW_MLP_NORM) fill_const(b->w[w], n, 1.0f);
        else if (b->w[w]) fill_normal(b->w[w], n, 0.02);
    }
    return b;
}

/* factors off their zero init, as in the middle of training (the speed does not depend on it) */
static void perturb(FusedBlock *fb) {
    for (int j = 0; j < FUSE_LINEARS; j++) {
        FusedLinearView v;
        fused_block_linear(fb, j, &v);
        fill_normal(v.b, (size_t)v.out * v.lora_rank, 0.01);
        for (int k = 0; k < v.nterms; k++) fill_normal(v.term[k].cl, (size_t)v.out * v.term[k].rank, 0.01);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int repeat = 5, recompute = 0;
    const char *torch = NULL, *only = NULL, *fixture = "tests/fixtures/models/base-16L";
    for (int i = 1; i < argc; i++) {
        const int more = i + 1 < argc;
        if (more && !strcmp(argv[i], "--repeat")) repeat = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--torch")) torch = argv[++i];
        else if (more && !strcmp(argv[i], "--only")) only = argv[++i];
        else if (!strcmp(argv[i], "--recompute")) recompute = 1;
        else if (argv[i][0] != '-') fixture = argv[i];
        else {
            fprintf(stderr, "usage: bench_train [--repeat R] [--torch SCRIPT] [--only group|block|fused] [--recompute] "
                            "[FIXTURE_DIR]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (repeat < 1 || df_startup_checks() < 0) {
        fprintf(stderr, "bench_train: %s\n", repeat < 1 ? "--repeat >= 1" : df_errmsg());
        MPI_Finalize();
        return 2;
    }
    const int threads = omp_get_max_threads();
    printf("bench_train: %d threads (%s, core %s), %d repeats after a warm-up%s\n", threads, openblas_get_config(),
           openblas_get_corename(), repeat, recompute ? ", activations recomputed in backward" : "");
    Peak peak;
    peak_init(&peak, 2048);
    FuseOptions o;
    fuse_options_default(&o);
    o.rank = RANK;
    o.lora_rank = LORA;
    int rc = 0;
    if (!only || !strcmp(only, "group")) {
        Model m;
        if (model_load(&m, fixture, NULL) < 0) {
            fprintf(stderr, "bench_train: %s\n", df_errmsg());
            rc = 1;
        } else {
            Step s = {.nblk = 7, .fused = 1};
            FusedBlock *fb[7];
            for (int l = 4, k = 0; l <= 11; l++) {
                if (l == 8) continue;
                fb[k] = fused_block_new(m.blocks[l], &m.cfg, l, &o);
                fused_block_absorb(fb[k], m.blocks[8], 8);
                perturb(fb[k++]);
            }
            s.fb = fb;
            step_init(&s, &m.cfg, 8, 256, recompute);
            char cfg[4096];
            snprintf(cfg, sizeof cfg, "%s/config.json", fixture);
            Torch tp;
            torch_open(&tp, torch, "fused", cfg, 8, 256, threads, 7);
            measure("fused group step, fixture shapes", &s, repeat, &tp, &peak, threads);
            if (tp.pid) torch_stop(&tp);
            step_free(&s);
            for (int k = 0; k < 7; k++) fused_block_free(fb[k]);
            model_free(&m);
        }
    }
    if (!only || !strcmp(only, "block") || !strcmp(only, "fused")) {
        ModelConfig c;
        if (config_parse(&c, SYNTH, strlen(SYNTH), "synthetic config") < 0) DF_FATAL("%s", df_errmsg());
        Block *b0 = random_block(&c), *b1 = random_block(&c);
        char cfgpath[512];
        snprintf(cfgpath, sizeof cfgpath, "%s/bench_train_2048.json", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        FILE *f = fopen(cfgpath, "w");
        if (f) fputs(SYNTH, f), fclose(f);
        if (!only || !strcmp(only, "block")) {
            const Block *pl[1] = {b0};
            Step s = {.nblk = 1, .plain = pl};
            step_init(&s, &c, 1, 512, recompute);
            Torch tp;
            torch_open(&tp, torch, "plain", cfgpath, 1, 512, threads, 1);
            measure("block forward + backward, hidden 2048", &s, repeat, &tp, &peak, threads);
            if (tp.pid) torch_stop(&tp);
            step_free(&s);
        }
        if (!only || !strcmp(only, "fused")) {
            FusedBlock *fb = fused_block_new(b0, &c, 0, &o);
            fused_block_absorb(fb, b1, 1);
            perturb(fb);
            Step s = {.nblk = 1, .fused = 1, .fb = &fb};
            step_init(&s, &c, 1, 512, recompute);
            Torch tp;
            torch_open(&tp, torch, "fused", cfgpath, 1, 512, threads, 1);
            measure("fused block step, hidden 2048", &s, repeat, &tp, &peak, threads);
            if (tp.pid) torch_stop(&tp);
            step_free(&s);
            fused_block_free(fb);
        }
        block_release(b0);
        block_release(b1);
        config_free(&c);
    }
    peak_free(&peak);
    MPI_Finalize();
    return rc;
}
