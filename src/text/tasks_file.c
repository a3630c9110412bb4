/* Task files as shipped: plain, or compressed with bzip2 (HellaSwag) or gzip. The compressed file is
 * read whole and inflated in memory; concatenated streams (pbzip2, cat a.gz b.gz) are followed. */
#include <bzlib.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/tasks.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* grow *out so that want more bytes (and a NUL) fit after used */
static void reserve(char **out, size_t *cap, size_t used, size_t want) {
    if (used + want + 1 <= *cap) return;
    while (used + want + 1 > *cap) *cap = *cap ? 2 * *cap : 1 << 20;
    *out = df_realloc(*out, *cap);
}

/* the libraries count in unsigned int: hand over at most 1 GiB at a time */
static unsigned chunk(size_t n) { return n < (1u << 30) ? (unsigned)n : 1u << 30; }

/* hand the NUL-terminated text over, or free it on failure */
static int finish(int rc, char *buf, size_t cap, size_t used, char **out, size_t *len) {
    if (rc < 0) {
        free(buf);
        return -1;
    }
    reserve(&buf, &cap, used, 0);
    buf[used] = 0;
    *out = buf;
    *len = used;
    return 0;
}

typedef enum { STREAM_END, STREAM_TRUNCATED, STREAM_CORRUPT } StreamEnd;

/* one bzip2 stream starting at in[*pos]; appends to buf */
static StreamEnd bz2_stream(const char *in, size_t n, size_t *pos, char **buf, size_t *cap, size_t *used, int *err) {
    bz_stream s;
    memset(&s, 0, sizeof s);
    if ((*err = BZ2_bzDecompressInit(&s, 0, 0)) != BZ_OK) return STREAM_CORRUPT;
    size_t fed = *pos;
    int z = BZ_OK;
    while (z == BZ_OK) {
        if (s.avail_in == 0 && fed < n) {
            s.next_in = (char *)in + fed;
            s.avail_in = chunk(n - fed);
            fed += s.avail_in;
        }
        reserve(buf, cap, *used, 1 << 20);
        s.next_out = *buf + *used;
        s.avail_out = chunk(*cap - *used - 1);
        const unsigned room = s.avail_out;
        z = BZ2_bzDecompress(&s);
        *used += room - s.avail_out;
        if (z == BZ_OK && s.avail_in == 0 && fed == n && s.avail_out == room) z = BZ_UNEXPECTED_EOF;
    }
    *pos = fed - s.avail_in;
    BZ2_bzDecompressEnd(&s);
    *err = z;
    return z == BZ_STREAM_END ? STREAM_END : z == BZ_UNEXPECTED_EOF ? STREAM_TRUNCATED : STREAM_CORRUPT;
}

static int inflate_bz2(const char *path, const char *in, size_t n, char **out, size_t *len) {
    if (n < 3 || memcmp(in, "BZh", 3)) return df_fail("%s: not a bzip2 file (no BZh header)", path);
    size_t cap = 0, used = 0, pos = 0;
    char *buf = NULL;
    int rc = 0, err = 0;
    while (rc == 0 && pos < n) { /* concatenated streams */
        StreamEnd st = bz2_stream(in, n, &pos, &buf, &cap, &used, &err);
        if (st == STREAM_TRUNCATED) rc = df_fail("%s: bzip2 data ends early (truncated file?)", path);
        else if (st == STREAM_CORRUPT) rc = df_fail("%s: corrupt bzip2 data near compressed byte %zu (error %d)", path, pos, err);
    }
    return finish(rc, buf, cap, used, out, len);
}

static int inflate_gz(const char *path, const char *in, size_t n, char **out, size_t *len) {
    if (n < 2 || (unsigned char)in[0] != 0x1f || (unsigned char)in[1] != 0x8b)
        return df_fail("%s: not a gzip file (no 1f 8b header)", path);
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) return df_fail("%s: cannot start gzip decompression", path);
    size_t cap = 0, used = 0, fed = 0;
    char *buf = NULL;
    int z = Z_OK;
    while (z == Z_OK) {
        if (s.avail_in == 0 && fed < n) {
            s.next_in = (unsigned char *)in + fed;
            s.avail_in = chunk(n - fed);
            fed += s.avail_in;
        }
        reserve(&buf, &cap, used, 1 << 20);
        s.next_out = (unsigned char *)buf + used;
        s.avail_out = chunk(cap - used - 1);
        const unsigned room = s.avail_out;
        z = inflate(&s, Z_NO_FLUSH);
        used += room - s.avail_out;
        if (z == Z_STREAM_END && (s.avail_in > 0 || fed < n)) z = inflateReset(&s); /* another member */
        else if (z == Z_BUF_ERROR || (z == Z_OK && s.avail_in == 0 && fed == n && s.avail_out == room)) z = Z_BUF_ERROR;
    }
    const char *msg = s.msg ? s.msg : "error";
    int rc = z == Z_STREAM_END ? 0
             : z == Z_BUF_ERROR ? df_fail("%s: gzip data ends early (truncated file?)", path)
                                : df_fail("%s: corrupt gzip data (%s)", path, msg);
    inflateEnd(&s);
    return finish(rc, buf, cap, used, out, len);
}

int task_file_read(const char *path, char **data, size_t *len) {
    static const char *const other[][2] = {{".xz", "xz -dk"}, {".zst", "zstd -d"}, {".lz4", "lz4 -d"},
                                           {".zip", "unzip"}, {".7z", "7z x"}};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (ends_with(path, other[i][0]))
            return df_fail("%s: %s files are not read directly (bzip2 and gzip are): decompress it first (%s)", path,
                           other[i][0], other[i][1]);
    const int bz2 = ends_with(path, ".bz2"), gz = ends_with(path, ".gz");
    if (!bz2 && !gz) return df_read_file(path, data, len);
    char *raw;
    size_t n;
    DF_TRY(df_read_file(path, &raw, &n));
    int rc = bz2 ? inflate_bz2(path, raw, n, data, len) : inflate_gz(path, raw, n, data, len);
    free(raw);
    return rc;
}
