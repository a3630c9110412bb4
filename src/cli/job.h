/* Job files: `depthfuse run JOB.json` runs any command from a JSON object whose keys are the
 * command's options (src/cli/job.c; the schema in docs/jobs.md is `depthfuse run --schema`).
 * The keys come from the commands' own ArgSpec tables, read through args_observe: "seq_len" is
 * --seq-len, compress's method options sit under "method": {"fusegpt": {...}}, so job keys and flags
 * cannot drift apart. */
#ifndef DEPTHFUSE_CLI_JOB_H
#define DEPTHFUSE_CLI_JOB_H
#include "commands.h"
#include "depthfuse/args.h"

/* a job as the command line it stands for: argv[0] is the command */
typedef struct {
    const Command *cmd;
    int argc;
    char **argv;
    int ranks; /* "ranks" (0: not given) */
} JobArgv;

/* Reads and checks the job (every rank, the same outcome): unknown keys, wrong types, missing
 * required keys refused with "FILE: KEY.PATH: problem" before any other file is opened; paths
 * resolved against the job file's folder. */
int job_load(JobArgv *j, const char *path);
void job_argv_free(JobArgv *j);
/* the command a job line names, NULL when unknown */
const Command *job_command(const char *name);
const Command *job_command_at(int i); /* the i-th of the commands table, NULL past the last */
/* docs/jobs.md: every command's keys as Markdown, on stdout (run --schema; src/cli/job_schema.c) */
void job_print_schema(void);



#endif
