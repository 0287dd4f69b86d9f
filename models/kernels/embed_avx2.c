/* embed_avx2.c: AVX2/FMA/F16C twins of embed_ref.c. One index runs across the SIMD body and
 * the scalar tail. Built with -mavx2 -mfma (Makefile); each function also enables F16C for
 * the half conversions, and embed_kernels_select() checks all three CPU flags. */
#include "embed_kernels.h"

#include <immintrin.h>

/* Per function, for gcc and clang alike (clang ignores #pragma GCC target): the Makefile's
 * -mavx2 -mfma does not include F16C. */
#define TARGET __attribute__((target("avx2,fma,f16c")))

#define F32_LANES 8 /* floats per __m256 */
#define I8_LANES 32 /* int8 per __m256i */
#define GEMM_R 3 /* gemm register tile: 3 rows x 4 queries = 12 accumulators (+3+1 = 16 ymm) */
#define GEMM_Q 4
#define GEMM_Q_BLOCK 16 /* queries kept hot in L1 while a row tile sweeps them (16*304*4 B) */

/* [sum(a0), sum(a1), sum(a2), sum(a3)] */
TARGET static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* The row scans read one row after another (a single sequential stream, which the hardware
 * prefetcher follows best) with four independent accumulators per row, so the loads never
 * wait on an FMA chain. Every row takes the same code path, whatever its position, so equal
 * rows give bit-equal scores and ties stay exact ties. */
TARGET static inline float hsum8(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

#define UNROLL 4 /* independent accumulators per row */

TARGET static void dot_f32_rows_avx2(const float *rows, size_t stride, size_t n_rows, const float *q,
                              size_t n, float *out)
{
    for (size_t r = 0; r < n_rows; r++) {
        const float *x = rows + r * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + UNROLL * F32_LANES <= n; i += UNROLL * F32_LANES) {
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(q + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(q + i + 8), a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(q + i + 16), a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(q + i + 24), a3);
        }
        for (; i + F32_LANES <= n; i += F32_LANES)
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(q + i), a0);
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < n; i++)
            s += x[i] * q[i];
        out[r] = s;
    }
}

TARGET static void dot_f16_rows_avx2(const uint16_t *rows, size_t stride, size_t n_rows,
                              const float *q, size_t n, float *out)
{
#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    for (size_t r = 0; r < n_rows; r++) {
        const uint16_t *x = rows + r * stride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + UNROLL * F32_LANES <= n; i += UNROLL * F32_LANES) {
            a0 = _mm256_fmadd_ps(LOADH(x + i), _mm256_loadu_ps(q + i), a0);
            a1 = _mm256_fmadd_ps(LOADH(x + i + 8), _mm256_loadu_ps(q + i + 8), a1);
            a2 = _mm256_fmadd_ps(LOADH(x + i + 16), _mm256_loadu_ps(q + i + 16), a2);
            a3 = _mm256_fmadd_ps(LOADH(x + i + 24), _mm256_loadu_ps(q + i + 24), a3);
        }
        for (; i + F32_LANES <= n; i += F32_LANES)
            a0 = _mm256_fmadd_ps(LOADH(x + i), _mm256_loadu_ps(q + i), a0);
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        for (; i < n; i++)
            s += _cvtsh_ss(x[i]) * q[i];
        out[r] = s;
    }
#undef LOADH
}

/* int8 x int8 with the sign trick: maddubs needs an unsigned operand, so it multiplies |x|
 * by q carrying x's sign; with both sides in [-127, 127] a pair of products (<= 32258) never
 * saturates int16, and madd with ones widens the pairs to int32 exactly. */
TARGET static void dot_i8_rows_avx2(const int8_t *rows, size_t stride, size_t n_rows, const int8_t *q,
                             size_t n, int32_t *out)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i ones128 = _mm_set1_epi16(1);
    for (size_t r = 0; r < n_rows; r++) {
        const int8_t *x = rows + r * stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0;
        size_t i = 0;
        for (; i + 2 * I8_LANES <= n; i += 2 * I8_LANES) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + I8_LANES));
            __m256i p0 = _mm256_maddubs_epi16(
                _mm256_sign_epi8(x0, x0),
                _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q + i)), x0));
            __m256i p1 = _mm256_maddubs_epi16(
                _mm256_sign_epi8(x1, x1),
                _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q + i + I8_LANES)), x1));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(p1, ones));
        }
        for (; i + I8_LANES <= n; i += I8_LANES) {
            __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
            __m256i p0 = _mm256_maddubs_epi16(
                _mm256_sign_epi8(x0, x0),
                _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(q + i)), x0));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(p0, ones));
        }
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(_mm256_add_epi32(a0, a1)),
                                  _mm256_extracti128_si256(_mm256_add_epi32(a0, a1), 1));
        for (; i + I8_LANES / 2 <= n; i += I8_LANES / 2) { /* a 16-byte step: rows padded to 16 */
            __m128i x0 = _mm_loadu_si128((const __m128i *)(x + i));
            __m128i p0 = _mm_maddubs_epi16(_mm_sign_epi8(x0, x0),
                                           _mm_sign_epi8(_mm_loadu_si128((const __m128i *)(q + i)), x0));
            h = _mm_add_epi32(h, _mm_madd_epi16(p0, ones128));
        }
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        int32_t s = _mm_cvtsi128_si32(h);
        for (; i < n; i++)
            s += (int32_t)x[i] * q[i];
        out[r] = s;
    }
}

/* One GEMM_R x GEMM_Q tile; mr <= GEMM_R rows and mq <= GEMM_Q queries are real, the rest
 * repeat the first (computed, not stored), so every score of a batch takes the same path
 * (equal rows tie exactly within a batch; across paths scores agree to float rounding). */
TARGET static inline void gemm_tile(const float *x, size_t stride, size_t mr, const float *qs,
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

TARGET static void gemm_f32_avx2(const float *rows, size_t stride, size_t n_rows, const float *qs,
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
