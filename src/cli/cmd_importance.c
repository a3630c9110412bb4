/* depthfuse importance: score every block (mi, bi) or find a greedy removal order (sleb, mi
 * --iterative K) on calibration windows. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "calibration.h"
#include "run_args.h"
#include "commands.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/importance.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/setup.h"

int cmd_importance(int argc, char **argv) {
    const char *metric_s = "mi", *json = NULL;
    RunArgs ra = RUN_ARGS_DEFAULT;
    CalibArgs ca = CALIB_ARGS_DEFAULT;
    int iterative = 0, naive = 0;
    const ArgSpec spec[] = {
        RUN_ARG_SPECS(ra),
        {"--metric", ARG_STR, &metric_s, "mi|bi|sleb", "Macro Influence (default), Block Influence or SLEB", 0},
        CALIB_ARG_SPECS(ca),
        {"--iterative", ARG_INT, &iterative, "K", "greedy: remove K blocks, recomputing after each (mi; sleb's steps)", 0},
        {"--naive", ARG_FLAG, &naive, NULL, "mi/sleb: run every candidate from the embeddings (no cache; reference)", 0},
        {"--json", ARG_STR, &json, "OUT", "write the table as JSON (replaced if it exists)", 0},
        {0}};
    int rc = args_parse("importance", "Block importance on calibration windows: mi = 1 - mean cosine between the last "
                        "block's output with and without the block (FuseGPT), bi = 1 - mean cosine between a block's "
                        "input and output (ShortGPT), sleb = calibration perplexity without the block, removed "
                        "greedily (SLEB). Lower = less important. A --state file is continued, never truncated.", spec, argc, argv, NULL, NULL);
    if (rc != 0) return rc < 0;
    Metric metric;
    if (metric_parse(metric_s, &metric) < 0) return 1;
    const char *bad = iterative < 0 || ra.batch_tokens < 1 ? "--iterative and --batch-tokens must be positive"
                      : iterative && metric == METRIC_BI ? "--iterative applies to mi and sleb (bi is one-shot)"
                      : ra.state && metric != METRIC_SLEB && !iterative
                          ? "--state applies to greedy runs (sleb, mi --iterative K)"
                          : NULL;
    if (bad) {
        df_fail("depthfuse importance: %s", bad);
        return 1;
    }
    double t0 = df_now();
    OutputPlan plan = {0};
    output_add_model_input(&plan, ra.model);
    output_add_input(&plan, ra.tokenizer);
    output_add_input(&plan, ca.file);
    output_set_state(&plan, ra.state);
    output_add_report(&plan, json);
    rc = output_check(&plan);
    output_plan_free(&plan);
    Topology t;
    Model m;
    if (rc < 0 || setup_model(&t, &m, ra.model, ra.pipeline) < 0) return 1;
    Tokenizer *tok = NULL;
    CalibSet cal = {0};
    ImportanceResult r = {0};
    rc = setup_tokenizer(&tok, ra.tokenizer, ra.model);
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, calibration_load(&cal, tok, &ca));
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, config_check_seq_len(&m.cfg, cal.T));
    if (rc == 0) {
        setup_print_layout(&t, &m);
        int steps = metric == METRIC_SLEB ? (iterative ? iterative : (m.cfg.n_layers + 3) / 4) : iterative;
        ImportanceOpts o = {metric, steps, naive, ra.batch_tokens, ra.state};
        rc = importance_run(&r, &t, &m, &cal, &o);
    }
    if (rc == 0) {
        importance_print(&r, metric);
        double secs = df_now() - t0;
        df_print0("%.1f s\n", secs);
        /* a rerun of a completed greedy run (everything replayed from --state) rewrites nothing */
        const int replayed = ra.state && r.block_forwards == 0 && json && df_exists(json);
        if (replayed) df_print0("%s: every step is in %s; %s left as it is\n", ra.model, ra.state, json);
        if (json && !replayed && t.rank == 0) {
            cJSON *root = importance_json(ra.model, metric, &cal, &r, secs);
            rc = df_json_write(json, root);
            cJSON_Delete(root);
            if (rc == 0) df_event_output(json);
        }
        if (json) rc = df_agree(MPI_COMM_WORLD, rc);
    }
    importance_free(&r);
    calib_free(&cal);
    tokenizer_free(tok);
    model_free(&m);
    topology_free(&t);
    return rc != 0;
}
