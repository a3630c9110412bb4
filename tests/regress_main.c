/* The fuzzers' regression inputs through their harnesses, built without libFuzzer (gcc, and ASan in
 * build-asan): each file of the folder given is fed to LLVMFuzzerTestOneInput, which runs the normal
 * loader on it and aborts on what the fuzzer found (a crash, a multi-line message, a broken
 * invariant). Inputs: tests/fixtures/regress/HARNESS/ (docs/reliability.md). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FOLDER\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open\n", argv[1]);
        return 2;
    }
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char *path = df_path_join(argv[1], e->d_name), *data;
        size_t len;
        if (df_read_file(path, &data, &len) < 0) {
            fprintf(stderr, "%s\n", df_errmsg());
            return 2;
        }
        LLVMFuzzerTestOneInput((const uint8_t *)data, len);
        printf("ok   %s\n", e->d_name);
        free(data);
        free(path);
        n++;
    }
    closedir(d);
    printf("%d regression inputs\n", n);
    return n > 0 ? 0 : 1;
}
