#include "depthfuse/args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/log.h"
#include "plan.h"

void strlist_push(StrList *l, const char *s) {
    l->items = df_realloc(l->items, (size_t)(l->n + 1) * sizeof(char *));
    l->items[l->n++] = df_strdup(s);
}

void strlist_free(StrList *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

int args_is_path(const ArgSpec *s) {
    if (!s->metavar || s->kind == ARG_FLAG || s->kind == ARG_INT || s->kind == ARG_DOUBLE) return 0;
    for (const char *p = s->metavar; *p;) {
        const size_t n = strcspn(p, "|");
        static const char *const words[] = {"FILE", "DIR", "PATH", "OUT"};
        for (int i = 0; i < 4; i++)
            if (!strncmp(p, words[i], strlen(words[i]))) return 1;
        const char *dot = memchr(p, '.', n);
        if (dot && dot > p && dot[1] >= 'a' && dot[1] <= 'z') return 1;
        p += n + (p[n] == '|');
    }
    return 0;
}

static ArgsObserver g_observer;
static void *g_observer_ctx;

void args_observe(ArgsObserver f, void *ctx) {
    g_observer = f;
    g_observer_ctx = ctx;
}

int args_check_required(const char *cmd, const ArgSpec *spec, const int *given) {
    for (int j = 0; spec[j].name; j++)
        if ((spec[j].flags & ARG_REQUIRED) && !given[j])
            return df_fail("depthfuse %s: %s is required (see --help)", cmd, spec[j].name);
    return 0;
}

void args_usage(const char *cmd, const char *summary, const ArgSpec *spec, const char *positional_name) {
    if (df_rank() != 0) return;
    printf("usage: depthfuse %s [options]%s%s\n\n%s\n\noptions:\n", cmd, positional_name ? " " : "",
           positional_name ? positional_name : "", summary);
    for (const ArgSpec *s = spec; s->name; s++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", s->name, s->metavar ? " " : "", s->metavar ? s->metavar : "");
        printf("  %-26s %s%s%s\n", left, s->help, s->kind == ARG_STR_LIST ? " (repeatable)" : "",
               (s->flags & ARG_REQUIRED) ? " [required]" : "");
    }
    printf("  %-26s %s\n%s%s%s", "--help", "show this help", DF_DISPLAY_OPTIONS_HELP, DF_CHECK_TENSORS_HELP, DF_DRY_RUN_HELP);
}

static int parse_value(const char *cmd, const ArgSpec *s, const char *v) {
    char *end;
    switch (s->kind) {
    case ARG_INT: {
        errno = 0;
        long x = strtol(v, &end, 10);
        if (errno || *end || end == v || x < INT_MIN || x > INT_MAX)
            return df_fail("depthfuse %s: %s expects an integer, got '%s'", cmd, s->name, v);
        *(int *)s->dst = (int)x;
        return 0;
    }
    case ARG_DOUBLE: {
        errno = 0;
        double x = strtod(v, &end);
        if (errno || *end || end == v)
            return df_fail("depthfuse %s: %s expects a number, got '%s'", cmd, s->name, v);
        *(double *)s->dst = x;
        return 0;
    }
    case ARG_STR: *(const char **)s->dst = v; return 0;
    case ARG_STR_LIST: {
        /* comma separated values are split; a lone value is kept whole */
        const char *p = v;
        while (1) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (n == 0) return df_fail("depthfuse %s: empty item in %s '%s'", cmd, s->name, v);
            char *item = df_malloc(n + 1);
            memcpy(item, p, n);
            item[n] = 0;
            strlist_push(s->dst, item);
            free(item);
            if (!c) break;
            p = c + 1;
        }
        return 0;
    }
    case ARG_FLAG: break;
    }
    return 0;
}

int args_parse(const char *cmd, const char *summary, const ArgSpec *spec, int argc, char **argv,
               StrList *positional, const char *positional_name) {
    int nspec = 0;
    while (spec[nspec].name) nspec++;
    int *seen = df_calloc((size_t)nspec + 1, sizeof(int));
    int rc = 0, dry_run = 0;
    const char *planner = NULL; /* a planner option given */
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            args_usage(cmd, summary, spec, positional_name);
            free(seen);
            return 1;
        }
        if (!strcmp(a, "--dry-run")) {
            dry_run = 1;
            continue;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (!positional) rc = df_fail("depthfuse %s: unexpected argument '%s' (see --help)", cmd, a);
            else strlist_push(positional, a);
            continue;
        }
        /* --name=value or --name value */
        const char *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
        int k = -1;
        for (int j = 0; j < nspec; j++)
            if (strlen(spec[j].name) == nlen && !strncmp(spec[j].name, a, nlen)) k = j;
        const ArgSpec *s = k >= 0 ? &spec[k] : NULL;
        for (const ArgSpec *p = plan_arg_specs(); !s && p->name; p++) /* the planner's, with --dry-run */
            if (strlen(p->name) == nlen && !strncmp(p->name, a, nlen)) s = p, planner = p->name;
        if (!s) {
            rc = df_fail("depthfuse %s: unknown option '%.*s' (see --help)", cmd, (int)nlen, a);
            break;
        }
        if (k >= 0 && seen[k] && s->kind != ARG_STR_LIST) {
            rc = df_fail("depthfuse %s: %s given twice", cmd, s->name);
            break;
        }
        if (k >= 0) seen[k] = 1;
        if (s->kind == ARG_FLAG) {
            if (eq) rc = df_fail("depthfuse %s: %s takes no value", cmd, s->name);
            else *(int *)s->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            rc = df_fail("depthfuse %s: %s needs a value (%s)", cmd, s->name, s->metavar ? s->metavar : "VALUE");
            break;
        }
        rc = parse_value(cmd, s, v);
    }
    if (rc == 0 && g_observer) {
        ArgsObserver f = g_observer;
        g_observer = NULL;
        rc = f(g_observer_ctx, cmd, spec, seen, positional_name);
        if (rc != 0) {
            free(seen);
            return rc;
        }
    }
    if (rc == 0 && planner && !dry_run)
        rc = df_fail("depthfuse %s: %s goes with --dry-run", cmd, planner);
    if (rc == 0) rc = args_check_required(cmd, spec, seen);
    if (rc == 0 && dry_run) rc = plan_dry_run(cmd, spec) < 0 ? -1 : 1; /* the plan is the command's output */
    free(seen);
    return rc;
}
