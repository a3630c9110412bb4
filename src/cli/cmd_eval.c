/* depthfuse eval: perplexity of a model on text files (the WikiText-2 protocol). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/dataset.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/perplexity.h"
#include "depthfuse/setup.h"

typedef struct {
    const char *file;
    PplResult r;
} PplRow;

static int write_json(const char *out, const char *model, int T, const PplRow *rows, int n, double seconds) {
    cJSON *root = cJSON_CreateObject(), *ppl, *tok;
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddNumberToObject(root, "seq_len", T);
    ppl = cJSON_AddObjectToObject(root, "perplexity");
    tok = cJSON_AddObjectToObject(root, "tokens");
    for (int i = 0; i < n; i++) {
        cJSON_AddNumberToObject(ppl, df_basename(rows[i].file), rows[i].r.ppl);
        cJSON_AddNumberToObject(tok, df_basename(rows[i].file), (double)rows[i].r.predicted);
    }
    cJSON_AddNumberToObject(root, "seconds", seconds);
    int rc = df_json_write(out, root);
    cJSON_Delete(root);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *model = NULL, *json = NULL, *tokenizer = NULL;
    StrList ppl_files = {0};
    int T = 512, P = 1, batch_tokens = 4096;
    const ArgSpec spec[] = {
        {"--model", ARG_STR, &model, "DIR|FILE.h5", "model: a Hugging Face folder or a depthfuse .h5", ARG_REQUIRED},
        {"--ppl", ARG_STR_LIST, &ppl_files, "FILE", "text file to score by perplexity", 0},
        {"--seq-len", ARG_INT, &T, "N", "tokens per perplexity window (default 512)", 0},
        {"--json", ARG_STR, &json, "OUT", "write the results as JSON", 0},
        {"--tokenizer", ARG_STR, &tokenizer, "PATH", "tokenizer.json or folder (default: the model's)", 0},
        {"--pipeline", ARG_INT, &P, "P", "pipeline stages (default 1; data-parallel groups = ranks / P)", 0},
        {"--batch-tokens", ARG_INT, &batch_tokens, "N", "tokens per micro-batch (default 4096)", 0},
        {0}};
    int rc = args_parse("eval", "Perplexity of a model on whole text files: the file is tokenized once without "
                        "BOS, cut into non-overlapping windows of --seq-len tokens (the ragged tail dropped), and the "
                        "mean negative log-likelihood of every predicted token is exponentiated.",
                        spec, argc, argv, NULL, NULL);
    if (rc == 0 && ppl_files.n == 0) rc = df_fail("depthfuse eval: nothing to evaluate (give --ppl FILE)");
    if (rc == 0 && (T < 2 || batch_tokens < 1)) rc = df_fail("depthfuse eval: --seq-len must be >= 2 and --batch-tokens >= 1");
    if (rc != 0) {
        strlist_free(&ppl_files);
        return rc < 0;
    }
    double t0 = df_now();
    Topology topo;
    Model m;
    Tokenizer *tok = NULL;
    PplRow *rows = df_calloc((size_t)ppl_files.n, sizeof *rows);
    rc = setup_model(&topo, &m, model, P);
    if (rc == 0) {
        rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&m.cfg, T));
        if (rc == 0) rc = setup_tokenizer(&tok, tokenizer, model);
        if (rc == 0) setup_print_layout(&topo, &m);
        for (int i = 0; i < ppl_files.n && rc == 0; i++) {
            IdVec ids;
            rc = dataset_tokenize_file(&ids, tok, ppl_files.items[i], MPI_COMM_WORLD);
            if (rc < 0) break;
            rows[i].file = ppl_files.items[i];
            rc = df_agree(MPI_COMM_WORLD, perplexity_eval(&rows[i].r, &topo, &m, ids.ids, ids.n, T, batch_tokens,
                                                          df_basename(ppl_files.items[i])));
            idvec_free(&ids);
        }
        if (rc == 0) {
            double secs = df_now() - t0;
            df_print0("\n| %-28s | %10s | %9s | %12s |\n|%s|%s|%s|%s|\n", "file", "perplexity", "windows",
                      "tokens", "------------------------------", "------------", "-----------", "--------------");
            for (int i = 0; i < ppl_files.n; i++)
                df_print0("| %-28s | %10.4f | %9d | %12lld |\n", df_basename(rows[i].file), rows[i].r.ppl,
                          rows[i].r.windows, rows[i].r.predicted);
            df_print0("seq-len %d, %.1f s\n", T, secs);
            if (json) rc = df_agree(MPI_COMM_WORLD, topo.rank == 0 ? write_json(json, model, T, rows, ppl_files.n, secs) : 0);
        }
        tokenizer_free(tok);
        model_free(&m);
        topology_free(&topo);
    }
    free(rows);
    strlist_free(&ppl_files);
    return rc != 0;
}
