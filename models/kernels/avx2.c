/* avx2.c: the AVX2/FMA/F16C tier of the kernel table (the only file built with -mavx2 -mfma
 * -mf16c). Several independent accumulators per loop, so a decode matvec is bound by memory,
 * not by one serial chain of additions; one index runs across the SIMD body and the scalar
 * tail. Only called when kernels_select() saw AVX2+FMA+F16C on the CPU. */
#include "kernels_internal.h"
#include "quant_internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F32_LANES 8 /* floats per __m256 */
#define I8_LANES 32 /* int8 per __m256i */
#define GEMM_ROW_BLOCK 24 /* F32 GEMM: rows kept hot in L1/L2 while every token tile passes */
/* Software prefetch this many rows ahead of a decode matvec: short rows (288 floats) give
 * the hardware prefetcher too little to learn; measured +10% on DRAM-bound matrices here. */
#define PREFETCH_ROWS_AHEAD 16
#define CACHE_LINE_BYTES 64

static const void *row_at(const struct kernels_mat *w, size_t i)
{
    return (const char *)w->data + i * w->row_bytes;
}

static inline float hsum(__m256 v)
{
    __m128 lo = _mm256_castps256_ps128(v);
    __m128 hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    __m128 sh = _mm_movehdup_ps(lo);
    __m128 s = _mm_add_ps(lo, sh);
    sh = _mm_movehl_ps(sh, s);
    s = _mm_add_ss(s, sh);
    return _mm_cvtss_f32(s);
}

/* [sum(a0), sum(a1), sum(a2), sum(a3)] */
static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* ---- float32 ---- */

/* 8 floats of a key / value row at element i: float, or IEEE half (F16C converts exactly,
 * so both give the same floats) */
static inline __attribute__((always_inline)) __m256 load8(const void *p, size_t i, int half)
{
    if (half)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}

/* a . b over the whole 8-float steps of n, before the hsum: 4 accumulators, then 1 */
static inline __attribute__((always_inline)) __m256 dot_vec(const float *a, const void *b,
                                                             size_t n, int half)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 * F32_LANES <= n; i += 4 * F32_LANES) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b, i, half), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load8(b, i + 8, half), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), load8(b, i + 16, half), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), load8(b, i + 24, half), s3);
    }
    for (; i + F32_LANES <= n; i += F32_LANES)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load8(b, i, half), s0);
    return _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
}

float kernels_dot_f32_avx2(const void *pa, const void *px, size_t n)
{
    const float *a = pa, *b = px;
    float s = hsum(dot_vec(a, b, n, 0));
    for (size_t i = n / F32_LANES * F32_LANES; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* One row against x: two accumulators (even and odd 8-float steps), then the scalar tail.
 * The matvec runs every row through this, so equal rows score bit-equal wherever they sit,
 * and a one-row call agrees with a many-row one. Rows one after another, not four
 * interleaved: one sequential stream is what this machine's hardware prefetcher follows best
 * (GPT-2/Mamba 384-wide F32 decode +10-15% over 4 interleaved rows with software prefetch,
 * measured interleaved on the 2-vCPU EPYC; the sums are the same, bit for bit). */
static inline float row1_f32(const float *w0, const float *x, size_t cols)
{
    __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 2 * F32_LANES <= cols; i += 2 * F32_LANES) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), _mm256_loadu_ps(x + i), a0);
        b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i + 8), _mm256_loadu_ps(x + i + 8), b0);
    }
    for (; i + F32_LANES <= cols; i += F32_LANES)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), _mm256_loadu_ps(x + i), a0);
    float s = hsum(_mm256_add_ps(a0, b0));
    for (; i < cols; i++)
        s += w0[i] * x[i];
    return s;
}

void kernels_matvec_f32_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *px)
{
    const float *x = px;
    for (size_t r = r0; r < r1; r++)
        out[r - r0] = row1_f32(row_at(w, r), x, w->cols);
}

/* The few-row F32 GEMM (a decode batch: 2-16 tokens against weights streamed from DRAM
 * once per step). Register tiles of R weight rows x T tokens, R*T = 12 accumulators (+R+1
 * = 16 ymm) for 2-4 tokens; 4 x 1 for a last lone token. A block of GEMM_ROW_BLOCK rows
 * stays in L1/L2 while every token tile passes over it; the first pass prefetches the next
 * block's rows (the hardware prefetcher follows 3-6 interleaved short streams badly).
 * Every output is one vector accumulator over the 8-float steps, then hsum4, then the
 * scalar tail, whatever the tile shape: equal rows give bit-equal results within a call.
 * Measured on this EPYC (one thread, weights cold in DRAM on huge pages; /tmp micro bench,
 * 2026-12-06): 32000x288 x 8 tokens 5.1 -> 3.8 ms, x 2 tokens 3.6 -> 2.6 ms. */
#define GEMM_ACC 12
#define GEMM_PF_ROWS GEMM_ROW_BLOCK /* prefetch distance: the next block */

static inline __attribute__((always_inline)) void
gemm_tile(const int R, const int T, const char *w, size_t row_bytes, size_t mr, const char *xt,
          size_t x_stride, size_t mt, size_t n, float *out, size_t out_row, size_t out_tok,
          int prefetch)
{
    const float *wr[GEMM_ACC], *q[GEMM_ACC];
    /* rows / tokens past mr / mt repeat the first (computed, not stored) */
    for (int a = 0; a < R; a++)
        wr[a] = (const float *)(w + ((size_t)a < mr ? (size_t)a : 0) * row_bytes);
    for (int b = 0; b < T; b++)
        q[b] = (const float *)(xt + ((size_t)b < mt ? (size_t)b : 0) * x_stride);
    __m256 c[GEMM_ACC];
#pragma GCC unroll 12
    for (int k = 0; k < R * T; k++)
        c[k] = _mm256_setzero_ps();
    const size_t ahead = GEMM_PF_ROWS * row_bytes;
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES) {
        __m256 wv[GEMM_ACC];
#pragma GCC unroll 12
        for (int a = 0; a < R; a++)
            wv[a] = _mm256_loadu_ps(wr[a] + i);
        if (prefetch && (i & (2 * F32_LANES - 1)) == 0) { /* once per cache line */
#pragma GCC unroll 12
            for (int a = 0; a < R; a++)
                _mm_prefetch((const char *)(wr[a] + i) + ahead, _MM_HINT_T0);
        }
#pragma GCC unroll 12
        for (int b = 0; b < T; b++) {
            const __m256 xv = _mm256_loadu_ps(q[b] + i);
#pragma GCC unroll 12
            for (int a = 0; a < R; a++)
                c[a * T + b] = _mm256_fmadd_ps(wv[a], xv, c[a * T + b]);
        }
    }
    float t[GEMM_ACC];
#pragma GCC unroll 3
    for (int k = 0; k < R * T; k += 4)
        _mm_storeu_ps(t + k, hsum4(c[k], c[k + 1], c[k + 2], c[k + 3]));
    for (; i < n; i++)
        for (int a = 0; a < R; a++)
            for (int b = 0; b < T; b++)
                t[a * T + b] += wr[a][i] * q[b][i];
    for (size_t a = 0; a < mr; a++)
        for (size_t b = 0; b < mt; b++)
            out[a * out_row + b * out_tok] = t[a * (size_t)T + b];
}

/* One token tile (T tokens, R rows per tile) over the rows [rb, re) of a block; prefetch
 * while the next block lies inside [.., r1). */
static inline __attribute__((always_inline)) void
gemm_pass(const int R, const int T, const struct kernels_mat *w, size_t rb, size_t re, size_t r0,
          size_t r1, const char *xt, size_t x_stride, size_t mt, float *out, size_t out_row,
          size_t out_tok, int first)
{
    for (size_t r = rb; r < re; r += (size_t)R) {
        const size_t mr = re - r < (size_t)R ? re - r : (size_t)R;
        gemm_tile(R, T, row_at(w, r), w->row_bytes, mr, xt, x_stride, mt, w->cols,
                  out + (r - r0) * out_row, out_row, out_tok,
                  first && r + GEMM_PF_ROWS + (size_t)R <= r1);
    }
}

void kernels_gemm_f32_avx2(float *out, size_t out_row, size_t out_tok,
                           const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                           size_t x_stride, size_t n_tok)
{
    for (size_t rb = r0; rb < r1; rb += GEMM_ROW_BLOCK) {
        const size_t re = r1 - rb < GEMM_ROW_BLOCK ? r1 : rb + GEMM_ROW_BLOCK;
        for (size_t t = 0; t < n_tok;) {
            const size_t left = n_tok - t;
            const char *xt = (const char *)x + t * x_stride;
            float *o = out + t * out_tok;
            const int first = t == 0;
            if (left >= 4) {
                gemm_pass(3, 4, w, rb, re, r0, r1, xt, x_stride, 4, o, out_row, out_tok, first);
                t += 4;
            } else if (left == 3) {
                gemm_pass(4, 3, w, rb, re, r0, r1, xt, x_stride, 3, o, out_row, out_tok, first);
                t += 3;
            } else if (left == 2) {
                gemm_pass(6, 2, w, rb, re, r0, r1, xt, x_stride, 2, o, out_row, out_tok, first);
                t += 2;
            } else {
                gemm_pass(4, 1, w, rb, re, r0, r1, xt, x_stride, 1, o, out_row, out_tok, first);
                t += 1;
            }
        }
    }
}

/* ---- float16 rows, float32 activations ---- */

float kernels_dot_f16_avx2(const void *pa, const void *px, size_t n)
{
    const uint16_t *x = pa;
    const float *q = px;
    float s = hsum(dot_vec(q, x, n, 1));
    for (size_t i = n / F32_LANES * F32_LANES; i < n; i++)
        s += _cvtsh_ss(x[i]) * q[i];
    return s;
}

void kernels_matvec_f16_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x)
{
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = kernels_dot_f16_avx2(row_at(w, i), x, w->cols);
}

/* ---- int8 rows, int8 activations ---- */

/* int8 x int8 with the sign trick: maddubs needs an unsigned operand, so it multiplies |x|
 * by q carrying x's sign; with both sides in [-127, 127] a pair of products (<= 32258) never
 * saturates int16, and madd with ones widens the pairs to int32 exactly. */
float kernels_dot_i8_avx2(const void *pa, const void *px, size_t n)
{
    const int8_t *x = pa, *q = px;
    const __m256i ones = _mm256_set1_epi16(1);
    const __m128i ones128 = _mm_set1_epi16(1);
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
    for (; i + I8_LANES / 2 <= n; i += I8_LANES / 2) { /* a 16-byte step */
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
    return (float)s;
}

void kernels_matvec_i8_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                            const void *x)
{
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = kernels_dot_i8_avx2(row_at(w, i), x, w->cols);
}

/* ---- llama2.c Q8_0 (grouped int8, float32 activations) ---- */

static inline __m256 load_q8(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Fast path: every row starts on a group boundary and groups are whole 16-value steps. */
static int q8_fast(const struct kernels_mat *w)
{
    return w->gs % (2 * F32_LANES) == 0 && w->cols % w->gs == 0 && w->row_bytes == w->cols;
}

void kernels_matvec_q8g_avx2(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *px)
{
    if (!q8_fast(w)) { /* groups straddling rows: the scalar definition */
        kernels_matvec_q8g_ref(out, w, r0, r1, px);
        return;
    }
    const float *x = px;
    const size_t cols = w->cols, gs = w->gs, ng = cols / gs;
    const int8_t *q = w->data;
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) {
        const int8_t *q0 = q + r * cols, *q1 = q0 + cols;
        const float *sc0 = w->scales + r * ng, *sc1 = sc0 + ng;
        __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
        for (size_t g = 0; g < ng; g++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            const size_t base = g * gs;
            for (size_t k = 0; k < gs; k += CACHE_LINE_BYTES) {
                _mm_prefetch((const char *)(q0 + PREFETCH_ROWS_AHEAD * cols + base + k), _MM_HINT_T0);
                _mm_prefetch((const char *)(q1 + PREFETCH_ROWS_AHEAD * cols + base + k), _MM_HINT_T0);
            }
            for (size_t k = 0; k < gs; k += 2 * F32_LANES) {
                __m256 xa = _mm256_loadu_ps(x + base + k);
                __m256 xb = _mm256_loadu_ps(x + base + k + 8);
                a0 = _mm256_fmadd_ps(load_q8(q0 + base + k), xa, a0);
                a1 = _mm256_fmadd_ps(load_q8(q1 + base + k), xa, a1);
                b0 = _mm256_fmadd_ps(load_q8(q0 + base + k + 8), xb, b0);
                b1 = _mm256_fmadd_ps(load_q8(q1 + base + k + 8), xb, b1);
            }
            t0 = _mm256_fmadd_ps(_mm256_add_ps(a0, b0), _mm256_set1_ps(sc0[g]), t0);
            t1 = _mm256_fmadd_ps(_mm256_add_ps(a1, b1), _mm256_set1_ps(sc1[g]), t1);
        }
        out[r - r0] = hsum(t0);
        out[r + 1 - r0] = hsum(t1);
    }
    for (; r < r1; r++) {
        const int8_t *q0 = q + r * cols;
        const float *sc0 = w->scales + r * ng;
        __m256 t0 = _mm256_setzero_ps();
        for (size_t g = 0; g < ng; g++) {
            __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();
            const size_t base = g * gs;
            for (size_t k = 0; k < gs; k += 2 * F32_LANES) {
                a0 = _mm256_fmadd_ps(load_q8(q0 + base + k), _mm256_loadu_ps(x + base + k), a0);
                b0 = _mm256_fmadd_ps(load_q8(q0 + base + k + 8),
                                     _mm256_loadu_ps(x + base + k + 8), b0);
            }
            t0 = _mm256_fmadd_ps(_mm256_add_ps(a0, b0), _mm256_set1_ps(sc0[g]), t0);
        }
        out[r - r0] = hsum(t0);
    }
}

/* Q8_0 GEMM: dequantize a block of rows once into a scratch buffer, then reuse it for every
 * token with the float32 GEMM. */
void kernels_gemm_q8g_avx2(float *out, size_t out_row, size_t out_tok,
                           const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                           size_t x_stride, size_t n_tok)
{
    const size_t cols = w->cols;
    float *scratch = malloc(GEMM_ROW_BLOCK * cols * sizeof *scratch);
    if (!scratch) { /* degrade to one pass per token rather than fail mid-forward */
        kernels_gemm_ref(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
        return;
    }
    const int8_t *q = w->data;
    for (size_t r = r0; r < r1; r += GEMM_ROW_BLOCK) {
        size_t nr = r1 - r < GEMM_ROW_BLOCK ? r1 - r : GEMM_ROW_BLOCK;
        size_t i = 0;
        const size_t ne = nr * cols;
        if (q8_fast(w)) {
            const size_t e = r * cols;
            for (; i < ne; i += w->gs) {
                __m256 sc = _mm256_set1_ps(w->scales[(e + i) / w->gs]);
                for (size_t k = 0; k < w->gs; k += F32_LANES)
                    _mm256_storeu_ps(scratch + i + k, _mm256_mul_ps(load_q8(q + e + i + k), sc));
            }
        } else {
            for (size_t k = 0; k < nr; k++)
                kernels_row_to_float(w, r + k, scratch + k * cols);
        }
        const struct kernels_mat f = {.type = KERNELS_F32, .data = scratch,
                                      .row_bytes = cols * sizeof(float), .cols = cols};
        kernels_gemm_f32_avx2(out + (r - r0) * out_row, out_row, out_tok, &f, 0, nr, x, x_stride,
                              n_tok);
    }
    free(scratch);
}

/* ---- vector ops ---- */

static void rmsnorm_avx2(float *out, const float *x, const float *w, size_t n, float eps)
{
    __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 2 * F32_LANES <= n; i += 2 * F32_LANES) {
        __m256 v = _mm256_loadu_ps(x + i), u = _mm256_loadu_ps(x + i + 8);
        a = _mm256_fmadd_ps(v, v, a);
        b = _mm256_fmadd_ps(u, u, b);
    }
    for (; i + F32_LANES <= n; i += F32_LANES) {
        __m256 v = _mm256_loadu_ps(x + i);
        a = _mm256_fmadd_ps(v, v, a);
    }
    float ss = hsum(_mm256_add_ps(a, b));
    for (; i < n; i++)
        ss += x[i] * x[i];
    const float scale = 1.0f / sqrtf(ss / (float)n + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm256_storeu_ps(out + i,
                         _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(vs, _mm256_loadu_ps(x + i))));
    for (; i < n; i++)
        out[i] = w[i] * (scale * x[i]);
}

static void softmax_avx2(float *x, size_t n)
{
    if (n == 0)
        return;
    size_t i = 0;
    __m256 vm = _mm256_set1_ps(x[0]);
    for (; i + F32_LANES <= n; i += F32_LANES)
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    float m[F32_LANES];
    _mm256_storeu_ps(m, vm);
    float max = m[0];
    for (size_t k = 1; k < F32_LANES; k++)
        max = m[k] > max ? m[k] : max;
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;
    float sum = 0.0f;
    for (i = 0; i < n; i++) { /* expf stays scalar: exact twin of the reference */
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = 1.0f / sum;
    const __m256 vi = _mm256_set1_ps(inv);
    i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
    for (; i < n; i++)
        x[i] *= inv;
}

static void axpy_avx2(float *y, float a, const float *x, size_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * x[i];
}

/* F16C's conversion rounds to nearest even like kernels_float_to_half (NaN payloads aside) */
static void round_f16_avx2(float *v, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(v + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(v + i),
                                                                _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        v[i] = kernels_half_to_float(kernels_float_to_half(v[i]));
}

static void to_f16_avx2(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = kernels_float_to_half(src[i]);
}

/* ---- attention: one query against many keys ---- */

/* hsum() of 8 vectors at once, the same additions: lane i = hsum(f_i) */
static inline __m256 hsum8(const __m256 f[8])
{
    __m256 a[4];
    for (int j = 0; j < 4; j++) /* [lo + hi of f_2j | lo + hi of f_2j+1] */
        a[j] = _mm256_add_ps(_mm256_permute2f128_ps(f[2 * j], f[2 * j + 1], 0x20),
                             _mm256_permute2f128_ps(f[2 * j], f[2 * j + 1], 0x31));
    /* (l0 + l1) and (l2 + l3), then their sum: lanes [f0 f2 f4 f6 | f1 f3 f5 f7] */
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    return _mm256_permutevar8x32_ps(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* kernels_dot_f32_avx2 on a converted key, for head sizes that are not a multiple of 8 */
static float dot_f16_tail(const float *q, const uint16_t *k, size_t n)
{
    float buf[512];
    if (n > sizeof buf / sizeof buf[0]) { /* no head is this wide; stay exact anyway */
        float *t = malloc(n * sizeof *t);
        if (!t)
            abort();
        for (size_t d = 0; d < n; d++)
            t[d] = kernels_half_to_float(k[d]);
        const float s = kernels_dot_f32_avx2(q, t, n);
        free(t);
        return s;
    }
    for (size_t d = 0; d < n; d++)
        buf[d] = kernels_half_to_float(k[d]);
    return kernels_dot_f32_avx2(q, buf, n);
}

/* Attention over float or IEEE-half keys / values ('half': a constant at each call, so each
 * entry compiles to its own loop); rows are k_stride / v_stride elements apart. */
static inline __attribute__((always_inline)) void att_scores_body(float *sc, const float *q,
                                                                  const void *k, size_t k_stride,
                                                                  size_t n, size_t hs,
                                                                  float scale, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    size_t i = 0;
    if (hs % F32_LANES == 0) {
        const __m256 vs = _mm256_set1_ps(scale);
        for (; i + 8 <= n; i += 8) {
            __m256 f[8];
            for (int j = 0; j < 8; j++)
                f[j] = dot_vec(q, (const char *)k + (i + (size_t)j) * k_stride * es, hs, half);
            _mm256_storeu_ps(sc + i, _mm256_mul_ps(hsum8(f), vs));
        }
    }
    for (; i < n; i++) {
        const void *ki = (const char *)k + i * k_stride * es;
        sc[i] = (half ? dot_f16_tail(q, ki, hs) : kernels_dot_f32_avx2(q, ki, hs)) * scale;
    }
}

/* out[d .. d + 8 nc) = sum_i w[i] * v_i[...]: nc vectors of out in registers over all keys */
static inline __attribute__((always_inline)) void att_sum_chunks(float *out, const float *w,
                                                                 const void *v, size_t v_stride,
                                                                 size_t n, const int nc, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        acc[c] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i++) {
        const __m256 a = _mm256_set1_ps(w[i]);
        const void *x = (const char *)v + i * v_stride * es;
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(a, load8(x, (size_t)c * F32_LANES, half), acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        _mm256_storeu_ps(out + c * F32_LANES, acc[c]);
}

static inline __attribute__((always_inline)) void att_sum_body(float *out, const float *w,
                                                               const void *v, size_t v_stride,
                                                               size_t n, size_t hs, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    size_t d = 0;
#define AT(d) ((const char *)v + (d) * es)
    for (; d + 8 * F32_LANES <= hs; d += 8 * F32_LANES)
        att_sum_chunks(out + d, w, AT(d), v_stride, n, 8, half);
    switch ((hs - d) / F32_LANES) { /* constant counts: the accumulators stay in registers */
    case 7: att_sum_chunks(out + d, w, AT(d), v_stride, n, 7, half); break;
    case 6: att_sum_chunks(out + d, w, AT(d), v_stride, n, 6, half); break;
    case 5: att_sum_chunks(out + d, w, AT(d), v_stride, n, 5, half); break;
    case 4: att_sum_chunks(out + d, w, AT(d), v_stride, n, 4, half); break;
    case 3: att_sum_chunks(out + d, w, AT(d), v_stride, n, 3, half); break;
    case 2: att_sum_chunks(out + d, w, AT(d), v_stride, n, 2, half); break;
    case 1: att_sum_chunks(out + d, w, AT(d), v_stride, n, 1, half); break;
    default: break;
    }
#undef AT
    d += (hs - d) / F32_LANES * F32_LANES;
    for (; d < hs; d++) { /* axpy's scalar tail */
        float s = 0.0f;
        for (size_t i = 0; i < n; i++) {
            const size_t at = i * v_stride + d;
            s += w[i] * (half ? kernels_half_to_float(((const uint16_t *)v)[at])
                              : ((const float *)v)[at]);
        }
        out[d] = s;
    }
}

static void att_scores_avx2(float *sc, const float *q, const float *k, size_t k_stride, size_t n,
                            size_t hs, float scale)
{
    att_scores_body(sc, q, k, k_stride, n, hs, scale, 0);
}

static void att_scores_f16_avx2(float *sc, const float *q, const uint16_t *k, size_t k_stride,
                                size_t n, size_t hs, float scale)
{
    att_scores_body(sc, q, k, k_stride, n, hs, scale, 1);
}

static void att_sum_avx2(float *out, const float *w, const float *v, size_t v_stride, size_t n,
                         size_t hs)
{
    att_sum_body(out, w, v, v_stride, n, hs, 0);
}

static void att_sum_f16_avx2(float *out, const float *w, const uint16_t *v, size_t v_stride,
                             size_t n, size_t hs)
{
    att_sum_body(out, w, v, v_stride, n, hs, 1);
}

/* out[64 c0 .. 64 c0 + 32 nb) over all values: nb (1 or 2) Q8_0 blocks of each row, their
 * 8 nb accumulators in registers; 8 codes at a time widened to int32 and converted */
static inline __attribute__((always_inline)) void att_sum_q8_0_chunk(float *out, const float *w,
                                                                     const char *v, size_t rb,
                                                                     size_t n, const int nb)
{
    __m256 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < 4 * nb; c++)
        acc[c] = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i++) {
        const struct block_q8_0 *b = (const void *)(v + i * rb);
#pragma GCC unroll 2
        for (int j = 0; j < nb; j++) {
            const __m256 a = _mm256_set1_ps(w[i] * _cvtsh_ss(b[j].d));
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m128i q8 = _mm_loadl_epi64((const __m128i *)(const void *)(b[j].qs + 8 * c));
                const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                acc[4 * j + c] = _mm256_fmadd_ps(a, f, acc[4 * j + c]);
            }
        }
    }
#pragma GCC unroll 8
    for (int c = 0; c < 4 * nb; c++)
        _mm256_storeu_ps(out + c * F32_LANES, acc[c]);
}

static void att_sum_q8_0_avx2(float *out, const float *w, const void *v, size_t v_row_bytes,
                              size_t n, size_t hs)
{
    const size_t nb = hs / QK8_0;
    size_t j = 0;
    for (; j + 2 <= nb; j += 2)
        att_sum_q8_0_chunk(out + j * QK8_0, w, (const char *)v + j * sizeof(struct block_q8_0),
                           v_row_bytes, n, 2);
    if (j < nb)
        att_sum_q8_0_chunk(out + j * QK8_0, w, (const char *)v + j * sizeof(struct block_q8_0),
                           v_row_bytes, n, 1);
}

/* One key's 8 float lanes against the Q8_0 query: per block the int8 products summed in
 * int32 lanes (|k| times sign-adjusted q, ggml's trick), times d_k * d_q */
static inline __m256 q8_key_lanes(const struct block_q8_0 *b, const struct block_q8_0 *y,
                                  const float *yd, size_t nb)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t c = 0; c < nb; c++) {
        const __m256i qy = _mm256_loadu_si256((const __m256i *)(const void *)y[c].qs);
        const __m256i qk = _mm256_loadu_si256((const __m256i *)(const void *)b[c].qs);
        const __m256i p = _mm256_madd_epi16(
            _mm256_maddubs_epi16(_mm256_sign_epi8(qk, qk), _mm256_sign_epi8(qy, qk)),
            _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(b[c].d) * yd[c]), _mm256_cvtepi32_ps(p), acc);
    }
    return acc;
}

/* 8 keys at a time: their lanes reduced together (hsum8) */
static void att_scores_q8_0_avx2(float *sc, const void *q8, const void *k, size_t k_row_bytes,
                                 size_t n, size_t hs, float scale)
{
    const struct block_q8_0 *y = q8;
    const size_t nb = hs / QK8_0;
    float yd[64];
    if (nb > sizeof yd / sizeof yd[0]) { /* no head is this wide: the reference dot */
        for (size_t i = 0; i < n; i++)
            sc[i] = quant_dot_q8_0_avx2((const char *)k + i * k_row_bytes, q8, hs) * scale;
        return;
    }
    for (size_t c = 0; c < nb; c++)
        yd[c] = _cvtsh_ss(y[c].d);
    const __m256 vs = _mm256_set1_ps(scale);
    for (size_t i = 0; i < n; i += 8) {
        const size_t m = n - i < 8 ? n - i : 8;
        __m256 f[8];
        for (size_t j = 0; j < 8; j++)
            f[j] = j < m ? q8_key_lanes((const void *)((const char *)k + (i + j) * k_row_bytes), y, yd, nb)
                         : _mm256_setzero_ps();
        const __m256 r = _mm256_mul_ps(hsum8(f), vs);
        if (m == 8) {
            _mm256_storeu_ps(sc + i, r);
        } else {
            float t[8];
            _mm256_storeu_ps(t, r);
            memcpy(sc + i, t, m * sizeof *t);
        }
    }
}

static void att_scores_f16_multi_avx2(float *sc, size_t sc_ld, const float *q, size_t q_stride,
                                      size_t nq, const uint16_t *k, size_t k_stride, size_t n,
                                      size_t hs, float scale)
{
    kernels_att_scores_f16_loop(att_scores_f16_avx2, sc, sc_ld, q, q_stride, nq, k, k_stride, n,
                                hs, scale);
}

static void att_sum_f16_multi_avx2(float *out, size_t out_stride, const float *w, size_t w_ld,
                                   size_t nq, const uint16_t *v, size_t v_stride, const size_t *n,
                                   size_t hs)
{
    kernels_att_sum_f16_loop(att_sum_f16_avx2, out, out_stride, w, w_ld, nq, v, v_stride, n, hs);
}

const struct kernels_vec_ops kernels_vec_avx2 = {
    .rmsnorm = rmsnorm_avx2,
    .softmax = softmax_avx2,
    .axpy = axpy_avx2,
    .round_f16 = round_f16_avx2,
    .to_f16 = to_f16_avx2,
    .att_scores = att_scores_avx2,
    .att_sum = att_sum_avx2,
    .att_scores_f16 = att_scores_f16_avx2,
    .att_sum_f16 = att_sum_f16_avx2,
    .att_scores_f16_multi = att_scores_f16_multi_avx2,
    .att_sum_f16_multi = att_sum_f16_multi_avx2,
    .att_sum_q8_0 = att_sum_q8_0_avx2,
    .att_scores_q8_0 = att_scores_q8_0_avx2,
    .layernorm = kernels_layernorm_avx2,
    .exp_sum = kernels_exp_sum_avx2,
};
