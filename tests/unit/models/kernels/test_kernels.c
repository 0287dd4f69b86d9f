/* test_kernels.c: every AVX2 kernel against the scalar reference on odd sizes, so every
 * SIMD tail runs (docs/ARCHITECTURE.md, kernels); and the thread team covering every item exactly once. */
#include "../../../../models/kernels/kernels.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define KT_TOL_REL 1e-5f /* summation order only: relative to sum |a_i b_i| */
static const size_t SIZES[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 63, 64, 65, 127, 255, 1023};
#define N_SIZES (sizeof SIZES / sizeof SIZES[0])

static uint64_t kt_rng = 88172645463325252ull;
static float kt_rand(void)
{
    kt_rng ^= kt_rng << 13;
    kt_rng ^= kt_rng >> 7;
    kt_rng ^= kt_rng << 17;
    return (float)((kt_rng >> 40) / 16777216.0 * 2.0 - 1.0);
}
static float *kt_vec(size_t n)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = kt_rand();
    return v;
}
static int8_t *kt_q(size_t n)
{
    int8_t *v = malloc(n);
    for (size_t i = 0; i < n; i++)
        v[i] = (int8_t)(kt_rand() * 127.0f);
    return v;
}
static void kt_close(const char *what, size_t n, float want, float got, float mag)
{
    float tol = KT_TOL_REL * (mag > 1.0f ? mag : 1.0f);
    cr_assert(fabsf(want - got) <= tol, "%s n=%zu: expected %.9g got %.9g error %.3g (tol %.3g)",
              what, n, want, got, fabsf(want - got), tol);
}

static void skip_without_avx2(void)
{
    if (!kernels_have_avx2())
        cr_skip_test("this CPU has no AVX2/FMA");
}

Test(kernels, dot_and_axpy)
{
    skip_without_avx2();
    for (size_t s = 0; s < N_SIZES; s++) {
        size_t n = SIZES[s];
        float *a = kt_vec(n), *b = kt_vec(n), *y1 = kt_vec(n), *y2 = malloc(n * sizeof *y2);
        float mag = 0;
        for (size_t i = 0; i < n; i++)
            mag += fabsf(a[i] * b[i]);
        kt_close("dot", n, kernels_ref.dot(a, b, n), kernels_avx2.dot(a, b, n), mag);
        for (size_t i = 0; i < n; i++)
            y2[i] = y1[i];
        kernels_ref.axpy(y1, 0.37f, a, n);
        kernels_avx2.axpy(y2, 0.37f, a, n);
        for (size_t i = 0; i < n; i++)
            kt_close("axpy", n, y1[i], y2[i], 2.0f);
        free(a), free(b), free(y1), free(y2);
    }
}

Test(kernels, matvec_and_matmul)
{
    skip_without_avx2();
    static const size_t ROWS[] = {1, 3, 4, 5, 17};
    for (size_t s = 0; s < N_SIZES; s++)
        for (size_t r = 0; r < sizeof ROWS / sizeof ROWS[0]; r++) {
            size_t cols = SIZES[s], rows = ROWS[r], ntok = 1 + (s % 6);
            float *w = kt_vec(rows * cols), *x = kt_vec(ntok * cols);
            float *o1 = calloc(ntok * rows, sizeof(float)), *o2 = calloc(ntok * rows, sizeof(float));
            kernels_ref.matvec(o1, w, x, rows, cols);
            kernels_avx2.matvec(o2, w, x, rows, cols);
            for (size_t i = 0; i < rows; i++)
                kt_close("matvec", cols, o1[i], o2[i], (float)cols);
            kernels_ref.matmul(o1, rows, w, x, ntok, rows, cols);
            kernels_avx2.matmul(o2, rows, w, x, ntok, rows, cols);
            for (size_t i = 0; i < ntok * rows; i++)
                kt_close("matmul", cols, o1[i], o2[i], (float)cols);
            free(w), free(x), free(o1), free(o2);
        }
}

Test(kernels, q8_matvec_and_matmul)
{
    skip_without_avx2();
    static const size_t GS[] = {16, 32, 64, 5};
    for (size_t s = 0; s < N_SIZES; s++)
        for (size_t g = 0; g < sizeof GS / sizeof GS[0]; g++) {
            const size_t cols = SIZES[s], rows = 7, gs = GS[g], ntok = 3;
            size_t n = rows * cols;
            if (n % gs != 0)
                continue;
            int8_t *q = kt_q(n);
            float *sc = kt_vec(n / gs), *x = kt_vec(ntok * cols);
            struct kernels_q8 w = {.q = q, .s = sc, .gs = gs};
            float o1[3 * 7], o2[3 * 7];
            for (size_t r0 = 0; r0 < 2; r0++) {
                kernels_ref.matvec_q8(o1, &w, r0, rows, x, cols);
                kernels_avx2.matvec_q8(o2, &w, r0, rows, x, cols);
                for (size_t i = 0; i < rows - r0; i++)
                    kt_close("matvec_q8", cols, o1[i], o2[i], 127.0f * (float)cols);
                kernels_ref.matmul_q8(o1, rows, &w, r0, rows, x, ntok, cols);
                kernels_avx2.matmul_q8(o2, rows, &w, r0, rows, x, ntok, cols);
                for (size_t t = 0; t < ntok; t++)
                    for (size_t i = 0; i < rows - r0; i++)
                        kt_close("matmul_q8", cols, o1[t * rows + i], o2[t * rows + i],
                                 127.0f * (float)cols);
            }
            free(q), free(sc), free(x);
        }
}

Test(kernels, rmsnorm_and_softmax)
{
    skip_without_avx2();
    for (size_t s = 0; s < N_SIZES; s++) {
        size_t n = SIZES[s];
        float *x = kt_vec(n), *w = kt_vec(n), *o1 = malloc(n * 4), *o2 = malloc(n * 4);
        kernels_ref.rmsnorm(o1, x, w, n, 1e-5f);
        kernels_avx2.rmsnorm(o2, x, w, n, 1e-5f);
        for (size_t i = 0; i < n; i++)
            kt_close("rmsnorm", n, o1[i], o2[i], 1.0f);
        for (size_t i = 0; i < n; i++)
            o1[i] = o2[i] = 8.0f * x[i];
        kernels_ref.softmax(o1, n);
        kernels_avx2.softmax(o2, n);
        float sum = 0;
        for (size_t i = 0; i < n; i++) {
            kt_close("softmax", n, o1[i], o2[i], 1.0f);
            sum += o2[i];
        }
        cr_assert(fabsf(sum - 1.0f) < 1e-5f, "softmax n=%zu sums to %g", n, sum);
        free(x), free(w), free(o1), free(o2);
    }
}

struct kt_cover {
    _Atomic int *hits;
};
static void kt_mark(void *ctx, size_t b, size_t e)
{
    struct kt_cover *c = ctx;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

Test(kernels, team_covers_every_item_once)
{
    kernels_threads_set(2);
    static const size_t N[] = {1, 2, 7, 100, 1023, 40000};
    for (size_t k = 0; k < sizeof N / sizeof N[0]; k++)
        for (size_t chunk = 1; chunk <= 64; chunk *= 4) {
            _Atomic int *hits = calloc(N[k], sizeof *hits);
            struct kt_cover c = {hits};
            kernels_parallel_for(N[k], chunk, kt_mark, &c);
            for (size_t i = 0; i < N[k]; i++)
                cr_assert_eq(hits[i], 1, "n=%zu chunk=%zu item %zu ran %d times", N[k], chunk, i,
                             (int)hits[i]);
            free((void *)hits);
        }
    kernels_threads_set(0);
}

Test(kernels, select_honours_env)
{
    const struct kernels_ops *k = kernels_select();
    cr_assert(k == &kernels_ref || k == &kernels_avx2);
    const char *env = getenv("LMSERVE_KERNELS");
    if (env && strcmp(env, "ref") == 0)
        cr_assert_eq(k, &kernels_ref);
}
