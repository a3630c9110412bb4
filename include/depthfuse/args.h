/* Command-line options for the subcommands: a table of ArgSpec per command.
 *   static char *model; static int seq = 512;
 *   ArgSpec spec[] = {{"--model", ARG_STR, &model, "DIR|FILE.h5", "model to load", ARG_REQUIRED},
 *                     {"--seq-len", ARG_INT, &seq, "N", "tokens per window", 0}, {0}};
 * Repeated options (ARG_STR_LIST) collect every occurrence; a value may also be comma separated.
 * Positional arguments are collected into a list when the command accepts them (args_parse's
 * positional argument), otherwise refused. */
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
void strlist_push(StrList *l, const char *s);
void strlist_free(StrList *l);

#endif
