/* ref.c: the scalar reference kernels: plain loops, the definition of correct (docs/ARCHITECTURE.md, kernels).
 * Always compiled; avx2.c is tested against these. Not tuned for speed. */
#include "kernels.h"

#include <math.h>

static float dot_ref(const float *a, const float *b, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void matvec_ref(float *out, const float *w, const float *x, size_t rows, size_t cols)
{
    for (size_t i = 0; i < rows; i++)
        out[i] = dot_ref(w + i * cols, x, cols);
}

/* One row of a Q8_0 matrix: the groups follow the flattened index, so a row may start
 * in the middle of a group. */
static float row_q8_ref(const struct kernels_q8 *w, size_t row, const float *x, size_t cols)
{
    size_t e = row * cols;
    float s = 0.0f;
    for (size_t j = 0; j < cols; j++, e++)
        s += (float)w->q[e] * w->s[e / w->gs] * x[j];
    return s;
}

static void matvec_q8_ref(float *out, const struct kernels_q8 *w, size_t r0, size_t r1,
                          const float *x, size_t cols)
{
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = row_q8_ref(w, i, x, cols);
}

static void matmul_ref(float *out, size_t ld_out, const float *w, const float *x, size_t n,
                       size_t rows, size_t cols)
{
    for (size_t t = 0; t < n; t++)
        matvec_ref(out + t * ld_out, w, x + t * cols, rows, cols);
}

static void matmul_q8_ref(float *out, size_t ld_out, const struct kernels_q8 *w, size_t r0,
                          size_t r1, const float *x, size_t n, size_t cols)
{
    for (size_t t = 0; t < n; t++)
        matvec_q8_ref(out + t * ld_out, w, r0, r1, x + t * cols, cols);
}

static void rmsnorm_ref(float *out, const float *x, const float *w, size_t n, float eps)
{
    float ss = 0.0f;
    for (size_t i = 0; i < n; i++)
        ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (size_t i = 0; i < n; i++)
        out[i] = w[i] * (scale * x[i]);
}

static void softmax_ref(float *x, size_t n)
{
    if (n == 0)
        return;
    float max = x[0];
    for (size_t i = 1; i < n; i++)
        if (x[i] > max)
            max = x[i];
    float sum = 0.0f;
    for (size_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (size_t i = 0; i < n; i++)
        x[i] /= sum;
}

static void axpy_ref(float *y, float a, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

const struct kernels_ops kernels_ref = {
    .name = "ref",
    .dot = dot_ref,
    .matvec = matvec_ref,
    .matvec_q8 = matvec_q8_ref,
    .matmul = matmul_ref,
    .matmul_q8 = matmul_q8_ref,
    .rmsnorm = rmsnorm_ref,
    .softmax = softmax_ref,
    .axpy = axpy_ref,
};
