/* Task files: the format from the name and the first line, then one reader per family. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tasks_internal.h"

/* characters as Python's len() counts them: UTF-8 lead bytes */
static int utf8_chars(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

void task_begin_item(Task *t, int gold, int line) {
    if (t->n_items == t->cap_items) {
        t->cap_items = t->cap_items ? 2 * t->cap_items : 256;
        t->items = df_realloc(t->items, sizeof *t->items * (size_t)t->cap_items);
    }
    t->items[t->n_items++] = (TaskItem){t->n_reqs, 0, gold, line};
}

void task_add_request(Task *t, const char *ctx, const char *delim, const char *choice) {
    if (t->n_reqs == t->cap_reqs) {
        t->cap_reqs = t->cap_reqs ? 2 * t->cap_reqs : 1024;
        t->reqs = df_realloc(t->reqs, sizeof *t->reqs * (size_t)t->cap_reqs);
    }
    const size_t nd = strlen(delim), nc = strlen(choice);
    char *cont = df_malloc(nd + nc + 1);
    memcpy(cont, delim, nd);
    memcpy(cont + nd, choice, nc + 1);
    t->reqs[t->n_reqs++] = (TaskRequest){df_strdup(ctx), cont, utf8_chars(choice)};
    t->items[t->n_items - 1].n++;
}

int task_full(const Task *t, const TaskReadOpts *o) { return o->limit > 0 && t->n_items >= o->limit; }

const char *task_next_line(const char *text, size_t len, size_t *pos, size_t *n) {
    if (*pos >= len) return NULL;
    const char *s = text + *pos, *nl = memchr(s, '\n', len - *pos);
    size_t k = nl ? (size_t)(nl - s) : len - *pos;
    *pos += k + (nl != NULL);
    if (k > 0 && s[k - 1] == '\r') k--;
    *n = k;
    return s;
}

void task_free(Task *t) {
    for (int i = 0; i < t->n_reqs; i++) {
        free(t->reqs[i].ctx);
        free(t->reqs[i].cont);
    }
    free(t->reqs);
    free(t->items);
    free(t->path);
    memset(t, 0, sizeof *t);
}

/* HellaSwag ships as plain text (6 lines per item); everything else is JSON lines */
static int is_hellaswag_name(const char *path) {
    static const char *const ext[] = {".txt", ".txt.bz2", ".txt.gz"};
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && !strcmp(path + n - k, ext[i])) return 1;
    }
    return 0;
}

int task_read(Task *t, const char *path, const TaskReadOpts *o) {
    memset(t, 0, sizeof *t);
    t->path = df_strdup(path);
    char *text;
    size_t len;
    if (task_file_read(path, &text, &len) < 0) {
        task_free(t);
        return -1;
    }
    int rc = is_hellaswag_name(path) ? task_read_hellaswag(t, text, len, o) : task_read_jsonl(t, text, len, o);
    free(text);
    if (rc == 0 && t->n_items == 0) rc = df_fail("%s: no items", path);
    if (rc < 0) task_free(t);
    return rc;
}
