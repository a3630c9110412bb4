/* depthfuse prune: `compress --method mi|bi|sleb` under its earlier name, with the same flags (scripts
 * use it). */
#include "commands.h"
#include "compress.h"

int cmd_prune(int argc, char **argv) { return compress_removal(argc, argv, "prune"); }
