/* kernels_internal.h: the per-tier entries that types.c puts into the kernel table. Only the
 * files of models/kernels (and their tests) include this. */
#ifndef LMSERVE_KERNELS_INTERNAL_H
#define LMSERVE_KERNELS_INTERNAL_H

#include "kernels.h"

/* The vector ops of one tier (struct kernels_vec_ops: kernels.h). */
extern const struct kernels_vec_ops kernels_vec_ref, kernels_vec_avx2;
/* avx512.c's: only the ops it writes; select.c fills the rest from avx2 */
extern const struct kernels_vec_ops kernels_vec_avx512;

/* The multi-query attention ops as loops over a tier's one-query ops (their definition; the
 * ref and avx2 tiers use them as they are) */
static inline void kernels_att_scores_f16_loop(
    void (*one)(float *, const float *, const uint16_t *, size_t, size_t, size_t, float), float *sc,
    size_t sc_ld, const float *q, size_t q_stride, size_t nq, const uint16_t *k, size_t k_stride,
    size_t n, size_t hs, float scale)
{
    for (size_t j = 0; j < nq; j++)
        one(sc + j * sc_ld, q + j * q_stride, k, k_stride, n, hs, scale);
}

static inline void kernels_att_sum_f16_loop(
    void (*one)(float *, const float *, const uint16_t *, size_t, size_t, size_t), float *out,
    size_t out_stride, const float *w, size_t w_ld, size_t nq, const uint16_t *v, size_t v_stride,
    const size_t *n, size_t hs)
{
    for (size_t j = 0; j < nq; j++)
        one(out + j * out_stride, w + j * w_ld, v, v_stride, n[j], hs);
}

/* ref.c: the definitions */
void kernels_to_float_f32(const void *src, float *dst, size_t n);
void kernels_to_float_f16(const void *src, float *dst, size_t n);
void kernels_to_float_i8(const void *src, float *dst, size_t n);
void kernels_from_float_f32(const float *src, void *dst, size_t n);
float kernels_dot_f32_ref(const void *a, const void *x, size_t n);
float kernels_dot_f16_ref(const void *a, const void *x, size_t n);
float kernels_dot_i8_ref(const void *a, const void *x, size_t n);
/* Any type with a ref dot (f32, f16, i8): that dot once per row. */
void kernels_matvec_rows_ref(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x);
void kernels_matvec_q8g_ref(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                            const void *x);
/* Any type: matvec once per token (the reference GEMM; also the fallback of types that
 * have no faster one). */
void kernels_gemm_ref(float *out, size_t out_row, size_t out_tok, const struct kernels_mat *w,
                      size_t r0, size_t r1, const void *x, size_t x_stride, size_t n_tok);

/* avx2.c (AVX2 + FMA + F16C) */
float kernels_dot_f32_avx2(const void *a, const void *x, size_t n);
float kernels_dot_f16_avx2(const void *a, const void *x, size_t n);
float kernels_dot_i8_avx2(const void *a, const void *x, size_t n);
void kernels_matvec_f32_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x);
void kernels_matvec_f16_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x);
void kernels_matvec_i8_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                            const void *x);
void kernels_matvec_q8g_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x);
void kernels_gemm_f32_avx2(float *out, size_t out_row, size_t out_tok,
                           const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                           size_t x_stride, size_t n_tok);
void kernels_gemm_q8g_avx2(float *out, size_t out_row, size_t out_tok,
                           const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                           size_t x_stride, size_t n_tok);

/* act.c, compiled for AVX2+FMA+F16C by target attribute: the AVX2 tier's layernorm and
 * exp_sum (their references, kernels_layernorm and kernels_exp_sum, are in act.h) */
void kernels_layernorm_avx2(float *out, const float *x, const float *w, const float *b, size_t n,
                            float eps);
double kernels_exp_sum_avx2(float *y, const float *x, float max, size_t n);

/* avx512.c (AVX-512 F/BW/VL + the avx2 set) */
float kernels_dot_f32_avx512(const void *a, const void *x, size_t n);
void kernels_matvec_f32_avx512(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                               const void *x);
void kernels_gemm_f32_avx512(float *out, size_t out_row, size_t out_tok,
                             const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                             size_t x_stride, size_t n_tok);

#endif
