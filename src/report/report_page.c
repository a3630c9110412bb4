/* The run report's HTML page: inline CSS and SVG, nothing fetched, every string from the JSON
 * escaped. Runs stand side by side in columns; each number shown carries its exact value in
 * data-value (and what it is in data-field, whose run in data-run) so a reader can check the page
 * against the JSON it was made from. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/run_report.h"
#include "report_internal.h"

static const char *CSS =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;color:#1d232a;"
    "background:#f6f7f9;margin:0}main{max-width:1240px;margin:0 auto;padding:20px 28px 40px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d8dde3;"
    "padding-bottom:4px}p.lead{color:#56606b;margin:0 0 8px}"
    "table{border-collapse:collapse;background:#fff;margin:6px 0 10px;box-shadow:0 1px 2px rgba(0,0,0,.06)}"
    "th,td{border:1px solid #dfe3e8;padding:5px 9px;vertical-align:top}th{background:#eef1f4;text-align:left;"
    "font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "td.na{color:#9aa3ad;text-align:center}.sub{display:block;font-size:11.5px;color:#6b7580}"
    ".better{color:#1e7d32}.worse{color:#b3261e}.chip{display:inline-block;width:10px;height:10px;"
    "border-radius:2px;margin-right:5px;vertical-align:baseline}"
    ".grid{display:flex;flex-wrap:wrap;gap:14px}.card{background:#fff;border:1px solid #dfe3e8;border-radius:6px;"
    "padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}.card h3{font-size:14px;margin:0 0 6px}"
    "pre{white-space:pre-wrap;word-break:break-all;background:#f0f2f5;padding:8px;border-radius:4px;"
    "font:12px/1.4 ui-monospace,'DejaVu Sans Mono',monospace;margin:4px 0}"
    ".legend span{margin-right:14px;white-space:nowrap}.note{color:#8a5a00;font-size:13px}"
    "svg{display:block;max-width:100%;height:auto}svg text{font-family:inherit}"
    "svg .title{font-size:13px;font-weight:600;fill:#1d232a}svg .tick{font-size:10.5px;fill:#56606b}"
    "svg .label{font-size:11px;fill:#3b444d}svg .legend{font-size:11px;fill:#3b444d}"
    "svg .grid{stroke:#e6e9ed;stroke-width:1}svg .tickmark{stroke:#9aa3ad}svg .frame{fill:none;stroke:#b9c0c8}"
    "svg .series polyline{fill:none;stroke-width:1.8}svg .blk{stroke:#fff;stroke-width:1}"
    "svg .bi{font-size:10px;fill:#1d232a}svg .ord{font-size:9.5px;fill:#b3261e}svg .rl{font-size:12px;fill:#1d232a}"
    "footer{color:#7a838d;font-size:12px;margin-top:30px}";

typedef struct {
    const cJSON *const *runs;
    const char *const *names;
    int n;
    char (*label)[128];
} Page;

/* a number in a cell or span: the shown text, the exact value and what it is */
static void num(FILE *f, const char *tag, const char *field, const char *name, int run, double v, const char *fmt,
                double scale) {
    if (isnan(v)) {
        fprintf(f, "<%s class=\"na\">–</%s>", tag, tag);
        return;
    }
    fprintf(f, "<%s class=\"num\" data-field=\"", tag);
    html_text(f, field);
    if (name) fputc(':', f), html_text(f, name);
    fprintf(f, "\" data-run=\"%d\" data-value=\"%.17g\">", run, v);
    fprintf(f, fmt, v * scale);
    fprintf(f, "</%s>", tag);
}

static void th_runs(FILE *f, const Page *p, const char *first, int with_dense) {
    fprintf(f, "<tr><th>%s</th>", first);
    if (with_dense) fprintf(f, "<th>dense</th>");
    for (int i = 0; i < p->n; i++) {
        fprintf(f, "<th><span class=\"chip\" style=\"background:%s\"></span>", chart_colour(i + 1));
        html_text(f, p->label[i]);
        fprintf(f, "%s</th>", run_is_baseline(p->runs[i]) ? " <span class=\"sub\">removal baseline</span>" : "");
    }
    fprintf(f, "</tr>\n");
}

static const char *str_of(const cJSON *run, const char *key) {
    const cJSON *s = cJSON_GetObjectItem(run, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* --- the runs ----------------------------------------------------------------------------------- */

static void summary(FILE *f, const Page *p) {
    fprintf(f, "<h2 id=\"runs\">Runs</h2>\n<table class=\"runs\">\n");
    th_runs(f, p, "", 0);
    fprintf(f, "<tr><th>model → output</th>");
    for (int i = 0; i < p->n; i++) {
        fprintf(f, "<td>");
        html_text(f, str_of(p->runs[i], "model") ? df_basename(str_of(p->runs[i], "model")) : "?");
        fprintf(f, " → ");
        html_text(f, str_of(p->runs[i], "out") ? df_basename(str_of(p->runs[i], "out")) : "?");
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n<tr><th>blocks</th>");
    for (int i = 0; i < p->n; i++) {
        fprintf(f, "<td class=\"num\">");
        num(f, "span", "blocks_before", NULL, i, run_number(p->runs[i], "blocks_before"), "%.0f", 1);
        fprintf(f, " → ");
        num(f, "span", "blocks_after", NULL, i, run_number(p->runs[i], "blocks_after"), "%.0f", 1);
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n<tr><th>parameters</th>");
    for (int i = 0; i < p->n; i++) {
        const double a = run_number(p->runs[i], "params_before"), b = run_number(p->runs[i], "params_after");
        fprintf(f, "<td class=\"num\">");
        num(f, "span", "params_before", NULL, i, a, "%.2fM", 1e-6);
        fprintf(f, " → ");
        num(f, "span", "params_after", NULL, i, b, "%.2fM", 1e-6);
        if (a > 0 && !isnan(b)) fprintf(f, "<span class=\"sub\">%.1f%% kept</span>", 100 * b / a);
        fprintf(f, "</td>");
    }
    fprintf(f, "</tr>\n<tr><th>removed, in order</th>");
    for (int i = 0; i < p->n; i++) {
        const cJSON *rm = cJSON_GetObjectItem(p->runs[i], "removed");
        fprintf(f, "<td data-field=\"removed\" data-run=\"%d\">", i);
        for (const cJSON *it = rm ? rm->child : NULL; it; it = it->next)
            fprintf(f, "%s%.0f", it == rm->child ? "" : ", ", it->valuedouble);
        fprintf(f, "%s</td>", rm && rm->child ? "" : "–");
    }
    fprintf(f, "</tr>\n<tr><th>run time</th>");
    for (int i = 0; i < p->n; i++) num(f, "td", "seconds", NULL, i, run_number(p->runs[i], "seconds"), "%.1f s", 1);
    fprintf(f, "</tr>\n</table>\n");
}

/* --- the block strips --------------------------------------------------------------------------- */

typedef enum { F_KEPT, F_REMOVED, F_FUSED, F_FLATTENED, F_MERGED, F_FROM, F_OTHER, F_CLASSES } FateClass;
static const char *const FATE_NAME[] = {"kept", "removed", "fused", "flattened", "merged", "from a candidate", "other"};
static const char *const FATE_COLOUR[] = {"#cfd8e3", "#e15759", "#f28e2b", "#b07aa1", "#59a14f", "#4e79a7", "#edc948"};
static const char *const FROM_COLOUR[] = {"#4e79a7", "#76b7b2", "#2e5a87", "#9ecae9", "#1f8f9a", "#6a8fc7"};

static FateClass fate_class(const char *fate) {
    static const char *const prefix[] = {"kept", "removed", "fused", "flattened", "merged", "from"};
    for (int i = 0; i < 6; i++)
        if (!strncmp(fate, prefix[i], strlen(prefix[i]))) return (FateClass)i;
    if (strstr(fate, " from ")) return F_FROM;
    return F_OTHER;
}

static const char *fate_colour(const char *fate) {
    FateClass c = fate_class(fate);
    if (c != F_FROM) return FATE_COLOUR[c];
    unsigned h = 5381; /* each candidate its own shade */
    for (const char *s = fate; *s; s++) h = h * 33 + (unsigned char)*s;
    return FROM_COLOUR[h % 6];
}

/* a legend entry per fate class, and per candidate for blocks taken from one */
static void fate_legend(FILE *f, const Page *p) {
    const char **seen = NULL;
    int n_seen = 0;
    fprintf(f, "<p class=\"legend\">");
    for (int i = 0; i < p->n; i++) {
        const cJSON *map = cJSON_GetObjectItem(p->runs[i], "block_map");
        for (const cJSON *b = map ? map->child : NULL; b; b = b->next) {
            const char *fate = cJSON_GetObjectItem(b, "fate")->valuestring;
            const FateClass c = fate_class(fate);
            int dup = 0;
            for (int k = 0; k < n_seen && !dup; k++)
                dup = c == F_FROM ? !strcmp(seen[k], fate) : fate_class(seen[k]) == c;
            if (dup) continue;
            seen = df_realloc(seen, sizeof(char *) * (size_t)(n_seen + 1));
            seen[n_seen++] = fate;
            fprintf(f, "<span><span class=\"chip\" style=\"background:%s\"></span>", fate_colour(fate));
            html_text(f, c == F_FROM || c == F_OTHER ? fate : FATE_NAME[c]);
            fprintf(f, "</span>");
        }
    }
    fprintf(f, "</p>\n");
    free(seen);
}

static void block_strips(FILE *f, const Page *p) {
    int L = 1, any = 0;
    for (int i = 0; i < p->n; i++) {
        const double b = run_number(p->runs[i], "blocks_before");
        L = b > L ? (int)b : L;
        any |= cJSON_GetObjectItem(p->runs[i], "block_map") != NULL;
    }
    if (!any) return;
    fprintf(f, "<h2 id=\"blocks\">Blocks</h2>\n<p class=\"lead\">Every block of the input model, in order, and what "
               "the method did with it (hover a block for its fate; red numbers: the order of removal).</p>\n");
    fate_legend(f, p);
    const double label_w = 170, W = 1180, bw = fmin(40, (W - label_w) / L), row = 50;
    fprintf(f, "<svg class=\"strips\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\">"
               "<title>blocks before and after</title>\n", W, row * p->n + 4, W, row * p->n + 4);
    for (int i = 0; i < p->n; i++) {
        const double y = 4 + row * i;
        fprintf(f, "<text class=\"rl\" x=\"0\" y=\"%.1f\">", y + 19);
        html_text(f, p->label[i]);
        fprintf(f, "</text><text class=\"tick\" x=\"0\" y=\"%.1f\">%.0f → %.0f blocks</text>\n", y + 34,
                run_number(p->runs[i], "blocks_before"), run_number(p->runs[i], "blocks_after"));
        const cJSON *map = cJSON_GetObjectItem(p->runs[i], "block_map"), *rm = cJSON_GetObjectItem(p->runs[i], "removed");
        for (const cJSON *b = map ? map->child : NULL; b; b = b->next) {
            const int k = (int)cJSON_GetObjectItem(b, "block")->valuedouble;
            const char *fate = cJSON_GetObjectItem(b, "fate")->valuestring;
            const double x = label_w + bw * k;
            fprintf(f, "<rect class=\"blk\" data-run=\"%d\" data-block=\"%d\" data-fate=\"", i, k);
            html_text(f, fate);
            fprintf(f, "\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"26\" rx=\"3\" fill=\"%s\"><title>block %d: ", x,
                    y + 2, bw, fate_colour(fate), k);
            html_text(f, fate);
            fprintf(f, "</title></rect>");
            if (bw >= 16) fprintf(f, "<text class=\"bi\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>", x + bw / 2, y + 19, k);
            int order = 0, pos = 1;
            for (const cJSON *r = rm ? rm->child : NULL; r; r = r->next, pos++)
                if ((int)r->valuedouble == k) order = pos;
            if (order && bw >= 10)
                fprintf(f, "<text class=\"ord\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>", x + bw / 2, y + 41, order);
            fputc('\n', f);
        }
    }
    fprintf(f, "</svg>\n");
}

/* --- the evaluations ---------------------------------------------------------------------------- */

/* each run's dense reference: its own, else the shared one */
static const cJSON *dense_of(const Page *p, int i) {
    const cJSON *own = run_eval(p->runs[i], "dense");
    return own ? own : dense_eval(p->runs, p->n, NULL);
}

/* the best value among the baselines (lowest perplexity, highest accuracy), NAN when none */
static double best_baseline(const Page *p, const char *group, const char *name, const char *metric, int lower) {
    double best = NAN;
    for (int i = 0; i < p->n; i++) {
        if (!run_is_baseline(p->runs[i])) continue;
        const double v = eval_number(run_eval(p->runs[i], "compressed"), group, name, metric);
        if (!isnan(v) && (isnan(best) || (lower ? v < best : v > best))) best = v;
    }
    return best;
}

static void ppl_table(FILE *f, const Page *p, const Names *splits) {
    const cJSON *dense = dense_eval(p->runs, p->n, NULL);
    const double T = run_number(dense ? dense : run_eval(p->runs[0], "compressed"), "seq_len");
    fprintf(f, "<h3>Perplexity</h3>\n<p class=\"lead\">Lower is better; by the WikiText-2 protocol (whole file, "
               "non-overlapping windows");
    if (!isnan(T)) fprintf(f, " of %.0f tokens", T);
    fprintf(f, "). Under each value: the ratio to the dense model and, for the methods, to the best removal "
               "baseline.</p>\n<table class=\"ppl\">\n");
    th_runs(f, p, "split", 1);
    for (int k = 0; k < splits->n; k++) {
        const char *s = splits->name[k];
        fprintf(f, "<tr><th>");
        html_text(f, s);
        fprintf(f, "</th>");
        int from = 0;
        dense_eval(p->runs, p->n, &from);
        num(f, "td", "ppl:dense", s, from, eval_number(dense, "perplexity", s, NULL), "%.4f", 1);
        const double best = best_baseline(p, "perplexity", s, NULL, 1);
        for (int i = 0; i < p->n; i++) {
            const double v = eval_number(run_eval(p->runs[i], "compressed"), "perplexity", s, NULL);
            const double d = eval_number(dense_of(p, i), "perplexity", s, NULL);
            if (isnan(v)) {
                num(f, "td", "", NULL, i, NAN, "", 1);
                continue;
            }
            fprintf(f, "<td class=\"num\"><span data-field=\"ppl:compressed:");
            html_text(f, s);
            fprintf(f, "\" data-run=\"%d\" data-value=\"%.17g\">%.4f</span>", i, v, v);
            if (!isnan(d)) fprintf(f, "<span class=\"sub\">×%.3f dense</span>", v / d);
            if (!run_is_baseline(p->runs[i]) && !isnan(best))
                fprintf(f, "<span class=\"sub %s\">×%.3f best baseline</span>", v <= best ? "better" : "worse", v / best);
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
    /* the same as bars: dense and each run, per split */
    const int nb = p->n + 1;
    double *v = df_malloc(sizeof(double) * (size_t)(splits->n * nb + 1));
    const char **bars = df_malloc(sizeof(char *) * (size_t)nb);
    bars[0] = "dense";
    for (int i = 0; i < p->n; i++) bars[i + 1] = p->label[i];
    for (int k = 0; k < splits->n; k++) {
        v[k * nb] = eval_number(dense, "perplexity", splits->name[k], NULL);
        for (int i = 0; i < p->n; i++)
            v[k * nb + i + 1] = eval_number(run_eval(p->runs[i], "compressed"), "perplexity", splits->name[k], NULL);
    }
    svg_bar_chart(f, "perplexity", splits->name, splits->n, bars, nb, v, 760, 300);
    free(v);
    free(bars);
}

static void acc_cell(FILE *f, const cJSON *e, const char *which, const char *task, int run, const cJSON *dense,
                     double best) {
    const double acc = eval_number(e, "tasks", task, "acc"), se = eval_number(e, "tasks", task, "acc_stderr");
    if (isnan(acc)) {
        num(f, "td", "", NULL, run, NAN, "", 1);
        return;
    }
    fprintf(f, "<td class=\"num\"><span data-field=\"acc:%s:", which);
    html_text(f, task);
    fprintf(f, "\" data-run=\"%d\" data-value=\"%.17g\">%.4f</span>", run, acc, acc);
    if (!isnan(se)) fprintf(f, " ± %.4f", se);
    const double norm = eval_number(e, "tasks", task, "acc_norm");
    if (!isnan(norm)) {
        fprintf(f, "<span class=\"sub\">norm <span data-field=\"acc_norm:%s:", which);
        html_text(f, task);
        fprintf(f, "\" data-run=\"%d\" data-value=\"%.17g\">%.4f</span></span>", run, norm, norm);
    }
    const double d = eval_number(dense, "tasks", task, "acc");
    if (dense && !isnan(d)) fprintf(f, "<span class=\"sub\">%+.1f pts vs dense</span>", 100 * (acc - d));
    if (!isnan(best))
        fprintf(f, "<span class=\"sub %s\">%+.1f pts vs best baseline</span>", acc >= best ? "better" : "worse",
                100 * (acc - best));
    fprintf(f, "</td>");
}

static void task_table(FILE *f, const Page *p, const Names *tasks) {
    fprintf(f, "<h3>Zero-shot accuracy</h3>\n<p class=\"lead\">acc ± one standard error (higher is better), scored as "
               "lm-evaluation-harness does; acc_norm below it where the task has one.</p>\n<table class=\"tasks\">\n");
    th_runs(f, p, "task", 1);
    int from = 0;
    const cJSON *dense = dense_eval(p->runs, p->n, &from);
    for (int k = 0; k < tasks->n; k++) {
        const char *t = tasks->name[k];
        fprintf(f, "<tr><th>");
        html_text(f, t);
        const double chance = eval_number(dense ? dense : run_eval(p->runs[0], "compressed"), "tasks", t, "chance");
        const double items = eval_number(dense ? dense : run_eval(p->runs[0], "compressed"), "tasks", t, "n");
        if (!isnan(items)) fprintf(f, "<span class=\"sub\">%.0f items", items);
        if (!isnan(chance)) fprintf(f, ", chance %.3f", chance);
        fprintf(f, "%s</th>", isnan(items) ? "" : "</span>");
        acc_cell(f, dense, "dense", t, from, NULL, NAN);
        const double best = best_baseline(p, "tasks", t, "acc", 0);
        for (int i = 0; i < p->n; i++)
            acc_cell(f, run_eval(p->runs[i], "compressed"), "compressed", t, i, dense_of(p, i),
                     run_is_baseline(p->runs[i]) ? NAN : best);
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

/* a run whose own dense evaluation differs from the one shown (another model, or --eval-seq-len) */
static int dense_differs(const Page *p, const Names *splits) {
    const cJSON *shown = dense_eval(p->runs, p->n, NULL);
    for (int i = 0; i < p->n; i++) {
        const cJSON *own = run_eval(p->runs[i], "dense");
        for (int k = 0; own && k < splits->n; k++) {
            const double a = eval_number(own, "perplexity", splits->name[k], NULL),
                         b = eval_number(shown, "perplexity", splits->name[k], NULL);
            if (!isnan(a) && !isnan(b) && fabs(a - b) > 1e-6 * fabs(b)) return 1;
        }
    }
    return 0;
}

static void evaluations(FILE *f, const Page *p) {
    Names splits, tasks;
    names_union(&splits, p->runs, p->n, "perplexity");
    names_union(&tasks, p->runs, p->n, "tasks");
    if (splits.n + tasks.n > 0) {
        fprintf(f, "<h2 id=\"eval\">Quality</h2>\n");
        if (dense_differs(p, &splits))
            fprintf(f, "<p class=\"note\">The runs evaluated different dense references (another model or sequence "
                       "length): the dense column is the first run's, each ratio is against the run's own.</p>\n");
        if (splits.n) ppl_table(f, p, &splits);
        if (tasks.n) task_table(f, p, &tasks);
    } else {
        fprintf(f, "<h2 id=\"eval\">Quality</h2>\n<p class=\"lead\">Not evaluated: run compress with --eval-ppl FILE "
                   "and/or --eval-tasks FILE to score the dense and the compressed model.</p>\n");
    }
    free(splits.name);
    free(tasks.name);
}

/* --- curves ------------------------------------------------------------------------------------- */

/* the removal methods' importance table as curves: the score of every block in the first sweep
 * (greedy runs), and each removed block's score when it was removed (one-shot runs: every block) */
static void importance_chart(FILE *f, const cJSON *run) {
    const cJSON *blocks = cJSON_GetObjectItem(run, "blocks"), *first = cJSON_GetObjectItem(run, "first_step_scores");
    cJSON *x[2] = {cJSON_CreateArray(), cJSON_CreateArray()}, *y[2] = {cJSON_CreateArray(), cJSON_CreateArray()};
    ChartSeries s[2];
    int n = 0, k = 0;
    if (first) {
        for (const cJSON *v = first->child; v; v = v->next, k++) {
            cJSON_AddItemToArray(x[n], cJSON_CreateNumber(k));
            cJSON_AddItemToArray(y[n], cJSON_CreateNumber(v->valuedouble));
        }
        s[n] = (ChartSeries){"first sweep", x[n], y[n]};
        n++;
    }
    for (const cJSON *b = blocks->child; b; b = b->next) {
        cJSON_AddItemToArray(x[n], cJSON_CreateNumber(cJSON_GetObjectItem(b, "block")->valuedouble));
        cJSON_AddItemToArray(y[n], cJSON_CreateNumber(cJSON_GetObjectItem(b, "score")->valuedouble));
    }
    const char *metric = str_of(run, "metric") ? str_of(run, "metric") : "score";
    s[n] = (ChartSeries){first ? "when removed" : metric, x[n], y[n]};
    n++;
    char title[96];
    snprintf(title, sizeof title, "block importance (%s)", metric);
    svg_line_chart(f, title, "block", metric, s, n, 460, 260);
    for (int i = 0; i < 2; i++) cJSON_Delete(x[i]), cJSON_Delete(y[i]);
}

static void curves(FILE *f, const Page *p) {
    int any = 0;
    for (int i = 0; i < p->n && !any; i++)
        any = cJSON_GetArraySize(cJSON_GetObjectItem(p->runs[i], "charts")) > 0 ||
              cJSON_GetObjectItem(p->runs[i], "blocks") != NULL;
    if (!any) return;
    fprintf(f, "<h2 id=\"charts\">Curves</h2>\n<p class=\"lead\">What each method recorded as it ran: fine-tuning "
               "losses, a search's objective and incumbent, the removal baselines' block importance.</p>\n"
               "<div class=\"grid\">\n");
    for (int i = 0; i < p->n; i++) {
        const cJSON *charts = cJSON_GetObjectItem(p->runs[i], "charts");
        for (const cJSON *c = charts ? charts->child : NULL; c; c = c->next) {
            const cJSON *series = cJSON_GetObjectItem(c, "series");
            const int ns = cJSON_GetArraySize(series);
            ChartSeries *s = df_calloc((size_t)ns + 1, sizeof *s);
            int k = 0;
            for (const cJSON *it = series->child; it; it = it->next, k++)
                s[k] = (ChartSeries){cJSON_GetObjectItem(it, "name")->valuestring, cJSON_GetObjectItem(it, "x"),
                                     cJSON_GetObjectItem(it, "y")};
            fprintf(f, "<div class=\"card\" data-chart-run=\"%d\"><h3>", i);
            html_text(f, p->label[i]);
            fprintf(f, "</h3>");
            svg_line_chart(f, str_of(c, "title"), str_of(c, "x_label"), str_of(c, "y_label"), s, ns, 460, 260);
            fprintf(f, "</div>\n");
            free(s);
        }
        if (!cJSON_GetObjectItem(p->runs[i], "blocks")) continue;
        fprintf(f, "<div class=\"card\"><h3>");
        html_text(f, p->label[i]);
        fprintf(f, "</h3>");
        importance_chart(f, p->runs[i]);
        fprintf(f, "</div>\n");
    }
    fprintf(f, "</div>\n");
}

/* --- time, layout, provenance ------------------------------------------------------------------- */

static void phases(FILE *f, const Page *p) {
    fprintf(f, "<h2 id=\"phases\">Time and layout</h2>\n<div class=\"grid\">\n");
    for (int i = 0; i < p->n; i++) {
        const cJSON *run = p->runs[i], *ph = cJSON_GetObjectItem(run, "phases"), *lay = cJSON_GetObjectItem(run, "layout");
        const double total = run_number(run, "seconds");
        fprintf(f, "<div class=\"card\"><h3>");
        html_text(f, p->label[i]);
        fprintf(f, "</h3>");
        if (lay) {
            const double v[4] = {run_number(lay, "ranks"), run_number(lay, "pipeline_stages"),
                                 run_number(lay, "data_parallel_groups"), run_number(lay, "threads_per_rank")};
            fprintf(f, "<p class=\"lead\">%.0f rank%s = %.0f pipeline stage%s × %.0f data-parallel group%s, %.0f "
                       "thread%s per rank</p>", v[0], v[0] == 1 ? "" : "s", v[1], v[1] == 1 ? "" : "s", v[2],
                    v[2] == 1 ? "" : "s", v[3], v[3] == 1 ? "" : "s");
        }
        double sum = 0, x = 0;
        for (const cJSON *q = ph ? ph->child : NULL; q; q = q->next) sum += run_number(q, "seconds");
        const double span = fmax(total > 0 ? total : 0, sum), W = 420;
        fprintf(f, "<svg viewBox=\"0 0 %.0f 22\" width=\"%.0f\" height=\"22\" role=\"img\"><title>time per phase</title>",
                W, W);
        int k = 0;
        for (const cJSON *q = ph ? ph->child : NULL; q && span > 0; q = q->next, k++) {
            const double w = W * run_number(q, "seconds") / span;
            fprintf(f, "<rect x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"18\" fill=\"%s\"><title>", x, w, chart_colour(k));
            html_text(f, str_of(q, "name"));
            fprintf(f, ": %.1f s</title></rect>", run_number(q, "seconds"));
            x += w;
        }
        fprintf(f, "<rect x=\"%.1f\" y=\"2\" width=\"%.1f\" height=\"18\" fill=\"#e6e9ed\"><title>loading and the rest"
                   "</title></rect></svg>\n<table><tr><th>phase</th><th>seconds</th><th>share</th></tr>",
                x, W - x > 0 ? W - x : 0);
        k = 0;
        for (const cJSON *q = ph ? ph->child : NULL; q; q = q->next, k++) {
            const double s = run_number(q, "seconds");
            fprintf(f, "<tr><td><span class=\"chip\" style=\"background:%s\"></span>", chart_colour(k));
            html_text(f, str_of(q, "name"));
            fprintf(f, "</td>");
            num(f, "td", "phase", str_of(q, "name"), i, s, "%.2f", 1);
            fprintf(f, "<td class=\"num\">%.1f%%</td></tr>", total > 0 ? 100 * s / total : 0);
        }
        if (total > sum)
            fprintf(f, "<tr><td><span class=\"chip\" style=\"background:#e6e9ed\"></span>loading and the rest</td>"
                       "<td class=\"num\">%.2f</td><td class=\"num\">%.1f%%</td></tr>", total - sum,
                    100 * (total - sum) / total);
        fprintf(f, "</table></div>\n");
    }
    fprintf(f, "</div>\n");
}

static void provenance(FILE *f, const Page *p) {
    fprintf(f, "<h2 id=\"provenance\">Commands and versions</h2>\n<div class=\"grid\">\n");
    for (int i = 0; i < p->n; i++) {
        const cJSON *run = p->runs[i], *v = cJSON_GetObjectItem(run, "versions");
        fprintf(f, "<div class=\"card\" style=\"flex:1 1 100%%\"><h3>");
        html_text(f, p->label[i]);
        fprintf(f, " <span class=\"sub\">");
        html_text(f, p->names[i]);
        fprintf(f, "</span></h3><pre data-field=\"command\" data-run=\"%d\">", i);
        html_text(f, str_of(run, "command") ? str_of(run, "command") : "(no command recorded)");
        fprintf(f, "</pre>");
        if (v) {
            fprintf(f, "<table>");
            for (const cJSON *it = v->child; it; it = it->next) {
                fprintf(f, "<tr><th>");
                html_text(f, it->string);
                fprintf(f, "</th><td>");
                html_text(f, it->valuestring);
                fprintf(f, "</td></tr>");
            }
            fprintf(f, "</table>");
        }
        fprintf(f, "</div>\n");
    }
    fprintf(f, "</div>\n");
}

char *run_report_html(const cJSON *const *runs, const char *const *names, int n) {
    Page p = {runs, names, n, df_calloc((size_t)n + 1, 128)};
    for (int i = 0; i < n; i++) run_label(p.label[i], 128, runs, n, i);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) DF_FATAL("cannot build the report in memory");
    const char *model = n ? str_of(runs[0], "model") : NULL;
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>depthfuse: ");
    html_text(f, model ? df_basename(model) : "runs");
    for (int i = 0; i < n; i++) fprintf(f, "%s", i ? ", " : " — "), html_text(f, p.label[i]);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body><main>\n<h1>depthfuse run report</h1>\n<p class=\"lead\">", CSS);
    html_text(f, model ? model : "");
    fprintf(f, n == 1 ? " — 1 run:" : " — %d runs side by side:", n);
    for (int i = 0; i < n; i++) fprintf(f, "%s", i ? ", " : " "), html_text(f, p.label[i]);
    fprintf(f, ".</p>\n");
    summary(f, &p);
    block_strips(f, &p);
    evaluations(f, &p);
    curves(f, &p);
    phases(f, &p);
    provenance(f, &p);
    fprintf(f, "<footer>Made by depthfuse %s from the runs' JSON reports (docs/report.md).</footer>\n</main></body></html>\n",
            DF_VERSION);
    fclose(f);
    free(p.label);
    return buf;
}
