/* Forward throughput of whole models against OpenBLAS sgemm's measured peak and against PyTorch CPU,
 * all measured in this one run with the same thread count (a benchmark, not a test: see README.md).
 *
 *   bench_forward [--seq T] [--batch B] [--repeat R] [--torch SCRIPT] [--ops] MODEL_DIR...
 *   bench_forward --write-synthetic DIR [--layers L]
 *
 * "Forward" = embedding + every block + final norm + lm_head + NLL of the next tokens (model_nll,
 * the perplexity path: the head runs a slab of rows at a time). The second form writes the synthetic
 * Llama of issue 2 (hidden 2048, intermediate 5632, 32/4 heads, vocab 32000, bf16 N(0, 0.02), norms
 * 1) as an HF folder with the project's own writer; the first form loads it through model_load.
 * Times are min / median over R repeats after one warm-up; the machine is noisy. */
#include <cblas.h>
#include <omp.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/gemm.h"
#include "depthfuse/forward.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/log.h"
#include "depthfuse/topology.h"
#include "bench_util.h"

/* ---- the synthetic model ---------------------------------------------------------------------- */

static int write_synthetic(const char *dir, int layers) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_act\": \"silu\",\n"
             " \"hidden_size\": 2048, \"intermediate_size\": 5632, \"num_attention_heads\": 32,\n"
             " \"num_key_value_heads\": 4, \"num_hidden_layers\": %d, \"vocab_size\": 32000,\n"
             " \"max_position_embeddings\": 2048, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0,\n"
             " \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2, \"torch_dtype\": \"bfloat16\"}",
             layers);
    Model m = {0};
    DF_TRY(config_parse(&m.cfg, json, strlen(json), "synthetic config"));
    const ModelConfig *c = &m.cfg;
    const ModelPart all = model_part_all(c);
    model_alloc_part(&m, &all);
    const size_t VH = (size_t)c->vocab * c->hidden;
    fill_normal(m.embed, VH, 0.02);
    fill_normal(m.lm_head, VH, 0.02);
    fill_const(m.final_norm, (size_t)c->hidden, 1.0f);
    m.embed_dtype = m.norm_dtype = m.head_dtype = DF_BF16; /* block weights are bf16 already (block_new) */
    for (int l = 0; l < c->n_layers; l++)
        for (int w = 0; w < BW_COUNT; w++) {
            const size_t n = block_weight_numel(c, w);
            if (w == BW_ATTN_NORM || w == BW_MLP_NORM) fill_const(m.blocks[l]->w[w], n, 1.0f);
            else fill_normal(m.blocks[l]->w[w], n, 0.02);
        }
    int rc = model_write_hf(&m, NULL, dir, 5000000000ull);
    if (rc == 0) printf("wrote %s: %zu parameters (bf16)\n", dir, config_model_params(c));
    model_free(&m);
    return rc;
}

/* ---- FLOPs ------------------------------------------------------------------------------------- */

/* Useful FLOPs of one forward over B sequences of T tokens (N = B*T); elementwise ops not counted:
 *   linears   2 N H (Q + 2 KV) + 2 N Q H + 2 N H 2I + 2 N I H   per block (q|k|v, o, gate|up, down)
 *   attention 2 * 2 hd nh T(T+1)/2 per sequence and block     (causal QK^T and PV)
 *   lm_head   2 N H V */
typedef struct {
    double linears, attention, head;
} Flops;

static Flops forward_flops(const ModelConfig *c, int B, int T) {
    const double N = (double)B * T, H = c->hidden, Hi = c->intermediate, hd = c->head_dim, nh = c->n_heads,
                 Q = nh * hd, KV = (double)c->n_kv_heads * hd, L = c->n_layers;
    Flops f = {L * (2 * N * H * (Q + 2 * KV) + 2 * N * Q * H + 2 * N * H * 2 * Hi + 2 * N * Hi * H),
               L * B * 2.0 * 2.0 * hd * nh * (T * (T + 1.0) / 2.0), 2 * N * H * c->vocab};
    return f;
}

/* torch_block.py on MODEL's shapes */
static int torch_start(Torch *tp, const char *script, const char *model, int B, int T, int threads) {
    char cfg[4096], seq[16], batch[16], thr[16];
    snprintf(cfg, sizeof cfg, "%s/config.json", model);
    snprintf(seq, sizeof seq, "%d", T);
    snprintf(batch, sizeof batch, "%d", B);
    snprintf(thr, sizeof thr, "%d", threads);
    char *const argv[] = {(char *)script, "--config", cfg, "--seq", seq, "--batch", batch, "--threads", thr, NULL};
    return torch_start_argv(tp, argv);
}

/* ---- one model --------------------------------------------------------------------------------- */

typedef struct {
    const Model *m;
    int B, T;
    int32_t *ids, *tg;
    float *x;
    BlockActs acts;
    Rope rope;
} Forward;

static void forward_init(Forward *f, const Model *m, int B, int T) {
    const ModelConfig *c = &m->cfg;
    const int N = B * T;
    f->m = m;
    f->B = B;
    f->T = T;
    f->ids = df_malloc(sizeof(int32_t) * (size_t)N);
    f->tg = df_malloc(sizeof(int32_t) * (size_t)N);
    for (int i = 0; i < N; i++) f->ids[i] = (int32_t)(urand() * c->vocab);
    for (int i = 0; i < N; i++) f->tg[i] = (i + 1) % T ? f->ids[i + 1] : -1; /* next token within each sequence */
    f->x = df_alloc_floats((size_t)N * c->hidden);
    block_acts_init(&f->acts, c, B, T, 0);
    model_rope_init(&f->rope, c, T);
}

/* one forward; returns seconds, *blocks_s = embedding + blocks, the rest is norm + lm_head + NLL */
static double forward_run(Forward *f, double *blocks_s) {
    const Model *m = f->m;
    const int B = f->B, T = f->T, H = m->cfg.hidden;
    const double t0 = df_now();
    for (int b = 0; b < B; b++) model_embed(f->x + (size_t)b * T * H, m, f->ids + (size_t)b * T, T);
    for (int l = 0; l < m->cfg.n_layers; l++) block_forward(f->x, &f->acts, m->blocks[l], &m->cfg, &f->rope, B, T);
    const double t1 = df_now();
    volatile double nll = model_nll(NULL, m, f->x, f->tg, B * T);
    (void)nll;
    *blocks_s = t1 - t0;
    return df_now() - t0;
}

static void forward_free(Forward *f) {
    rope_free(&f->rope);
    block_acts_free(&f->acts);
    free(f->x);
    free(f->ids);
    free(f->tg);
}

/* ---- where the time goes ----------------------------------------------------------------------- */

/* The ops of one block and the head, each timed alone at the model's shapes on the forward's own
 * buffers (after a forward, so they hold real activations). Block ops count n_layers times. */
enum { OP_RMSNORM, OP_QKV, OP_ROPE, OP_ATTENTION, OP_O, OP_RESIDUAL, OP_GATE_UP, OP_SWIGLU, OP_DOWN, OP_LM_HEAD, OP_NLL, N_OPS };
static const char *const OP_NAMES[N_OPS] = {"rmsnorm (x2)", "q|k|v GEMM", "rope", "attention", "o GEMM", "residual (x2)",
                                            "gate|up GEMM", "swiglu", "down GEMM", "lm_head GEMM alone", "model_nll"};

static double op_time(Forward *f, int op, float *logits) {
    const ModelConfig *c = &f->m->cfg;
    const Block *blk = f->m->blocks[0];
    BlockActs *a = &f->acts;
    const int B = f->B, T = f->T, N = B * T, H = c->hidden, Hi = c->intermediate, hd = c->head_dim;
    const int Q = c->n_heads * hd, KV = c->n_kv_heads * hd, QKV = Q + 2 * KV;
    const double t0 = df_now();
    switch (op) {
    case OP_RMSNORM: rmsnorm_forward(a->n1, a->rstd1, f->x, blk->w[BW_ATTN_NORM], N, H, c->rms_eps); break;
    case OP_QKV: matmul_forward(a->qkv, a->n1, blk->w[BW_Q], blk->w[BW_Q_BIAS], N, H, QKV); break;
    case OP_ROPE: rope_forward(a->qkv, &f->rope, B, T, c->n_heads + c->n_kv_heads, QKV); break;
    case OP_ATTENTION:
        attention_forward(a->att, a->lse, a->qkv, QKV, a->qkv + Q, a->qkv + Q + KV, QKV, B, T, c->n_heads, c->n_kv_heads, hd);
        break;
    case OP_O: matmul_forward(a->tmp, a->att, blk->w[BW_O], blk->w[BW_O_BIAS], N, Q, H); break;
    case OP_RESIDUAL: residual_forward(a->tmp, a->n1, (size_t)N * H); break; /* not into x: keep the stream */
    case OP_GATE_UP: matmul_forward(a->gu, a->n2, blk->w[BW_GATE], NULL, N, H, 2 * Hi); break;
    case OP_SWIGLU: swiglu_forward(a->s, a->gu, N, Hi); break;
    case OP_DOWN: matmul_forward(a->tmp, a->s, blk->w[BW_DOWN], NULL, N, Hi, H); break;
    case OP_LM_HEAD: matmul_forward(logits, a->n1, f->m->lm_head, NULL, N, H, c->vocab); break;
    case OP_NLL: {
        volatile double nll = model_nll(NULL, f->m, f->x, f->tg, N);
        (void)nll;
    } break;
    }
    return df_now() - t0;
}

static void op_breakdown(Forward *f, int repeat, double forward_s) {
    const ModelConfig *c = &f->m->cfg;
    const double N = (double)f->B * f->T, H = c->hidden, Hi = c->intermediate, Q = (double)c->n_heads * c->head_dim,
                 KV = (double)c->n_kv_heads * c->head_dim, L = c->n_layers;
    const Flops fl = forward_flops(c, f->B, f->T);
    const double gflop[N_OPS] = {0, 2 * N * H * (Q + 2 * KV), 0, fl.attention / L, 2 * N * Q * H, 0, 2 * N * H * 2 * Hi, 0,
                                 2 * N * Hi * H, fl.head, fl.head};
    const double times[N_OPS] = {2 * L, L, L, L, L, 2 * L, L, L, L, 0, 1}; /* per forward (lm_head alone: not summed) */
    float *logits = df_alloc_floats((size_t)N * c->vocab);
    double sum = 0;
    printf("  where the time goes (each op alone, min of %d; %% of the forward's min %.4f s):\n", repeat, forward_s);
    for (int op = 0; op < N_OPS; op++) {
        double best = 1e30;
        for (int r = 0; r <= repeat; r++) {
            const double t = op_time(f, op, logits);
            best = r && t < best ? t : best;
        }
        const double per_forward = best * (times[op] ? times[op] : 1);
        sum += best * times[op];
        printf("    %-20s %9.3f ms x %2.0f = %8.2f ms %5.1f%%", OP_NAMES[op], 1e3 * best, times[op] ? times[op] : 1,
               1e3 * per_forward, 100 * per_forward / forward_s);
        if (gflop[op] > 0) printf(" | %6.1f GFLOP/s", gflop[op] / 1e9 / best);
        printf("\n");
    }
    printf("    %-20s %27.2f ms %5.1f%% (the rest: embedding, call overheads, noise)\n", "sum", 1e3 * sum,
           100 * sum / forward_s);
    free(logits);
}

static int bench_model(const char *dir, int B, int T, int repeat, const char *torch, int threads, const Peak *peak,
                       int ops) {
    Model m;
    const double rss0 = rss_now_bytes();
    double t0 = df_now();
    DF_TRY(model_load(&m, dir, NULL));
    const double load_s = df_now() - t0;
    const ModelConfig *c = &m.cfg;
    const int N = B * T;
    const Flops f = forward_flops(c, B, T);
    const double gflop = (f.linears + f.attention + f.head) / 1e9, peak_gflop = 2.0 * peak->n * peak->n * (double)peak->n / 1e9;
    printf("\n%s: hidden %d, intermediate %d, %d/%d heads of %d, vocab %d, %d blocks; %d x %d tokens (loaded in %.1f s)\n",
           dir, c->hidden, c->intermediate, c->n_heads, c->n_kv_heads, c->head_dim, c->vocab, c->n_layers, B, T, load_s);
    printf("  GFLOP per forward: %.2f = linears %.2f + attention %.2f + lm_head %.2f\n", gflop, f.linears / 1e9,
           f.attention / 1e9, f.head / 1e9);
    Forward fw;
    forward_init(&fw, &m, B, T);
    Torch tp = {0};
    if (torch && torch_start(&tp, torch, dir, B, T, threads) < 0) torch = NULL, printf("  torch: %s\n", df_errmsg());
    /* each repeat times sgemm, depthfuse and torch back to back, so each ratio compares like conditions */
    double *t = df_calloc(8 * (size_t)(repeat + 1), sizeof(double));
    double *tp_peak = t, *tf = t + (repeat + 1), *tb = t + 2 * (repeat + 1), *th = t + 3 * (repeat + 1),
           *tt = t + 4 * (repeat + 1), *r_peak = t + 5 * (repeat + 1), *r_torch = t + 6 * (repeat + 1),
           *r_tpeak = t + 7 * (repeat + 1);
    double cpu = 0, wall = 0; /* over our own timed parts: a share below 100% means others took cores */
    for (int r = 0; r <= repeat; r++) { /* r == 0: warm-up */
        settle();
        double c0 = cpu_seconds(), w0 = df_now();
        tp_peak[r] = peak_time(peak);
        cpu += cpu_seconds() - c0, wall += df_now() - w0;
        settle(); /* OpenBLAS's own threads, woken for the peak, spin a while before they sleep */
        c0 = cpu_seconds(), w0 = df_now();
        tf[r] = forward_run(&fw, &tb[r]);
        cpu += cpu_seconds() - c0, wall += df_now() - w0;
        th[r] = tf[r] - tb[r];
        r_peak[r] = (gflop / tf[r]) / (peak_gflop / tp_peak[r]);
        if (torch) settle();
        if (torch && torch_run(&tp, &tt[r]) < 0) torch = NULL, printf("  torch: %s\n", df_errmsg());
        if (torch) r_torch[r] = tt[r] / tf[r], r_tpeak[r] = (gflop / tt[r]) / (peak_gflop / tp_peak[r]);
    }
    const int R = repeat;
    printf("  this process used %.0f%% of %d cores while timed (less: other processes took some)\n",
           100 * cpu / (wall * threads), threads);
    report("sgemm peak", tp_peak + 1, R, peak_gflop, NULL);
    report("depthfuse forward", tf + 1, R, gflop, NULL);
    report("  embedding + blocks", tb + 1, R, (f.linears + f.attention) / 1e9, NULL);
    report("  norm + lm_head + NLL", th + 1, R, f.head / 1e9, NULL);
    Stat rs = stat_of(r_peak + 1, R), ft = stat_of(tf + 1, R);
    printf("  depthfuse: %.0f tokens/s (median %.0f); %.1f%% of the sgemm peak (median of paired repeats; worst %.1f%%)\n",
           N / ft.min, N / ft.median, 100 * rs.median, 100 * rs.min);
    if (torch) {
        torch_stop(&tp);
        report("torch forward", tt + 1, R, gflop, NULL);
        Stat rt = stat_of(r_tpeak + 1, R), sp = stat_of(r_torch + 1, R);
        printf("  torch: %.1f%% of the sgemm peak (median of paired repeats); depthfuse / torch speed %.2fx (median; "
               "worst %.2fx)\n", 100 * rt.median, sp.median, sp.min);
    }
    const double rss = peak_rss_bytes(), wbytes = 4.0 * (double)config_model_params(c);
    printf("  peak RSS %.1f MiB = %.2f x the fp32 weights (%.1f MiB); above the %.1f MiB resident before loading "
           "(MPI, OpenBLAS, sgemm operands): %.2f x the weights; block activations %.1f MiB\n", rss / 1048576,
           rss / wbytes, wbytes / 1048576, rss0 / 1048576, (rss - rss0) / wbytes, fw.acts.bytes / 1048576.0);
    if (ops) op_breakdown(&fw, repeat, ft.min);
    free(t);
    forward_free(&fw);
    model_free(&m);
    return 0;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int T = 512, B = 1, repeat = 5, layers = 4, ops = 0, rc = 0;
    const char *torch = NULL, *synth = NULL;
    const char *models[16];
    int n_models = 0;
    for (int i = 1; i < argc; i++) {
        const int more = i + 1 < argc;
        if (more && !strcmp(argv[i], "--seq")) T = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--batch")) B = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--repeat")) repeat = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--torch")) torch = argv[++i];
        else if (more && !strcmp(argv[i], "--write-synthetic")) synth = argv[++i];
        else if (more && !strcmp(argv[i], "--layers")) layers = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ops")) ops = 1;
        else if (argv[i][0] != '-' && n_models < 16) models[n_models++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_forward [--seq T] [--batch B] [--repeat R] [--torch SCRIPT] [--ops] MODEL_DIR...\n"
                            "       bench_forward --write-synthetic DIR [--layers L]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (T < 2 || B < 1 || repeat < 1 || layers < 1) {
        fprintf(stderr, "bench_forward: --seq >= 2, --batch, --repeat, --layers >= 1\n");
        MPI_Finalize();
        return 2;
    }
    if (df_startup_checks() < 0 || (synth && write_synthetic(synth, layers) < 0)) {
        fprintf(stderr, "bench_forward: %s\n", df_errmsg());
        MPI_Finalize();
        return 1;
    }
    if (n_models) {
        const int threads = omp_get_max_threads();
        const char *core = openblas_get_corename();
        printf("bench_forward: %d threads (%s, core %s), %d x %d tokens, %d repeats after a warm-up\n", threads,
               openblas_get_config(), core, B, T, repeat);
        /* OpenBLAS 0.3.21 (Debian 12) does not know Zen 5 and falls back to its AVX2 kernels */
        if (__builtin_cpu_supports("avx512f") && (!strcmp(core, "Haswell") || !strncmp(core, "Zen", 3)))
            printf("note: this CPU has AVX-512 but OpenBLAS runs its %s kernels; OPENBLAS_CORETYPE=SkylakeX selects "
                   "the AVX-512 ones (docs/performance.md)\n", core);
        printf("FLOPs: linears 2*N*in*out; attention 2*2*hd*nh*T(T+1)/2 per sequence (causal QK^T, PV); lm_head "
               "2*N*H*V; elementwise ops not counted\n");
        Peak peak;
        peak_init(&peak, 2048);
        for (int i = 0; i < n_models && rc == 0; i++)
            if ((rc = bench_model(models[i], B, T, repeat, torch, threads, &peak, ops)) < 0)
                fprintf(stderr, "bench_forward: %s\n", df_errmsg());
        peak_free(&peak);
    }
    MPI_Finalize();
    return rc ? 1 : 0;
}
