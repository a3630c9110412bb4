/* What every distributed command does first: read the config, lay out the job, load this rank's
 * part of the model, with every failure agreed across ranks. */
#ifndef DEPTHFUSE_SETUP_H
#define DEPTHFUSE_SETUP_H
#include "depthfuse/model.h"
#include "depthfuse/tokenizer.h"
#include "depthfuse/topology.h"

/* Collective. On failure every rank returns -1 with the message; nothing is left allocated. */
int setup_model(Topology *t, Model *m, const char *path, int pipeline_stages);
/* rank 0 loads the tokenizer (tokenizer_path, or the model's own when NULL) and checks that its ids
 * fit the model's vocabulary; others get NULL */
int setup_tokenizer(Tokenizer **tok, const char *tokenizer_path, const char *model_path);
/* one-line summary of the layout and memory on rank 0 */
void setup_print_layout(const Topology *t, const Model *m);

#endif
