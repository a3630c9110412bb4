/* Shared pieces of the libFuzzer harnesses (tools/fuzz/README.md). Each harness feeds the fuzzed
 * bytes to a parser the way depthfuse reads a user's file (from a path where the parser takes one)
 * and then uses what it returned, as the commands do, so that the checks after the parse are fuzzed
 * too. A harness must never fail on bad input: the parser refuses it with a message (df_fail), and
 * the message must be one line. */
#ifndef DF_FUZZ_UTIL_H
#define DF_FUZZ_UTIL_H
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"

/* a private folder for this process's files (removed at exit) */
static char g_fuzz_dir[256];

static inline void fuzz_cleanup(void) {
    if (g_fuzz_dir[0]) df_rm_rf(g_fuzz_dir);
}

static inline const char *fuzz_dir(void) {
    if (!g_fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(g_fuzz_dir, sizeof g_fuzz_dir, "%s/df-fuzz.%ld", tmp, (long)getpid());
        df_mkdir_p(g_fuzz_dir);
        atexit(fuzz_cleanup);
    }
    return g_fuzz_dir;
}

/* dir/name holding data[n] (new string) */
static inline char *fuzz_write(const char *name, const void *data, size_t n) {
    char *path = df_path_join(fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n)) abort();
    fclose(f);
    return path;
}

/* every refusal is one line naming what was read */
static inline void fuzz_check_message(void) {
    const char *m = df_errmsg();
    if (strchr(m, '\n')) {
        fprintf(stderr, "multi-line error message: %s\n", m);
        abort();
    }
    df_clear_error();
}

/* harnesses whose parsers are collective (MPI_COMM_WORLD of one rank, a singleton) */
static inline void fuzz_mpi_init(void) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_Init(NULL, NULL);
}

#endif
