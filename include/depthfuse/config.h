/* config.json of a Hugging Face Llama-family checkpoint (model_type llama, mistral, qwen2).
 * Every option that changes the computation is either implemented or refused with a clear
 * message; the original JSON is kept so that writing back changes only what depthfuse changed. */
#ifndef DEPTHFUSE_CONFIG_H
#define DEPTHFUSE_CONFIG_H
#include <stddef.h>

typedef enum { ARCH_LLAMA, ARCH_MISTRAL, ARCH_QWEN2 } ModelArch;
typedef enum { ROPE_DEFAULT, ROPE_LINEAR, ROPE_LLAMA3 } RopeType;

typedef struct {
    ModelArch arch;
    int hidden, intermediate, n_layers, n_heads, n_kv_heads, head_dim, vocab;
    float rms_eps;
    double rope_theta;
    RopeType rope_type;
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_orig_max_pos;
    int tie_embeddings;
    int qkv_bias, o_bias;        /* Qwen2: q/k/v biases; Llama attention_bias: q/k/v/o biases */
    int bos_id, eos_id;          /* -1 when absent; eos: the first of a list */
    int max_position;
    int sliding_window;          /* 0: none (Mistral/Qwen2 only; checked against the sequence length) */
    char *json;                  /* the config.json text as read */
    char *path;                  /* where it came from, for messages */
} ModelConfig;

/* what: the name used in messages (normally the file path) */
int config_parse(ModelConfig *c, const char *text, size_t len, const char *what);
int config_load(ModelConfig *c, const char *config_json_path);
void config_free(ModelConfig *c);
int config_copy(ModelConfig *dst, const ModelConfig *src);
/* refuse sequence lengths a sliding window would change */
int config_check_seq_len(const ModelConfig *c, int T);
/* RoPE inverse frequencies [head_dim/2], with the configured scaling applied */
void config_rope_inv_freq(const ModelConfig *c, float *inv_freq);
/* The config.json to write for this config: the original document with num_hidden_layers (and
 * anything per-layer) set from c. Returns a new string (free()). */
char *config_to_json(const ModelConfig *c);
/* Parameter counts: one block, and the whole model */
size_t config_block_params(const ModelConfig *c);
size_t config_model_params(const ModelConfig *c);

#endif
