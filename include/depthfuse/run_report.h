/* The run report (docs/report.md): one self-contained HTML page (inline CSS and SVG, nothing
 * fetched) for one or several `compress --json` documents side by side, and their comparison table
 * on the terminal. It reads only the shared keys of docs/compress.md (method, command, versions,
 * model, out, blocks and parameters before and after, removed, block_map, layout, phases, seconds,
 * charts, eval) and the removal methods' importance table, so every method appears with no code of
 * its own here. Runs of mi, bi and sleb are the removal baselines the others are compared with. */
#ifndef DEPTHFUSE_RUN_REPORT_H
#define DEPTHFUSE_RUN_REPORT_H
#include <cjson/cJSON.h>
#include <stdio.h>

/* every key the page reads has the type docs/compress.md gives it; -1 + "FILE: KEY ..." */
int run_report_check(const cJSON *run, const char *file);
/* read and check a report file */
int run_report_load(const char *path, cJSON **run);
/* the page of n runs (names[i]: where run i came from, shown in its provenance); a new string */
char *run_report_html(const cJSON *const *runs, const char *const *names, int n);
/* the comparison table, one row per run after the dense model's (Markdown that lines up) */
void run_report_table(FILE *f, const cJSON *const *runs, int n);

/* --- the page's parts (src/report) -------------------------------------------------------------- */
/* text (or an attribute's value) with & < > " ' escaped */
void html_text(FILE *f, const char *s);
/* a short label of run i among the n (its method, and its output's name when methods repeat) */
void run_label(char *buf, size_t size, const cJSON *const *runs, int n, int i);
int run_is_baseline(const cJSON *run);

typedef struct {
    const char *name;
    const cJSON *x, *y; /* arrays of numbers (null: no value) of equal length */
} ChartSeries;
/* an SVG line chart, width x height pixels, x and y scales from the data */
void svg_line_chart(FILE *f, const char *title, const char *x_label, const char *y_label, const ChartSeries *s,
                    int n_series, int width, int height);
/* an SVG bar chart of groups (one per label) of n_bars bars each; v[g * n_bars + b], NAN: none */
void svg_bar_chart(FILE *f, const char *y_label, const char *const *groups, int n_groups, const char *const *bars,
                   int n_bars, const double *v, int width, int height);
/* the colour of series or bar i */
const char *chart_colour(int i);

#endif
