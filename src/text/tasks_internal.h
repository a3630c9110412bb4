/* Shared by the task readers (src/text/tasks*.c): building a Task and walking lines. */
#ifndef DEPTHFUSE_TEXT_TASKS_INTERNAL_H
#define DEPTHFUSE_TEXT_TASKS_INTERNAL_H
#include <stddef.h>

#include "depthfuse/tasks.h"

/* start an item at file line `line`; requests added next belong to it */
void task_begin_item(Task *t, int gold, int line);
/* a request log p(delim + choice | ctx); acc_norm divides by the characters of choice */
void task_add_request(Task *t, const char *ctx, const char *delim, const char *choice);
int task_full(const Task *t, const TaskReadOpts *o); /* --limit reached */

/* Lines of text[0..len): *pos advances past the next line, whose start and length (without \r\n)
 * are returned; NULL at the end. */
const char *task_next_line(const char *text, size_t len, size_t *pos, size_t *n);

int task_read_jsonl(Task *t, const char *text, size_t len, const TaskReadOpts *o);
int task_read_hellaswag(Task *t, const char *text, size_t len, const TaskReadOpts *o);

#endif
