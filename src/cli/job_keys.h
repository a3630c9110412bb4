/* The keys of a job: a command's ArgSpec table (or one compress method's) read through args_observe,
 * with each option's key ("--seq-len" -> "seq_len"), JSON type, default and meaning. Shared by the
 * job loader (job.c) and the schema (job_schema.c). */
#ifndef DEPTHFUSE_CLI_JOB_KEYS_H
#define DEPTHFUSE_CLI_JOB_KEYS_H
#include "depthfuse/args.h"

typedef struct {
    char *key, *flag, *metavar, *help;
    char *def; /* the default as JSON text ("512", "\"5GB\"", "false", "[]"), NULL: none */
    ArgKind kind;
    int required, path;
} JobKey;

typedef struct {
    JobKey *k;
    int n;
    int positional;        /* the command takes positional arguments: the job's "inputs" */
    char *positional_name; /* as its usage names them */
} JobKeys;

/* cmd's options; for compress and prune, method NULL: the options every method shares (less
 * --method), method M: M's own options (the rest of its table). -1 + message when the command or
 * method is unknown. */
int job_keys(JobKeys *t, const char *cmd, const char *method);
const JobKey *job_key_find(const JobKeys *t, const char *key);
void job_keys_free(JobKeys *t);
/* "--seq-len" -> "seq_len" (a new string) */
char *job_key_name(const char *flag);
/* compress and prune take "method": {"NAME": {...}} */
int job_has_methods(const char *cmd);
/* the i-th method cmd takes (NULL past the last) */
const char *job_method(const char *cmd, int i, const char **summary);
/* the JSON type of a kind, as docs/jobs.md and the messages name it */
const char *job_kind_type(ArgKind k);

#endif
