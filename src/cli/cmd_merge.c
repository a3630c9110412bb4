/* depthfuse merge RECIPE.yaml --out DIR: build a model from a mergekit recipe (the passthrough and
 * task_arithmetic subset, src/methods/gptailor_recipe.c), the way GPTailor's search built it, so a
 * searched model comes back from its recipe with identical tensors. Rank 0 holds every model of the
 * recipe whole (memory: the models' fp32 size, plus the merged layers); other ranks wait. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/error.h"
#include "depthfuse/gptailor.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/tensors.h"
#include "depthfuse/topology.h"

static int merge(const char *recipe, const char *out, int overwrite, uint64_t shard_bytes) {
    GtPlan p;
    char **paths, *dtype;
    int n;
    DF_TRY(gt_recipe_read(recipe, &p, &paths, &n, &dtype));
    OutputPlan plan = {.overwrite = overwrite};
    output_add_input(&plan, recipe);
    for (int i = 0; i < n; i++) output_add_model_input(&plan, paths[i]);
    output_set_model(&plan, out);
    int rc = output_check_local(&plan);
    Model *models = df_calloc((size_t)n, sizeof(Model)), **mp = df_calloc((size_t)n, sizeof(Model *));
    int loaded = 0;
    for (int i = 0; i < n && rc == 0; i++, loaded++) {
        ModelConfig c;
        rc = model_load_config(&c, paths[i]);
        if (rc == 0) {
            ModelPart all = model_part_all(&c);
            if (i > 0 && !gt_same_architecture(&c, &models[0].cfg))
                rc = df_fail("%s: %s is not of the base model's architecture", recipe, paths[i]);
            if (rc == 0) rc = model_load(&models[i], paths[i], &all);
            config_free(&c);
            if (rc < 0) break;
        }
        mp[i] = &models[i];
    }
    for (int j = 0; rc == 0 && j < p.n; j++)
        if (p.layer[j].base_layer >= models[0].cfg.n_layers)
            rc = df_fail("%s: slice layer %d is past %s's %d layers", recipe, p.layer[j].base_layer, paths[0],
                         models[0].cfg.n_layers);
    GtModel m = {0};
    if (rc == 0) rc = gt_build(&m, mp, n, &p);
    if (rc == 0 && dtype) {
        const DfDtype dt = !strcmp(dtype, "bfloat16") ? DF_BF16 : !strcmp(dtype, "float16") ? DF_F16 : DF_F32;
        TensorRef *refs;
        const int nr = tensor_refs(&m.m.cfg, &refs);
        for (int i = 0; i < nr; i++) tensor_ref_set_dtype(&m.m, &refs[i], dt);
        free(refs);
    }
    if (rc == 0) rc = output_write_model(&m.m, NULL, &plan, shard_bytes);
    if (rc == 0) df_print0("wrote %s (%d layers from %d models)\n", out, p.n, n);
    gt_model_free(&m);
    for (int i = 0; i < loaded; i++) model_free(&models[i]);
    free(models), free(mp);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths), free(dtype);
    gt_plan_free(&p);
    output_plan_free(&plan);
    return rc;
}

int cmd_merge(int argc, char **argv) {
    const char *out = NULL, *max_shard = "5GB";
    int overwrite = 0;
    StrList pos = {0};
    const ArgSpec spec[] = {
        {"--out", ARG_STR, &out, "DIR|FILE.h5", "the merged model (HF folder, or .h5)", ARG_REQUIRED},
        {"--overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing --out (its model files; other files stay)", 0},
        {"--max-shard-size", ARG_STR, &max_shard, "SIZE", "largest safetensors shard (default 5GB)", 0},
        {0}};
    int rc = args_parse("merge", "Build a model from a mergekit recipe: merge_method passthrough or task_arithmetic "
                        "(parameters {normalize: false}), the slices form with layer_range per source and weight per "
                        "task vector; the embedding follows the first slice's sources and the final norm and lm_head "
                        "the last slice's, as mergekit does. GPTailor's --recipe files are such recipes.",
                        spec, argc, argv, &pos, "RECIPE.yaml");
    if (rc != 0) {
        strlist_free(&pos);
        return rc < 0;
    }
    uint64_t shard_bytes = 0;
    if (pos.n != 1) rc = df_fail("depthfuse merge: give one RECIPE.yaml");
    if (rc == 0) rc = parse_byte_size(max_shard, &shard_bytes);
    if (rc == 0 && df_rank() == 0) rc = merge(pos.items[0], out, overwrite, shard_bytes);
    strlist_free(&pos);
    return df_agree(MPI_COMM_WORLD, rc) != 0;
}
