/* Storage dtypes of checkpoint tensors and their exact conversions to and from fp32.
 * Compute is always fp32; a bf16 or f16 value survives f32 and back bit-exactly. */
#ifndef DEPTHFUSE_DTYPE_H
#define DEPTHFUSE_DTYPE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum { DF_F32 = 0, DF_F16 = 1, DF_BF16 = 2 } DfDtype;

size_t df_dtype_size(DfDtype t);
const char *df_dtype_name(DfDtype t);        /* "F32", "F16", "BF16" (safetensors spelling) */
int df_dtype_parse(const char *s, DfDtype *t); /* -1 (no message) on unknown */

static inline float df_bf16_to_f32(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* round to nearest even, as torch does; NaN stays NaN */
static inline uint16_t df_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* IEEE half: C23's _Float16 (GCC; clang from 15 on x86), clang 14's storage type __fp16 (the fuzzers) */
#if defined(__clang__) && __clang_major__ < 15
typedef __fp16 df_half;
#else
typedef _Float16 df_half;
#endif

static inline float df_f16_to_f32(uint16_t h) {
    df_half x;
    memcpy(&x, &h, 2);
    return (float)x;
}

static inline uint16_t df_f32_to_f16(float f) {
    df_half x = (df_half)f;
    uint16_t h;
    memcpy(&h, &x, 2);
    return h;
}

/* n values of type t at src (little-endian bytes) into fp32 dst, and back */
void df_convert_to_f32(float *dst, const void *src, size_t n, DfDtype t);
void df_convert_from_f32(void *dst, const float *src, size_t n, DfDtype t);

#endif
