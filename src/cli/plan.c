/* The planner (plan.h): what a command would hold and compute, from its options and the model's
 * config alone. Memory is per rank of the heaviest stage, fp32 as the compute is; FLOPs count the
 * block GEMMs and attention (include/depthfuse/costs.h); the time divides them by a throughput per
 * rank (--gflops, or an sgemm of the job's shapes measured here) times the ranks. */
#include "plan.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/costs.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/log.h"
#include "depthfuse/model.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/topology.h"
#include "job.h"

static int g_ranks;
static double g_gflops;
static const char *g_mem;
static const ArgSpec PLAN_SPECS[] = {
    {"--ranks", ARG_INT, &g_ranks, "N", "plan for N ranks (default: the job's \"ranks\", else this run's)", 0},
    {"--gflops", ARG_DOUBLE, &g_gflops, "G", "sustained GFLOP/s of one rank (default: an sgemm of the job's shapes measured here)", 0},
    {"--mem-per-rank", ARG_STR, &g_mem, "SIZE", "refuse a plan whose peak per rank exceeds SIZE (80GB, 64GiB)", 0},
    {0}};

const ArgSpec *plan_arg_specs(void) { return PLAN_SPECS; }

/* the parsed value of an option of the command's table */
static const ArgSpec *opt(const ArgSpec *spec, const char *name) {
    for (const ArgSpec *s = spec; s->name; s++)
        if (!strcmp(s->name, name)) return s;
    return NULL;
}
static int o_int(const ArgSpec *spec, const char *name, int def) {
    const ArgSpec *s = opt(spec, name);
    return s ? *(const int *)s->dst : def;
}
static double o_dbl(const ArgSpec *spec, const char *name, double def) {
    const ArgSpec *s = opt(spec, name);
    return s ? *(const double *)s->dst : def;
}
static const char *o_str(const ArgSpec *spec, const char *name) {
    const ArgSpec *s = opt(spec, name);
    return s ? *(const char *const *)s->dst : NULL;
}
static const StrList *o_list(const ArgSpec *spec, const char *name) {
    const ArgSpec *s = opt(spec, name);
    return s ? (const StrList *)s->dst : NULL;
}

#define MAX_ITEMS 24
typedef struct {
    const char *what[MAX_ITEMS];
    double floats[MAX_ITEMS];
    int n;
} MemTable;

static void item(MemTable *t, const char *what, double floats) {
    if (t->n < MAX_ITEMS && floats > 0) t->what[t->n] = what, t->floats[t->n++] = floats;
}

static double total(const MemTable *t) {
    double s = 0;
    for (int i = 0; i < t->n; i++) s += t->floats[i];
    return s;
}

static void human(char *buf, size_t n, double bytes) {
    if (bytes >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    else if (bytes >= 1024.0 * 1024) snprintf(buf, n, "%.1f MiB", bytes / (1024.0 * 1024));
    else snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
}

static void print_table(const char *title, const MemTable *t) {
    char b[32];
    df_print0("\n%s\n\n| part | per rank |\n|---|---:|\n", title);
    for (int i = 0; i < t->n; i++) {
        human(b, sizeof b, 4 * t->floats[i]);
        df_print0("| %s | %s |\n", t->what[i], b);
    }
    human(b, sizeof b, 4 * total(t));
    df_print0("| **total** | **%s** |\n", b);
}

/* one rank's sgemm rate at the job's shapes (a micro-batch's tokens x hidden x intermediate, capped
 * for a quick measurement), GFLOP/s */
static double measure_gflops(const ModelConfig *c, int tokens) {
    const int M = tokens < 2048 ? tokens : 2048, K = c->hidden < 1024 ? c->hidden : 1024,
              N = c->intermediate < 2048 ? c->intermediate : 2048;
    float *A = df_alloc_floats((size_t)M * K), *B = df_alloc_floats((size_t)K * N), *C = df_alloc_floats((size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)(i % 5) * 0.1f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N); /* warm-up */
    int reps = 0;
    const double t0 = df_now();
    double t = t0;
    while (t - t0 < 0.3 || reps < 3) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
        reps++;
        t = df_now();
    }
    free(A), free(B), free(C);
    return 2.0 * M * N * K * reps / (t - t0) / 1e9;
}

typedef struct {
    const char *cmd, *method;
    ModelConfig c;
    int ranks, P, D, *first, L, K, T, W, mb; /* windows W of T tokens, mb windows per micro-batch */
    int heavy;                               /* the stage with the most weights */
    double flops, block_forwards;
    double allreduce; /* floats all-reduced over the data-parallel groups per training step (FuseGPT) */
    char work[512];
} Plan;

static double stage_floats(const Plan *p, int s) {
    const double VH = (double)p->c.vocab * p->c.hidden;
    double f = (p->first[s + 1] - p->first[s]) * (double)config_block_params(&p->c);
    if (s == 0) f += VH;
    if (s == p->P - 1) f += p->c.tie_embeddings && p->P == 1 ? p->c.hidden : VH + p->c.hidden;
    return f;
}

/* weights of the heaviest stage and a forward's buffers for micro-batches of mb windows of T tokens */
static void forward_items(MemTable *t, const Plan *p, int mb, int T) {
    const ModelConfig *c = &p->c;
    item(t, "weights: the stage's blocks (+ embedding or head)", stage_floats(p, p->heavy));
    item(t, "block activations, one micro-batch (block_acts_init)", cost_acts_floats(c, mb, T, 0));
    if (p->P > 1) item(t, "stage hand-off buffers (send + receive)", 2.0 * mb * T * c->hidden);
    item(t, "attention scratch", cost_attn_scratch_floats(c, T));
    const double slab = (double)mb * T * c->vocab;
    item(t, "head: vocabulary slab (last stage)", slab < 16e6 ? slab : 16e6);
}

/* Macro Influence / SLEB's cache: the residual stream entering each block of the stage, per window,
 * and the reference output on the last stage */
static void sweep_items(MemTable *t, const Plan *p, int W, int T) {
    const int nb = p->first[p->heavy + 1] - p->first[p->heavy] + (p->heavy == p->P - 1);
    item(t, "sweep cache: every window entering each block of the stage (+ the reference output)",
         (double)nb * W * T * p->c.hidden);
}

static double greedy_forwards(int L, int steps) {
    double bf = 0;
    for (int s = 0; s < steps; s++) bf += cost_sweep_block_forwards(L - s);
    return bf;
}

/* mi, bi, sleb: the one-shot or greedy sweep (importance, compress --method mi|bi|sleb, prune) */
static void plan_sweep(Plan *p, MemTable *t, const char *metric, int steps) {
    const ModelConfig *c = &p->c;
    forward_items(t, p, p->mb, p->T);
    const int bi = !strcmp(metric, "bi");
    if (!bi) sweep_items(t, p, p->W, p->T);
    p->block_forwards = bi ? (double)p->L * p->W : greedy_forwards(p->L, steps) * p->W;
    p->flops = p->block_forwards * p->T * cost_block_flops(c, p->T);
    if (!strcmp(metric, "sleb")) /* the head over every candidate's windows, and the reference's */
        for (int s = 0; s < steps; s++) p->flops += (double)(p->L - s + 1) * p->W * p->T * cost_head_flops(c);
    snprintf(p->work, sizeof p->work, "%s over %d windows x %d tokens, %s; %.0f block forwards (blocks x windows)",
             metric, p->W, p->T, bi ? "one pass" : "greedy", p->block_forwards);
}

static void plan_fusegpt(Plan *p, MemTable *mi, MemTable *t, const ArgSpec *spec) {
    const ModelConfig *c = &p->c;
    const int W = o_int(spec, "--samples", 512), T = o_int(spec, "--seq-len", 256), Wm = o_int(spec, "--mi-samples", 32),
              Tm = o_int(spec, "--mi-seq-len", 0) ? o_int(spec, "--mi-seq-len", 0) : T, epochs = o_int(spec, "--epochs", 10),
              batch = o_int(spec, "--batch", 8), rank = o_int(spec, "--rank", 128), lora = o_int(spec, "--lora-rank", 128),
              G = o_int(spec, "--group-before", 4) + o_int(spec, "--group-after", 3), recompute = o_int(spec, "--recompute", 0);
    /* the Macro Influence sweep of each fusion */
    forward_items(mi, p, p->mb, Tm);
    sweep_items(mi, p, Wm, Tm);
    /* the fine-tuning: a rank trains the group's blocks on its stage, its share of each batch */
    const int stage_blocks = p->first[p->heavy + 1] - p->first[p->heavy], trained = G < stage_blocks ? G : stage_blocks;
    const int seqs = (batch + p->D - 1) / p->D;
    const double blk = (double)config_block_params(c), H = c->hidden;
    item(t, "weights: the stage's blocks (+ embedding or head)", stage_floats(p, p->heavy));
    item(t, "effective weights W_eff, one per trained block", trained * blk);
    item(t, "injected W_p: the absorbed block", blk);
    item(t, "trainable factors: params, grads, Adam m and v", 4.0 * trained * cost_fused_params(c, rank, lora, 1));
    p->allreduce = trained * cost_fused_params(c, rank, lora, 1);
    item(t, "the arena's shared out x in scratch (largest linear)", cost_max_linear(c));
    item(t, "backward scratch with one G (block_grad_work_init)", cost_grad_work_floats(c, seqs, T));
    if (recompute) {
        item(t, "activations, recompute: x_in per block + one block's", trained * (double)seqs * T * H + cost_acts_floats(c, seqs, T, 1));
    } else {
        item(t, "activations, kept per trained block", trained * cost_acts_floats(c, seqs, T, 1));
    }
    item(t, "attention backward chunk buffers (per thread)", cost_attn_backward_floats(c, T));
    item(t, "student input + teacher output caches, this group's windows", 2.0 * ((W + p->D - 1) / p->D) * T * H);
    /* FLOPs: per fusion the sweep, the caches' forward, and epochs x steps of forward + backward
     * (2x, +1 forward with recompute) over the group, plus the fused linears' factor products */
    const double linears = blk - 2 * H, steps = (double)epochs * ((W + batch - 1) / batch);
    double bf = 0;
    p->flops = 0;
    for (int k = 0; k < p->K; k++) {
        const int n = p->L - k, g = G < n - 1 ? G : n - 1;
        const double sweep = cost_sweep_block_forwards(n) * Wm;
        bf += sweep + (double)n * W;
        p->flops += sweep * Tm * cost_block_flops(c, Tm) + (double)n * W * T * cost_block_flops(c, T);
        p->flops += steps * g * ((3.0 + recompute) * batch * T * cost_block_flops(c, T) + 6 * linears * (lora + rank));
    }
    p->block_forwards = bf;
    snprintf(p->work, sizeof p->work,
             "%d fusions; each: Macro Influence over %d x %d tokens, caches over %d x %d, then %d epochs x %.0f steps of %d "
             "sequences over a %d-block group (%s)",
             p->K, Wm, Tm, W, T, epochs, steps / epochs, batch, G, recompute ? "recompute" : "no recompute");
}

static void plan_flattengpt(Plan *p, MemTable *t) {
    const ModelConfig *c = &p->c;
    const double n = 2.0 * c->intermediate, N = (double)p->W * p->T, Nr = N / p->ranks, H = c->hidden;
    forward_items(t, p, p->mb, p->T);
    item(t, "Gram matrix of the wide MLP, block-cyclic (fp64)", 2 * n * n / p->ranks);
    item(t, "psi of this rank's tokens and the MLP output", Nr * (n + H));
    item(t, "a Gram panel, its send buffer and the pieces received (fp64)", 2 * (2 * n * 512 + n * 512));
    item(t, "the solved down_proj, gathered (fp64)", 2 * c->intermediate * H);
    p->block_forwards = (double)p->L * p->W;
    p->flops = p->block_forwards * p->T * cost_block_flops(c, p->T) +
               p->K * (2 * N * n * n + n * n * n / 3 + 2.0 * c->intermediate * c->intermediate * c->intermediate / 3);
    snprintf(p->work, sizeof p->work, "%d flattened pairs over %d windows x %d tokens (Gram %.0f x %.0f)", p->K, p->W, p->T, n, n);
}

static void plan_gptailor(Plan *p, MemTable *t, const ArgSpec *spec) {
    const ModelConfig *c = &p->c;
    const int trials = o_int(spec, "--trials", 60), lo = o_int(spec, "--min-windows", 3), hi = o_int(spec, "--max-windows", 27);
    const StrList *cand = o_list(spec, "--candidate"), *ppl = o_list(spec, "--objective-ppl"), *task = o_list(spec, "--objective-task");
    const int files = (ppl ? ppl->n : 0) + (task ? task->n : 0), K = cand ? cand->n : 0;
    forward_items(t, p, p->mb, p->T);
    item(t, "the candidates' weights on the stage", K * stage_floats(p, p->heavy));
    item(t, "a trial's merged layers (at most the stage's)", stage_floats(p, p->heavy));
    const double windows = trials * 0.5 * (lo + hi) * (files ? files : 1);
    p->block_forwards = windows * (p->L - p->K);
    p->flops = windows * p->T * ((p->L - p->K) * cost_block_flops(c, p->T) + cost_head_flops(c));
    snprintf(p->work, sizeof p->work, "%d trials of %d-%d windows x %d tokens on %d objective files, %d candidates", trials, lo, hi,
             p->T, files, K);
}

/* eval: every window of the text files (their size at about 4 bytes a token) through the model */
static int plan_eval(Plan *p, MemTable *t, const ArgSpec *spec) {
    p->T = o_int(spec, "--seq-len", 512);
    const StrList *ppl = o_list(spec, "--ppl"), *tasks = o_list(spec, "--tasks");
    double bytes = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; (k ? tasks : ppl) && i < (k ? tasks : ppl)->n; i++) {
            uint64_t b = 0;
            DF_TRY(df_file_size((k ? tasks : ppl)->items[i], &b));
            bytes += (double)b;
        }
    const double tokens = bytes / 4;
    forward_items(t, p, p->mb, p->T);
    p->block_forwards = tokens / p->T * p->L;
    p->flops = tokens * (p->L * cost_block_flops(&p->c, p->T) + cost_head_flops(&p->c));
    snprintf(p->work, sizeof p->work, "about %.0f tokens (%.0f bytes of text at 4 bytes a token) in windows of %d", tokens,
             bytes, p->T);
    return 0;
}

/* weights on disk, from the safetensors headers (a folder without them: config only) */
static void print_model(const Plan *p, const char *model) {
    const ModelConfig *c = &p->c;
    char disk[96] = "config only, no safetensors";
    StSet st;
    if (df_is_dir(model) && st_open_model(&st, model) == 0) {
        double b = 0;
        for (int i = 0; i < st.n; i++) b += (double)st.t[i].nbytes;
        snprintf(disk, sizeof disk, "%.2f GB on disk in %d safetensors files", b / 1e9, st.nfiles);
        st_free(&st);
    }
    df_clear_error();
    df_print0("model: %s (%d blocks, hidden %d, intermediate %d, heads %d/%d, vocab %d; %.2fB parameters; %s)\n", model,
              c->n_layers, c->hidden, c->intermediate, c->n_heads, c->n_kv_heads, c->vocab,
              (double)config_model_params(c) / 1e9, disk);
}

static int plan_run(const char *cmd, const ArgSpec *spec) {
    Plan p = {.cmd = cmd};
    const char *model = o_str(spec, "--model");
    if (!model) return df_fail("depthfuse %s: --dry-run plans compress, prune, importance and eval", cmd);
    DF_TRY(model_load_config(&p.c, model));
    p.ranks = g_ranks > 0 ? g_ranks : df_nranks();
    p.P = o_int(spec, "--pipeline", 1);
    p.L = p.c.n_layers;
    int rc = 0;
    if (p.P < 1 || p.ranks % p.P) rc = df_fail("plan: --pipeline %d does not divide the %d ranks", p.P, p.ranks);
    else if (p.P > p.L) rc = df_fail("plan: --pipeline %d exceeds the model's %d blocks", p.P, p.L);
    if (rc < 0) {
        config_free(&p.c);
        return rc;
    }
    p.D = p.ranks / p.P;
    p.first = df_malloc(sizeof(int) * (size_t)(p.P + 1));
    topology_stage_split(p.first, &p.c, p.P);
    for (int s = 1; s < p.P; s++)
        if (stage_floats(&p, s) > stage_floats(&p, p.heavy)) p.heavy = s;
    const int compress = !strcmp(cmd, "compress") || !strcmp(cmd, "prune");
    p.method = compress ? o_str(spec, "--method") : !strcmp(cmd, "importance") ? o_str(spec, "--metric") : "eval";
    const double sparsity = o_dbl(spec, "--sparsity", -1);
    p.K = o_int(spec, "--remove", 0) > 0 ? o_int(spec, "--remove", 0) : sparsity > 0 ? (int)lround(sparsity * p.L) : 0;
    p.W = o_int(spec, "--samples", 32);
    p.T = o_int(spec, "--seq-len", 512);
    const int bt = o_int(spec, "--batch-tokens", 4096);
    p.mb = bt / p.T > 0 ? bt / p.T : 1;
    if (strcmp(cmd, "eval") && p.mb > p.W) p.mb = p.W; /* a micro-batch holds at most every window */
    MemTable t = {0}, mi = {0};
    if (!strcmp(cmd, "eval")) rc = plan_eval(&p, &t, spec);
    else if (!strcmp(cmd, "importance")) {
        const int it = o_int(spec, "--iterative", 0), sleb = !strcmp(p.method, "sleb");
        plan_sweep(&p, &t, p.method, sleb ? (it ? it : (p.L + 3) / 4) : it ? it : 1);
    } else if (!compress) rc = df_fail("depthfuse %s: --dry-run plans compress, prune, importance and eval", cmd);
    else if (p.K < 1 || p.K >= p.L) rc = df_fail("plan: removing %d of %d blocks is not possible", p.K, p.L);
    else if (!strcmp(p.method, "fusegpt")) plan_fusegpt(&p, &mi, &t, spec);
    else if (!strcmp(p.method, "flattengpt")) plan_flattengpt(&p, &t);
    else if (!strcmp(p.method, "gptailor")) plan_gptailor(&p, &t, spec);
    else plan_sweep(&p, &t, p.method, !strcmp(p.method, "bi") ? 1 : p.K);
    if (rc == 0) {
        print_model(&p, model);
        df_print0("job: %s%s%s; %s\n", cmd, compress ? " --method " : "", compress ? p.method : "", p.work);
        if (compress) df_print0("removes %d of %d blocks\n", p.K, p.L);
        df_print0("layout: %d ranks = %d pipeline stages x %d data-parallel groups; blocks per stage:", p.ranks, p.P, p.D);
        for (int s = 0; s < p.P; s++) df_print0(" %d", p.first[s + 1] - p.first[s]);
        df_print0(" (heaviest: stage %d, blocks [%d,%d))\n", p.heavy, p.first[p.heavy], p.first[p.heavy + 1]);
        if (mi.n) print_table("memory per rank, Macro Influence sweep (fp32):", &mi);
        print_table(mi.n ? "memory per rank, group fine-tuning (fp32):" : "memory per rank (fp32):", &t);
        const double peak = 4 * fmax(total(&t), total(&mi));
        char b[32];
        human(b, sizeof b, (double)p.mb * p.T * p.c.hidden * 4);
        df_print0("\nbytes moved per micro-batch: %s between neighbouring stages (%d x %d tokens x hidden %d x 4 B)%s\n", b,
                  p.mb, p.T, p.c.hidden, p.P > 1 ? "" : "; none with one stage");
        if (p.allreduce > 0 && p.D > 1) {
            human(b, sizeof b, 4 * p.allreduce);
            df_print0("bytes all-reduced per training step: %s of gradients over the %d data-parallel groups\n", b, p.D);
        }
        const double g = g_gflops > 0 ? g_gflops : measure_gflops(&p.c, p.mb * p.T);
        const double secs = p.flops / (g * 1e9 * p.ranks);
        df_print0("FLOPs: %.3g (%.0f block forwards of a window)\n", p.flops, p.block_forwards);
        df_print0("time: %.3g s (%.2f h) at %.1f GFLOP/s per rank (%s) x %d ranks\n", secs, secs / 3600, g,
                  g_gflops > 0 ? "--gflops" : "sgemm measured here", p.ranks);
        human(b, sizeof b, peak);
        df_print0("peak memory per rank: %s", b);
        uint64_t lim = 0;
        if (g_mem && (rc = parse_byte_size(g_mem, &lim)) == 0) {
            df_print0(" (--mem-per-rank %s)\n", g_mem);
            if (peak > (double)lim)
                rc = df_fail("plan: %s per rank does not fit --mem-per-rank %s (more --pipeline stages, fewer windows or "
                             "--recompute)", b, g_mem);
        } else {
            df_print0("\n");
        }
    }
    free(p.first);
    config_free(&p.c);
    return rc;
}

int plan_dry_run(const char *cmd, const ArgSpec *spec) {
    return df_agree(MPI_COMM_WORLD, df_rank() == 0 ? plan_run(cmd, spec) : 0);
}

/* the job's command parsed by its own table, then planned instead of run */
static int plan_observer(void *ctx, const char *cmd, const ArgSpec *spec, const int *given, const char *positional_name) {
    *(int *)ctx = 1;
    if (args_check_required(cmd, spec, given) < 0) return -1;
    return plan_dry_run(cmd, spec) < 0 ? -1 : 1;
}

int cmd_plan(int argc, char **argv) {
    StrList files = {0};
    int rc = args_parse("plan", "The plan of a job file (depthfuse run's): the layout (blocks per stage), the memory "
                        "per rank (weights, caches, activations, optimizer state), the bytes moved per micro-batch, the "
                        "FLOPs and a time estimate, from the model's config.json and safetensors headers only (no "
                        "weights). The same as the command with --dry-run. docs/distributed.md.",
                        PLAN_SPECS, argc, argv, &files, "JOB.json");
    if (rc == 0 && files.n != 1) rc = df_fail("depthfuse plan: give one JOB.json");
    JobArgv j = {0};
    if (rc == 0) rc = job_load(&j, files.items[0]);
    if (rc == 0) {
        if (g_ranks <= 0 && j.ranks) g_ranks = j.ranks;
        int planned = 0;
        args_observe(plan_observer, &planned);
        rc = j.cmd->run(j.argc, j.argv) || !planned ? -1 : 0;
        args_observe(NULL, NULL);
    }
    job_argv_free(&j);
    strlist_free(&files);
    return rc != 0 && rc != 1;
}
