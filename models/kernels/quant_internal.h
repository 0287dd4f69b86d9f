/* quant_internal.h: ggml's block formats (GGUF weight types) as rows of the kernel table:
 * the block layouts exactly as ggml defines them (ggml-common.h), the scalar definitions
 * (quant_ref.c) and their AVX2 twins (quant_avx2.c). Activations are quantized per block
 * the way ggml's CPU backend does (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the
 * K-quants), which is what makes results match llama.cpp. Only models/kernels and tests. */
#ifndef LMSERVE_QUANT_INTERNAL_H
#define LMSERVE_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

/* value = d * (q - 8), q a nibble: byte j holds values j (low) and j + 16 (high) */
struct block_q4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
/* value = d * q + m */
struct block_q4_1 { uint16_t d, m; uint8_t qs[QK4_0 / 2]; };
/* value = d * ((nibble | bit << 4) - 16); bit j of qh belongs to value j */
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK4_0 / 2]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK4_0 / 2]; };
struct block_q8_0 { uint16_t d; int8_t qs[QK8_0]; };
/* activation type of Q4_1/Q5_1: s = d * sum(qs) (ggml's 36-byte layout) */
struct block_q8_1 { uint16_t d, s; int8_t qs[QK8_0]; };
/* 8 sub-blocks of 32, 6-bit scales and mins packed in 'scales' */
struct block_q4_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct block_q5_K {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
};
/* 16 sub-blocks of 16, 8-bit scales; value = d * scale * (q6 - 32) */
struct block_q6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
/* activation type of the K-quants: float scale, sums of each 16 values */
struct block_q8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };

/* Block i of 8 interleaved rows (kernels_mat.interleave): the 8 rows' scales, then their
 * quants in turns of 4 bytes: qs[32 c + 4 r + k] = byte 4 c + k of row r's block (Q5_0: its
 * qh first, as turn 0: lane r = row r's 32 high bits) */
struct block_q4_0x8 { uint16_t d[8]; uint8_t qs[8 * QK4_0 / 2]; };
struct block_q5_0x8 { uint16_t d[8]; uint8_t qh[8 * 4]; uint8_t qs[8 * QK4_0 / 2]; };
struct block_q8_0x8 { uint16_t d[8]; int8_t qs[8 * QK8_0]; };
/* Q4_K: the scales and mins unpacked (sc[j][r]: sub-block j of row r; m[k][r]: row r's mins of
 * sub-blocks 2k, 2k+1), so 1184 bytes for the 8 rows' 1152; quants in turns as above */
struct block_q4_Kx8 {
    uint16_t d[8], dmin[8];
    uint8_t sc[8][8];
    uint8_t m[4][8][2];
    uint8_t qs[8 * QK_K / 2];
};
#define QUANT_BLOCK_MAX 256 /* bytes: at least every interleavable type's block */

/* repack.c: the interleaved layout read one row at a time: block i of row 'row' of an
 * interleaved w, as the plain block (w's block_bytes into blk) ... */
void quant_block_of(const struct kernels_mat *w, size_t row, size_t i, void *blk);
/* ... and the ref tier's dot of that row (the ref dot block by block: bit for bit the ref
 * dot of the plain row), the matvec and GEMM made of it. */
float quant_dot_interleaved(const struct kernels_mat *w, size_t row, const void *x);
void quant_matvec_interleaved(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                              const void *x);
void quant_gemm_interleaved(float *out, size_t out_row, size_t out_tok,
                            const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                            size_t x_stride, size_t n_tok);

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static inline void quant_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* quant_ref.c: to_float (dequantize n values, a multiple of the block) */
void quant_to_float_bf16(const void *src, float *dst, size_t n);
void quant_to_float_q4_0(const void *src, float *dst, size_t n);
void quant_to_float_q4_1(const void *src, float *dst, size_t n);
void quant_to_float_q5_0(const void *src, float *dst, size_t n);
void quant_to_float_q5_1(const void *src, float *dst, size_t n);
void quant_to_float_q8_0(const void *src, float *dst, size_t n);
void quant_to_float_q8_1(const void *src, float *dst, size_t n);
void quant_to_float_q4_K(const void *src, float *dst, size_t n);
void quant_to_float_q5_K(const void *src, float *dst, size_t n);
void quant_to_float_q6_K(const void *src, float *dst, size_t n);
void quant_to_float_q8_K(const void *src, float *dst, size_t n);
/* from_float: activations as ggml's CPU backend quantizes them (AVX2 path: round half to
 * even, fp16 scales for Q8_0/Q8_1, float scale for Q8_K); and weights (ggml's reference
 * quantizers) for the converter. */
void quant_from_float_q8_0(const float *src, void *dst, size_t n);
void quant_from_float_q8_1(const float *src, void *dst, size_t n);
void quant_from_float_q8_K(const float *src, void *dst, size_t n);
/* the same bit for bit, AVX2 (quant_avx2.c) */
void quant_from_float_q8_0_avx2(const float *src, void *dst, size_t n);
void quant_from_float_q8_1_avx2(const float *src, void *dst, size_t n);
void quant_from_float_q8_K_avx2(const float *src, void *dst, size_t n);
void quant_from_float_bf16(const float *src, void *dst, size_t n);
void quant_from_float_q8_0_weights(const float *src, void *dst, size_t n);
void quant_from_float_q4_0_weights(const float *src, void *dst, size_t n);
void quant_from_float_q4_K_weights(const float *src, void *dst, size_t n);

/* dot per weight type with its activation type */
float quant_dot_bf16_ref(const void *a, const void *x, size_t n);
float quant_dot_q4_0_ref(const void *a, const void *x, size_t n);
float quant_dot_q4_1_ref(const void *a, const void *x, size_t n);
float quant_dot_q5_0_ref(const void *a, const void *x, size_t n);
float quant_dot_q5_1_ref(const void *a, const void *x, size_t n);
float quant_dot_q8_0_ref(const void *a, const void *x, size_t n);
void quant_att_scores_q8_0_ref(float *sc, const void *q8, const void *k, size_t k_row_bytes,
                               size_t n, size_t hs, float scale);
float quant_dot_q8_1_ref(const void *a, const void *x, size_t n);
float quant_dot_q4_K_ref(const void *a, const void *x, size_t n);
float quant_dot_q5_K_ref(const void *a, const void *x, size_t n);
float quant_dot_q6_K_ref(const void *a, const void *x, size_t n);
float quant_dot_q8_K_ref(const void *a, const void *x, size_t n);

float quant_dot_bf16_avx2(const void *a, const void *x, size_t n);
float quant_dot_q4_0_avx2(const void *a, const void *x, size_t n);
float quant_dot_q4_1_avx2(const void *a, const void *x, size_t n);
float quant_dot_q5_0_avx2(const void *a, const void *x, size_t n);
float quant_dot_q5_1_avx2(const void *a, const void *x, size_t n);
float quant_dot_q8_0_avx2(const void *a, const void *x, size_t n);
float quant_dot_q4_K_avx2(const void *a, const void *x, size_t n);
float quant_dot_q5_K_avx2(const void *a, const void *x, size_t n);
float quant_dot_q6_K_avx2(const void *a, const void *x, size_t n);

/* matvec / gemm for any block type, by rows, through the given dot (x: activations of the
 * weight type's vec_dot_type, w->cols values; gemm tokens at x + t * x_stride). */
void quant_matvec(kernels_dot_fn dot, float *out, const struct kernels_mat *w, size_t r0,
                  size_t r1, const void *x);
void quant_gemm(kernels_dot_fn dot, float *out, size_t out_row, size_t out_tok,
                const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                size_t x_stride, size_t n_tok);

/* One matvec and gemm per (type, tier), named quant_matvec_<type>_<tier> and
 * quant_gemm_<type>_<tier> (defined in quant_ref.c / quant_avx2.c). */
#define QUANT_ENTRIES(T, tier)                                                                \
    void quant_matvec_##T##_##tier(float *out, const struct kernels_mat *w, size_t r0,        \
                                   size_t r1, const void *x);                                \
    void quant_gemm_##T##_##tier(float *out, size_t out_row, size_t out_tok,                  \
                                 const struct kernels_mat *w, size_t r0, size_t r1,           \
                                 const void *x, size_t x_stride, size_t n_tok);
#define QUANT_DEFINE(T, tier)                                                                 \
    void quant_matvec_##T##_##tier(float *out, const struct kernels_mat *w, size_t r0,        \
                                   size_t r1, const void *x)                                 \
    {                                                                                         \
        quant_matvec(quant_dot_##T##_##tier, out, w, r0, r1, x);                              \
    }                                                                                         \
    void quant_gemm_##T##_##tier(float *out, size_t out_row, size_t out_tok,                  \
                                 const struct kernels_mat *w, size_t r0, size_t r1,           \
                                 const void *x, size_t x_stride, size_t n_tok)               \
    {                                                                                         \
        quant_gemm(quant_dot_##T##_##tier, out, out_row, out_tok, w, r0, r1, x, x_stride,    \
                   n_tok);                                                                    \
    }
QUANT_ENTRIES(bf16, ref) QUANT_ENTRIES(q4_0, ref) QUANT_ENTRIES(q4_1, ref)
QUANT_ENTRIES(q5_0, ref) QUANT_ENTRIES(q5_1, ref) QUANT_ENTRIES(q8_0, ref)
QUANT_ENTRIES(q8_1, ref) QUANT_ENTRIES(q4_K, ref) QUANT_ENTRIES(q5_K, ref)
QUANT_ENTRIES(q6_K, ref) QUANT_ENTRIES(q8_K, ref)
QUANT_ENTRIES(bf16, avx2) QUANT_ENTRIES(q4_0, avx2) QUANT_ENTRIES(q4_1, avx2)
QUANT_ENTRIES(q5_0, avx2) QUANT_ENTRIES(q5_1, avx2) QUANT_ENTRIES(q8_0, avx2)
QUANT_ENTRIES(q4_K, avx2) QUANT_ENTRIES(q5_K, avx2) QUANT_ENTRIES(q6_K, avx2)
/* quant_avx512.c (AVX-512 F/BW/VL/VNNI): interleaved matrices in 16-row tiles, the rest avx2 */
QUANT_ENTRIES(q4_0, avx512) QUANT_ENTRIES(q5_0, avx512) QUANT_ENTRIES(q8_0, avx512)
QUANT_ENTRIES(q4_K, avx512) QUANT_ENTRIES(q6_K, avx512)

#endif
