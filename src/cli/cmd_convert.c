/* depthfuse convert: Hugging Face folder <-> depthfuse .h5 store, distributed over the job. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/error.h"
#include "depthfuse/h5store.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/setup.h"

int cmd_convert(int argc, char **argv) {
    const char *from_hf = NULL, *from_h5 = NULL, *to = NULL, *to_hf = NULL, *max_shard = "5GB";
    int P = 1, overwrite = 0;
    const ArgSpec spec[] = {
        {"--from-hf", ARG_STR, &from_hf, "DIR", "read a Hugging Face folder", 0},
        {"--from-h5", ARG_STR, &from_h5, "FILE.h5", "read a depthfuse .h5 store", 0},
        {"--to", ARG_STR, &to, "FILE.h5", "the .h5 store to write (with --from-hf)", 0},
        {"--to-hf", ARG_STR, &to_hf, "DIR", "the Hugging Face folder to write (with --from-h5)", 0},
        {"--max-shard-size", ARG_STR, &max_shard, "SIZE", "largest safetensors shard, e.g. 5GB, 500MB (default 5GB)", 0},
        {"--pipeline", ARG_INT, &P, "P", "pipeline stages: each rank holds only its stage (default 1)", 0},
        {"--overwrite", ARG_FLAG, &overwrite, NULL, "replace an existing output (else refused; see below)", 0},
        {0}};
    int rc = args_parse("convert", "Convert a model between a Hugging Face folder (config.json, sharded safetensors, "
                        "tokenizer files) and a depthfuse .h5 store, bit-exactly. Every rank reads and writes only "
                        "its pipeline stage's tensors. An existing output is refused unless --overwrite is given; then an "
                        ".h5 is replaced whole and a folder's model files are replaced while its other files stay. "
                        "The output may never be, contain or lie inside the input.", spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    const char *bad = NULL;
    if (!from_hf == !from_h5) bad = "give exactly one of --from-hf DIR and --from-h5 FILE.h5";
    else if (from_hf && (!to || to_hf || !h5_is_store(to))) bad = "--from-hf DIR goes with --to FILE.h5";
    else if (from_h5 && (!to_hf || to || !h5_is_store(from_h5))) bad = "--from-h5 FILE.h5 goes with --to-hf DIR";
    if (bad) {
        df_fail("depthfuse convert: %s", bad);
        return 1;
    }
    uint64_t shard_bytes = 0;
    if (parse_byte_size(max_shard, &shard_bytes) < 0) return 1;
    double t0 = df_now();
    const char *src = from_hf ? from_hf : from_h5;
    OutputPlan plan = {.overwrite = overwrite};
    output_add_model_input(&plan, src);
    output_set_model(&plan, from_hf ? to : to_hf);
    Topology t;
    Model m;
    if (output_check(&plan) < 0 || setup_model(&t, &m, src, P) < 0) {
        output_plan_free(&plan);
        return 1;
    }
    setup_print_layout(&t, &m);
    rc = output_write_model(&m, &t, &plan, shard_bytes);
    if (rc == 0) df_print0("wrote %s (%.1f s)\n", plan.model, df_now() - t0);
    output_plan_free(&plan);
    model_free(&m);
    topology_free(&t);
    return rc != 0;
}
