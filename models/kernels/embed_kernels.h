/* embed_kernels.h: the inner loops of word-vector search: dot products of stored rows
 * (float32, float16 or int8) with a float32 query, and a blocked rows x queries product.
 * embed_ref.c is the definition of correct; embed_avx2.c its AVX2/FMA/F16C twin. */
#ifndef LMSERVE_EMBED_KERNELS_H
#define LMSERVE_EMBED_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Relative tolerance between the two float paths: |ref - simd| <= TOL * sum|a_i*b_i|,
 * since only the order of the float additions differs. */
#define EMBED_KERNELS_TOL_DOT_F32 1e-5f
/* The gemm kernel computes scores for this many rows of a block before moving on. */
#define EMBED_KERNELS_GEMM_ROWS 4
/* int8 x int8 dot products use [-127, 127] on both sides (never -128: |x| must fit in an
 * unsigned byte and a pair of products in int16), and are exact in int32 for n < 2^31/127^2. */
#define EMBED_KERNELS_I8_MAX 127

struct embed_kernels {
    const char *name; /* "ref" or "avx2" */
    /* out[r] = rows[r*stride .. +n] . q  for r < n_rows */
    void (*dot_f32_rows)(const float *rows, size_t stride, size_t n_rows, const float *q,
                         size_t n, float *out);
    /* rows are IEEE half floats (bit patterns) */
    void (*dot_f16_rows)(const uint16_t *rows, size_t stride, size_t n_rows, const float *q,
                         size_t n, float *out);
    /* exact integer dot of int8 rows with an int8 query, all values in [-127, 127] */
    void (*dot_i8_rows)(const int8_t *rows, size_t stride, size_t n_rows, const int8_t *q,
                        size_t n, int32_t *out);
    /* out[r*n_q + j] = rows[r] . qs[j]  (rows: n_rows x stride, qs: n_q x q_stride) */
    void (*gemm_f32)(const float *rows, size_t stride, size_t n_rows, const float *qs,
                     size_t q_stride, size_t n_q, size_t n, float *out);
};

/* The reference kernels (always available). */
extern const struct embed_kernels embed_kernels_ref;
/* The AVX2 kernels; only valid on a CPU with avx2, fma and f16c. */
extern const struct embed_kernels embed_kernels_avx2;

/* The kernels to use, chosen once: AVX2 when the CPU has avx2+fma+f16c, unless the
 * environment says LMSERVE_KERNELS=ref. Thread-safe; the pointer is static. */
const struct embed_kernels *embed_kernels_select(void);

/* IEEE half <-> float, round to nearest even (the reference conversions). */
float embed_half_to_float(uint16_t h);
uint16_t embed_float_to_half(float f);

#endif
