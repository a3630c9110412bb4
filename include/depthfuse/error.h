/* Errors and checked allocation.
 *
 * A function that can fail on bad input records one line (naming the file and the problem) with
 * df_fail() and returns -1; callers propagate -1 up to the command, which agrees on the outcome
 * across ranks (dist/topology.h: df_agree) and prints the line once. Faults that only one rank can
 * see and that cannot be propagated (out of memory) use DF_FATAL, which aborts the whole job. */
#ifndef DEPTHFUSE_ERROR_H
#define DEPTHFUSE_ERROR_H
#include <stddef.h>

int df_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *df_errmsg(void);
void df_clear_error(void);

_Noreturn void df_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define DF_FATAL(...) df_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* propagate a failure: DF_TRY(f(...)); */
#define DF_TRY(expr) do { if ((expr) < 0) return -1; } while (0)

void *df_malloc(size_t n);
void *df_calloc(size_t n, size_t size);
void *df_realloc(void *p, size_t n);
char *df_strdup(const char *s);
/* 64-byte aligned allocation for big float buffers (free with free()) */
float *df_alloc_floats(size_t n);

#endif
