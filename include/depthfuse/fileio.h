/* Small file helpers. Everything written to a user-visible path goes through a temporary name and
 * is renamed only when complete (df_tmp_path + df_commit_path), so a killed job leaves nothing
 * half-written (models: output.h). */
#ifndef DEPTHFUSE_FILEIO_H
#define DEPTHFUSE_FILEIO_H
#include <stddef.h>
#include <stdint.h>

/* whole file into a NUL-terminated buffer; -1 + df_fail("PATH: ...") on error */
int df_read_file(const char *path, char **data, size_t *len);
int df_write_file(const char *path, const void *data, size_t len);   /* atomic (tmp + rename) */
int df_copy_file(const char *src, const char *dst);                    /* atomic */
int df_file_size(const char *path, uint64_t *size);
int df_is_dir(const char *path);
int df_exists(const char *path);
int df_mkdir_p(const char *path);
int df_rm_rf(const char *path);
/* "dir/name" into a new string */
char *df_path_join(const char *dir, const char *name);
const char *df_basename(const char *path);
/* PATH.depthfuse-tmp.<pid> into a new string (output.h removes those of killed runs) */
char *df_tmp_path(const char *path);
/* rename tmp -> final, replacing an existing file; an existing folder is refused */
int df_commit_path(const char *tmp, const char *final_path);
/* pread exactly n bytes at offset or fail naming path */
int df_pread_exact(int fd, void *buf, size_t n, uint64_t off, const char *path);
int df_pwrite_exact(int fd, const void *buf, size_t n, uint64_t off, const char *path);

#endif
