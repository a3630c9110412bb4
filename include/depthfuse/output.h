/* Where depthfuse writes, and what it may do to what is already there (docs/formats.md, "Outputs").
 * Every command lists what it reads and what it writes in an OutputPlan and calls output_check
 * before any work, and every model is written through output_write_model:
 *   model output (HF folder, .h5)  refused when it exists, unless --overwrite; refused always when it
 *                                  is, contains or lies inside an input (paths compared resolved, so
 *                                  symlinks and .. do not fool it). Written complete into a temporary
 *                                  sibling OUT.depthfuse-tmp.PID first, then renamed into place; with
 *                                  --overwrite over a folder, only the model's own files are replaced
 *                                  (output_is_model_file), in a documented order, and every other file
 *                                  in the folder stays.
 *   reports (JSON, Markdown, PNG)  replaced atomically (df_write_file) without asking; refused when
 *                                  one is an input or lies inside an input model.
 *   state and history files        read and continued by their owners, never truncated here.
 * A killed run leaves at most OUT.depthfuse-tmp.PID (or REPORT.depthfuse-tmp.PID); output_check
 * removes those of dead processes. */
#ifndef DEPTHFUSE_OUTPUT_H
#define DEPTHFUSE_OUTPUT_H
#include <stdint.h>

#include "depthfuse/model.h"
#include "depthfuse/topology.h"

typedef struct {
    char **inputs; /* every model and data file the command reads */
    int n_inputs;
    int *input_is_model;
    char *model;   /* the model output (HF folder, or .h5 by name), NULL: none */
    char **reports;
    int n_reports;
    int overwrite; /* --overwrite: an existing model output may be replaced */
    char *state;   /* the --state (or history) file: an input, and locked with the model output */
    const struct cJSON *provenance; /* the method's part of the model's depthfuse.json (borrowed), or NULL */
} OutputPlan;

/* NULL paths are ignored, so optional flags can be passed as they are */
void output_add_model_input(OutputPlan *p, const char *path);
void output_add_input(OutputPlan *p, const char *path);
void output_set_model(OutputPlan *p, const char *path);
void output_add_report(OutputPlan *p, const char *path);
void output_set_state(OutputPlan *p, const char *path);
void output_plan_free(OutputPlan *p);

/* Collective over MPI_COMM_WORLD (rank 0 looks, every rank gets the outcome): refuse what the rules
 * refuse, with one line naming the path; remove temporary siblings left by killed runs. */
int output_check(const OutputPlan *p);
/* Collective: rank 0 locks the state file and the model output (include/depthfuse/lock.h), so that a
 * second run on either refuses in one line; output_check does it first. Released at exit. */
int output_lock(const OutputPlan *p);
/* rank-local form of output_check (tools, tests) */
int output_check_local(const OutputPlan *p);
/* Collective (t NULL: one process holding the whole model): write m to p->model, HF folder or .h5. */
int output_write_model(const Model *m, const Topology *t, const OutputPlan *p, uint64_t max_shard_bytes);
/* is a file of this name one of a Hugging Face model folder's own files (config, generation config,
 * weights and their index, tokenizer files, depthfuse.json)? */
int output_is_model_file(const char *name);
/* the absolute, symlink-free form of path, which need not exist (new string) */
char *output_resolve(const char *path);

#endif
