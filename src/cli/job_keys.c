/* A command's job keys, read from its own option table (job_keys.h). */
#include "job_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compress.h"
#include "depthfuse/error.h"
#include "job.h"

char *job_key_name(const char *flag) {
    while (*flag == '-') flag++;
    char *k = df_strdup(flag);
    for (char *p = k; *p; p++)
        if (*p == '-') *p = '_';
    return k;
}

const char *job_kind_type(ArgKind k) {
    switch (k) {
    case ARG_FLAG: return "boolean";
    case ARG_INT: return "integer";
    case ARG_DOUBLE: return "number";
    case ARG_STR: return "string";
    case ARG_STR_LIST: return "list of strings";
    }
    return "?";
}

static char *default_json(const ArgSpec *s) {
    char buf[64];
    switch (s->kind) {
    case ARG_FLAG: return df_strdup(*(const int *)s->dst ? "true" : "false");
    case ARG_INT: snprintf(buf, sizeof buf, "%d", *(const int *)s->dst); return df_strdup(buf);
    case ARG_DOUBLE: snprintf(buf, sizeof buf, "%g", *(const double *)s->dst); return df_strdup(buf);
    case ARG_STR_LIST: return df_strdup("[]");
    case ARG_STR: {
        const char *v = *(const char *const *)s->dst;
        if (!v) return NULL;
        char *q = df_malloc(strlen(v) + 3);
        sprintf(q, "\"%s\"", v);
        return q;
    }
    }
    return NULL;
}

/* the shared compress options (less --method): the table every method's begins with */
static int is_shared(const char *flag) {
    CompressArgs a = COMPRESS_ARGS_DEFAULT;
    const ArgSpec shared[] = {COMPRESS_ARG_SPECS(a), {0}};
    for (const ArgSpec *s = shared; s->name; s++)
        if (!strcmp(s->name, flag)) return 1;
    return 0;
}

typedef struct {
    JobKeys *t;
    int part; /* 0: the whole table, 1: the shared compress options, 2: a method's own */
} Capture;

static int capture(void *ctx, const char *cmd, const ArgSpec *spec, const int *given, const char *positional_name) {
    Capture *c = ctx;
    JobKeys *t = c->t;
    int n = 0;
    while (spec[n].name) n++;
    t->k = df_calloc((size_t)n + 1, sizeof(JobKey));
    for (const ArgSpec *s = spec; s->name; s++) {
        if (c->part && (!strcmp(s->name, "--method") || is_shared(s->name) != (c->part == 1))) continue;
        JobKey *k = &t->k[t->n++];
        k->key = job_key_name(s->name);
        k->flag = df_strdup(s->name);
        k->metavar = s->metavar ? df_strdup(s->metavar) : NULL;
        k->help = df_strdup(s->help);
        k->def = default_json(s);
        k->kind = s->kind;
        k->required = (s->flags & ARG_REQUIRED) != 0;
        k->path = args_is_path(s);
    }
    t->positional = positional_name != NULL;
    t->positional_name = positional_name ? df_strdup(positional_name) : NULL;
    return 1; /* read, not run */
}

int job_has_methods(const char *cmd) { return !strcmp(cmd, "compress") || !strcmp(cmd, "prune"); }

const char *job_method(const char *cmd, int i, const char **summary) {
    int removal = 0;
    for (int j = 0, n = 0;; j++) {
        const char *m = compress_method(j, summary, &removal);
        if (!m) return NULL;
        if ((removal || strcmp(cmd, "prune")) && n++ == i) return m;
    }
}

int job_keys(JobKeys *t, const char *cmd, const char *method) {
    memset(t, 0, sizeof *t);
    const Command *c = job_command(cmd);
    if (!c || !strcmp(cmd, "run") || !strcmp(cmd, "plan")) return df_fail("unknown command '%s'", cmd);
    int known = !job_has_methods(cmd) || !method;
    for (int i = 0; !known && job_method(cmd, i, NULL); i++) known = !strcmp(job_method(cmd, i, NULL), method);
    if (!known) return df_fail("unknown method '%s' of %s", method, cmd);
    /* the shared options are every method's first entries: read them from mi's table */
    char *argv[] = {(char *)cmd, "--method", (char *)(method ? method : "mi"), NULL};
    Capture cap = {t, job_has_methods(cmd) ? (method ? 2 : 1) : 0};
    args_observe(capture, &cap);
    c->run(job_has_methods(cmd) ? 3 : 1, argv);
    args_observe(NULL, NULL);
    if (!t->k) return df_fail("depthfuse %s: its option table could not be read", cmd);
    return 0;
}

const JobKey *job_key_find(const JobKeys *t, const char *key) {
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->k[i].key, key)) return &t->k[i];
    return NULL;
}

void job_keys_free(JobKeys *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->k[i].key), free(t->k[i].flag), free(t->k[i].metavar), free(t->k[i].help), free(t->k[i].def);
    }
    free(t->k);
    free(t->positional_name);
    memset(t, 0, sizeof *t);
}
