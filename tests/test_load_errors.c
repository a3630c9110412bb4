/* Bad checkpoints fail with one clear message naming the file: a corrupted header, a truncated
 * shard, a missing tensor, a wrong shape, an unknown dtype; plus index and config faults. The bad
 * checkpoints are left in argv[1] for cli_errors.sh, which checks the CLI's one-line report. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/tensors.h"
#include "test_util.h"

static const char *SHARD1 = "model-00001-of-00002.safetensors";

/* a copy of base-16L in out/name */
static char *copy_model(const char *out, const char *name) {
    char *dir = df_path_join(out, name);
    df_rm_rf(dir);
    df_mkdir_p(dir);
    const char *files[] = {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors", "tokenizer.json"};
    for (int i = 0; i < 5; i++) {
        char src[1024];
        snprintf(src, sizeof src, "%s/%s", fixture("models/base-16L"), files[i]);
        char *dst = df_path_join(dir, files[i]);
        CHECK(df_copy_file(src, dst) == 0, "%s", df_errmsg());
        free(dst);
    }
    return dir;
}

/* replace the first occurrence of `from` in the file's first `limit` bytes by `to` */
static void patch(const char *path, const char *from, const char *to, size_t limit) {
    char *data;
    size_t len;
    CHECK(df_read_file(path, &data, &len) == 0, "%s", df_errmsg());
    size_t n = strlen(from), k = strlen(to);
    char *out = df_malloc(len + k + 1);
    int found = 0;
    for (size_t i = 0; i + n <= (len < limit ? len : limit) && !found; i++)
        if (!memcmp(data + i, from, n)) {
            memcpy(out, data, i);
            memcpy(out + i, to, k);
            memcpy(out + i + k, data + i + n, len - i - n);
            len = len - n + k;
            found = 1;
        }
    CHECK(found, "%s: '%s' not found", path, from);
    df_write_file(path, found ? out : data, len);
    free(out);
    free(data);
}

/* a single-file checkpoint of base-16L's tensors, with one tensor dropped or one reshaped */
static char *rewrite(const char *out, const char *name, const char *drop, const char *reshape) {
    Model m;
    CHECK(model_load(&m, fixture("models/base-16L"), NULL) == 0, "%s", df_errmsg());
    TensorRef *refs;
    int n = tensor_refs(&m.cfg, &refs), k = 0;
    StWriteTensor *ws = df_calloc((size_t)n, sizeof *ws);
    for (int i = 0; i < n; i++) {
        if (drop && !strcmp(refs[i].name, drop)) continue;
        ws[k] = (StWriteTensor){refs[i].name, DF_BF16, refs[i].ndim, {refs[i].shape[0], refs[i].shape[1]}, tensor_ref_data(&m, &refs[i])};
        if (reshape && !strcmp(refs[i].name, reshape)) ws[k].shape[0] -= 1;
        k++;
    }
    char *dir = df_path_join(out, name);
    df_rm_rf(dir);
    df_mkdir_p(dir);
    char *st = df_path_join(dir, "model.safetensors"), *cfg = df_path_join(dir, "config.json"), src[1024];
    CHECK(st_write_file(st, ws, k) == 0, "%s", df_errmsg());
    snprintf(src, sizeof src, "%s/config.json", fixture("models/base-16L"));
    df_copy_file(src, cfg);
    snprintf(src, sizeof src, "%s/tokenizer.json", fixture("models/base-16L"));
    char *tj = df_path_join(dir, "tokenizer.json");
    df_copy_file(src, tj);
    free(tj);
    free(st);
    free(cfg);
    free(ws);
    free(refs);
    model_free(&m);
    return dir;
}

static void expect_failure(const char *dir, const char *file_in_msg, const char *what) {
    Model m;
    df_clear_error();
    int rc = model_load(&m, dir, NULL);
    const char *msg = df_errmsg();
    CHECK(rc < 0, "%s: loaded without error", dir);
    CHECK(strstr(msg, file_in_msg) != NULL, "message does not name %s: %s", file_in_msg, msg);
    CHECK(strstr(msg, what) != NULL, "message does not say '%s': %s", what, msg);
    CHECK(strchr(msg, '\n') == NULL, "message is not one line: %s", msg);
    printf("%-28s -> %s\n", df_basename(dir), msg);
    if (rc == 0) model_free(&m);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    const char *out = argc > 1 ? argv[1] : test_tmpdir("badckpt");
    df_mkdir_p(out);
    char path[2048], *d;

    /* all three fixture models load */
    const char *good[] = {"models/base-16L", "models/base-16L-ft-kjv", "models/base-16L-ft-wordnet"};
    for (int i = 0; i < 3; i++) {
        Model m;
        int rc = model_load(&m, fixture(good[i]), NULL);
        CHECK(rc == 0, "%s: %s", good[i], df_errmsg());
        if (rc == 0) {
            printf("%-28s loads: %d blocks, rope_theta %.0f, head_dim %d\n", good[i], m.cfg.n_layers, m.cfg.rope_theta, m.cfg.head_dim);
            model_free(&m);
        }
    }

    d = copy_model(out, "corrupted_header");
    snprintf(path, sizeof path, "%s/%s", d, SHARD1);
    patch(path, "{\"", "[\"", 64); /* the header is no longer a JSON object */
    expect_failure(d, path, "corrupted safetensors header");
    free(d);

    d = copy_model(out, "huge_header_length");
    snprintf(path, sizeof path, "%s/%s", d, SHARD1);
    {
        int fd = open(path, O_WRONLY);
        unsigned char len[8] = {0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
        CHECK(pwrite(fd, len, 8, 0) == 8, "pwrite");
        close(fd);
    }
    expect_failure(d, path, "corrupted safetensors header");
    free(d);

    d = copy_model(out, "truncated_shard");
    snprintf(path, sizeof path, "%s/%s", d, SHARD1);
    {
        uint64_t size;
        df_file_size(path, &size);
        CHECK(truncate(path, (off_t)(size - 1000)) == 0, "truncate");
    }
    expect_failure(d, path, "truncated");
    free(d);

    d = copy_model(out, "unknown_dtype");
    snprintf(path, sizeof path, "%s/%s", d, SHARD1);
    patch(path, "\"BF16\"", "\"QQ16\"", 1 << 20);
    expect_failure(d, path, "unknown dtype");
    free(d);

    d = rewrite(out, "missing_tensor", "model.layers.3.mlp.up_proj.weight", NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    expect_failure(d, path, "missing tensor \"model.layers.3.mlp.up_proj.weight\"");
    free(d);

    d = rewrite(out, "wrong_shape", NULL, "model.layers.5.self_attn.k_proj.weight");
    snprintf(path, sizeof path, "%s/model.safetensors", d);
    expect_failure(d, path, "has shape [63, 192], expected [64, 192]");
    free(d);

    /* an index naming a tensor the shards do not hold */
    d = copy_model(out, "index_mismatch");
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", d);
    patch(path, "model.layers.0.input_layernorm.weight", "model.layers.0.input_layernorm.wEight", 1 << 20);
    expect_failure(d, path, "model.layers.0.input_layernorm.wEight");
    free(d);

    /* config faults */
    d = copy_model(out, "unknown_model_type");
    snprintf(path, sizeof path, "%s/config.json", d);
    patch(path, "\"llama\"", "\"gpt2!\"", 1 << 20);
    expect_failure(d, path, "model_type \"gpt2!\" is not supported");
    free(d);

    d = copy_model(out, "unsupported_rope");
    snprintf(path, sizeof path, "%s/config.json", d);
    patch(path, "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4}", 1 << 20);
    expect_failure(d, path, "rope scaling type \"yarn\" is not supported");
    free(d);
    /* Mistral's sliding window: accepted only when no sequence in use is longer */
    ModelConfig c;
    CHECK(model_load_config(&c, fixture("arch/tiny-mistral")) == 0, "%s", df_errmsg());
    c.sliding_window = 32;
    CHECK(config_check_seq_len(&c, 32) == 0, "a window of 32 must accept 32 tokens");
    CHECK(config_check_seq_len(&c, 33) < 0 && strstr(df_errmsg(), "sliding_window 32"), "33 tokens: %s", df_errmsg());
    config_free(&c);

    if (argc <= 1) df_rm_rf(out);
    return test_end("test_load_errors");
}
