/* depthfuse.json: what made a written model (docs/formats.md, "depthfuse.json"). output_write_model
 * puts it in every model folder it writes (and as the attribute "depthfuse_json" of an .h5): the
 * version, the command line, a fast hash of every input (a model: its config and weight headers, not
 * its weights) and the method's part (OutputPlan.provenance: method, removed, block map, ...). */
#ifndef DEPTHFUSE_PROVENANCE_H
#define DEPTHFUSE_PROVENANCE_H
#include <stdint.h>

#include "depthfuse/output.h"

/* the command line main was given (kept for depthfuse.json and the event log) */
void df_set_command_line(int argc, char **argv);
const char *df_command_line(void);
/* {"depthfuse", "mpi", "openblas"}: the versions a run reports (a new object) */
struct cJSON *df_versions_json(void);
/* rank-local: the identity hash of an input, "fnv1a64:<16 hex digits>" (new string), NULL when it
 * cannot be read. A model folder: config.json, the safetensors index and every safetensors header; an
 * .h5: its size and first and last MiB; any other file: its bytes. */
char *provenance_hash(const char *path, int is_model);
/* rank 0: the depthfuse.json text of the model p describes (new string) */
char *provenance_json(const OutputPlan *p);

#endif
