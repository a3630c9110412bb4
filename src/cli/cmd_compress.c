/* depthfuse compress --method M: one command, one report, for every compression method. Each method
 * has its own entry point and option table (src/cli/compress_*.c); compress.h is what they share. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "compress.h"
#include "depthfuse/error.h"
#include "depthfuse/log.h"

static int removal(int argc, char **argv) { return compress_removal(argc, argv, "compress"); }
static int gptailor(int argc, char **argv) { return compress_gptailor(argc, argv, "compress"); }

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} METHODS[] = {
    {"mi", removal, "remove blocks greedily by FuseGPT's Macro Influence (as prune does)"},
    {"bi", removal, "remove the blocks of lowest Block Influence at once (ShortGPT)"},
    {"sleb", removal, "remove blocks greedily by calibration perplexity (SLEB)"},
    {"fusegpt", compress_fusegpt, "fuse the blocks of lowest Macro Influence into their neighbours, fine-tune, fold (FuseGPT)"},
    {"flattengpt", compress_flattengpt, "flatten similar adjacent blocks into one and prune back to width (FlattenGPT)"},
    {"gptailor", gptailor, "search over removing layers and taking/merging layers of finetunes (GPTailor)"},
};
static const int NMETHODS = (int)(sizeof METHODS / sizeof METHODS[0]);

const char *compress_method(int i, const char **summary, int *is_removal) {
    if (i < 0 || i >= NMETHODS) return NULL;
    if (summary) *summary = METHODS[i].summary;
    if (is_removal) *is_removal = METHODS[i].run == removal;
    return METHODS[i].name;
}

static void usage(void) {
    df_print0("usage: depthfuse compress --method M [options]   (depthfuse compress --method M --help)\n\n"
              "Make a model shallower and write it (HF folder or .h5) with a JSON report.\n\nmethods:\n");
    for (int i = 0; i < NMETHODS; i++) df_print0("  %-12s %s\n", METHODS[i].name, METHODS[i].summary);
}

/* --method M or --method=M; NULL when absent */
static const char *method_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--method")) return i + 1 < argc ? argv[i + 1] : NULL;
        if (!strncmp(argv[i], "--method=", 9)) return argv[i] + 9;
    }
    return NULL;
}

int cmd_compress(int argc, char **argv) {
    const char *m = method_arg(argc, argv);
    if (!m) {
        usage();
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 0;
        df_fail("depthfuse compress: --method is required (see the list above)");
        return 1;
    }
    for (int i = 0; i < NMETHODS; i++)
        if (!strcmp(m, METHODS[i].name)) return METHODS[i].run(argc, argv);
    df_fail("depthfuse compress: unknown method '%s' (depthfuse compress --help lists them)", m);
    return 1;
}
