/* depthfuse report RUN.json [RUN.json ...] --out FILE.html: the run report of runs already done
 * (compress --json documents; the removal baselines' too, to compare against), one HTML page with
 * the runs side by side, and their comparison table on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "depthfuse/args.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/log.h"
#include "depthfuse/output.h"
#include "depthfuse/run_report.h"
#include "depthfuse/topology.h"

/* rank 0: check, load, render, write */
static int make_report(const StrList *files, const char *out) {
    OutputPlan plan = {0};
    for (int i = 0; i < files->n; i++) output_add_input(&plan, files->items[i]);
    output_add_report(&plan, out);
    int rc = output_check_local(&plan);
    output_plan_free(&plan);
    DF_TRY(rc);
    cJSON **runs = df_calloc((size_t)files->n, sizeof(cJSON *));
    for (int i = 0; i < files->n && rc == 0; i++) rc = run_report_load(files->items[i], &runs[i]);
    if (rc == 0) {
        run_report_table(stdout, (const cJSON *const *)runs, files->n);
        if (out) {
            char *html = run_report_html((const cJSON *const *)runs, (const char *const *)files->items, files->n);
            rc = df_write_file(out, html, strlen(html));
            if (rc == 0) printf("wrote %s\n", out);
            free(html);
        }
    }
    for (int i = 0; i < files->n; i++) cJSON_Delete(runs[i]);
    free(runs);
    return rc;
}

int cmd_report(int argc, char **argv) {
    const char *out = NULL;
    StrList files = {0};
    const ArgSpec spec[] = {
        {"--out", ARG_STR, &out, "FILE.html", "the page (replaced if it exists); without it only the table is printed", 0},
        {0}};
    int rc = args_parse("report", "The run report of runs already done: one self-contained HTML page (inline CSS and "
                        "SVG, nothing fetched) with the runs side by side (the model before and after, a strip of its "
                        "blocks, perplexity and task accuracy against the dense model and the removal baselines mi, bi "
                        "and sleb, the methods' curves, time and layout per phase, the command and versions), and "
                        "the comparison table on stdout. Give `compress --json` (or `prune --json`) reports; "
                        "docs/report.md.", spec, argc, argv, &files, "RUN.json [RUN.json ...]");
    if (rc == 0 && files.n == 0) rc = df_fail("depthfuse report: give one or more RUN.json (compress --json reports)");
    if (rc == 0) rc = df_agree(MPI_COMM_WORLD, df_rank() == 0 ? make_report(&files, out) : 0);
    strlist_free(&files);
    return rc < 0;
}
