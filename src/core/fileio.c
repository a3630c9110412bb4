#include "depthfuse/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "depthfuse/error.h"

int df_read_file(const char *path, char **data, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return df_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return df_fail("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    char *buf = df_malloc(n + 1);
    int rc = df_pread_exact(fd, buf, n, 0, path);
    close(fd);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    buf[n] = 0;
    *data = buf;
    if (len) *len = n;
    return 0;
}

int df_write_file(const char *path, const void *data, size_t len) {
    char *tmp = df_tmp_path(path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        df_fail("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = df_pwrite_exact(fd, data, len, 0, tmp);
    if (close(fd) != 0 && rc == 0) rc = df_fail("%s: close failed: %s", tmp, strerror(errno));
    if (rc == 0) rc = df_commit_path(tmp, path);
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}

int df_copy_file(const char *src, const char *dst) {
    char *data = NULL;
    size_t len = 0;
    DF_TRY(df_read_file(src, &data, &len));
    int rc = df_write_file(dst, data, len);
    free(data);
    return rc;
}

int df_file_size(const char *path, uint64_t *size) {
    struct stat st;
    if (stat(path, &st) != 0) return df_fail("%s: %s", path, strerror(errno));
    *size = (uint64_t)st.st_size;
    return 0;
}

int df_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int df_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int df_mkdir_p(const char *path) {
    char *p = df_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            df_fail("%s: cannot create folder: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = df_fail("%s: cannot create folder: %s", p, strerror(errno));
    free(p);
    return rc;
}

int df_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return df_fail("%s: cannot open folder: %s", path, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *sub = df_path_join(path, e->d_name);
            int rc = df_rm_rf(sub);
            free(sub);
            if (rc) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
        if (rmdir(path) != 0) return df_fail("%s: cannot remove: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        return df_fail("%s: cannot remove: %s", path, strerror(errno));
    }
    return 0;
}

char *df_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = df_malloc(a + b + 2);
    memcpy(p, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

const char *df_basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

char *df_tmp_path(const char *path) {
    size_t n = strlen(path) + 32;
    char *p = df_malloc(n);
    /* strip trailing slashes so "out/" becomes "out.tmp.N" */
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    snprintf(p, n, "%.*s.depthfuse-tmp.%ld", (int)len, path, (long)getpid());
    return p;
}

int df_commit_path(const char *tmp, const char *final_path) {
    struct stat st;
    if (stat(final_path, &st) == 0 && S_ISDIR(st.st_mode)) /* never a folder's contents (output.h) */
        return df_fail("%s: is a folder; not replaced", final_path);
    if (rename(tmp, final_path) != 0)
        return df_fail("%s: cannot rename %s into place: %s", final_path, tmp, strerror(errno));
    return 0;
}

int df_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path) {
    char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t r = pread(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return df_fail("%s: read error: %s", path, strerror(errno));
        if (r == 0) return df_fail("%s: file is truncated (unexpected end at byte %llu)", path,
                                   (unsigned long long)off);
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}

int df_pwrite_exact(int fd, const void *buf, size_t n, uint64_t off, const char *path) {
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > (1u << 30) ? (1u << 30) : n;
        ssize_t r = pwrite(fd, p, chunk, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return df_fail("%s: write error: %s", path, strerror(errno));
        p += r;
        off += (uint64_t)r;
        n -= (size_t)r;
    }
    return 0;
}
