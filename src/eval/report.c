#include "depthfuse/report.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/json.h"
#include "depthfuse/log.h"

static const char *task_name(const TaskRun *t) { return df_basename(t->task.path); }

/* "0.4125 ± 0.0246", or "-" when the task has no such metric, padded to 17 columns (printf pads
 * bytes, and ± is two) */
static const char *pm(char *buf, size_t n, double v, double se) {
    if (isnan(v)) snprintf(buf, n, "-");
    else if (isnan(se)) snprintf(buf, n, "%.4f", v);
    else snprintf(buf, n, "%.4f ± %.4f", v, se);
    size_t len = strlen(buf), cols = 0;
    for (size_t i = 0; i < len; i++) cols += ((unsigned char)buf[i] & 0xC0) != 0x80;
    for (; cols < 17 && len + 1 < n; cols++) buf[len++] = ' ';
    buf[len] = 0;
    return buf;
}

static const char *num(char *buf, size_t n, const char *fmt, double v) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, fmt, v);
    return buf;
}

/* both tables, in Markdown that also lines up on a terminal */
static void write_tables(FILE *f, const EvalReport *r) {
    char a[64], b[64], c[64];
    if (r->n_ppl) {
        fprintf(f, "\n| %-28s | %10s | %9s | %12s |\n|%s|%s|%s|%s|\n", "file", "perplexity", "windows", "tokens",
                "------------------------------", "------------", "-----------", "--------------");
        for (int i = 0; i < r->n_ppl; i++)
            fprintf(f, "| %-28s | %10.4f | %9d | %12lld |\n", df_basename(r->ppl[i].file), r->ppl[i].r.ppl,
                    r->ppl[i].r.windows, r->ppl[i].r.predicted);
        fprintf(f, "\nseq-len %d\n", r->seq_len);
    }
    if (!r->n_tasks) return;
    fprintf(f, "\n| %-28s | %-17s | %5s | %-17s | %-17s | %10s | %6s | %7s |\n", "task", "format", "n", "acc",
            "acc_norm", "perplexity", "chance", "seconds");
    fprintf(f, "|------------------------------|-------------------|------:|-------------------|-------------------|"
               "-----------:|-------:|--------:|\n");
    for (int i = 0; i < r->n_tasks; i++) {
        const TaskScores *s = &r->tasks[i].s;
        fprintf(f, "| %-28s | %-17s | %5d | %s | %s | %10s | %6.3f | %7.1f |\n", task_name(&r->tasks[i]),
                r->tasks[i].task.format, s->n, pm(a, sizeof a, s->acc, s->acc_stderr),
                pm(b, sizeof b, s->acc_norm, s->acc_norm_stderr), num(c, sizeof c, "%.3f", s->perplexity), s->chance,
                s->seconds);
    }
    for (int i = 0; i < r->n_tasks; i++)
        if (r->tasks[i].s.truncated)
            fprintf(f, "\n%s: %d requests cut from the left to the model's positions\n", task_name(&r->tasks[i]),
                    r->tasks[i].s.truncated);
}

void report_print(const EvalReport *r) {
    if (df_rank() != 0) return;
    write_tables(stdout, r);
    printf("%.1f s\n", r->seconds);
}

int report_markdown(const char *path, const EvalReport *r) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return df_fail("%s: cannot build the report in memory", path);
    fprintf(f, "# depthfuse eval: %s\n\n%d blocks; %.1f s.\n", r->model, r->blocks, r->seconds);
    if (r->n_tasks)
        fprintf(f, "\nacc: the choice with the highest log-likelihood is the gold one; acc_norm: the same with the "
                   "log-likelihood divided by the choice's length in characters; ± one standard error.\n");
    write_tables(f, r);
    fclose(f);
    int rc = df_write_file(path, buf, len);
    free(buf);
    return rc;
}

/* NAN (no such metric) is left out; a standard error of fewer than 2 items is null */
static void add_metric(cJSON *o, const char *key, double v, const char *se_key, double se) {
    if (isnan(v)) return;
    cJSON_AddNumberToObject(o, key, v);
    if (!se_key) return;
    if (isnan(se)) cJSON_AddNullToObject(o, se_key);
    else cJSON_AddNumberToObject(o, se_key, se);
}

static cJSON *task_json(const TaskRun *t) {
    const TaskScores *s = &t->s;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", t->task.format);
    cJSON_AddNumberToObject(o, "n", s->n);
    add_metric(o, "acc", s->acc, "acc_stderr", s->acc_stderr);
    add_metric(o, "acc_norm", s->acc_norm, "acc_norm_stderr", s->acc_norm_stderr);
    add_metric(o, "perplexity", s->perplexity, NULL, 0);
    cJSON_AddNumberToObject(o, "chance", s->chance);
    cJSON_AddNumberToObject(o, "truncated", s->truncated);
    cJSON *tok = cJSON_AddObjectToObject(o, "tokens");
    cJSON_AddNumberToObject(tok, "input", (double)s->tokens);
    cJSON_AddNumberToObject(tok, "padded", (double)s->padded);
    cJSON_AddNumberToObject(tok, "separate", (double)s->separate);
    cJSON_AddNumberToObject(tok, "prefix_shared", (double)s->prefix_shared);
    cJSON_AddNumberToObject(o, "shared_items", s->shared_items);
    cJSON_AddNumberToObject(o, "seconds", s->seconds);
    return o;
}

static double member(const cJSON *o, const char *group, const char *name, const char *metric) {
    const cJSON *it = cJSON_GetObjectItem(cJSON_GetObjectItem(o, group), name);
    if (metric) it = cJSON_GetObjectItem(it, metric);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

void report_print_compare(const cJSON *d, const cJSON *c) {
    char a[64], b[64];
    const cJSON *ppl = cJSON_GetObjectItem(c, "perplexity"), *tasks = cJSON_GetObjectItem(c, "tasks");
    if (ppl && ppl->child)
        printf("\n| %-28s | %12s | %12s | %8s |\n|------------------------------|-------------:|-------------:|---------:|\n",
               "perplexity", "dense", "compressed", "ratio");
    for (const cJSON *it = ppl ? ppl->child : NULL; it; it = it->next) {
        const double x = member(d, "perplexity", it->string, NULL);
        printf("| %-28s | %12.4f | %12.4f | %8.3f |\n", it->string, x, it->valuedouble, it->valuedouble / x);
    }
    if (tasks && tasks->child)
        printf("\n| %-28s | %-17s | %-17s | %8s |\n|------------------------------|-------------------|-------------------|---------:|\n",
               "task (acc)", "dense", "compressed", "chance");
    for (const cJSON *it = tasks ? tasks->child : NULL; it; it = it->next)
        printf("| %-28s | %s | %s | %8.3f |\n", it->string,
               pm(a, sizeof a, member(d, "tasks", it->string, "acc"), member(d, "tasks", it->string, "acc_stderr")),
               pm(b, sizeof b, member(c, "tasks", it->string, "acc"), member(c, "tasks", it->string, "acc_stderr")),
               member(c, "tasks", it->string, "chance"));
}

cJSON *report_to_json(const EvalReport *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", r->model);
    cJSON_AddNumberToObject(root, "blocks", r->blocks);
    cJSON_AddNumberToObject(root, "seq_len", r->seq_len);
    cJSON *ppl = cJSON_AddObjectToObject(root, "perplexity"), *tok = cJSON_AddObjectToObject(root, "tokens");
    for (int i = 0; i < r->n_ppl; i++) {
        cJSON_AddNumberToObject(ppl, df_basename(r->ppl[i].file), r->ppl[i].r.ppl);
        cJSON_AddNumberToObject(tok, df_basename(r->ppl[i].file), (double)r->ppl[i].r.predicted);
    }
    cJSON *tasks = cJSON_AddObjectToObject(root, "tasks");
    for (int i = 0; i < r->n_tasks; i++) cJSON_AddItemToObject(tasks, task_name(&r->tasks[i]), task_json(&r->tasks[i]));
    cJSON_AddNumberToObject(root, "seconds", r->seconds);
    return root;
}

int report_json(const char *path, const EvalReport *r) {
    cJSON *root = report_to_json(r);
    int rc = df_json_write(path, root);
    cJSON_Delete(root);
    if (rc == 0) df_event_output(path);
    return rc;
}

static cJSON *sample_json(const TaskRun *t, int i) {
    const TaskItem *it = &t->task.items[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "task", task_name(t));
    cJSON_AddNumberToObject(o, "line", it->line);
    cJSON *ll = cJSON_AddArrayToObject(o, "ll"), *tok = cJSON_AddArrayToObject(o, "tokens");
    cJSON *chars = t->task.kind == TASK_LM ? NULL : cJSON_AddArrayToObject(o, "chars");
    for (int r = it->first; r < it->first + it->n; r++) {
        cJSON_AddItemToArray(ll, cJSON_CreateNumber(t->ll[r]));
        cJSON_AddItemToArray(tok, cJSON_CreateNumber(t->ntok[r]));
        if (chars) cJSON_AddItemToArray(chars, cJSON_CreateNumber(t->task.reqs[r].norm_chars));
    }
    if (t->task.kind == TASK_LM) {
        cJSON_AddBoolToObject(o, "greedy", t->greedy[it->first]);
        return o;
    }
    cJSON_AddNumberToObject(o, "gold", it->gold);
    cJSON_AddNumberToObject(o, "pred", t->pred[i]);
    cJSON_AddNumberToObject(o, "correct", t->pred[i] == it->gold);
    if (t->task.kind == TASK_CHOICE) {
        cJSON_AddNumberToObject(o, "pred_norm", t->pred_norm[i]);
        cJSON_AddNumberToObject(o, "correct_norm", t->pred_norm[i] == it->gold);
    }
    return o;
}

int report_samples(const char *path, const TaskRun *tasks, int n) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return df_fail("%s: cannot build the samples in memory", path);
    for (int k = 0; k < n; k++)
        for (int i = 0; i < tasks[k].task.n_items; i++) {
            cJSON *o = sample_json(&tasks[k], i);
            char *line = cJSON_PrintUnformatted(o);
            fprintf(f, "%s\n", line);
            cJSON_free(line);
            cJSON_Delete(o);
        }
    fclose(f);
    int rc = df_write_file(path, buf, len);
    free(buf);
    return rc;
}
