/* depthfuse compress: one command for every method (src/cli/cmd_compress.c holds the method table).
 * A method's entry point parses its own option table (COMPRESS_ARG_SPECS + its options), then:
 *   compress_plan     the inputs and outputs every method has (add the method's own to r->plan)
 *   compress_begin    safe-output checks, the model on its stages, the tokenizer, K, the report
 *   ... the method's work on r->t / r->m, producing a Model ...
 *   compress_finish   --dtype, the model through the safe writer, --eval-* on it, the --json report
 *                     and the --report-html page
 *   compress_end      frees everything
 * The --json report of every method shares these keys (docs/compress.md): method, command, version,
 * model, out, blocks_before, blocks_after, params_before, params_after, removed (original indices,
 * in removal order), block_map (the fate of every original block), layout, phases, seconds; the
 * method adds its own under keys of its choosing (r->report). */
#ifndef DEPTHFUSE_CLI_COMPRESS_H
#define DEPTHFUSE_CLI_COMPRESS_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "depthfuse/evaluate.h"
#include "depthfuse/model.h"
#include "depthfuse/output.h"
#include "depthfuse/tokenizer.h"
#include "depthfuse/topology.h"
#include "run_args.h"

typedef struct {
    RunArgs run; /* --model --tokenizer --pipeline --batch-tokens --state */
    const char *method, *out, *json, *max_shard, *dtype;
    double sparsity;
    int remove, overwrite;
    /* the run report: --eval-ppl/--eval-tasks score the dense and the compressed model, --report-html
     * draws the page (beside the --report-compare runs) */
    StrList eval_ppl, eval_tasks, compare;
    int eval_seq_len, eval_limit;
    const char *eval_dense, *report_html;
} CompressArgs;

#define COMPRESS_ARGS_DEFAULT {RUN_ARGS_DEFAULT, NULL, NULL, NULL, "5GB", NULL, -1, 0, 0, {0}, {0}, {0}, 512, 0, NULL, NULL}
#define COMPRESS_ARG_SPECS(a)                                                                                          \
    RUN_ARG_SPECS((a).run),                                                                                            \
    {"--method", ARG_STR, &(a).method, "M", "the compression method (depthfuse compress --help lists them)", ARG_REQUIRED}, \
    {"--sparsity", ARG_DOUBLE, &(a).sparsity, "S", "remove round(S x blocks) blocks", 0},                              \
    {"--remove", ARG_INT, &(a).remove, "K", "remove K blocks", 0},                                                     \
    {"--out", ARG_STR, &(a).out, "DIR|FILE.h5", "the compressed model (HF folder, or .h5); an existing one is refused unless --overwrite", ARG_REQUIRED}, \
    {"--overwrite", ARG_FLAG, &(a).overwrite, NULL, "replace an existing --out: its model files are replaced, other files stay", 0}, \
    {"--json", ARG_STR, &(a).json, "OUT", "the run's report as JSON (replaced if it exists)", 0},                     \
    {"--dtype", ARG_STR, &(a).dtype, "bf16|f16|f32", "dtype of the written weights (default: the source's)", 0},       \
    {"--max-shard-size", ARG_STR, &(a).max_shard, "SIZE", "largest safetensors shard (default 5GB)", 0},            \
    {"--eval-ppl", ARG_STR_LIST, &(a).eval_ppl, "FILE", "perplexity of the dense and the compressed model on FILE (as eval --ppl)", 0}, \
    {"--eval-tasks", ARG_STR_LIST, &(a).eval_tasks, "FILE", "zero-shot accuracy of both on a task file (as eval --tasks)", 0}, \
    {"--eval-seq-len", ARG_INT, &(a).eval_seq_len, "N", "tokens per perplexity window of --eval-ppl (default 512)", 0}, \
    {"--eval-limit", ARG_INT, &(a).eval_limit, "N", "score the first N items of each --eval-tasks file (default all)", 0}, \
    {"--eval-dense", ARG_STR, &(a).eval_dense, "EVAL.json", "the dense model's scores from an earlier eval --json of the same files, instead of scoring it again", 0}, \
    {"--report-html", ARG_STR, &(a).report_html, "FILE.html", "the run report as one self-contained page (docs/report.md)", 0}, \
    {"--report-compare", ARG_STR_LIST, &(a).compare, "RUN.json", "another run's --json report to show beside this one in --report-html", 0}

/* the help text's paragraph on outputs, shared by the writing commands */
#define COMPRESS_OUTPUT_HELP                                                                                           \
    "An existing --out is refused unless --overwrite is given (then the folder's model files are replaced and its "    \
    "other files stay, or the .h5 is replaced whole); an --out that is, contains or lies inside an input is refused "  \
    "always. Reports (--json, --report-html) are replaced. A --state file is continued, never truncated: a killed run resumes from "  \
    "it, and a rerun whose state is complete and whose --out exists writes nothing."

typedef struct {
    CompressArgs *a;
    const char *cmd; /* "compress" or "prune", for messages */
    OutputPlan plan;
    Topology t;
    Model m;        /* the input model: this rank's part */
    Tokenizer *tok; /* rank 0 */
    uint64_t shard_bytes;
    int K;          /* blocks to remove */
    int done;       /* compress_begin found the work complete (state and output): nothing to do */
    double t0;
    cJSON *report;  /* the --json document (every rank builds it, rank 0 writes it) */
    cJSON *dense;     /* rank 0: the input model's --eval-* scores (as eval --json writes them) */
    cJSON **compare;  /* rank 0: the --report-compare documents */
    char **fate;    /* [blocks of the input] block_map entries the method set (NULL: kept or removed) */
    int began;
} CompressRun;

/* checks the shared options and starts the plan: the model, tokenizer and state as inputs, --out
 * and --json as outputs. The method adds its own inputs and reports to r->plan next. */
int compress_plan(CompressRun *r, CompressArgs *a, const char *cmd);
/* collective: outputs checked, model loaded on its stages, tokenizer on rank 0, K from --sparsity or
 * --remove (1 <= K < blocks), the --report-compare files read, the dense model evaluated (or its
 * scores read from --eval-dense). When the --state file records a completed run whose --out exists,
 * returns 0 with r->done set: the caller stops there and exits 0. */
int compress_begin(CompressRun *r);
/* a phase of the run in the report: name and seconds */
void compress_phase(CompressRun *r, const char *name, double seconds);
/* the fate of original block i in the report's block map ("fused into 3, 4", "flattened with 7", ...) */
void compress_block_fate(CompressRun *r, int block, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* collective: out (blocks of this rank's stage) written to --out with --dtype, the report completed
 * (removed[n_removed] = original indices in removal order) and written, the state marked complete */
int compress_finish(CompressRun *r, Model *out, const int *removed, int n_removed);
void compress_end(CompressRun *r);

/* the i-th method of compress --method (NULL past the last), its summary, and whether it is one of
 * the removal methods that prune also takes */
const char *compress_method(int i, const char **summary, int *removal);

/* the methods (one file each in src/cli) */
int compress_removal(int argc, char **argv, const char *cmd); /* mi, bi, sleb; also `depthfuse prune` */
int compress_fusegpt(int argc, char **argv);
int compress_flattengpt(int argc, char **argv);
int compress_gptailor(int argc, char **argv, const char *cmd);

#endif
