/* Task files, every format: the first byte picks the file name (JSON lines or HellaSwag text, plain,
 * .gz or .bz2: the format is detected from the name and the first line), a --limit and a delimiter;
 * the rest is the file, and what follows its first NUL byte is the PIQA labels file beside it
 * (t-labels.lst). The items read are then walked as the scorer walks them. */
#include "depthfuse/tasks.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"t.jsonl", "t.txt", "t.jsonl.gz", "t.jsonl.bz2", "t.txt.bz2", "t.txt.gz"};
    if (size < 1) return 0;
    const char *name = names[(data[0] & 7) % 6];
    const uint8_t *body = data + 1, *nul = memchr(body, 0, size - 1);
    const size_t blen = nul ? (size_t)(nul - body) : size - 1;
    char *labels = fuzz_write("t-labels.lst", nul ? nul + 1 : body, nul ? size - 1 - blen - 1 : 0);
    if (!nul) unlink(labels);
    char *path = fuzz_write(name, body, blen);
    TaskReadOpts o = {data[0] & 8 ? "\n" : NULL, NULL, (data[0] >> 4) & 3};
    Task t;
    if (task_read(&t, path, &o) == 0) {
        size_t chars = 0;
        for (int i = 0; i < t.n_items; i++) {
            const TaskItem *it = &t.items[i];
            if (it->first < 0 || it->n < 1 || it->first + it->n > t.n_reqs || it->gold < 0 || it->gold >= it->n) {
                fprintf(stderr, "item %d: requests [%d, %d) gold %d of %d\n", i, it->first, it->first + it->n, it->gold, t.n_reqs);
                abort();
            }
            for (int r = it->first; r < it->first + it->n; r++) chars += strlen(t.reqs[r].ctx) + strlen(t.reqs[r].cont);
        }
        (void)chars;
        task_free(&t);
    }
    fuzz_check_message();
    unlink(path);
    free(path);
    free(labels);
    return 0;
}
