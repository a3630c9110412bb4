/* safetensors: offsets past 2 GiB (a sparse file), the format's coverage rules, write/read round
 * trips, and bf16/f16 <-> f32 exactness on every bit pattern. */
#include <fcntl.h>
#include <unistd.h>

#include "depthfuse/dtype.h"
#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/safetensors.h"
#include "test_util.h"

/* a file with the given JSON header (padded to 8) and data_len bytes of data (sparse) */
static void make_file(const char *path, const char *json, uint64_t data_len) {
    size_t jl = strlen(json), hl = (jl + 7) & ~(size_t)7;
    unsigned char *h = calloc(1, 8 + hl);
    for (int i = 0; i < 8; i++) h[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(h + 8, json, jl);
    memset(h + 8 + jl, ' ', hl - jl);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(write(fd, h, 8 + hl) == (ssize_t)(8 + hl), "write");
    CHECK(ftruncate(fd, (off_t)(8 + hl + data_len)) == 0, "ftruncate");
    close(fd);
    free(h);
}

static void test_big_offsets(const char *dir) {
    const uint64_t big = (1ull << 31) + 24; /* first tensor pushes the second past 2 GiB */
    char json[512], *path = df_path_join(dir, "big.safetensors");
    snprintf(json, sizeof json,
             "{\"__metadata__\":{\"format\":\"pt\"},\"pad\":{\"dtype\":\"U8\",\"shape\":[%llu],\"data_offsets\":[0,%llu]},"
             "\"tail\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[%llu,%llu]}}",
             (unsigned long long)big, (unsigned long long)big, (unsigned long long)big, (unsigned long long)big + 16);
    make_file(path, json, big + 16);
    StSet s = {0};
    int rc = st_add_file(&s, path);
    CHECK(rc == 0, "%s", df_errmsg());
    const StTensor *t = st_find(&s, "tail");
    CHECK(t && t->offset > (1ull << 31), "offset past 2 GiB lost: %llu", t ? (unsigned long long)t->offset : 0ull);
    if (t) {
        float want[4] = {1.5f, -2.25f, 3.0f, 1e-3f}, got[4] = {0};
        int fd = open(path, O_WRONLY);
        CHECK(pwrite(fd, want, 16, (off_t)t->offset) == 16, "pwrite");
        close(fd);
        CHECK(st_read_f32(&s, t, got) == 0, "%s", df_errmsg());
        CHECK(!memcmp(want, got, 16), "values past 2 GiB read wrong");
    }
    st_free(&s);
    unlink(path);
    free(path);
}

static void expect_bad(const char *dir, const char *json, uint64_t data_len, const char *what) {
    char *path = df_path_join(dir, "bad.safetensors");
    make_file(path, json, data_len);
    StSet s = {0};
    int rc = st_add_file(&s, path);
    CHECK(rc < 0 && strstr(df_errmsg(), what) && strstr(df_errmsg(), path), "%s: got '%s'", what, rc < 0 ? df_errmsg() : "success");
    st_free(&s);
    unlink(path);
    free(path);
}

static void test_rules(const char *dir) {
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "expected 0");  /* hole */
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "trailing bytes");
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "expected 8");     /* overlap */
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "invalid shape");
    expect_bad(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
}

static void test_roundtrip(const char *dir) {
    float a[6] = {1, -2, 0.5f, 3.25f, -0.125f, 1024}, b[3] = {0.1f, -7.3f, 65504.0f};
    StWriteTensor w[3] = {{"x.bf16", DF_BF16, 2, {2, 3}, a}, {"x.f32", DF_F32, 1, {3}, b}, {"x.f16", DF_F16, 1, {3}, b}};
    char *path = df_path_join(dir, "rt.safetensors");
    CHECK(st_write_file(path, w, 3) == 0, "%s", df_errmsg());
    StSet s = {0};
    CHECK(st_add_file(&s, path) == 0, "%s", df_errmsg());
    float got[6];
    const StTensor *t = st_find(&s, "x.bf16");
    CHECK(t && t->dtype == DF_BF16 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3, "x.bf16 header");
    if (t) st_read_f32(&s, t, got);
    CHECK(t && !memcmp(got, a, sizeof a), "bf16 values (all exactly representable)");
    t = st_find(&s, "x.f32");
    if (t) st_read_f32(&s, t, got);
    CHECK(t && !memcmp(got, b, sizeof b), "f32 values");
    t = st_find(&s, "x.f16");
    if (t) st_read_f32(&s, t, got);
    for (int i = 0; t && i < 3; i++) CHECK(got[i] == (float)(_Float16)b[i], "f16 value %d", i);
    /* data is 8-byte aligned after the header, F32 first (descending alignment, then name) */
    const StTensor *f = st_find(&s, "x.f32");
    CHECK(f && (f->offset % 8) == 0, "data not aligned");
    st_free(&s);
    unlink(path);
    free(path);
}

static void test_dtype_bits(void) {
    int bad_bf = 0, bad_h = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t h = (uint16_t)u;
        float f = df_bf16_to_f32(h);
        if (f == f && df_f32_to_bf16(f) != h) bad_bf++;
        float g = df_f16_to_f32(h);
        if (g == g && df_f32_to_f16(g) != h) bad_h++;
    }
    CHECK(bad_bf == 0 && bad_h == 0, "bit patterns not preserved: bf16 %d, f16 %d", bad_bf, bad_h);
    /* round to nearest even: 1 + 2^-8 is halfway between bf16 1 and 1+2^-7 */
    CHECK(df_f32_to_bf16(1.0f + 1.0f / 256) == df_f32_to_bf16(1.0f), "ties to even");
    CHECK(df_f32_to_bf16(1.0f + 3.0f / 256) == df_f32_to_bf16(1.0f + 4.0f / 256), "ties to even (odd)");
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    const char *dir = test_tmpdir("st");
    test_big_offsets(dir);
    test_rules(dir);
    test_roundtrip(dir);
    test_dtype_bits();
    df_rm_rf(dir);
    return test_end("test_safetensors");
}
