/* ref.c: the scalar reference kernels: plain loops, the definition of correct
 * (docs/ARCHITECTURE.md, kernels). Always compiled; every SIMD tier is tested against these.
 * Not tuned for speed. */
#include "act.h"
#include "kernels_internal.h"
#include "quant_internal.h"

#include <math.h>
#include <string.h>

static const void *row_at(const struct kernels_mat *w, size_t i)
{
    return (const char *)w->data + i * w->row_bytes;
}

/* ---- half floats ---- */

float kernels_half_to_float(uint16_t h)
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

uint16_t kernels_float_to_half(float f)
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

/* ---- to_float / from_float ---- */

void kernels_to_float_f32(const void *src, float *dst, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}

void kernels_from_float_f32(const float *src, void *dst, size_t n)
{
    memcpy(dst, src, n * sizeof *src);
}

void kernels_to_float_f16(const void *src, float *dst, size_t n)
{
    const uint16_t *h = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = kernels_half_to_float(h[i]);
}

void kernels_to_float_i8(const void *src, float *dst, size_t n)
{
    const int8_t *q = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)q[i];
}

void kernels_row_to_float(const struct kernels_mat *w, size_t row, float *out)
{
    if (w->type == KERNELS_Q8_G) {
        const int8_t *q = row_at(w, row);
        const size_t base = row * w->cols;
        for (size_t j = 0; j < w->cols; j++)
            out[j] = (float)q[j] * w->scales[(base + j) / w->gs];
        return;
    }
    const struct kernels_type_traits *tr = &kernels_types[w->type];
    if (w->interleave) {
        char blk[QUANT_BLOCK_MAX];
        for (size_t i = 0; i < w->cols / tr->block_size; i++) {
            quant_block_of(w, row, i, blk);
            tr->to_float(blk, out + i * tr->block_size, tr->block_size);
        }
        return;
    }
    tr->to_float(row_at(w, row), out, w->cols);
}

/* ---- dot ---- */

float kernels_dot_f32_ref(const void *a, const void *x, size_t n)
{
    const float *p = a, *q = x;
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += p[i] * q[i];
    return s;
}

float kernels_dot_f16_ref(const void *a, const void *x, size_t n)
{
    const uint16_t *p = a;
    const float *q = x;
    float s = 0.0f;
    for (size_t i = 0; i < n; i++)
        s += kernels_half_to_float(p[i]) * q[i];
    return s;
}

float kernels_dot_i8_ref(const void *a, const void *x, size_t n)
{
    const int8_t *p = a, *q = x;
    int32_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += (int32_t)p[i] * (int32_t)q[i];
    return (float)s;
}

/* ---- matvec ---- */

/* Any type with a per-row dot (f32, f16, i8): one ref dot per row. */
void kernels_matvec_rows_ref(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x)
{
    const kernels_dot_fn dot = kernels_types[w->type].tier[KERNELS_TIER_REF].dot;
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = dot(row_at(w, i), x, w->cols);
}

/* The groups follow the flattened index, so a row may start in the middle of a group. */
void kernels_matvec_q8g_ref(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                            const void *x)
{
    const float *xf = x;
    for (size_t i = r0; i < r1; i++) {
        const int8_t *q = row_at(w, i);
        size_t e = i * w->cols;
        float s = 0.0f;
        for (size_t j = 0; j < w->cols; j++, e++)
            s += (float)q[j] * w->scales[e / w->gs] * xf[j];
        out[i - r0] = s;
    }
}

/* ---- gemm ---- */

void kernels_gemm_ref(float *out, size_t out_row, size_t out_tok, const struct kernels_mat *w,
                      size_t r0, size_t r1, const void *x, size_t x_stride, size_t n_tok)
{
    const kernels_matvec_fn mv = kernels_types[w->type].tier[KERNELS_TIER_REF].matvec;
    float one[1];
    for (size_t t = 0; t < n_tok; t++)
        for (size_t i = r0; i < r1; i++) {
            mv(one, w, i, i + 1, (const char *)x + t * x_stride);
            out[(i - r0) * out_row + t * out_tok] = one[0];
        }
}

/* ---- vector ops ---- */

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

static void round_f16_ref(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = kernels_half_to_float(kernels_float_to_half(v[i]));
}

static void to_f16_ref(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = kernels_float_to_half(src[i]);
}

static void att_scores_ref(float *sc, const float *q, const float *k, size_t k_stride, size_t n,
                           size_t hs, float scale)
{
    for (size_t i = 0; i < n; i++)
        sc[i] = kernels_dot_f32_ref(q, k + i * k_stride, hs) * scale;
}

static void att_sum_ref(float *out, const float *w, const float *v, size_t v_stride, size_t n,
                        size_t hs)
{
    memset(out, 0, hs * sizeof *out);
    for (size_t i = 0; i < n; i++)
        axpy_ref(out, w[i], v + i * v_stride, hs);
}

static void att_scores_f16_ref(float *sc, const float *q, const uint16_t *k, size_t k_stride,
                               size_t n, size_t hs, float scale)
{
    for (size_t i = 0; i < n; i++) { /* kernels_dot_f32_ref on the converted key */
        float s = 0.0f;
        for (size_t d = 0; d < hs; d++)
            s += q[d] * kernels_half_to_float(k[i * k_stride + d]);
        sc[i] = s * scale;
    }
}

static void att_sum_f16_ref(float *out, const float *w, const uint16_t *v, size_t v_stride,
                            size_t n, size_t hs)
{
    memset(out, 0, hs * sizeof *out);
    for (size_t i = 0; i < n; i++) /* axpy_ref on the converted value */
        for (size_t d = 0; d < hs; d++)
            out[d] += w[i] * kernels_half_to_float(v[i * v_stride + d]);
}

static void att_scores_f16_multi_ref(float *sc, size_t sc_ld, const float *q, size_t q_stride,
                                     size_t nq, const uint16_t *k, size_t k_stride, size_t n,
                                     size_t hs, float scale)
{
    kernels_att_scores_f16_loop(att_scores_f16_ref, sc, sc_ld, q, q_stride, nq, k, k_stride, n, hs,
                                scale);
}

static void att_sum_f16_multi_ref(float *out, size_t out_stride, const float *w, size_t w_ld,
                                  size_t nq, const uint16_t *v, size_t v_stride, const size_t *n,
                                  size_t hs)
{
    kernels_att_sum_f16_loop(att_sum_f16_ref, out, out_stride, w, w_ld, nq, v, v_stride, n, hs);
}

static void att_sum_q8_0_ref(float *out, const float *w, const void *v, size_t v_row_bytes,
                             size_t n, size_t hs)
{
    memset(out, 0, hs * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const struct block_q8_0 *b = (const void *)((const char *)v + i * v_row_bytes);
        for (size_t j = 0; j < hs / QK8_0; j++) {
            const float a = w[i] * kernels_half_to_float(b[j].d);
            for (size_t d = 0; d < QK8_0; d++)
                out[j * QK8_0 + d] += a * (float)b[j].qs[d];
        }
    }
}

const struct kernels_vec_ops kernels_vec_ref = {
    .rmsnorm = rmsnorm_ref,
    .softmax = softmax_ref,
    .axpy = axpy_ref,
    .round_f16 = round_f16_ref,
    .to_f16 = to_f16_ref,
    .att_scores = att_scores_ref,
    .att_sum = att_sum_ref,
    .att_scores_f16 = att_scores_f16_ref,
    .att_sum_f16 = att_sum_f16_ref,
    .att_scores_f16_multi = att_scores_f16_multi_ref,
    .att_sum_f16_multi = att_sum_f16_multi_ref,
    .att_sum_q8_0 = att_sum_q8_0_ref,
    .att_scores_q8_0 = quant_att_scores_q8_0_ref,
    .layernorm = kernels_layernorm,
    .exp_sum = kernels_exp_sum,
};
