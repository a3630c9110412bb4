#include "depthfuse/error.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_errmsg[1024];

/* the message stays one line whatever a file name or a file's content put into it: control
 * characters are written as escapes (\n, \r, \xNN) */
static void one_line(char *dst, size_t cap, const char *src) {
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)src; *c && k + 5 < cap; c++) {
        if (*c == '\n') k += (size_t)snprintf(dst + k, cap - k, "\\n");
        else if (*c == '\r') k += (size_t)snprintf(dst + k, cap - k, "\\r");
        else if (*c < 0x20 && *c != '\t') k += (size_t)snprintf(dst + k, cap - k, "\\x%02x", *c);
        else dst[k++] = (char)*c;
    }
    dst[k] = 0;
}

int df_fail(const char *fmt, ...) {
    char raw[sizeof g_errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    one_line(g_errmsg, sizeof g_errmsg, raw);
    return -1;
}

const char *df_errmsg(void) { return g_errmsg[0] ? g_errmsg : "unknown error"; }

void df_clear_error(void) { g_errmsg[0] = 0; }

void df_fatal_at(const char *file, int line, const char *fmt, ...) {
    int rank = 0, inited = 0;
    MPI_Initialized(&inited);
    if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[rank %d] depthfuse: fatal: %s (%s:%d)\n", rank, msg, file, line);
    fflush(stderr);
    if (inited) MPI_Abort(MPI_COMM_WORLD, 2);
    exit(2);
}

void *df_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) DF_FATAL("out of memory allocating %zu bytes", n);
    return p;
}

void *df_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) DF_FATAL("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *df_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) DF_FATAL("out of memory reallocating %zu bytes", n);
    return q;
}

char *df_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = df_malloc(n);
    memcpy(p, s, n);
    return p;
}

float *df_alloc_floats(size_t n) {
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes) != 0) DF_FATAL("out of memory allocating %zu floats", n);
    return p;
}
