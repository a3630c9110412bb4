/* One entry point per subcommand (src/cli/cmd_*.c). Each returns 0 on success and non-zero on
 * failure on every rank (the failure already agreed across ranks, its message in df_errmsg()). */
#ifndef DEPTHFUSE_CLI_COMMANDS_H
#define DEPTHFUSE_CLI_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);

#define DF_COMMANDS                                                                              \
    {"eval", cmd_eval, "perplexity and zero-shot task accuracy of a model"},                      \
    {"convert", cmd_convert, "Hugging Face folder <-> depthfuse .h5 store"},                     \
    {"importance", cmd_importance, "block importance: mi (FuseGPT), bi (ShortGPT), sleb"},       \
    {"compress", cmd_compress, "make a model shallower by any method (compress --help lists them)"}, \
    {"report", cmd_report, "the HTML run report of compress runs side by side (report RUN.json ... --out F.html)"}, \
    {"merge", cmd_merge, "build a model from a mergekit recipe (passthrough, task_arithmetic; GPTailor's --recipe)"}, \
    {"prune", cmd_prune, "remove blocks by mi, bi or sleb and write the shallower model"},        \
    {"tokenize", cmd_tokenize, "text to token ids with a tokenizer.json (as Hugging Face does)"},     \
    {"detokenize", cmd_detokenize, "token ids back to text with a tokenizer.json"},                 \
    {"run", cmd_run, "run any command from a JSON job file (docs/jobs.md)"},                      \
    {"plan", cmd_plan, "a job's layout, memory per rank, FLOPs and time, without the weights"},

#endif
