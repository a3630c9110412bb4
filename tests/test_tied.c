/* Tied embeddings: a tied copy of base-16L (lm_head dropped, embed_tokens := lm_head's values,
 * tie_word_embeddings true) and an untied copy with the same lm_head (and the same embed_tokens
 * values) must give equal logits; the tied checkpoint must not store lm_head.weight. */
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/forward.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/safetensors.h"
#include "test_util.h"

static void logits_of(const char *dir, const int32_t *ids, int T, float *out) {
    Model m;
    CHECK(model_load(&m, dir, NULL) == 0, "%s", df_errmsg());
    if (g_failures) return;
    model_forward_logits(out, &m, ids, T);
    printf("%s: tie_word_embeddings=%d\n", dir, m.cfg.tie_embeddings);
    model_free(&m);
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    const char *tmp = test_tmpdir("tied");
    char *untied = df_path_join(tmp, "untied"), *tied = df_path_join(tmp, "tied");
    Model m;
    CHECK(model_load(&m, fixture("models/base-16L"), NULL) == 0, "%s", df_errmsg());
    const size_t VH = (size_t)m.cfg.vocab * m.cfg.hidden;
    memcpy(m.embed, m.lm_head, VH * sizeof(float)); /* embed_tokens := lm_head */
    CHECK(model_write_hf(&m, NULL, untied, 5u << 20) == 0, "%s", df_errmsg());
    free(m.lm_head);
    m.lm_head = m.embed;
    m.owns_head_memory = 0;
    m.cfg.tie_embeddings = 1;
    CHECK(model_write_hf(&m, NULL, tied, 5u << 20) == 0, "%s", df_errmsg());
    model_free(&m);

    StSet s;
    CHECK(st_open_model(&s, tied) == 0, "%s", df_errmsg());
    CHECK(st_find(&s, "lm_head.weight") == NULL, "the tied checkpoint stores lm_head.weight");
    CHECK(st_find(&s, "model.embed_tokens.weight") != NULL, "the tied checkpoint lacks embed_tokens");
    st_free(&s);

    const int T = 64, V = 4096;
    int32_t ids[64];
    for (int i = 0; i < T; i++) ids[i] = (int32_t)((i * 2654435761u) % (unsigned)V);
    float *a = df_alloc_floats((size_t)T * V), *b = df_alloc_floats((size_t)T * V);
    logits_of(untied, ids, T, a);
    logits_of(tied, ids, T, b);
    double d = max_abs_diff(a, b, (size_t)T * V);
    CHECK(d == 0.0, "tied and untied logits differ by %.3g", d);
    printf("tied vs untied logits: max |diff| = %g over %d x %d\n", d, T, V);
    free(a);
    free(b);
    df_rm_rf(tmp);
    free(untied);
    free(tied);
    return test_end("test_tied");
}
