/* quant_avx2.c: AVX2 dots of ggml's block formats with their quantized activations:
 * unpack each block's values to bytes, multiply-add against the int8 activations
 * (maddubs + madd), scale the per-block integer sums in float (FMA). Same integer sums as
 * quant_ref.c; only the float summation order differs. Built with -mavx2 -mfma -mf16c. */
#include "quant_internal.h"

#include <immintrin.h>
#include <string.h>

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high nibbles */
static inline __m256i nibbles(const uint8_t *q)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where the bit is set */
static inline __m256i bits_to_bytes(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* sum of unsigned u8 x signed i8 products, as 8 int32 lanes */
static inline __m256i dot_u8_i8(__m256i u, __m256i s)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

/* signed i8 x signed i8, as 8 float lanes */
static inline __m256 dot_i8_i8(__m256i a, __m256i b)
{
    const __m256i ua = _mm256_sign_epi8(a, a), sb = _mm256_sign_epi8(b, a);
    return _mm256_cvtepi32_ps(dot_u8_i8(ua, sb));
}

float quant_dot_bf16_avx2(const void *a, const void *x, size_t n)
{
    const uint16_t *p = a;
    const float *q = x;
    __m256 acc = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_slli_epi32(
            _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i))), 16);
        acc = _mm256_fmadd_ps(_mm256_castsi256_ps(w), _mm256_loadu_ps(q + i), acc);
    }
    float s = hsum_ps(acc);
    for (; i < n; i++) {
        const uint32_t u = (uint32_t)p[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        s += f * q[i];
    }
    return s;
}

float quant_dot_q4_0_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q4_0 *w = a;
    const struct block_q8_0 *y = x;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK4_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(y[i].d));
        const __m256i qw = _mm256_sub_epi8(nibbles(w[i].qs), _mm256_set1_epi8(8));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(qw, qy), acc);
    }
    return hsum_ps(acc);
}

float quant_dot_q4_1_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q4_1 *w = a;
    const struct block_q8_1 *y = x;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < n / QK4_0; i++) {
        summs += h2f(w[i].m) * h2f(y[i].s);
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(y[i].d));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(nibbles(w[i].qs), qy)), acc);
    }
    return hsum_ps(acc) + summs;
}

float quant_dot_q5_0_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q5_0 *w = a;
    const struct block_q8_0 *y = x;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK4_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(y[i].d));
        /* (nibble | bit << 4) - 16 == nibble | (bit ? 0 : 0xF0) as int8 */
        const __m256i hi = _mm256_andnot_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8((char)0xF0));
        const __m256i qw = _mm256_or_si256(nibbles(w[i].qs), hi);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(qw, qy), acc);
    }
    return hsum_ps(acc);
}

float quant_dot_q5_1_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q5_1 *w = a;
    const struct block_q8_1 *y = x;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (size_t i = 0; i < n / QK4_0; i++) {
        summs += h2f(w[i].m) * h2f(y[i].s);
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(y[i].d));
        const __m256i hi = _mm256_and_si256(bits_to_bytes(w[i].qh), _mm256_set1_epi8(0x10));
        const __m256i qw = _mm256_or_si256(nibbles(w[i].qs), hi);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(dot_u8_i8(qw, qy)), acc);
    }
    return hsum_ps(acc) + summs;
}

float quant_dot_q8_0_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q8_0 *w = a, *y = x;
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(w[i].d) * h2f(y[i].d));
        const __m256i qw = _mm256_loadu_si256((const __m256i *)w[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, dot_i8_i8(qw, qy), acc);
    }
    return hsum_ps(acc);
}

/* sum over sub-block mins of a Q4_K/Q5_K block: m_j * (bsums[2j] + bsums[2j+1]) */
static inline int k_mins(const uint8_t *m, const int16_t *bsums)
{
    int s = 0;
    for (int j = 0; j < 8; j++)
        s += m[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return s;
}

static inline void k_scales(const uint8_t *packed, uint8_t *sc, uint8_t *m)
{
    for (int j = 0; j < 8; j++)
        quant_scale_min_k4(j, packed, &sc[j], &m[j]);
}

float quant_dot_q4_K_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q4_K *w = a;
    const struct block_q8_K *y = x;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (size_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(w[i].scales, sc, m);
        accm += y[i].d * h2f(w[i].dmin) * (float)k_mins(m, y[i].bsums);
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * p));
            const __m256i q0 = _mm256_and_si256(q, low);
            const __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, y0),
                                                 _mm256_set1_epi16(sc[2 * p]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, y1),
                                                 _mm256_set1_epi16(sc[2 * p + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) - accm;
}

float quant_dot_q5_K_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q5_K *w = a;
    const struct block_q8_K *y = x;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (size_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(w[i].scales, sc, m);
        accm += y[i].d * h2f(w[i].dmin) * (float)k_mins(m, y[i].bsums);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)w[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * p));
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one), 4);
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(q, low), h0);
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), low), h1);
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, y0),
                                                 _mm256_set1_epi16(sc[2 * p]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, y1),
                                                 _mm256_set1_epi16(sc[2 * p + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(w[i].d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) - accm;
}

float quant_dot_q6_K_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q6_K *w = a;
    const struct block_q8_K *y = x;
    float acc = 0.0f;
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    for (size_t i = 0; i < n / QK_K; i++) {
        /* the -32: 32 * sum over groups of scale * (sum of the group's activations) */
        int off = 0;
        for (int g = 0; g < 16; g++)
            off += w[i].scales[g] * y[i].bsums[g];
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[i].ql + 64 * h, *qh = w[i].qh + 32 * h;
            const int8_t *sc = w[i].scales + 8 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low),
                                   _mm256_slli_epi16(_mm256_and_si256(hh, three), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), three), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), three), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), three), 4));
            for (int k = 0; k < 4; k++) {
                const __m256i yy = _mm256_loadu_si256((const __m256i *)(y[i].qs + 128 * h + 32 * k));
                const __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], yy), s));
            }
        }
        const int total = hsum_epi32(sumi) - 32 * off;
        acc += h2f(w[i].d) * y[i].d * (float)total;
    }
    return acc;
}

/* ---- register-tiled GEMM for prompt batches ----
 * One weight row against GEMM_NT tokens at a time: each weight block is loaded and unpacked
 * once and multiplied with the GEMM_NT tokens' activation blocks (quantized once per token by
 * the caller and reused over all rows), GEMM_NT accumulators live in registers, one
 * horizontal sum per output. Every output follows the dot's exact operation order (the same
 * integer sums, the same float products, FMAs and final sum), so gemm == dot bit for bit and
 * prompt logits equal decode logits; leftover tokens (< GEMM_NT) go through the dot. */
#define GEMM_NT 4

typedef void (*gemm_row_fn)(float *o, size_t out_tok, const void *wrow, const char *x,
                            size_t x_stride, size_t n);

static void gemm_tiled(gemm_row_fn row4, kernels_dot_fn dot, float *out, size_t out_row,
                       size_t out_tok, const struct kernels_mat *w, size_t r0, size_t r1,
                       const void *x, size_t x_stride, size_t n_tok)
{
    const char *base = w->data, *xb = x;
    size_t t = 0;
    for (; t + GEMM_NT <= n_tok; t += GEMM_NT)
        for (size_t i = r0; i < r1; i++)
            row4(out + (i - r0) * out_row + t * out_tok, out_tok, base + i * w->row_bytes,
                 xb + t * x_stride, x_stride, w->cols);
    for (; t < n_tok; t++)
        for (size_t i = r0; i < r1; i++)
            out[(i - r0) * out_row + t * out_tok] =
                dot(base + i * w->row_bytes, xb + t * x_stride, w->cols);
}

/* Q8_0 / Q4_0 weights against Q8_0 activations: 'qw' is the block's signed bytes */
#define ROW4_Q80(NAME, WBLOCK, QK, UNPACK)                                                     \
    static void NAME(float *o, size_t out_tok, const void *wrow, const char *x,               \
                     size_t xs, size_t n)                                                     \
    {                                                                                         \
        const struct WBLOCK *w = wrow;                                                        \
        const struct block_q8_0 *y0 = (const void *)x, *y1 = (const void *)(x + xs);         \
        const struct block_q8_0 *y2 = (const void *)(x + 2 * xs),                              \
                                *y3 = (const void *)(x + 3 * xs);                              \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                           \
        for (size_t i = 0; i < n / (QK); i++) {                                               \
            const float wd = h2f(w[i].d);                                                     \
            const __m256i qw = UNPACK;                                                        \
            const __m256i ua = _mm256_sign_epi8(qw, qw);                                      \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(wd * h2f(y0[i].d)),                           \
                                 _mm256_cvtepi32_ps(dot_u8_i8(ua, _mm256_sign_epi8(           \
                                     _mm256_loadu_si256((const __m256i *)y0[i].qs), qw))),    \
                                 a0);                                                         \
            a1 = _mm256_fmadd_ps(_mm256_set1_ps(wd * h2f(y1[i].d)),                           \
                                 _mm256_cvtepi32_ps(dot_u8_i8(ua, _mm256_sign_epi8(           \
                                     _mm256_loadu_si256((const __m256i *)y1[i].qs), qw))),    \
                                 a1);                                                         \
            a2 = _mm256_fmadd_ps(_mm256_set1_ps(wd * h2f(y2[i].d)),                           \
                                 _mm256_cvtepi32_ps(dot_u8_i8(ua, _mm256_sign_epi8(           \
                                     _mm256_loadu_si256((const __m256i *)y2[i].qs), qw))),    \
                                 a2);                                                         \
            a3 = _mm256_fmadd_ps(_mm256_set1_ps(wd * h2f(y3[i].d)),                           \
                                 _mm256_cvtepi32_ps(dot_u8_i8(ua, _mm256_sign_epi8(           \
                                     _mm256_loadu_si256((const __m256i *)y3[i].qs), qw))),    \
                                 a3);                                                         \
        }                                                                                     \
        o[0] = hsum_ps(a0);                                                                   \
        o[out_tok] = hsum_ps(a1);                                                             \
        o[2 * out_tok] = hsum_ps(a2);                                                         \
        o[3 * out_tok] = hsum_ps(a3);                                                         \
    }

ROW4_Q80(row4_q8_0, block_q8_0, QK8_0, _mm256_loadu_si256((const __m256i *)w[i].qs))
ROW4_Q80(row4_q4_0, block_q4_0, QK4_0, _mm256_sub_epi8(nibbles(w[i].qs), _mm256_set1_epi8(8)))

/* Q4_K against Q8_K: the scales and mins unpacked once per block, the nibbles once per
 * 32-byte group, for all GEMM_NT tokens */
static void row4_q4_K(float *o, size_t out_tok, const void *wrow, const char *x, size_t xs,
                      size_t n)
{
    const struct block_q4_K *w = wrow;
    const struct block_q8_K *y[GEMM_NT];
    __m256 acc[GEMM_NT];
    float accm[GEMM_NT];
    for (int t = 0; t < GEMM_NT; t++) {
        y[t] = (const void *)(x + (size_t)t * xs);
        acc[t] = _mm256_setzero_ps();
        accm[t] = 0.0f;
    }
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (size_t i = 0; i < n / QK_K; i++) {
        uint8_t sc[8], m[8];
        k_scales(w[i].scales, sc, m);
        const float dmin = h2f(w[i].dmin), d = h2f(w[i].d);
        __m256i sumi[GEMM_NT];
        for (int t = 0; t < GEMM_NT; t++) {
            accm[t] += y[t][i].d * dmin * (float)k_mins(m, y[t][i].bsums);
            sumi[t] = _mm256_setzero_si256();
        }
        for (int p = 0; p < 4; p++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * p));
            const __m256i q0 = _mm256_and_si256(q, low);
            const __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            const __m256i s0 = _mm256_set1_epi16(sc[2 * p]), s1 = _mm256_set1_epi16(sc[2 * p + 1]);
            for (int t = 0; t < GEMM_NT; t++) {
                const int8_t *yq = y[t][i].qs + 64 * p;
                const __m256i p0 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)yq)), s0);
                const __m256i p1 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(yq + 32))), s1);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p0, p1));
            }
        }
        for (int t = 0; t < GEMM_NT; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(y[t][i].d * d), _mm256_cvtepi32_ps(sumi[t]),
                                     acc[t]);
    }
    for (int t = 0; t < GEMM_NT; t++)
        o[(size_t)t * out_tok] = hsum_ps(acc[t]) - accm[t];
}

#define QUANT_DEFINE_TILED(T)                                                                 \
    void quant_matvec_##T##_avx2(float *out, const struct kernels_mat *w, size_t r0,          \
                                 size_t r1, const void *x)                                   \
    {                                                                                         \
        quant_matvec(quant_dot_##T##_avx2, out, w, r0, r1, x);                                \
    }                                                                                         \
    void quant_gemm_##T##_avx2(float *out, size_t out_row, size_t out_tok,                    \
                               const struct kernels_mat *w, size_t r0, size_t r1,             \
                               const void *x, size_t x_stride, size_t n_tok)                 \
    {                                                                                         \
        gemm_tiled(row4_##T, quant_dot_##T##_avx2, out, out_row, out_tok, w, r0, r1, x,       \
                   x_stride, n_tok);                                                          \
    }

QUANT_DEFINE(bf16, avx2)
QUANT_DEFINE_TILED(q4_0)
QUANT_DEFINE(q4_1, avx2)
QUANT_DEFINE(q5_0, avx2)
QUANT_DEFINE(q5_1, avx2)
QUANT_DEFINE_TILED(q8_0)
QUANT_DEFINE_TILED(q4_K)
QUANT_DEFINE(q5_K, avx2)
QUANT_DEFINE(q6_K, avx2)
