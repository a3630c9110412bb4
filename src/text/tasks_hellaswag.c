/* HellaSwag validation as plain text: 6 lines per item (context, gold label 0-3, four endings), the
 * text already preprocessed as lm-evaluation-harness does. The endings continue the context. */
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "tasks_internal.h"

enum { HS_LINES = 6, HS_ENDINGS = 4 };

int task_read_hellaswag(Task *t, const char *text, size_t len, const TaskReadOpts *o) {
    t->format = "hellaswag";
    t->kind = TASK_CHOICE;
    const char *delim = o->delimiter ? o->delimiter : " ";
    size_t pos = 0;
    int line = 0;
    while (!task_full(t, o) && pos < len) {
        char *l[HS_LINES];
        const int first = line + 1;
        int k = 0, rc = 0;
        for (size_t n; k < HS_LINES; k++) {
            const char *s = task_next_line(text, len, &pos, &n);
            if (!s) break;
            line++;
            l[k] = df_malloc(n + 1);
            memcpy(l[k], s, n);
            l[k][n] = 0;
            if (n == 0 && k != 1) rc = df_fail("%s:%d: empty %s", t->path, line, k == 0 ? "context" : "ending");
        }
        if (rc == 0 && k < HS_LINES)
            rc = df_fail("%s:%d: incomplete HellaSwag item (%d of 6 lines: context, label 0-3, four endings)", t->path,
                         first, k);
        if (rc == 0 && (strlen(l[1]) != 1 || l[1][0] < '0' || l[1][0] > '3'))
            rc = df_fail("%s:%d: the gold label must be 0-3, got '%.40s'", t->path, first + 1, l[1]);
        if (rc == 0) {
            task_begin_item(t, l[1][0] - '0', first);
            for (int e = 0; e < HS_ENDINGS; e++) task_add_request(t, l[0], delim, l[2 + e]);
        }
        for (int i = 0; i < k; i++) free(l[i]);
        if (rc < 0) return -1;
    }
    return 0;
}
