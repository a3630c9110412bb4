/* JSON-lines task files: llm-foundry's multiple choice, schema and language-modelling items, and the
 * original PIQA (goal/sol1/sol2 with the labels in X-labels.lst). One line per item; blank lines are
 * skipped; every message names FILE:LINE. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/json.h"
#include "tasks_internal.h"

typedef struct {
    Task *t;
    const char *where; /* "FILE:LINE" */
    const char *delim;
    int line, label;   /* label: PIQA's answer from the labels file */
} Line;

/* a non-empty array of non-empty strings */
static int string_list(const cJSON *j, const char *key, const char *where, const cJSON **arr, int *n) {
    *arr = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!*arr || cJSON_IsNull(*arr)) return df_fail("%s: missing \"%s\"", where, key);
    if (!cJSON_IsArray(*arr)) return df_fail("%s: \"%s\" must be a list of strings", where, key);
    *n = cJSON_GetArraySize(*arr);
    if (*n < 2) return df_fail("%s: \"%s\" has %d entries; an item needs at least 2", where, key, *n);
    int i = 0;
    for (const cJSON *c = (*arr)->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c)) return df_fail("%s: \"%s\"[%d] must be a string", where, key, i);
        if (!c->valuestring[0]) return df_fail("%s: \"%s\"[%d] is empty", where, key, i);
    }
    return 0;
}

static int nonempty_str(const cJSON *j, const char *key, const char *where, const char **out) {
    DF_TRY(df_json_str(j, key, where, out));
    return **out ? 0 : df_fail("%s: \"%s\" is empty", where, key);
}

static int gold_of(const cJSON *j, const char *where, int n, int *gold) {
    int64_t g;
    DF_TRY(df_json_int(j, "gold", where, &g));
    if (g < 0 || g >= n) return df_fail("%s: gold %lld is out of range for %d choices", where, (long long)g, n);
    *gold = (int)g;
    return 0;
}

/* {"query", "choices", "gold"}: the choices continue the query */
static int item_choice(const Line *l, const cJSON *j) {
    const char *query;
    const cJSON *ch;
    int n, gold = 0;
    DF_TRY(df_json_str(j, "query", l->where, &query));
    DF_TRY(string_list(j, "choices", l->where, &ch, &n));
    DF_TRY(gold_of(j, l->where, n, &gold));
    task_begin_item(l->t, gold, l->line);
    for (const cJSON *c = ch->child; c; c = c->next) task_add_request(l->t, query, l->delim, c->valuestring);
    return 0;
}

/* {"context_options", "continuation", "gold"}: one continuation scored under each context */
static int item_schema(const Line *l, const cJSON *j) {
    const char *cont;
    const cJSON *opts;
    int n, gold = 0;
    DF_TRY(string_list(j, "context_options", l->where, &opts, &n));
    DF_TRY(nonempty_str(j, "continuation", l->where, &cont));
    DF_TRY(gold_of(j, l->where, n, &gold));
    task_begin_item(l->t, gold, l->line);
    for (const cJSON *c = opts->child; c; c = c->next) task_add_request(l->t, c->valuestring, l->delim, cont);
    return 0;
}

/* {"context", "continuation"}: the continuation's likelihood and whether greedy decoding gives it */
static int item_lm(const Line *l, const cJSON *j) {
    const char *ctx, *cont;
    DF_TRY(df_json_str(j, "context", l->where, &ctx));
    DF_TRY(nonempty_str(j, "continuation", l->where, &cont));
    task_begin_item(l->t, 0, l->line);
    task_add_request(l->t, ctx, l->delim, cont);
    return 0;
}

/* {"goal", "sol1", "sol2"}: lm-evaluation-harness's piqa prompt */
static int item_piqa(const Line *l, const cJSON *j) {
    const char *goal, *sol[2];
    DF_TRY(df_json_str(j, "goal", l->where, &goal));
    DF_TRY(nonempty_str(j, "sol1", l->where, &sol[0]));
    DF_TRY(nonempty_str(j, "sol2", l->where, &sol[1]));
    char *ctx = df_malloc(strlen(goal) + 32);
    sprintf(ctx, "Question: %s\nAnswer:", goal);
    task_begin_item(l->t, l->label, l->line);
    for (int i = 0; i < 2; i++) task_add_request(l->t, ctx, l->delim, sol[i]);
    free(ctx);
    return 0;
}

typedef struct {
    const char *name, *key1, *key2; /* detected by the first line holding both keys */
    TaskKind kind;
    int (*item)(const Line *l, const cJSON *j);
} Format;

static const Format FORMATS[] = {
    {"multiple_choice", "query", "choices", TASK_CHOICE, item_choice},
    {"schema", "context_options", "continuation", TASK_SCHEMA, item_schema},
    {"language_modeling", "context", "continuation", TASK_LM, item_lm},
    {"piqa", "goal", "sol1", TASK_CHOICE, item_piqa},
};

static const Format *detect(const cJSON *j, const char *where) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (cJSON_HasObjectItem(j, FORMATS[i].key1) && cJSON_HasObjectItem(j, FORMATS[i].key2)) return &FORMATS[i];
    char keys[256] = "";
    for (const cJSON *c = j->child; c && strlen(keys) < 200; c = c->next)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", keys[0] ? ", " : "", c->string);
    df_fail("%s: unknown task format (fields: %s); expected {query, choices, gold}, {context_options, "
            "continuation, gold}, {context, continuation} or PIQA's {goal, sol1, sol2}", where, keys);
    return NULL;
}

static int count_nonblank(const char *text, size_t len) {
    size_t pos = 0, n;
    int k = 0;
    for (const char *s; (s = task_next_line(text, len, &pos, &n));) k += n > 0;
    return k;
}

/* PIQA's answers: X-labels.lst beside X.jsonl (or o->labels), one 0/1 per item */
static int read_labels(int **labels, const char *path, const char *text, size_t len, const TaskReadOpts *o) {
    char *lpath = NULL;
    if (o->labels) {
        lpath = df_strdup(o->labels);
    } else {
        size_t n = strlen(path);
        const char *dot = n > 6 && !strcmp(path + n - 6, ".jsonl") ? path + n - 6 : path + n;
        lpath = df_malloc(n + 16);
        sprintf(lpath, "%.*s-labels.lst", (int)(dot - path), path);
    }
    char *lt;
    size_t ll, pos = 0, n;
    if (task_file_read(lpath, &lt, &ll) < 0) {
        char why[700];
        snprintf(why, sizeof why, "%s", df_errmsg());
        free(lpath);
        return df_fail("%s: PIQA-format file needs its labels (X-labels.lst beside it, or --labels): %s", path, why);
    }
    const int want = count_nonblank(text, len);
    int k = 0, line = 0, rc = 0;
    *labels = df_malloc(sizeof(int) * (size_t)(want + 1));
    for (const char *s; rc == 0 && (s = task_next_line(lt, ll, &pos, &n));) {
        line++;
        if (n == 0) continue;
        if (n != 1 || (s[0] != '0' && s[0] != '1')) rc = df_fail("%s:%d: a label must be 0 or 1, got '%.*s'", lpath, line, (int)(n < 40 ? n : 40), s);
        else if (k == want) rc = df_fail("%s: more labels than the %d items of %s", lpath, want, path);
        else (*labels)[k++] = s[0] - '0';
    }
    if (rc == 0 && k != want) rc = df_fail("%s: %d labels for the %d items of %s", lpath, k, want, path);
    if (rc < 0) {
        free(*labels);
        *labels = NULL;
    }
    free(lt);
    free(lpath);
    return rc;
}

static const char *opt_delimiter(const cJSON *j, const char *where, const char *dflt, int *rc) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "delimiter");
    if (!d || cJSON_IsNull(d)) return dflt;
    if (!cJSON_IsString(d)) *rc = df_fail("%s: \"delimiter\" must be a string", where);
    return cJSON_IsString(d) ? d->valuestring : dflt;
}

typedef struct {
    Task *t;
    const TaskReadOpts *o;
    const char *text; /* the whole file */
    size_t len;
    const Format *f;  /* from the first line */
    int *labels;      /* PIQA */
    int items;        /* non-blank lines so far */
} Reader;

/* the first line decides the format (and PIQA's labels are read then) */
static int start_format(Reader *r, const cJSON *j, const char *where) {
    if (!(r->f = detect(j, where))) return -1;
    r->t->format = r->f->name;
    r->t->kind = r->f->kind;
    if (r->f->item != item_piqa) return 0;
    r->t->used_labels_option = r->o->labels != NULL;
    return read_labels(&r->labels, r->t->path, r->text, r->len, r->o);
}

static int read_line(Reader *r, const char *s, size_t n, int line) {
    char where[600];
    snprintf(where, sizeof where, "%s:%d", r->t->path, line);
    cJSON *j;
    DF_TRY(df_json_parse(s, n, where, &j));
    int rc = cJSON_IsObject(j) ? 0 : df_fail("%s: a task line must be a JSON object", where);
    if (rc == 0 && !r->f) rc = start_format(r, j, where);
    const char *delim = rc == 0 ? opt_delimiter(j, where, r->o->delimiter ? r->o->delimiter : " ", &rc) : NULL;
    if (rc == 0) {
        Line l = {r->t, where, delim, line, r->labels ? r->labels[r->items] : 0};
        rc = r->f->item(&l, j);
    }
    r->items++;
    cJSON_Delete(j);
    return rc;
}

int task_read_jsonl(Task *t, const char *text, size_t len, const TaskReadOpts *o) {
    Reader r = {t, o, text, len, NULL, NULL, 0};
    size_t pos = 0, n;
    int line = 0, rc = 0;
    for (const char *s; rc == 0 && !task_full(t, o) && (s = task_next_line(text, len, &pos, &n));) {
        line++;
        if (n > 0) rc = read_line(&r, s, n, line); /* blank lines are skipped */
    }
    free(r.labels);
    return rc;
}
