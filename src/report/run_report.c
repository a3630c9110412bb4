/* Reading run reports: the checks, the runs' labels and the comparison table (run_report.h). */
#include "depthfuse/run_report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"
#include "report_internal.h"

void html_text(FILE *f, const char *s) {
    for (; s && *s; s++) switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
}

/* --- checks ------------------------------------------------------------------------------------- */

static int is_int(const cJSON *it, double lo, double hi) {
    return cJSON_IsNumber(it) && floor(it->valuedouble) == it->valuedouble && it->valuedouble >= lo &&
           it->valuedouble <= hi;
}

/* every member of an object (or item of an array) passes is(); NULL keys pass */
static int all_numbers(const cJSON *o, int allow_null) {
    for (const cJSON *it = o ? o->child : NULL; it; it = it->next)
        if (!cJSON_IsNumber(it) && !(allow_null && cJSON_IsNull(it))) return 0;
    return 1;
}

static int all_strings(const cJSON *o) {
    for (const cJSON *it = o ? o->child : NULL; it; it = it->next)
        if (!cJSON_IsString(it)) return 0;
    return 1;
}

#define BAD(key, what) df_fail("%s: \"%s\" must be %s", file, key, what)

/* one of eval's {dense, compressed}, as `depthfuse eval --json` writes it */
static int check_eval_one(const cJSON *e, const char *key, const char *file) {
    if (!e) return 0;
    if (!cJSON_IsObject(e)) return BAD(key, "an object as `depthfuse eval --json` writes it");
    const cJSON *ppl = cJSON_GetObjectItem(e, "perplexity"), *tasks = cJSON_GetObjectItem(e, "tasks");
    if (ppl && !(cJSON_IsObject(ppl) && all_numbers(ppl, 1))) return BAD("perplexity", "an object of numbers");
    if (tasks && !cJSON_IsObject(tasks)) return BAD("tasks", "an object of task results");
    for (const cJSON *t = tasks ? tasks->child : NULL; t; t = t->next) {
        if (!cJSON_IsObject(t)) return df_fail("%s: eval task \"%s\" must be an object", file, t->string);
        for (const cJSON *m = t->child; m; m = m->next)
            if (!cJSON_IsNumber(m) && !cJSON_IsNull(m) && !cJSON_IsString(m) && !cJSON_IsObject(m))
                return df_fail("%s: eval task \"%s\": \"%s\" must be a number", file, t->string, m->string);
    }
    const char *nums[] = {"seq_len", "blocks", "seconds"};
    for (int i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetObjectItem(e, nums[i]);
        if (n && !cJSON_IsNumber(n)) return BAD(nums[i], "a number");
    }
    return 0;
}

static int check_series(const cJSON *s, const char *file) {
    const cJSON *name = cJSON_GetObjectItem(s, "name"), *x = cJSON_GetObjectItem(s, "x"), *y = cJSON_GetObjectItem(s, "y");
    if (!cJSON_IsObject(s) || !cJSON_IsString(name) || !cJSON_IsArray(x) || !cJSON_IsArray(y) || !all_numbers(x, 0) ||
        !all_numbers(y, 1))
        return BAD("charts", "an array of {title, series: [{name, x: [numbers], y: [numbers]}]}");
    if (cJSON_GetArraySize(x) != cJSON_GetArraySize(y))
        return df_fail("%s: chart series \"%s\" has %d x and %d y values", file, name->valuestring,
                       cJSON_GetArraySize(x), cJSON_GetArraySize(y));
    return 0;
}

static int check_charts(const cJSON *charts, const char *file) {
    if (!charts) return 0;
    if (!cJSON_IsArray(charts)) return BAD("charts", "an array");
    for (const cJSON *c = charts->child; c; c = c->next) {
        const cJSON *series = cJSON_GetObjectItem(c, "series");
        if (!cJSON_IsObject(c) || !cJSON_IsString(cJSON_GetObjectItem(c, "title")) || !cJSON_IsArray(series))
            return BAD("charts", "an array of {title, x_label, y_label, series}");
        const char *labels[] = {"x_label", "y_label"};
        for (int i = 0; i < 2; i++) {
            const cJSON *l = cJSON_GetObjectItem(c, labels[i]);
            if (l && !cJSON_IsString(l)) return BAD(labels[i], "a string");
        }
        for (const cJSON *s = series->child; s; s = s->next) DF_TRY(check_series(s, file));
    }
    return 0;
}

static int check_blocks(const cJSON *run, double L, const char *file) {
    const cJSON *removed = cJSON_GetObjectItem(run, "removed"), *map = cJSON_GetObjectItem(run, "block_map");
    if (removed && !cJSON_IsArray(removed)) return BAD("removed", "an array of block indices");
    for (const cJSON *it = removed ? removed->child : NULL; it; it = it->next)
        if (!is_int(it, 0, L - 1)) return df_fail("%s: \"removed\" holds %g, not a block of the %g", file, it->valuedouble, L);
    if (map && !cJSON_IsArray(map)) return BAD("block_map", "an array of {block, fate}");
    for (const cJSON *it = map ? map->child : NULL; it; it = it->next) {
        const cJSON *b = cJSON_GetObjectItem(it, "block"), *fate = cJSON_GetObjectItem(it, "fate");
        if (!is_int(b, 0, L - 1) || !cJSON_IsString(fate))
            return df_fail("%s: \"block_map\" entries must be {block: 0..%g, fate: string}", file, L - 1);
    }
    const cJSON *first = cJSON_GetObjectItem(run, "first_step_scores");
    if (first && !(cJSON_IsArray(first) && all_numbers(first, 0) && cJSON_GetArraySize(first) == (int)L))
        return df_fail("%s: \"first_step_scores\" must be %g numbers, one per block", file, L);
    const cJSON *imp = cJSON_GetObjectItem(run, "blocks");
    if (imp && !cJSON_IsArray(imp)) return BAD("blocks", "an array of {block, score, rank}");
    for (const cJSON *it = imp ? imp->child : NULL; it; it = it->next)
        if (!is_int(cJSON_GetObjectItem(it, "block"), 0, L - 1) || !cJSON_IsNumber(cJSON_GetObjectItem(it, "score")))
            return BAD("blocks", "an array of {block, score, rank}");
    return 0;
}

int run_report_check(const cJSON *run, const char *file) {
    if (!cJSON_IsObject(run)) return df_fail("%s: not a JSON object (a `compress --json` report)", file);
    if (!cJSON_IsString(cJSON_GetObjectItem(run, "method")))
        return df_fail("%s: no \"method\": not a `depthfuse compress --json` report", file);
    const cJSON *bb = cJSON_GetObjectItem(run, "blocks_before"), *ba = cJSON_GetObjectItem(run, "blocks_after");
    if (!is_int(bb, 1, 1e6)) return BAD("blocks_before", "a positive integer");
    if (!is_int(ba, 0, 1e6)) return BAD("blocks_after", "an integer");
    const char *strs[] = {"command", "model", "out", "metric"};
    for (int i = 0; i < 4; i++) {
        const cJSON *s = cJSON_GetObjectItem(run, strs[i]);
        if (s && !cJSON_IsString(s)) return BAD(strs[i], "a string");
    }
    const char *nums[] = {"params_before", "params_after", "seconds"};
    for (int i = 0; i < 3; i++) {
        const cJSON *s = cJSON_GetObjectItem(run, nums[i]);
        if (s && !cJSON_IsNumber(s)) return BAD(nums[i], "a number");
    }
    const cJSON *v = cJSON_GetObjectItem(run, "versions"), *lay = cJSON_GetObjectItem(run, "layout");
    if (v && !(cJSON_IsObject(v) && all_strings(v))) return BAD("versions", "an object of strings");
    if (lay && !(cJSON_IsObject(lay) && all_numbers(lay, 0))) return BAD("layout", "an object of numbers");
    const cJSON *ph = cJSON_GetObjectItem(run, "phases");
    if (ph && !cJSON_IsArray(ph)) return BAD("phases", "an array of {name, seconds}");
    for (const cJSON *p = ph ? ph->child : NULL; p; p = p->next)
        if (!cJSON_IsString(cJSON_GetObjectItem(p, "name")) || !cJSON_IsNumber(cJSON_GetObjectItem(p, "seconds")))
            return BAD("phases", "an array of {name, seconds}");
    DF_TRY(check_blocks(run, bb->valuedouble, file));
    DF_TRY(check_charts(cJSON_GetObjectItem(run, "charts"), file));
    const cJSON *ev = cJSON_GetObjectItem(run, "eval");
    if (ev && !cJSON_IsObject(ev)) return BAD("eval", "an object {dense, compressed}");
    DF_TRY(check_eval_one(cJSON_GetObjectItem(ev, "dense"), "eval.dense", file));
    return check_eval_one(cJSON_GetObjectItem(ev, "compressed"), "eval.compressed", file);
}

int run_report_load(const char *path, cJSON **run) {
    DF_TRY(df_json_load(path, run));
    if (run_report_check(*run, path) == 0) return 0;
    cJSON_Delete(*run);
    *run = NULL;
    return -1;
}

/* --- what the page and the table share ---------------------------------------------------------- */

int run_is_baseline(const cJSON *run) {
    const char *m = cJSON_GetObjectItem(run, "method")->valuestring;
    return !strcmp(m, "mi") || !strcmp(m, "bi") || !strcmp(m, "sleb");
}

static const char *run_out_name(const cJSON *run) {
    const cJSON *o = cJSON_GetObjectItem(run, "out");
    return cJSON_IsString(o) ? df_basename(o->valuestring) : NULL;
}

void run_label(char *buf, size_t size, const cJSON *const *runs, int n, int i) {
    const char *m = cJSON_GetObjectItem(runs[i], "method")->valuestring;
    int same = 0;
    for (int j = 0; j < n; j++) same += !strcmp(m, cJSON_GetObjectItem(runs[j], "method")->valuestring);
    if (same > 1 && run_out_name(runs[i])) snprintf(buf, size, "%s (%s)", m, run_out_name(runs[i]));
    else if (same > 1) snprintf(buf, size, "%s #%d", m, i + 1);
    else snprintf(buf, size, "%s", m);
}

const cJSON *run_eval(const cJSON *run, const char *which) {
    const cJSON *e = cJSON_GetObjectItem(cJSON_GetObjectItem(run, "eval"), which);
    return cJSON_IsObject(e) ? e : NULL;
}

const cJSON *dense_eval(const cJSON *const *runs, int n, int *from) {
    for (int i = 0; i < n; i++)
        if (run_eval(runs[i], "dense")) {
            if (from) *from = i;
            return run_eval(runs[i], "dense");
        }
    return NULL;
}

double eval_number(const cJSON *e, const char *group, const char *name, const char *metric) {
    const cJSON *it = cJSON_GetObjectItem(cJSON_GetObjectItem(e, group), name);
    if (metric) it = cJSON_GetObjectItem(it, metric);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

void names_union(Names *u, const cJSON *const *runs, int n, const char *group) {
    u->n = 0;
    u->name = NULL;
    for (int i = 0; i < n; i++)
        for (int w = 0; w < 2; w++) {
            const cJSON *g = cJSON_GetObjectItem(run_eval(runs[i], w ? "compressed" : "dense"), group);
            for (const cJSON *it = g ? g->child : NULL; it; it = it->next) {
                int seen = 0;
                for (int k = 0; k < u->n && !seen; k++) seen = !strcmp(u->name[k], it->string);
                if (seen) continue;
                u->name = df_realloc(u->name, sizeof(char *) * (size_t)(u->n + 1));
                u->name[u->n++] = it->string;
            }
        }
}

double run_number(const cJSON *run, const char *key) {
    const cJSON *it = cJSON_GetObjectItem(run, key);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

/* --- the terminal's table ----------------------------------------------------------------------- */

static void cell(FILE *f, double v, const char *fmt, int width) {
    if (isnan(v)) fprintf(f, " %*s |", width, "-");
    else {
        char b[64];
        snprintf(b, sizeof b, fmt, v);
        fprintf(f, " %*s |", width, b);
    }
}

static void table_row(FILE *f, const char *label, double blocks, double params, const cJSON *e, const Names *ppl,
                      const Names *tasks, double secs) {
    fprintf(f, "| %-24s |", label);
    cell(f, blocks, "%.0f", 6);
    cell(f, params / 1e6, "%.2fM", 8);
    for (int k = 0; k < ppl->n; k++) cell(f, eval_number(e, "perplexity", ppl->name[k], NULL), "%.3f", 14);
    for (int k = 0; k < tasks->n; k++) cell(f, eval_number(e, "tasks", tasks->name[k], "acc"), "%.4f", 14);
    cell(f, secs, "%.1f", 8);
    fputc('\n', f);
}

void run_report_table(FILE *f, const cJSON *const *runs, int n) {
    Names ppl, tasks;
    names_union(&ppl, runs, n, "perplexity");
    names_union(&tasks, runs, n, "tasks");
    fprintf(f, "\n| %-24s | %6s | %8s |", "run", "blocks", "params");
    for (int k = 0; k < ppl.n; k++) fprintf(f, " %14.14s |", ppl.name[k]);
    for (int k = 0; k < tasks.n; k++) fprintf(f, " %14.14s |", tasks.name[k]);
    fprintf(f, " %8s |\n|--------------------------|-------:|---------:|", "seconds");
    for (int k = 0; k < ppl.n + tasks.n; k++) fprintf(f, "---------------:|");
    fprintf(f, "---------:|\n");
    int from = 0;
    const cJSON *dense = dense_eval(runs, n, &from);
    if (n > 0)
        table_row(f, "dense", run_number(runs[from], "blocks_before"), run_number(runs[from], "params_before"), dense,
                  &ppl, &tasks, NAN);
    for (int i = 0; i < n; i++) {
        char label[128];
        run_label(label, sizeof label, runs, n, i);
        table_row(f, label, run_number(runs[i], "blocks_after"), run_number(runs[i], "params_after"),
                  run_eval(runs[i], "compressed"), &ppl, &tasks, run_number(runs[i], "seconds"));
    }
    if (ppl.n) fprintf(f, "\nperplexity per split (lower is better)");
    if (tasks.n) fprintf(f, "%sacc per task (higher is better)", ppl.n ? "; " : "\n");
    if (ppl.n + tasks.n) fputc('\n', f);
    free(ppl.name);
    free(tasks.name);
}
