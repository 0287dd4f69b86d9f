/* test_embed_kernels.c: the AVX2 word-vector kernels against the scalar reference on every
 * tail length, and the half-float conversions. */
#include "../../../../models/kernels/embed_kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const size_t KT_SIZES[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 1023};
#define KT_N_SIZES (sizeof KT_SIZES / sizeof KT_SIZES[0])
#define KT_MAX_ROWS 9  /* row counts 1..9 cover every remainder of the 4-row and 3-row loops */
#define KT_MAX_Q 9     /* query counts 1..9 cover every remainder of the 4-query tile */

static uint32_t kt_rng = 12345u;
static float kt_rand(void)
{
    kt_rng = kt_rng * 1664525u + 1013904223u;
    return (float)((kt_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int kt_have_avx2(void) { return embed_kernels_select() == &embed_kernels_avx2; }

static void kt_check(const char *op, size_t n, size_t r, float exp, float got, float mag)
{
    float tol = EMBED_KERNELS_TOL_DOT_F32 * mag + 1e-6f;
    cr_expect(fabsf(exp - got) <= tol, "%s n=%zu row=%zu expected %.9g got %.9g error %.3g", op,
              n, r, exp, got, fabsf(exp - got));
}

Test(embed_kernels, dot_f32_rows_avx2_equals_ref)
{
    if (!kt_have_avx2())
        cr_skip_test("AVX2 kernels not selected on this CPU / LMSERVE_KERNELS=ref");
    for (size_t s = 0; s < KT_N_SIZES; s++) {
        size_t n = KT_SIZES[s], stride = n + 3;
        float *rows = malloc(KT_MAX_ROWS * stride * sizeof(float)), *q = malloc(n * sizeof(float));
        for (size_t i = 0; i < KT_MAX_ROWS * stride; i++)
            rows[i] = kt_rand();
        for (size_t i = 0; i < n; i++)
            q[i] = kt_rand();
        for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
            float a[KT_MAX_ROWS], b[KT_MAX_ROWS];
            embed_kernels_ref.dot_f32_rows(rows, stride, nr, q, n, a);
            embed_kernels_avx2.dot_f32_rows(rows, stride, nr, q, n, b);
            for (size_t r = 0; r < nr; r++) {
                float mag = 0;
                for (size_t i = 0; i < n; i++)
                    mag += fabsf(rows[r * stride + i] * q[i]);
                kt_check("dot_f32_rows", n, r, a[r], b[r], mag);
            }
        }
        free(rows);
        free(q);
    }
}

Test(embed_kernels, dot_f16_rows_avx2_equals_ref)
{
    if (!kt_have_avx2())
        cr_skip_test("AVX2 kernels not selected");
    for (size_t s = 0; s < KT_N_SIZES; s++) {
        size_t n = KT_SIZES[s], stride = n + 5;
        uint16_t *rows = malloc(KT_MAX_ROWS * stride * sizeof(uint16_t));
        float *q = malloc(n * sizeof(float));
        for (size_t i = 0; i < KT_MAX_ROWS * stride; i++)
            rows[i] = embed_float_to_half(kt_rand());
        for (size_t i = 0; i < n; i++)
            q[i] = kt_rand();
        for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
            float a[KT_MAX_ROWS], b[KT_MAX_ROWS];
            embed_kernels_ref.dot_f16_rows(rows, stride, nr, q, n, a);
            embed_kernels_avx2.dot_f16_rows(rows, stride, nr, q, n, b);
            for (size_t r = 0; r < nr; r++) {
                float mag = 0;
                for (size_t i = 0; i < n; i++)
                    mag += fabsf(embed_half_to_float(rows[r * stride + i]) * q[i]);
                kt_check("dot_f16_rows", n, r, a[r], b[r], mag);
            }
        }
        free(rows);
        free(q);
    }
}

Test(embed_kernels, dot_i8_rows_avx2_equals_ref_exactly)
{
    if (!kt_have_avx2())
        cr_skip_test("AVX2 kernels not selected");
    for (size_t s = 0; s < KT_N_SIZES; s++) {
        size_t n = KT_SIZES[s], stride = n + 1;
        int8_t *rows = malloc(KT_MAX_ROWS * stride);
        int8_t *q = malloc(n);
        for (size_t i = 0; i < KT_MAX_ROWS * stride; i++)
            rows[i] = (int8_t)(kt_rand() * 127.0f);
        for (size_t i = 0; i < n; i++)
            q[i] = (int8_t)(kt_rand() * 127.0f);
        if (n > 2) { /* the extremes: |x| = |q| = 127 must not saturate a pair */
            rows[0] = rows[1] = 127;
            q[0] = q[1] = -127;
        }
        for (size_t nr = 1; nr <= KT_MAX_ROWS; nr++) {
            int32_t a[KT_MAX_ROWS], b[KT_MAX_ROWS];
            embed_kernels_ref.dot_i8_rows(rows, stride, nr, q, n, a);
            embed_kernels_avx2.dot_i8_rows(rows, stride, nr, q, n, b);
            for (size_t r = 0; r < nr; r++)
                cr_expect_eq(a[r], b[r], "dot_i8_rows n=%zu row=%zu expected %d got %d", n, r,
                             a[r], b[r]);
        }
        free(rows);
        free(q);
    }
}

Test(embed_kernels, gemm_avx2_equals_ref_and_row_kernel_within_tolerance)
{
    if (!kt_have_avx2())
        cr_skip_test("AVX2 kernels not selected");
    for (size_t s = 0; s < KT_N_SIZES; s++) {
        size_t n = KT_SIZES[s], stride = n + 2;
        float *rows = malloc(KT_MAX_ROWS * stride * sizeof(float));
        float *qs = malloc(KT_MAX_Q * stride * sizeof(float));
        for (size_t i = 0; i < KT_MAX_ROWS * stride; i++)
            rows[i] = kt_rand();
        for (size_t i = 0; i < KT_MAX_Q * stride; i++)
            qs[i] = kt_rand();
        for (size_t nr = 1; nr <= KT_MAX_ROWS; nr += 2)
            for (size_t nq = 1; nq <= KT_MAX_Q; nq++) {
                float a[KT_MAX_ROWS * KT_MAX_Q], b[KT_MAX_ROWS * KT_MAX_Q], c[KT_MAX_ROWS];
                embed_kernels_ref.gemm_f32(rows, stride, nr, qs, stride, nq, n, a);
                embed_kernels_avx2.gemm_f32(rows, stride, nr, qs, stride, nq, n, b);
                for (size_t j = 0; j < nq; j++) {
                    /* the batch and single paths sum in different orders: agree to rounding */
                    embed_kernels_avx2.dot_f32_rows(rows, stride, nr, qs + j * stride, n, c);
                    for (size_t r = 0; r < nr; r++) {
                        float mag = 0;
                        for (size_t i = 0; i < n; i++)
                            mag += fabsf(rows[r * stride + i] * qs[j * stride + i]);
                        kt_check("gemm_f32", n, r, a[r * nq + j], b[r * nq + j], mag);
                        kt_check("gemm_f32 vs dot_f32_rows", n, r, c[r], b[r * nq + j], mag);
                    }
                }
            }
        free(rows);
        free(qs);
    }
}

Test(embed_kernels, a_row_scores_the_same_wherever_it_sits)
{
    const struct embed_kernels *k = embed_kernels_select();
    size_t n = 33, stride = 40;
    float rows[7 * 40], q[40], out[7];
    for (size_t i = 0; i < stride; i++)
        q[i] = kt_rand();
    for (size_t i = 0; i < stride; i++)
        rows[i] = kt_rand();
    for (size_t r = 1; r < 7; r++)
        memcpy(rows + r * stride, rows, stride * sizeof(float));
    k->dot_f32_rows(rows, stride, 7, q, n, out);
    for (size_t r = 1; r < 7; r++)
        cr_expect(out[r] == out[0], "row %zu: %.9g vs %.9g", r, out[r], out[0]);
}

Test(embed_kernels, half_round_trip_and_rounding)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        uint16_t x = (uint16_t)h;
        if ((x & 0x7c00u) == 0x7c00u && (x & 0x3ffu))
            continue; /* NaN payloads */
        float f = embed_half_to_float(x);
        cr_assert_eq(embed_float_to_half(f), x, "half 0x%04x -> %g -> 0x%04x", x, f,
                     embed_float_to_half(f));
    }
    cr_expect_eq(embed_float_to_half(1.0f), 0x3c00);
    cr_expect_eq(embed_float_to_half(65504.0f), 0x7bff);
    cr_expect_eq(embed_float_to_half(65520.0f), 0x7c00);       /* rounds to inf */
    cr_expect_eq(embed_float_to_half(1.0f + 1.0f / 2048), 0x3c00); /* tie to even */
    cr_expect_eq(embed_float_to_half(1.0f + 3.0f / 2048), 0x3c02); /* tie to even, up */
    cr_expect_eq(embed_float_to_half(5.9604645e-08f), 0x0001);  /* smallest subnormal */
    cr_expect_eq(embed_float_to_half(2.9802322e-08f), 0x0000);  /* half of it: tie to even 0 */
}
