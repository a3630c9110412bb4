#include "depthfuse/setup.h"

#include <cjson/cJSON.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"

int setup_model(Topology *t, Model *m, const char *path, int P) {
    memset(t, 0, sizeof *t);
    memset(m, 0, sizeof *m);
    ModelConfig c;
    int rc = model_load_config(&c, path);
    DF_TRY(df_agree(MPI_COMM_WORLD, rc));
    rc = topology_init(t, P, &c);
    config_free(&c);
    if (df_agree(MPI_COMM_WORLD, rc) < 0) {
        topology_free(t);
        return -1;
    }
    ModelPart part = topology_part(t);
    rc = model_load(m, path, &part);
    if (df_agree(MPI_COMM_WORLD, rc) < 0) {
        if (rc == 0) model_free(m);
        topology_free(t);
        return -1;
    }
    return 0;
}

int setup_tokenizer(Tokenizer **tok, const char *tokenizer_path, const char *model_path) {
    *tok = NULL;
    int rc = 0;
    if (df_rank() == 0) {
        /* an .h5 store carries its tokenizer.json; a folder has it beside the weights */
        const char *path = tokenizer_path ? tokenizer_path : model_path;
        rc = tokenizer_load(tok, path);
        ModelConfig c;
        /* ids past the embedding would read outside it (a model may pad its vocabulary, not shrink it) */
        if (rc == 0 && (rc = model_load_config(&c, model_path)) == 0) {
            if (tokenizer_vocab_size(*tok) > c.vocab)
                rc = df_fail("%s: the tokenizer has %d tokens but the model's vocab_size is %d", path,
                             tokenizer_vocab_size(*tok), c.vocab);
            config_free(&c);
        }
    }
    return df_agree(MPI_COMM_WORLD, rc);
}

void setup_print_layout(const Topology *t, const Model *m) {
    const ModelConfig *c = &m->cfg;
    df_info0("model: %s (%s, %d blocks, hidden %d, heads %d/%d, vocab %d, %.1fM parameters)\n", m->source,
              c->arch == ARCH_QWEN2 ? "qwen2" : c->arch == ARCH_MISTRAL ? "mistral" : "llama", c->n_layers, c->hidden,
              c->n_heads, c->n_kv_heads, c->vocab, (double)config_model_params(c) / 1e6);
    df_info0("layout: %d ranks = %d pipeline stages x %d data-parallel groups; stage blocks:", t->size, t->P, t->D);
    for (int s = 0; s < t->P; s++) df_info0(" [%d,%d)", t->stage_first[s], t->stage_first[s + 1]);
    df_info0("; %d threads per rank\n", omp_get_max_threads());
    cJSON *f = topology_layout_json(t);
    cJSON_AddStringToObject(f, "model", m->source);
    cJSON_AddNumberToObject(f, "blocks", c->n_layers);
    cJSON *st = cJSON_AddArrayToObject(f, "stage_blocks");
    for (int s = 0; s < t->P; s++) {
        cJSON *r = cJSON_CreateArray();
        cJSON_AddItemToArray(r, cJSON_CreateNumber(t->stage_first[s]));
        cJSON_AddItemToArray(r, cJSON_CreateNumber(t->stage_first[s + 1]));
        cJSON_AddItemToArray(st, r);
    }
    df_event("layout", f);
}
