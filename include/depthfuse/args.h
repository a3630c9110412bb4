/* Command-line options for the subcommands: a table of ArgSpec per command.
 *   static char *model; static int seq = 512;
 *   ArgSpec spec[] = {{"--model", ARG_STR, &model, "DIR|FILE.h5", "model to load", ARG_REQUIRED},
 *                     {"--seq-len", ARG_INT, &seq, "N", "tokens per window", 0}, {0}};
 * Repeated options (ARG_STR_LIST) collect every occurrence; a value may also be comma separated.
 * Positional arguments are collected into a list when the command accepts them (args_parse's
 * positional argument), otherwise refused.
 * The tables are also the schema of job files (src/cli/job.c: key "seq_len" is --seq-len) and what
 * the planner reads (--dry-run): an option whose metavar names a file or folder is a path
 * (args_is_path), resolved against the job file's folder. */
#ifndef DEPTHFUSE_ARGS_H
#define DEPTHFUSE_ARGS_H
#include <stddef.h>

typedef enum { ARG_FLAG, ARG_INT, ARG_DOUBLE, ARG_STR, ARG_STR_LIST } ArgKind;
enum { ARG_REQUIRED = 1 };

typedef struct {
    char **items;
    int n;
} StrList;

typedef struct {
    const char *name;    /* "--seq-len"; NULL ends the table */
    ArgKind kind;
    void *dst;           /* int*, double*, char**, StrList* */
    const char *metavar; /* "N" */
    const char *help;
    int flags;           /* ARG_REQUIRED */
} ArgSpec;

/* Returns 0 when parsed, 1 when --help was asked (usage printed on rank 0), -1 + df_fail on a bad
 * command line. argv[0] is the subcommand name. positional may be NULL (none accepted). */
int args_parse(const char *cmd, const char *summary, const ArgSpec *spec, int argc, char **argv,
               StrList *positional, const char *positional_name);
void args_usage(const char *cmd, const char *summary, const ArgSpec *spec, const char *positional_name);
/* a path option: a metavar alternative that starts with FILE, DIR, PATH or OUT, or names a file
 * type (RUN.json, FILE.h5) */
int args_is_path(const ArgSpec *s);
/* The next args_parse calls f once its options are parsed (before the required ones are checked)
 * with the table (given options in dst, the rest at their defaults), given[i] for each entry and
 * whether positional arguments are accepted; args_parse then returns f's result when it is not 0
 * (1: stop as after --help, -1: fail). One call only: the observer is cleared before f runs. Job
 * files read the tables through it, and --dry-run hands the parsed options to the planner. */
typedef int (*ArgsObserver)(void *ctx, const char *cmd, const ArgSpec *spec, const int *given, const char *positional_name);
void args_observe(ArgsObserver f, void *ctx);
/* rank 0 keeps the first failure: the message of a missing required option, as args_parse's */
int args_check_required(const char *cmd, const ArgSpec *spec, const int *given);
void strlist_push(StrList *l, const char *s);
void strlist_free(StrList *l);

#endif
