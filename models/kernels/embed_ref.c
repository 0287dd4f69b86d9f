/* embed_ref.c: scalar reference kernels for word-vector search (embed_kernels.h) and the
 * one-time choice between them and the AVX2 twins. Plain loops: the definition of correct. */
#include "embed_kernels.h"

#include <pthread.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- half floats ---- */

float embed_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t embed_float_to_half(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0));
    if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        if (absx < 0x33000000u) /* < 2^-25: rounds to zero */
            return sign;
        uint32_t man = (absx & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23); /* 14..24 */
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((absx >> 13) - ((127u - 15u) << 10));
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        half++; /* may carry into the exponent: still correct */
    return (uint16_t)(sign | half);
}

/* ---- reference kernels ---- */

static void dot_f32_rows_ref(const float *rows, size_t stride, size_t n_rows, const float *q,
                             size_t n, float *out)
{
    for (size_t r = 0; r < n_rows; r++) {
        const float *x = rows + r * stride;
        float s = 0.0f;
        for (size_t i = 0; i < n; i++)
            s += x[i] * q[i];
        out[r] = s;
    }
}

static void dot_f16_rows_ref(const uint16_t *rows, size_t stride, size_t n_rows, const float *q,
                             size_t n, float *out)
{
    for (size_t r = 0; r < n_rows; r++) {
        const uint16_t *x = rows + r * stride;
        float s = 0.0f;
        for (size_t i = 0; i < n; i++)
            s += embed_half_to_float(x[i]) * q[i];
        out[r] = s;
    }
}

static void dot_i8_rows_ref(const int8_t *rows, size_t stride, size_t n_rows, const int8_t *q,
                            size_t n, int32_t *out)
{
    for (size_t r = 0; r < n_rows; r++) {
        const int8_t *x = rows + r * stride;
        int32_t s = 0;
        for (size_t i = 0; i < n; i++)
            s += (int32_t)x[i] * (int32_t)q[i];
        out[r] = s;
    }
}

static void gemm_f32_ref(const float *rows, size_t stride, size_t n_rows, const float *qs,
                         size_t q_stride, size_t n_q, size_t n, float *out)
{
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < n_q; j++) {
            float s = 0.0f;
            for (size_t i = 0; i < n; i++)
                s += rows[r * stride + i] * qs[j * q_stride + i];
            out[r * n_q + j] = s;
        }
}

const struct embed_kernels embed_kernels_ref = {
    .name = "ref",
    .dot_f32_rows = dot_f32_rows_ref,
    .dot_f16_rows = dot_f16_rows_ref,
    .dot_i8_rows = dot_i8_rows_ref,
    .gemm_f32 = gemm_f32_ref,
};

/* ---- selection ---- */

static const struct embed_kernels *selected;
static pthread_once_t select_once = PTHREAD_ONCE_INIT;

static void select_run(void)
{
    const char *force = getenv("LMSERVE_KERNELS");
    selected = &embed_kernels_ref;
    if (force && strcmp(force, "ref") == 0)
        return;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C); /* clang's builtin lacks "f16c" */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c)
        selected = &embed_kernels_avx2;
#endif
}

const struct embed_kernels *embed_kernels_select(void)
{
    pthread_once(&select_once, select_run);
    return selected;
}
