#include "depthfuse/config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"

static int get_i(const cJSON *o, const char *key, const char *f, int *out, int required, int minv) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!required && (!it || cJSON_IsNull(it))) return 0; /* absent: keep the default */
    int64_t v;
    DF_TRY(df_json_int(o, key, f, &v));
    if (v < minv || v > 1000000000) return df_fail("%s: \"%s\" = %lld is out of range", f, key, (long long)v);
    *out = (int)v;
    return 0;
}

/* bos/eos ids may be an integer, a list (Llama-3 instruct) or null */
static int get_token_id(const cJSON *o, const char *key, const char *f, int *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = -1;
    if (!it || cJSON_IsNull(it)) return 0;
    if (cJSON_IsArray(it)) it = cJSON_GetArrayItem(it, 0);
    uint64_t v;
    if (!it || df_json_as_u64(it, &v) < 0 || v > 0x7fffffff)
        return df_fail("%s: \"%s\" must be a token id or a list of them", f, key);
    *out = (int)v;
    return 0;
}

static int parse_rope(ModelConfig *c, const cJSON *root, const char *f) {
    c->rope_theta = 10000.0;
    c->rope_type = ROPE_DEFAULT;
    DF_TRY(df_json_opt_num(root, "rope_theta", f, &c->rope_theta));
    /* transformers 5 writes rope_parameters (with rope_theta inside); older files rope_scaling */
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!rp || cJSON_IsNull(rp)) rp = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rp || cJSON_IsNull(rp)) return 0;
    if (!cJSON_IsObject(rp)) return df_fail("%s: rope_parameters/rope_scaling must be an object", f);
    DF_TRY(df_json_opt_num(rp, "rope_theta", f, &c->rope_theta));
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rp, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : "default";
    if (!strcmp(type, "default")) return 0;
    c->rope_factor = 1.0;
    DF_TRY(df_json_num(rp, "factor", f, &c->rope_factor));
    if (!(c->rope_factor > 0)) return df_fail("%s: rope factor must be positive", f);
    if (!strcmp(type, "linear")) {
        c->rope_type = ROPE_LINEAR;
        return 0;
    }
    if (!strcmp(type, "llama3")) {
        c->rope_type = ROPE_LLAMA3;
        int64_t orig = 0;
        DF_TRY(df_json_num(rp, "low_freq_factor", f, &c->rope_low_freq_factor));
        DF_TRY(df_json_num(rp, "high_freq_factor", f, &c->rope_high_freq_factor));
        DF_TRY(df_json_int(rp, "original_max_position_embeddings", f, &orig));
        c->rope_orig_max_pos = (int)orig;
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) || orig <= 0)
            return df_fail("%s: llama3 rope scaling needs high_freq_factor > low_freq_factor and a positive "
                           "original_max_position_embeddings", f);
        return 0;
    }
    return df_fail("%s: rope scaling type \"%s\" is not supported (supported: default, linear, llama3)", f, type);
}

/* per-layer attention types (transformers 5 writes layer_types): all layers alike, or refused */
static int check_layer_types(const ModelConfig *c, const cJSON *root, const char *f) {
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (!lt || cJSON_IsNull(lt)) return 0;
    if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != c->n_layers)
        return df_fail("%s: layer_types must list one type per layer (%d)", f, c->n_layers);
    const cJSON *e;
    cJSON_ArrayForEach(e, lt) {
        if (!cJSON_IsString(e)) return df_fail("%s: layer_types entries must be strings", f);
        if (strcmp(e->valuestring, "full_attention") && !(c->sliding_window && !strcmp(e->valuestring, "sliding_attention")))
            return df_fail("%s: layer type \"%s\" is not supported", f, e->valuestring);
        if (strcmp(e->valuestring, cJSON_GetArrayItem(lt, 0)->valuestring))
            return df_fail("%s: mixed per-layer attention types are not supported", f);
    }
    return 0;
}

int config_parse(ModelConfig *c, const char *text, size_t len, const char *f) {
    memset(c, 0, sizeof *c);
    cJSON *root;
    DF_TRY(df_json_parse(text, len, f, &root));
    int rc = -1;
    const char *type, *act = "silu";
    if (!cJSON_IsObject(root)) {
        df_fail("%s: not a JSON object", f);
        goto done;
    }
    if (df_json_str(root, "model_type", f, &type) < 0) goto done;
    if (!strcmp(type, "llama")) c->arch = ARCH_LLAMA;
    else if (!strcmp(type, "mistral")) c->arch = ARCH_MISTRAL;
    else if (!strcmp(type, "qwen2")) c->arch = ARCH_QWEN2;
    else {
        df_fail("%s: model_type \"%s\" is not supported (supported: llama, mistral, qwen2)", f, type);
        goto done;
    }
    c->n_kv_heads = -1;
    c->head_dim = -1;
    c->max_position = 0;
    double eps = 1e-6;
    if (get_i(root, "hidden_size", f, &c->hidden, 1, 1) < 0 || get_i(root, "intermediate_size", f, &c->intermediate, 1, 1) < 0 ||
        get_i(root, "num_hidden_layers", f, &c->n_layers, 1, 1) < 0 || get_i(root, "num_attention_heads", f, &c->n_heads, 1, 1) < 0 ||
        get_i(root, "num_key_value_heads", f, &c->n_kv_heads, 0, 1) < 0 || get_i(root, "head_dim", f, &c->head_dim, 0, 2) < 0 ||
        get_i(root, "vocab_size", f, &c->vocab, 1, 1) < 0 || get_i(root, "max_position_embeddings", f, &c->max_position, 0, 0) < 0 ||
        df_json_opt_num(root, "rms_norm_eps", f, &eps) < 0 || get_token_id(root, "bos_token_id", f, &c->bos_id) < 0 ||
        get_token_id(root, "eos_token_id", f, &c->eos_id) < 0 ||
        df_json_opt_bool(root, "tie_word_embeddings", f, &c->tie_embeddings) < 0 || parse_rope(c, root, f) < 0)
        goto done;
    c->rms_eps = (float)eps;
    if (c->n_kv_heads < 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim < 0) {
        if (c->hidden % c->n_heads) {
            df_fail("%s: hidden_size %d is not a multiple of num_attention_heads %d", f, c->hidden, c->n_heads);
            goto done;
        }
        c->head_dim = c->hidden / c->n_heads;
    }
    if (c->n_heads % c->n_kv_heads || c->head_dim % 2) {
        df_fail("%s: num_attention_heads must be a multiple of num_key_value_heads and head_dim even", f);
        goto done;
    }
    if (!(eps > 0)) {
        df_fail("%s: rms_norm_eps must be positive", f);
        goto done;
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (a && !cJSON_IsNull(a)) act = cJSON_IsString(a) ? a->valuestring : "?";
    if (strcmp(act, "silu")) {
        df_fail("%s: hidden_act \"%s\" is not supported (Llama-family models use silu)", f, act);
        goto done;
    }
    int mlp_bias = 0, attn_bias = 0;
    if (df_json_opt_bool(root, "mlp_bias", f, &mlp_bias) < 0 || df_json_opt_bool(root, "attention_bias", f, &attn_bias) < 0)
        goto done;
    if (mlp_bias) {
        df_fail("%s: mlp_bias true is not supported", f);
        goto done;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "quantization_config")) {
        df_fail("%s: quantized checkpoints (quantization_config) are not supported", f);
        goto done;
    }
    if (c->arch == ARCH_QWEN2) {
        c->qkv_bias = 1; /* Qwen2 always has q/k/v biases and no o_proj bias */
        int use_sw = 0;
        if (df_json_opt_bool(root, "use_sliding_window", f, &use_sw) < 0) goto done;
        if (use_sw && get_i(root, "sliding_window", f, &c->sliding_window, 1, 1) < 0) goto done;
    } else {
        c->qkv_bias = c->o_bias = attn_bias;
        if (c->arch == ARCH_MISTRAL && get_i(root, "sliding_window", f, &c->sliding_window, 0, 1) < 0) goto done;
    }
    if (check_layer_types(c, root, f) < 0) goto done;
    c->json = df_malloc(len + 1);
    memcpy(c->json, text, len);
    c->json[len] = 0;
    c->path = df_strdup(f);
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int config_load(ModelConfig *c, const char *path) {
    char *text;
    size_t len;
    DF_TRY(df_read_file(path, &text, &len));
    int rc = config_parse(c, text, len, path);
    free(text);
    return rc;
}

void config_free(ModelConfig *c) {
    free(c->json);
    free(c->path);
    c->json = c->path = NULL;
}

int config_copy(ModelConfig *dst, const ModelConfig *src) {
    *dst = *src;
    dst->json = df_strdup(src->json);
    dst->path = df_strdup(src->path);
    return 0;
}

int config_check_seq_len(const ModelConfig *c, int T) {
    if (c->sliding_window && T > c->sliding_window)
        return df_fail("%s: sliding_window %d is shorter than the sequence length %d (sliding-window attention is "
                       "not implemented; use --seq-len <= %d)", c->path, c->sliding_window, T, c->sliding_window);
    return 0;
}

void config_rope_inv_freq(const ModelConfig *c, float *inv_freq) {
    const int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* as transformers: base ** (arange(0, dim, 2) / dim) in fp32, then 1/x */
        float e = (float)(2 * i) / (float)c->head_dim;
        double f = 1.0 / (double)powf((float)c->rope_theta, e);
        if (c->rope_type == ROPE_LINEAR) {
            f /= c->rope_factor;
        } else if (c->rope_type == ROPE_LLAMA3) {
            const double lo_wl = c->rope_orig_max_pos / c->rope_low_freq_factor;
            const double hi_wl = c->rope_orig_max_pos / c->rope_high_freq_factor;
            const double wl = 2.0 * M_PI / f;
            if (wl > lo_wl) {
                f /= c->rope_factor;
            } else if (wl >= hi_wl) {
                double s = (c->rope_orig_max_pos / wl - c->rope_low_freq_factor) /
                           (c->rope_high_freq_factor - c->rope_low_freq_factor);
                f = (1 - s) * f / c->rope_factor + s * f;
            }
        }
        inv_freq[i] = (float)f;
    }
}

char *config_to_json(const ModelConfig *c) {
    cJSON *root = cJSON_Parse(c->json);
    if (!root) DF_FATAL("config text no longer parses");
    cJSON_ReplaceItemInObjectCaseSensitive(root, "num_hidden_layers", cJSON_CreateNumber(c->n_layers));
    if (cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings") || c->tie_embeddings)
        cJSON_DeleteItemFromObjectCaseSensitive(root, "tie_word_embeddings"),
            cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_embeddings);
    cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (cJSON_IsArray(lt) && cJSON_GetArraySize(lt) > 0) {
        cJSON *arr = cJSON_CreateArray();
        const char *t = cJSON_GetArrayItem(lt, 0)->valuestring;
        for (int i = 0; i < c->n_layers; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(t));
        cJSON_ReplaceItemInObjectCaseSensitive(root, "layer_types", arr);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    char *out = df_strdup(s);
    cJSON_free(s);
    return out;
}

size_t config_block_params(const ModelConfig *c) {
    size_t H = (size_t)c->hidden, I = (size_t)c->intermediate, q = (size_t)c->n_heads * c->head_dim,
           kv = (size_t)c->n_kv_heads * c->head_dim;
    return 2 * H + (q + 2 * kv) * H + q * H + 3 * H * I + (c->qkv_bias ? q + 2 * kv : 0) + (c->o_bias ? H : 0);
}

size_t config_model_params(const ModelConfig *c) {
    size_t VH = (size_t)c->vocab * c->hidden;
    return (size_t)c->n_layers * config_block_params(c) + VH * (c->tie_embeddings ? 1 : 2) + (size_t)c->hidden;
}
