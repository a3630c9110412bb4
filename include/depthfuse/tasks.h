/* Zero-shot task files, read into one shape: items of scored requests log p(cont | ctx).
 *
 * Formats, detected from the fields of the first line (HellaSwag from the name, .txt[.bz2|.gz]):
 *   multiple choice  {"query", "choices", "gold"}          ctx = query, cont = delim + choice
 *   schema           {"context_options", "continuation", "gold"}  (WinoGrande) one request per
 *                    context: ctx = option, cont = delim + continuation
 *   language model   {"context", "continuation"}           (LAMBADA) ctx = context, cont = delim + continuation
 *   PIQA original    {"goal", "sol1", "sol2"} + labels     ctx = "Question: " goal "\nAnswer:", choices sol1, sol2
 *   HellaSwag text   6 lines per item: context, gold 0-3, four endings
 * delim is " " unless the line has a "delimiter" field or the caller gives another. Files ending in
 * .bz2 or .gz are decompressed while read. */
#ifndef DEPTHFUSE_TASKS_H
#define DEPTHFUSE_TASKS_H
#include <stddef.h>

typedef enum { TASK_CHOICE, TASK_SCHEMA, TASK_LM } TaskKind;

typedef struct {
    char *ctx, *cont; /* cont starts with the delimiter */
    int norm_chars;   /* characters (code points) of the choice without the delimiter: acc_norm's divisor */
} TaskRequest;

typedef struct {
    int first, n; /* requests [first, first + n) */
    int gold;     /* the right request (0 for language modelling) */
    int line;     /* where the item starts in the file (1-based) */
} TaskItem;

typedef struct {
    char *path;
    const char *format; /* "multiple_choice", "schema", "language_modeling", "piqa", "hellaswag" */
    TaskKind kind;
    int used_labels_option; /* the PIQA labels came from TaskReadOpts.labels */
    TaskItem *items;
    int n_items;
    TaskRequest *reqs;
    int n_reqs, cap_items, cap_reqs;
} Task;

typedef struct {
    const char *delimiter; /* between context and choice (NULL: " ") */
    const char *labels;    /* PIQA labels file (NULL: X-labels.lst beside X.jsonl) */
    int limit;             /* first N items only (0: all) */
} TaskReadOpts;

/* Read and check a task file; -1 + "FILE:LINE: what is wrong" on the first bad item. */
int task_read(Task *t, const char *path, const TaskReadOpts *o);
void task_free(Task *t);

/* Whole file into a NUL-terminated buffer, decompressing .bz2 and .gz; -1 + "FILE: ..." */
int task_file_read(const char *path, char **data, size_t *len);

#endif
