#include "depthfuse/args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/finite.h"
#include "depthfuse/log.h"

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
    printf("  %-26s %s\n%s%s", "--help", "show this help", DF_DISPLAY_OPTIONS_HELP, DF_CHECK_TENSORS_HELP);
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
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            args_usage(cmd, summary, spec, positional_name);
            free(seen);
            return 1;
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
        if (k < 0) {
            rc = df_fail("depthfuse %s: unknown option '%.*s' (see --help)", cmd, (int)nlen, a);
            break;
        }
        const ArgSpec *s = &spec[k];
        if (seen[k] && s->kind != ARG_STR_LIST) {
            rc = df_fail("depthfuse %s: %s given twice", cmd, s->name);
            break;
        }
        seen[k] = 1;
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
    for (int j = 0; j < nspec && rc == 0; j++)
        if ((spec[j].flags & ARG_REQUIRED) && !seen[j])
            rc = df_fail("depthfuse %s: %s is required (see --help)", cmd, spec[j].name);
    free(seen);
    return rc;
}
