/* Writing a model as a Hugging Face folder that transformers, vLLM and llama.cpp's converter load:
 * config.json (the original with num_hidden_layers updated), safetensors shards of at most
 * max_shard_bytes (model.safetensors when one is enough, else model-0000k-of-0000n.safetensors +
 * model.safetensors.index.json), and the tokenizer/generation files of the source.
 * Collective: shards never straddle pipeline stages, and each stage's group-0 rank writes its own,
 * so no rank holds more than its stage. DIR is created and written in place: user-visible outputs
 * go through output_write_model (output.h), which gives it a temporary sibling and commits it. */
#ifndef DEPTHFUSE_HF_WRITER_H
#define DEPTHFUSE_HF_WRITER_H
#include <stdint.h>

#include "depthfuse/model.h"
#include "depthfuse/topology.h"

/* t == NULL: a single process holding the whole model */
int model_write_hf(const Model *m, const Topology *t, const char *dir, uint64_t max_shard_bytes);
/* "5GB" (10^9), "500MB", "2GiB" (2^30), "12345" bytes */
int parse_byte_size(const char *s, uint64_t *out);
/* the non-weight files of a model (tokenizer.json, generation_config.json, ...): names and count */
extern const char *const HF_EXTRA_FILES[];
extern const int HF_N_EXTRA_FILES;

#endif
