/* The planner: depthfuse plan JOB.json, and --dry-run on compress, prune, importance and eval. From
 * the command's parsed options, the model's config.json and its safetensors headers (no weights):
 * the layout, the memory per rank, the bytes moved per micro-batch, the FLOPs and a time estimate
 * (docs/distributed.md). */
#ifndef DEPTHFUSE_CLI_PLAN_H
#define DEPTHFUSE_CLI_PLAN_H
#include "depthfuse/args.h"

#define DF_DRY_RUN_HELP                                                                                         \
    "  --dry-run                  print the plan and exit, reading no weights (compress, prune, importance,\n"   \
    "                             eval; with --ranks N, --gflops G, --mem-per-rank SIZE: depthfuse plan --help)\n"

/* the planner's own options (--ranks --gflops --mem-per-rank): one table, for plan and --dry-run */
const ArgSpec *plan_arg_specs(void);
/* the plan of cmd with its parsed option table; 0 when it fits, -1 + message when not */
int plan_dry_run(const char *cmd, const ArgSpec *spec);
int cmd_plan(int argc, char **argv);

#endif
