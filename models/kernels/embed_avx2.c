/* embed_avx2.c: AVX2/FMA/F16C twins of embed_ref.c. One index runs across the SIMD body and
 * the scalar tail. Built with -mavx2 -mfma (Makefile); F16C is enabled below for the half
 * conversions only, and embed_kernels_select() checks all three CPU flags. */
#pragma GCC target("avx2,fma,f16c")
#include "embed_kernels.h"

#include <immintrin.h>

#define F32_LANES 8 /* floats per __m256 */
#define I16_LANES 16 /* int16 per __m256i */
#define ROWS_AT_ONCE 4 /* rows per step of the row scans: four independent FMA chains */
#define GEMM_R 3 /* gemm register tile: 3 rows x 4 queries = 12 accumulators (+3+1 = 16 ymm) */
#define GEMM_Q 4
#define GEMM_Q_BLOCK 16 /* queries kept hot in L1 while a row tile sweeps them (16*304*4 B) */

/* [sum(a0), sum(a1), sum(a2), sum(a3)] */
static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

static inline __m128i hsum4_i32(__m256i a0, __m256i a1, __m256i a2, __m256i a3)
{
    __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* Every row goes through the same 4-row code (missing rows repeat the first one and are
 * not stored), so a row's score never depends on where it sits: ties stay exact ties. */
#define ROW_PTRS(T, base)                                                                   \
    size_t m = n_rows - r < ROWS_AT_ONCE ? n_rows - r : ROWS_AT_ONCE;                     \
    const T *x0 = (base) + r * stride;                                                     \
    const T *x1 = m > 1 ? x0 + stride : x0, *x2 = m > 2 ? x0 + 2 * stride : x0,            \
            *x3 = m > 3 ? x0 + 3 * stride : x0

static void dot_f32_rows_avx2(const float *rows, size_t stride, size_t n_rows, const float *q,
                              size_t n, float *out)
{
    for (size_t r = 0; r < n_rows; r += ROWS_AT_ONCE) {
        ROW_PTRS(float, rows);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + F32_LANES <= n; i += F32_LANES) {
            __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x0 + i), qv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x1 + i), qv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x2 + i), qv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x3 + i), qv, a3);
        }
        float t[ROWS_AT_ONCE];
        _mm_storeu_ps(t, hsum4(a0, a1, a2, a3));
        for (; i < n; i++) {
            t[0] += x0[i] * q[i];
            t[1] += x1[i] * q[i];
            t[2] += x2[i] * q[i];
            t[3] += x3[i] * q[i];
        }
        for (size_t j = 0; j < m; j++)
            out[r + j] = t[j];
    }
}

static void dot_f16_rows_avx2(const uint16_t *rows, size_t stride, size_t n_rows,
                              const float *q, size_t n, float *out)
{
#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    for (size_t r = 0; r < n_rows; r += ROWS_AT_ONCE) {
        ROW_PTRS(uint16_t, rows);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + F32_LANES <= n; i += F32_LANES) {
            __m256 qv = _mm256_loadu_ps(q + i);
            a0 = _mm256_fmadd_ps(LOADH(x0 + i), qv, a0);
            a1 = _mm256_fmadd_ps(LOADH(x1 + i), qv, a1);
            a2 = _mm256_fmadd_ps(LOADH(x2 + i), qv, a2);
            a3 = _mm256_fmadd_ps(LOADH(x3 + i), qv, a3);
        }
        float t[ROWS_AT_ONCE];
        _mm_storeu_ps(t, hsum4(a0, a1, a2, a3));
        for (; i < n; i++) {
            t[0] += _cvtsh_ss(x0[i]) * q[i];
            t[1] += _cvtsh_ss(x1[i]) * q[i];
            t[2] += _cvtsh_ss(x2[i]) * q[i];
            t[3] += _cvtsh_ss(x3[i]) * q[i];
        }
        for (size_t j = 0; j < m; j++)
            out[r + j] = t[j];
    }
#undef LOADH
}

static void dot_i8_rows_avx2(const int8_t *rows, size_t stride, size_t n_rows, const int16_t *q,
                             size_t n, int32_t *out)
{
#define LOADB(p) _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(p)))
    for (size_t r = 0; r < n_rows; r += ROWS_AT_ONCE) {
        ROW_PTRS(int8_t, rows);
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + I16_LANES <= n; i += I16_LANES) {
            __m256i qv = _mm256_loadu_si256((const __m256i *)(q + i));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(LOADB(x0 + i), qv));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(LOADB(x1 + i), qv));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(LOADB(x2 + i), qv));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(LOADB(x3 + i), qv));
        }
        int32_t t[ROWS_AT_ONCE];
        _mm_storeu_si128((__m128i *)t, hsum4_i32(a0, a1, a2, a3));
        for (; i < n; i++) {
            t[0] += (int32_t)x0[i] * q[i];
            t[1] += (int32_t)x1[i] * q[i];
            t[2] += (int32_t)x2[i] * q[i];
            t[3] += (int32_t)x3[i] * q[i];
        }
        for (size_t j = 0; j < m; j++)
            out[r + j] = t[j];
    }
#undef LOADB
}

/* One GEMM_R x GEMM_Q tile; mr <= GEMM_R rows and mq <= GEMM_Q queries are real, the rest
 * repeat the first (computed, not stored), so every score takes the same path as
 * dot_f32_rows_avx2: one accumulator, the same horizontal sum, the same scalar tail. */
static inline void gemm_tile(const float *x, size_t stride, size_t mr, const float *qs,
                             size_t q_stride, size_t mq, size_t n, size_t n_out, float *out)
{
    const float *x0 = x, *x1 = mr > 1 ? x + stride : x, *x2 = mr > 2 ? x + 2 * stride : x;
    const float *q0 = qs, *q1 = mq > 1 ? qs + q_stride : qs, *q2 = mq > 2 ? qs + 2 * q_stride : qs,
                *q3 = mq > 3 ? qs + 3 * q_stride : qs;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m256 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m256 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES) {
        __m256 r0 = _mm256_loadu_ps(x0 + i), r1 = _mm256_loadu_ps(x1 + i),
               r2 = _mm256_loadu_ps(x2 + i), qv;
        qv = _mm256_loadu_ps(q0 + i);
        c00 = _mm256_fmadd_ps(r0, qv, c00);
        c10 = _mm256_fmadd_ps(r1, qv, c10);
        c20 = _mm256_fmadd_ps(r2, qv, c20);
        qv = _mm256_loadu_ps(q1 + i);
        c01 = _mm256_fmadd_ps(r0, qv, c01);
        c11 = _mm256_fmadd_ps(r1, qv, c11);
        c21 = _mm256_fmadd_ps(r2, qv, c21);
        qv = _mm256_loadu_ps(q2 + i);
        c02 = _mm256_fmadd_ps(r0, qv, c02);
        c12 = _mm256_fmadd_ps(r1, qv, c12);
        c22 = _mm256_fmadd_ps(r2, qv, c22);
        qv = _mm256_loadu_ps(q3 + i);
        c03 = _mm256_fmadd_ps(r0, qv, c03);
        c13 = _mm256_fmadd_ps(r1, qv, c13);
        c23 = _mm256_fmadd_ps(r2, qv, c23);
    }
    float t[GEMM_R][GEMM_Q];
    _mm_storeu_ps(t[0], hsum4(c00, c01, c02, c03));
    _mm_storeu_ps(t[1], hsum4(c10, c11, c12, c13));
    _mm_storeu_ps(t[2], hsum4(c20, c21, c22, c23));
    const float *xr[GEMM_R] = {x0, x1, x2}, *qc[GEMM_Q] = {q0, q1, q2, q3};
    for (; i < n; i++)
        for (int a = 0; a < GEMM_R; a++)
            for (int b = 0; b < GEMM_Q; b++)
                t[a][b] += xr[a][i] * qc[b][i];
    for (size_t a = 0; a < mr; a++)
        for (size_t b = 0; b < mq; b++)
            out[a * n_out + b] = t[a][b];
}

static void gemm_f32_avx2(const float *rows, size_t stride, size_t n_rows, const float *qs,
                          size_t q_stride, size_t n_q, size_t n, float *out)
{
    for (size_t jb = 0; jb < n_q; jb += GEMM_Q_BLOCK) {
        size_t je = jb + GEMM_Q_BLOCK < n_q ? jb + GEMM_Q_BLOCK : n_q;
        for (size_t r = 0; r < n_rows; r += GEMM_R) {
            size_t mr = n_rows - r < GEMM_R ? n_rows - r : GEMM_R;
            for (size_t j = jb; j < je; j += GEMM_Q) {
                size_t mq = je - j < GEMM_Q ? je - j : GEMM_Q;
                gemm_tile(rows + r * stride, stride, mr, qs + j * q_stride, q_stride, mq, n, n_q,
                          out + r * n_q + j);
            }
        }
    }
}

const struct embed_kernels embed_kernels_avx2 = {
    .name = "avx2",
    .dot_f32_rows = dot_f32_rows_avx2,
    .dot_f16_rows = dot_f16_rows_avx2,
    .dot_i8_rows = dot_i8_rows_avx2,
    .gemm_f32 = gemm_f32_avx2,
};
