#include "depthfuse/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/output.h"

typedef struct {
    char *target, *file; /* the locked path (resolved) and its lock file */
    int fd;
} Held;

static Held *g_held = NULL;
static int g_n = 0;

static char *lock_file(const char *target) {
    size_t n = strlen(target);
    while (n > 1 && target[n - 1] == '/') n--;
    char *f = df_malloc(n + 6);
    memcpy(f, target, n);
    strcpy(f + n, ".lock");
    return f;
}

/* the pid recorded in a lock file, 0 when unreadable */
static long holder(int fd) {
    char buf[32] = {0};
    if (pread(fd, buf, sizeof buf - 1, 0) <= 0) return 0;
    return strtol(buf, NULL, 10);
}

int df_lock(const char *path) {
    char *target = output_resolve(path);
    for (int i = 0; i < g_n; i++)
        if (!strcmp(g_held[i].target, target)) {
            free(target);
            return 0;
        }
    char *file = lock_file(target);
    int fd = -1, rc = 0;
    for (;;) { /* a file the releasing holder unlinked meanwhile is not the lock: open the new one */
        fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        char *slash = fd < 0 && errno == ENOENT ? strrchr(file, '/') : NULL;
        if (slash && slash != file) { /* the output's folder is made here, as the writer would make it */
            *slash = 0;
            const int made = df_mkdir_p(file);
            *slash = '/';
            if (made == 0) fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            else df_clear_error();
        }
        if (fd < 0) {
            rc = df_fail("%s: cannot create the lock file %s: %s", path, file, strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            rc = errno == EWOULDBLOCK
                     ? df_fail("%s: in use by another depthfuse run (pid %ld holds %s); wait for it or use another path",
                               path, holder(fd), file)
                     : df_fail("%s: cannot lock %s: %s", path, file, strerror(errno));
            break;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(file, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) break;
        close(fd);
    }
    if (rc == 0) {
        char pid[32];
        const int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* the pid is informative only */ }
        g_held = df_realloc(g_held, sizeof(Held) * (size_t)(g_n + 1));
        g_held[g_n++] = (Held){target, file, fd};
        return 0;
    }
    if (fd >= 0) close(fd);
    free(target);
    free(file);
    return rc;
}

void df_unlock_all(void) {
    for (int i = 0; i < g_n; i++) {
        unlink(g_held[i].file); /* while still held: a waiter that opened it sees another inode and retries */
        close(g_held[i].fd);
        free(g_held[i].target);
        free(g_held[i].file);
    }
    free(g_held);
    g_held = NULL;
    g_n = 0;
}
