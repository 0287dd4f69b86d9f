/* avx512.c: the AVX-512 tier of the kernel table (built with -mavx512f -mavx512bw -mavx512vl
 * and the avx2 set; select.c runs it only on a CPU with all of them). Zen 5 executes 512-bit
 * FMAs at full width (two per cycle), so 16 lanes pay here where Zen 4's halves did not.
 *
 * One float32 summation order for everything: each output (a dot, a matvec row, one (row,
 * token) of the GEMM, one attention score) is one vector accumulator over the 16-float steps
 * of the row, the last partial step masked (zeros in the missing lanes), then the 16 lanes
 * added by one fixed tree (lanes i + i+8, then i + i+4, i + i+2, i + i+1; reduce1 / reduce4 /
 * reduce16 below add the same pairs, one output or 4 or 16 at once). So within this tier the
 * decode matvec, the few-row GEMM of a batch of streams and the prompt GEMM give the same bits
 * for a token wherever it sits, a prompt's logits equal decode's, and att_scores equals the
 * dot times the scale. Entries not written here fall back to avx2 (types.c, select.c). */
#include "kernels_internal.h"

#include <immintrin.h>
#include <string.h>

#define F32_LANES 16 /* floats per __m512 */
/* GEMM register tiles: R weight rows x up to T tokens, one accumulator each: 6 x 4 (24
 * accumulators + 6 row vectors + 1 token vector of the 32 zmm; 6x4 and 5x5 measured ~5% faster
 * than 4x6, 8x3 20% slower, 3x8 2x slower), or 4 x 6 for rows wider than GEMM_WIDE_COLS. The
 * tile's rows stay in L1 while every token tile passes over them (activations from L2); the
 * first pass prefetches the rows GEMM_PF_ROWS ahead, the second R rows further. */
#define GEMM_ACC 24
#define MV_SPLIT_BYTES (1024 * 1024) /* decode matvec: two streams from this range on */
#define GEMM_WIDE_COLS 1024
#define GEMM_PF_ROWS 12
#ifndef GEMM_PF_TILES
#define GEMM_PF_TILES 2 /* the first token tiles that prefetch, tile j R j rows further ahead:
                         * with 8 tokens (4 + 4) the second pass over rows already in L1 also
                         * keeps DRAM busy (110M F32, 8 streams: step 26.3 -> 22.6 ms, loaded) */
#endif

static inline __mmask16 tail_mask(size_t m)
{
    return (__mmask16)((1u << m) - 1u);
}

/* The tree: lanes i + i+8, i + i+4, i + i+2, i + i+1 (float addition is commutative, so only
 * the pairing fixes the bits). */
static inline float reduce1(__m512 v)
{
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* first level for two vectors: [a0+a2, a1+a3, b0+b2, b1+b3] in 128-bit chunks */
static inline __m512 level1(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xee));
}

/* second level for two level1 results: chunk c = the 4 partial sums of input c */
static inline __m512 level2(__m512 a, __m512 b)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
}

/* [reduce1(a), reduce1(b), reduce1(c), reduce1(d)] */
static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    const __m512 h = level2(level1(a, b), level1(c, d));
    const __m512 t = _mm512_add_ps(h, _mm512_shuffle_ps(h, h, _MM_SHUFFLE(1, 0, 3, 2)));
    const __m512 u = _mm512_add_ps(t, _mm512_shuffle_ps(t, t, _MM_SHUFFLE(2, 3, 0, 1)));
    const __m512i lane0 = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(lane0, u));
}

/* lane i = reduce1(f[i]) */
static inline __attribute__((always_inline)) __m512 reduce16(const __m512 *f)
{
    /* inputs in transposed order (4 (j % 4) + j / 4), so the 4x4 result comes out in order */
    __m512 g[8], h[4];
#pragma GCC unroll 8
    for (int m = 0; m < 8; m++)
        g[m] = level1(f[(2 * m) % 4 * 4 + 2 * m / 4], f[(2 * m + 1) % 4 * 4 + (2 * m + 1) / 4]);
#pragma GCC unroll 4
    for (int m = 0; m < 4; m++)
        h[m] = level2(g[2 * m], g[2 * m + 1]);
    const __m512 u0 = _mm512_add_ps(_mm512_shuffle_ps(h[0], h[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(h[0], h[1], _MM_SHUFFLE(3, 2, 3, 2)));
    const __m512 u1 = _mm512_add_ps(_mm512_shuffle_ps(h[2], h[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(h[2], h[3], _MM_SHUFFLE(3, 2, 3, 2)));
    return _mm512_add_ps(_mm512_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* out[k] = reduce1(c[k]) for k < n, 16 or 4 at a time */
static inline __attribute__((always_inline)) void reduce_n(float *out, const __m512 *c, const int n)
{
    int k = 0;
    if (n >= 16) {
        _mm512_storeu_ps(out, reduce16(c));
        k = 16;
    }
#pragma GCC unroll 4
    for (; k + 4 <= n; k += 4)
        _mm_storeu_ps(out + k, reduce4(c[k], c[k + 1], c[k + 2], c[k + 3]));
#pragma GCC unroll 4
    for (; k < n; k++)
        out[k] = reduce1(c[k]);
}

/* ---- float32 ---- */

/* a . b in the tier's order. a (the weight row of a decode matvec, streamed from DRAM) is
 * loaded as two 256-bit halves: the same values, 3-5% more bandwidth than 512-bit loads on
 * this Zen 5 (/tmp micro bench: 31 vs 30 GB/s) */
static inline float dot1(const float *a, const float *b, size_t n)
{
    __m512 s = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES) {
        const __m512 av = _mm512_castpd_ps(_mm512_insertf64x4(
            _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(a + i))),
            _mm256_castps_pd(_mm256_loadu_ps(a + i + 8)), 1));
        s = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + i), s);
    }
    if (i < n) {
        const __mmask16 k = tail_mask(n - i);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s);
    }
    return reduce1(s);
}

float kernels_dot_f32_avx512(const void *a, const void *x, size_t n)
{
    return dot1(a, x, n);
}

/* R rows (wr) x T tokens (xr) over n columns: res[a * T + b] = row a . token b in the tier's
 * order. PF (a constant): prefetch each row pf bytes ahead, once per 64-byte step. */
static inline __attribute__((always_inline)) void tile_f32(const int R, const int T, const int PF,
                                                           const float *const *wr,
                                                           const float *const *xr, size_t n,
                                                           float *res, size_t pf)
{
    __m512 c[GEMM_ACC];
#pragma GCC unroll 32
    for (int k = 0; k < R * T; k++)
        c[k] = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES) {
        __m512 wv[8];
#pragma GCC unroll 8
        for (int a = 0; a < R; a++)
            wv[a] = _mm512_loadu_ps(wr[a] + i);
        if (PF) {
#pragma GCC unroll 8
            for (int a = 0; a < R; a++)
                _mm_prefetch((const char *)(wr[a] + i) + pf, _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (int b = 0; b < T; b++) {
            const __m512 xv = _mm512_loadu_ps(xr[b] + i);
#pragma GCC unroll 8
            for (int a = 0; a < R; a++)
                c[a * T + b] = _mm512_fmadd_ps(wv[a], xv, c[a * T + b]);
        }
    }
    if (i < n) { /* the tail as one masked step: zeros in the missing lanes */
        const __mmask16 m = tail_mask(n - i);
        __m512 wv[8];
#pragma GCC unroll 8
        for (int a = 0; a < R; a++)
            wv[a] = _mm512_maskz_loadu_ps(m, wr[a] + i);
#pragma GCC unroll 8
        for (int b = 0; b < T; b++) {
            const __m512 xv = _mm512_maskz_loadu_ps(m, xr[b] + i);
#pragma GCC unroll 8
            for (int a = 0; a < R; a++)
                c[a * T + b] = _mm512_fmadd_ps(wv[a], xv, c[a * T + b]);
        }
    }
    reduce_n(res, c, R * T);
}

static const float *row_f32(const struct kernels_mat *w, size_t i)
{
    return (const float *)(const void *)((const char *)w->data + i * w->row_bytes);
}

/* Decode: no software prefetch, one or two sequential streams (the hardware prefetcher
 * follows them best: on a DRAM-bound 37 MB matrix here, 4 or 8 rows interleaved measured
 * 20-40% slower and a 2 KB prefetch 10% slower). A range of at least MV_SPLIT_BYTES (a whole
 * matrix at one thread) runs as two streams, one row of each half in turn: +0-13% (30.8 ->
 * 36.6 GB/s at best) over one; two streams closer than that measured slower (/tmp micro
 * bench, 2026-12-06). The dot, row by row: the bits do not depend on the order. */
void kernels_matvec_f32_avx512(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                               const void *px)
{
    const float *x = px;
    const size_t n = r1 - r0;
    if (n * w->row_bytes < MV_SPLIT_BYTES) {
        for (size_t r = r0; r < r1; r++)
            out[r - r0] = dot1(row_f32(w, r), x, w->cols);
        return;
    }
    const size_t half = n / 2;
    for (size_t i = 0; i < half; i++) {
        out[i] = dot1(row_f32(w, r0 + i), x, w->cols);
        out[half + i] = dot1(row_f32(w, r0 + half + i), x, w->cols);
    }
    if (n % 2)
        out[n - 1] = dot1(row_f32(w, r1 - 1), x, w->cols);
}

/* One R x T tile's results into out (mr of the R rows, mt of the T tokens). */
static inline void tile_store(float *out, size_t out_row, size_t out_tok, const float *res,
                              size_t mr, size_t mt, int T)
{
    for (size_t a = 0; a < mr; a++)
        for (size_t b = 0; b < mt; b++)
            out[a * out_row + b * out_tok] = res[a * (size_t)T + b];
}

/* tile_f32 with R and T constants (T <= TMAX), prefetching when pf > 0 */
static inline __attribute__((always_inline)) void tile_f32_tokens(const int R, const int TMAX,
                                                                  size_t T,
                                                                  const float *const *wr,
                                                                  const float *const *xr,
                                                                  size_t n, float *res, size_t pf)
{
#define TILE_CASE(t)                                                                          \
    case t:                                                                                   \
        if (t <= TMAX && pf)                                                                  \
            tile_f32(R, t <= TMAX ? t : 1, 1, wr, xr, n, res, pf);                            \
        else if (t <= TMAX)                                                                   \
            tile_f32(R, t <= TMAX ? t : 1, 0, wr, xr, n, res, 0);                             \
        break;
    switch (T) {
    TILE_CASE(6)
    TILE_CASE(5)
    TILE_CASE(4)
    TILE_CASE(3)
    TILE_CASE(2)
    default: TILE_CASE(1)
    }
#undef TILE_CASE
}

/* The GEMM with R rows x up to TMAX tokens per tile: for each R rows (then in L1), the tokens
 * in tiles of at most TMAX, as even as possible (8 tokens: 4 + 4); the first token tile
 * prefetches the rows GEMM_PF_ROWS ahead. */
static inline __attribute__((always_inline)) void
gemm_f32(const int R, const int TMAX, float *out, size_t out_row, size_t out_tok,
         const struct kernels_mat *w, size_t r0, size_t r1, const char *x, size_t x_stride,
         size_t n_tok)
{
    const size_t ntile = (n_tok + (size_t)TMAX - 1) / (size_t)TMAX;
    const size_t base = n_tok / ntile, extra = n_tok % ntile;
    const size_t ahead = GEMM_PF_ROWS * w->row_bytes;
    for (size_t r = r0; r < r1; r += (size_t)R) {
        const size_t mr = r1 - r < (size_t)R ? r1 - r : (size_t)R;
        const float *wr[8];
        for (size_t a = 0; a < (size_t)R; a++) /* a short tile repeats its first row */
            wr[a] = row_f32(w, r + (a < mr ? a : 0));
        const size_t pf = r + GEMM_PF_ROWS + (size_t)R <= r1 ? ahead : 0;
        size_t t = 0;
        for (size_t j = 0; j < ntile; j++) {
            const size_t mt = base + (j < extra);
            const float *xr[8];
            for (size_t b = 0; b < mt; b++)
                xr[b] = (const float *)(const void *)(x + (t + b) * x_stride);
            float res[GEMM_ACC];
            tile_f32_tokens(R, TMAX, mt, wr, xr, w->cols, res,
                            pf && j < GEMM_PF_TILES ? pf + j * (size_t)R * w->row_bytes : 0);
            tile_store(out + (r - r0) * out_row + t * out_tok, out_row, out_tok, res, mr, mt,
                       (int)mt);
            t += mt;
        }
    }
}

/* The F32 GEMM of prompts and of batches of streams. Rows up to 1,024 floats: 6 rows x 4
 * tokens (the 6 rows, 24 KB, stay in L1); longer rows (110M's 2,048-wide w2): 4 x 6, so the
 * rows still fit L1's 48 KB (768 x 2048 x 64 tokens 1.70 -> 1.39 ms). Two tokens: 1 row x 2,
 * like the matvec (32000 x 288 cold: 1.10 ms against 1.56 for 6 x 4, whose 6 interleaved
 * rows the hardware prefetcher follows worse; from 4 tokens on 6 x 4 wins). */
void kernels_gemm_f32_avx512(float *out, size_t out_row, size_t out_tok,
                             const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                             size_t x_stride, size_t n_tok)
{
    if (n_tok == 0)
        return;
    if (n_tok <= 2) /* two streams: one row at a time, the weights one sequential stream */
        gemm_f32(1, 2, out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
    else if (w->cols <= GEMM_WIDE_COLS)
        gemm_f32(6, 4, out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
    else
        gemm_f32(4, 6, out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
}

/* ---- vector ops ---- */

/* y += a x: one fused multiply-add per element, the tail masked (att_sum repeats it) */
static void axpy_avx512(float *y, float a, const float *x, size_t n)
{
    const __m512 va = _mm512_set1_ps(a);
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i),
                                                        _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* IEEE half rounding (vcvtps2ph rounds to nearest even like kernels_float_to_half), 16 at a
 * time, the tail masked: the cache's fp16 copies of K and V, and ggml's fp16 softmax weights
 * (a prompt's O(n^2) of them) */
static void round_f16_avx512(float *v, size_t n)
{
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm512_storeu_ps(v + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(v + i),
                                                                _MM_FROUND_TO_NEAREST_INT)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(v + i, m, _mm512_cvtph_ps(_mm512_cvtps_ph(
                                            _mm512_maskz_loadu_ps(m, v + i), _MM_FROUND_TO_NEAREST_INT)));
    }
}

static void to_f16_avx512(uint16_t *dst, const float *src, size_t n)
{
    size_t i = 0;
    for (; i + F32_LANES <= n; i += F32_LANES)
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i),
                                                             _MM_FROUND_TO_NEAREST_INT));
    }
}

/* 16 floats of a key / value row at element i (m: the lanes to load): float, or IEEE half
 * (the conversion is exact, so both give the same floats) */
static inline __attribute__((always_inline)) __m512 load16(const void *p, size_t i, __mmask16 m,
                                                           int half)
{
    if (half)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i));
    return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

/* q . k_i before the reduction: the dot's accumulator (q's tail lanes are loaded as zeros, the
 * key's too) */
static inline __attribute__((always_inline)) __m512 dot_acc(const float *q, const void *k,
                                                            size_t hs, int half)
{
    __m512 s = _mm512_setzero_ps();
    size_t d = 0;
    for (; d + F32_LANES <= hs; d += F32_LANES)
        s = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), load16(k, d, 0xffff, half), s);
    if (d < hs) {
        const __mmask16 m = tail_mask(hs - d);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + d), load16(k, d, m, half), s);
    }
    return s;
}

/* 16 keys at a time, their accumulators reduced together (reduce16: the dot's bits) */
static inline __attribute__((always_inline)) void att_scores_body(float *sc, const float *q,
                                                                  const void *k, size_t k_stride,
                                                                  size_t n, size_t hs,
                                                                  float scale, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    const __m512 vs = _mm512_set1_ps(scale);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 f[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            f[j] = dot_acc(q, (const char *)k + (i + (size_t)j) * k_stride * es, hs, half);
        _mm512_storeu_ps(sc + i, _mm512_mul_ps(reduce16(f), vs));
    }
    for (; i < n; i++)
        sc[i] = reduce1(dot_acc(q, (const char *)k + i * k_stride * es, hs, half)) * scale;
}

/* out[d .. d + 16 nc) = sum_i w[i] v_i[...], nc accumulators over all keys, the last chunk's
 * lanes masked by 'last' */
static inline __attribute__((always_inline)) void att_sum_chunks(float *out, const float *w,
                                                                 const void *v, size_t v_stride,
                                                                 size_t n, const int nc,
                                                                 __mmask16 last, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    __m512 acc[8];
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        acc[c] = _mm512_setzero_ps();
    for (size_t i = 0; i < n; i++) {
        const __m512 a = _mm512_set1_ps(w[i]);
        const void *x = (const char *)v + i * v_stride * es;
#pragma GCC unroll 8
        for (int c = 0; c < nc; c++)
            acc[c] = _mm512_fmadd_ps(a, load16(x, (size_t)c * F32_LANES, c == nc - 1 ? last : 0xffff, half),
                                     acc[c]);
    }
#pragma GCC unroll 8
    for (int c = 0; c < nc; c++)
        _mm512_mask_storeu_ps(out + c * F32_LANES, c == nc - 1 ? last : 0xffff, acc[c]);
}

/* sum_i w[i] v_i: bit for bit out = 0 then axpy_avx512 per key (one FMA per element and key,
 * in key order), the partial sums in registers: up to 8 vectors (128 floats) per pass */
static inline __attribute__((always_inline)) void att_sum_body(float *out, const float *w,
                                                               const void *v, size_t v_stride,
                                                               size_t n, size_t hs, int half)
{
    const size_t es = half ? sizeof(uint16_t) : sizeof(float);
    for (size_t d = 0; d < hs; d += 8 * F32_LANES) {
        const size_t left = hs - d < 8 * F32_LANES ? hs - d : 8 * F32_LANES;
        const int nc = (int)((left + F32_LANES - 1) / F32_LANES);
        const __mmask16 last = left % F32_LANES ? tail_mask(left % F32_LANES) : 0xffff;
        const void *vd = (const char *)v + d * es;
        switch (nc) { /* constant counts: the accumulators stay in registers */
        case 8: att_sum_chunks(out + d, w, vd, v_stride, n, 8, last, half); break;
        case 7: att_sum_chunks(out + d, w, vd, v_stride, n, 7, last, half); break;
        case 6: att_sum_chunks(out + d, w, vd, v_stride, n, 6, last, half); break;
        case 5: att_sum_chunks(out + d, w, vd, v_stride, n, 5, last, half); break;
        case 4: att_sum_chunks(out + d, w, vd, v_stride, n, 4, last, half); break;
        case 3: att_sum_chunks(out + d, w, vd, v_stride, n, 3, last, half); break;
        case 2: att_sum_chunks(out + d, w, vd, v_stride, n, 2, last, half); break;
        default: att_sum_chunks(out + d, w, vd, v_stride, n, 1, last, half); break;
        }
    }
}

static void att_scores_avx512(float *sc, const float *q, const float *k, size_t k_stride,
                              size_t n, size_t hs, float scale)
{
    att_scores_body(sc, q, k, k_stride, n, hs, scale, 0);
}

static void att_scores_f16_avx512(float *sc, const float *q, const uint16_t *k, size_t k_stride,
                                  size_t n, size_t hs, float scale)
{
    att_scores_body(sc, q, k, k_stride, n, hs, scale, 1);
}

static void att_sum_avx512(float *out, const float *w, const float *v, size_t v_stride, size_t n,
                           size_t hs)
{
    att_sum_body(out, w, v, v_stride, n, hs, 0);
}

static void att_sum_f16_avx512(float *out, const float *w, const uint16_t *v, size_t v_stride,
                               size_t n, size_t hs)
{
    att_sum_body(out, w, v, v_stride, n, hs, 1);
}

/* exp(x) for 16 floats: act_simd.h's kernels_exp8 reduction and polynomial (Cody-Waite,
 * Cephes' degree 6, ~1 ulp), scaled by 2^n with one vscalefps (exact; exp8 multiplies two
 * factors, which differ only for results below the normal range) */
static inline __m512 exp16(__m512 x)
{
    static const float c[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.7f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x));
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 6; i++)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c[i]));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* A softmax's exponentials and their sum in double (ggml's): 16 at a time, the tail masked
 * (a prompt's attention takes one exp per query and key) */
static double exp_sum_avx512(float *y, const float *x, float max, size_t n)
{
    const __m512 vm = _mm512_set1_ps(max);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (size_t i = 0; i < n; i += F32_LANES) {
        const __mmask16 m = n - i >= F32_LANES ? 0xffff : tail_mask(n - i);
        const __m512 v = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
        _mm512_mask_storeu_ps(y + i, m, v);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

/* ---- a block of queries (a prompt's rows) over one KV head ---- */

#define ATT_MULTI_KEYS 16     /* keys converted to float once per block of queries */
#define ATT_MULTI_HS_MAX 256  /* ... up to this head size (on the stack); longer: one query at a time */
#define ATT_MULTI_Q 8         /* att_sum: queries per register tile ... */
#define ATT_MULTI_C 3         /* ... x this many 16-float chunks of the head (24 accumulators) */

/* n halves into floats (exact), the tail masked */
static inline void half_row(float *dst, const uint16_t *src, size_t n)
{
    size_t d = 0;
    for (; d + F32_LANES <= n; d += F32_LANES)
        _mm512_storeu_ps(dst + d, load16(src, d, 0xffff, 1));
    if (d < n)
        _mm512_mask_storeu_ps(dst + d, tail_mask(n - d), load16(src, d, tail_mask(n - d), 1));
}

/* One query against the 16 converted keys kf (rows of hs floats, hs = 16 NCH when NCH > 0: the
 * chunks unrolled, the query in registers; NCH 0: any hs): 16 scores by reduce16 */
static inline __attribute__((always_inline)) void scores16(const int NCH, float *sc, const float *q,
                                                           const float *kf, size_t hs, __m512 vs)
{
    __m512 f[16];
    if (NCH > 0) {
        __m512 qv[8];
#pragma GCC unroll 8
        for (int c = 0; c < NCH; c++)
            qv[c] = _mm512_loadu_ps(q + c * F32_LANES);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            __m512 a = _mm512_setzero_ps(); /* the dot's steps from zero (signs of zero too) */
#pragma GCC unroll 8
            for (int c = 0; c < NCH; c++)
                a = _mm512_fmadd_ps(qv[c], _mm512_load_ps(kf + (j * NCH + c) * F32_LANES), a);
            f[j] = a;
        }
    } else {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            f[j] = dot_acc(q, kf + (size_t)j * hs, hs, 0);
    }
    _mm512_storeu_ps(sc, _mm512_mul_ps(reduce16(f), vs));
}

/* The blocks of 16 keys, converted once, for every query (NCH as in scores16) */
static inline __attribute__((always_inline)) void
scores_blocks(const int NCH, float *sc, size_t sc_ld, const float *q, size_t q_stride, size_t nq,
              const uint16_t *k, size_t k_stride, size_t nblk, size_t hs, float *kf, __m512 vs)
{
    for (size_t b = 0; b < nblk; b++) {
        for (size_t j = 0; j < ATT_MULTI_KEYS; j++)
            half_row(kf + j * hs, k + (b * ATT_MULTI_KEYS + j) * k_stride, hs);
        for (size_t qj = 0; qj < nq; qj++)
            scores16(NCH, sc + qj * sc_ld + b * ATT_MULTI_KEYS, q + qj * q_stride, kf, hs, vs);
    }
}

/* Each query's scores as att_scores_f16 computes them (the same products and sums per lane,
 * reduce16 per 16 keys, reduce1 per key of the tail: the same tree), each block of keys
 * converted once for all the queries. */
static void att_scores_f16_multi_avx512(float *sc, size_t sc_ld, const float *q, size_t q_stride,
                                        size_t nq, const uint16_t *k, size_t k_stride, size_t n,
                                        size_t hs, float scale)
{
    if (nq == 1 || hs > ATT_MULTI_HS_MAX) {
        kernels_att_scores_f16_loop(att_scores_f16_avx512, sc, sc_ld, q, q_stride, nq, k, k_stride,
                                    n, hs, scale);
        return;
    }
    float kf[ATT_MULTI_KEYS * ATT_MULTI_HS_MAX] __attribute__((aligned(64)));
    const __m512 vs = _mm512_set1_ps(scale);
    const size_t nblk = n / ATT_MULTI_KEYS;
    switch (hs % F32_LANES ? 0 : hs / F32_LANES) { /* whole chunks: unrolled */
    case 2: scores_blocks(2, sc, sc_ld, q, q_stride, nq, k, k_stride, nblk, hs, kf, vs); break;
    case 3: scores_blocks(3, sc, sc_ld, q, q_stride, nq, k, k_stride, nblk, hs, kf, vs); break;
    case 4: scores_blocks(4, sc, sc_ld, q, q_stride, nq, k, k_stride, nblk, hs, kf, vs); break;
    case 8: scores_blocks(8, sc, sc_ld, q, q_stride, nq, k, k_stride, nblk, hs, kf, vs); break;
    default: scores_blocks(0, sc, sc_ld, q, q_stride, nq, k, k_stride, nblk, hs, kf, vs); break;
    }
    for (size_t i = nblk * ATT_MULTI_KEYS; i < n; i++) {
        half_row(kf, k + i * k_stride, hs);
        for (size_t qj = 0; qj < nq; qj++)
            sc[qj * sc_ld + i] = reduce1(dot_acc(q + qj * q_stride, kf, hs, 0)) * scale;
    }
}

/* Keys [i0, i1) into the NQ x NC accumulators: per query and lane the FMA chain of att_sum_f16
 * in key order; MASKED: only for the queries that see the key (i < n[j]) */
static inline __attribute__((always_inline)) void
att_sum_keys(const int NQ, const int NC, const int MASKED, __m512 *acc, const float *w, size_t w_ld,
             const uint16_t *v, size_t v_stride, const size_t *n, size_t i0, size_t i1,
             __mmask16 last)
{
    for (size_t i = i0; i < i1; i++) {
        __m512 vv[ATT_MULTI_C];
#pragma GCC unroll 3
        for (int c = 0; c < NC; c++)
            vv[c] = load16(v + i * v_stride, (size_t)c * F32_LANES, c == NC - 1 ? last : 0xffff, 1);
#pragma GCC unroll 8
        for (int j = 0; j < NQ; j++) {
            const __m512 a = _mm512_set1_ps(w[(size_t)j * w_ld + i]);
            const __mmask16 km = !MASKED || i < n[j] ? 0xffff : 0;
#pragma GCC unroll 3
            for (int c = 0; c < NC; c++)
                acc[j * NC + c] = MASKED ? _mm512_mask3_fmadd_ps(a, vv[c], acc[j * NC + c], km)
                                         : _mm512_fmadd_ps(a, vv[c], acc[j * NC + c]);
        }
    }
}

/* NQ queries x NC chunks of 16 values (the last one's lanes 'last'); keys [nmin, nmax) only
 * for the queries that see them */
static inline __attribute__((always_inline)) void
att_sum_tile(const int NQ, const int NC, float *out, size_t out_stride, const float *w, size_t w_ld,
             const uint16_t *v, size_t v_stride, const size_t *n, size_t nmin, size_t nmax,
             __mmask16 last)
{
    __m512 acc[ATT_MULTI_Q * ATT_MULTI_C];
#pragma GCC unroll 24
    for (int a = 0; a < NQ * NC; a++)
        acc[a] = _mm512_setzero_ps();
    att_sum_keys(NQ, NC, 0, acc, w, w_ld, v, v_stride, n, 0, nmin, last);
    att_sum_keys(NQ, NC, 1, acc, w, w_ld, v, v_stride, n, nmin, nmax, last);
#pragma GCC unroll 8
    for (int j = 0; j < NQ; j++)
#pragma GCC unroll 3
        for (int c = 0; c < NC; c++)
            _mm512_mask_storeu_ps(out + (size_t)j * out_stride + (size_t)c * F32_LANES,
                                  c == NC - 1 ? last : 0xffff, acc[j * NC + c]);
}

/* Each query's att_sum_f16 (its own n[j] values), up to 8 queries x 48 values per pass over the
 * values: the queries' independent FMA chains fill the pipes where one query's 3 chains waited
 * on the FMA latency. */
static void att_sum_f16_multi_avx512(float *out, size_t out_stride, const float *w, size_t w_ld,
                                     size_t nq, const uint16_t *v, size_t v_stride, const size_t *n,
                                     size_t hs)
{
    if (nq == 1) {
        att_sum_f16_avx512(out, w, v, v_stride, n[0], hs);
        return;
    }
    for (size_t q0 = 0; q0 < nq; q0 += ATT_MULTI_Q) {
        const size_t m = nq - q0 < ATT_MULTI_Q ? nq - q0 : ATT_MULTI_Q;
        size_t nmin = n[q0], nmax = n[q0];
        for (size_t j = 1; j < m; j++) {
            nmin = n[q0 + j] < nmin ? n[q0 + j] : nmin;
            nmax = n[q0 + j] > nmax ? n[q0 + j] : nmax;
        }
        for (size_t d = 0; d < hs; d += ATT_MULTI_C * F32_LANES) {
            const size_t left = hs - d < ATT_MULTI_C * F32_LANES ? hs - d : ATT_MULTI_C * F32_LANES;
            const int nc = (int)((left + F32_LANES - 1) / F32_LANES);
            const __mmask16 last = left % F32_LANES ? tail_mask(left % F32_LANES) : 0xffff;
            float *o = out + q0 * out_stride + d;
            const float *wq = w + q0 * w_ld;
            const uint16_t *vd = v + d;
            const size_t *nq0 = n + q0;
#define SUM_CASE(QQ, CC)                                                                           \
    case (QQ) * 4 + (CC):                                                                          \
        att_sum_tile(QQ, CC, o, out_stride, wq, w_ld, vd, v_stride, nq0, nmin, nmax, last);        \
        break;
#define SUM_CASES(QQ) SUM_CASE(QQ, 1) SUM_CASE(QQ, 2) SUM_CASE(QQ, 3)
            switch ((int)m * 4 + nc) { /* constant tile shapes: the accumulators in registers */
            SUM_CASES(1) SUM_CASES(2) SUM_CASES(3) SUM_CASES(4)
            SUM_CASES(5) SUM_CASES(6) SUM_CASES(7) SUM_CASES(8)
            default: break;
            }
#undef SUM_CASES
#undef SUM_CASE
        }
    }
}

/* The ops written for this tier; NULL entries take avx2's (select.c). */
const struct kernels_vec_ops kernels_vec_avx512 = {
    .axpy = axpy_avx512,
    .round_f16 = round_f16_avx512,
    .to_f16 = to_f16_avx512,
    .att_scores = att_scores_avx512,
    .att_sum = att_sum_avx512,
    .att_scores_f16 = att_scores_f16_avx512,
    .att_sum_f16 = att_sum_f16_avx512,
    .att_scores_f16_multi = att_scores_f16_multi_avx512,
    .att_sum_f16_multi = att_sum_f16_multi_avx512,
    .exp_sum = exp_sum_avx512,
};
