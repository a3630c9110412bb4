#include "depthfuse/dtype.h"

static const char *const NAMES[] = {"F32", "F16", "BF16"};
static const size_t SIZES[] = {4, 2, 2};

size_t df_dtype_size(DfDtype t) { return SIZES[t]; }
const char *df_dtype_name(DfDtype t) { return NAMES[t]; }

int df_dtype_parse(const char *s, DfDtype *t) {
    for (int i = 0; i < 3; i++)
        if (strcmp(s, NAMES[i]) == 0) {
            *t = (DfDtype)i;
            return 0;
        }
    return -1;
}

void df_convert_to_f32(float *dst, const void *src, size_t n, DfDtype t) {
    const uint16_t *h = src;
    switch (t) {
    case DF_F32: memcpy(dst, src, n * 4); break;
    case DF_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = df_bf16_to_f32(h[i]);
        break;
    case DF_F16:
        for (size_t i = 0; i < n; i++) dst[i] = df_f16_to_f32(h[i]);
        break;
    }
}

void df_convert_from_f32(void *dst, const float *src, size_t n, DfDtype t) {
    uint16_t *h = dst;
    switch (t) {
    case DF_F32: memcpy(dst, src, n * 4); break;
    case DF_BF16:
        for (size_t i = 0; i < n; i++) h[i] = df_f32_to_bf16(src[i]);
        break;
    case DF_F16:
        for (size_t i = 0; i < n; i++) h[i] = df_f32_to_f16(src[i]);
        break;
    }
}
