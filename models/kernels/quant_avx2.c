/* quant_avx2.c: AVX2 dots of ggml's block formats with their quantized activations:
 * unpack each block's values to bytes, multiply-add against the int8 activations
 * (maddubs + madd), scale the per-block integer sums in float (FMA). Same integer sums as
 * quant_ref.c; only the float summation order differs. Built with -mavx2 -mfma -mf16c. */
#include "quant_internal.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
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

/* k_mins in a vector: 16 bsums against the 8 mins each twice (exact integer sum) */
static inline int k_mins_avx2(const uint8_t *m, const int16_t *bsums)
{
    const __m128i mb = _mm_loadl_epi64((const __m128i *)m);
    const __m256i mm = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mb, mb));
    return hsum_epi32(_mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bsums), mm));
}

/* quant_scale_min_k4 for j = 0..7 at once, on 32-bit words: the same 6-bit values */
static inline void k_scales(const uint8_t *packed, uint8_t *sc, uint8_t *m)
{
    uint32_t u[3], o[4];
    memcpy(u, packed, 12);
    o[0] = u[0] & 0x3f3f3f3fu;                                         /* sc[0..3] */
    o[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);  /* sc[4..7] */
    o[2] = u[1] & 0x3f3f3f3fu;                                         /* m[0..3] */
    o[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4); /* m[4..7] */
    memcpy(sc, o, 8);
    memcpy(m, o + 2, 8);
}

/* Q4_K and Q5_K (q5: the 5th bits from qh) against Q8_K: the same header (d, dmin, scales),
 * 'bytes' per block, the quants at qs_off; inlined with constant arguments */
static inline __attribute__((always_inline)) float dot_k45_avx2(const void *a, const void *x,
                                                                size_t n, size_t bytes,
                                                                size_t qs_off, int q5)
{
    const char *w = a;
    const struct block_q8_K *y = x;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.0f;
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (size_t i = 0; i < n / QK_K; i++, w += bytes) {
        const struct block_q4_K *hd = (const void *)w; /* the shared header */
        uint8_t sc[8], m[8];
        k_scales(hd->scales, sc, m);
        accm += y[i].d * h2f(hd->dmin) * (float)k_mins_avx2(m, y[i].bsums);
        const __m256i hb = q5 ? _mm256_loadu_si256((const __m256i *)(const void *)
                                                       ((const struct block_q5_K *)hd)->qh)
                              : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(w + qs_off + 32 * p));
            __m256i q0 = _mm256_and_si256(q, low);
            __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), low);
            if (q5) {
                q0 = _mm256_or_si256(q0, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p), one), 4));
                q1 = _mm256_or_si256(q1, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * p + 1), one), 4));
            }
            const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p));
            const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y[i].qs + 64 * p + 32));
            const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, y0),
                                                 _mm256_set1_epi16(sc[2 * p]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, y1),
                                                 _mm256_set1_epi16(sc[2 * p + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(y[i].d * h2f(hd->d)), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) - accm;
}

float quant_dot_q4_K_avx2(const void *a, const void *x, size_t n)
{
    return dot_k45_avx2(a, x, n, sizeof(struct block_q4_K), offsetof(struct block_q4_K, qs), 0);
}

float quant_dot_q5_K_avx2(const void *a, const void *x, size_t n)
{
    return dot_k45_avx2(a, x, n, sizeof(struct block_q5_K), offsetof(struct block_q5_K, qs), 1);
}

/* A Q6_K block's 256 codes (0..63, the -32 is taken off through the bsums) as 8 vectors of
 * 32 unsigned bytes, in the activation's order, and the 16 scales as 8 int16 vectors (low
 * half: scale 2k of the vector's 32 values, high half: scale 2k+1); 'sc16' all 16 scales. */
static inline void q6k_unpack(const struct block_q6_K *b, __m256i q[8], __m256i s[8], __m256i *sc16)
{
    const __m256i low = _mm256_set1_epi8(0x0F), hib = _mm256_set1_epi8(0x30);
    const __m256i pick = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
                                          2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
    *sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        const __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
        /* bits 2j..2j+1 of each qh byte to bits 4..5 (16-bit shifts: the bits crossing a byte
         * border land outside 0x30) */
        q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, low),
                                       _mm256_and_si256(_mm256_slli_epi16(hh, 4), hib));
        q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, low),
                                       _mm256_and_si256(_mm256_slli_epi16(hh, 2), hib));
        q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                       _mm256_and_si256(hh, hib));
        q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                       _mm256_and_si256(_mm256_srli_epi16(hh, 2), hib));
        for (int k = 0; k < 4; k++)
            s[4 * h + k] = _mm256_shuffle_epi8(
                _mm256_permutevar8x32_epi32(*sc16, _mm256_set1_epi32(4 * h + k)), pick);
    }
}

float quant_dot_q6_K_avx2(const void *a, const void *x, size_t n)
{
    const struct block_q6_K *w = a;
    const struct block_q8_K *y = x;
    float acc = 0.0f;
    for (size_t i = 0; i < n / QK_K; i++) {
        __m256i q[8], s[8], sc16;
        q6k_unpack(&w[i], q, s, &sc16);
        /* the -32: 32 * sum over groups of scale * (sum of the group's activations) */
        const int off = hsum_epi32(_mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums)));
        __m256i sumi = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const __m256i yy = _mm256_loadu_si256((const __m256i *)(y[i].qs + 32 * k));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], yy), s[k]));
        }
        const int total = hsum_epi32(sumi) - 32 * off;
        acc += h2f(w[i].d) * y[i].d * (float)total;
    }
    return acc;
}

/* ---- activation quantizers (quant_ref.c's q8_block, vectorised, bit for bit) ---- */

/* 32 floats -> 32 int8 (round half to even, as nearbyintf) with their sum; returns d */
static inline float q8_block_avx2(const float *x, int8_t *q, int *sum)
{
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        m = _mm256_max_ps(m, _mm256_and_ps(v[k], absmask));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i i[4];
    for (int k = 0; k < 4; k++)
        i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], vid),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i s = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
    *sum = hsum_epi32(s);
    /* packs interleave the 128-bit lanes; the permute puts the 32 bytes back in order */
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i[0], i[1]), _mm256_packs_epi32(i[2], i[3]));
    p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, p);
    return d;
}

void quant_from_float_q8_0_avx2(const float *src, void *dst, size_t n)
{
    struct block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QK8_0; i++) {
        int s;
        b[i].d = _cvtss_sh(q8_block_avx2(src + i * QK8_0, b[i].qs, &s), _MM_FROUND_TO_NEAREST_INT);
    }
}

void quant_from_float_q8_1_avx2(const float *src, void *dst, size_t n)
{
    struct block_q8_1 *b = dst;
    for (size_t i = 0; i < n / QK8_0; i++) {
        int s;
        const float d = q8_block_avx2(src + i * QK8_0, b[i].qs, &s);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b[i].s = _cvtss_sh(d * (float)s, _MM_FROUND_TO_NEAREST_INT);
    }
}

/* Q8_K (the K-quants' activations): quant_from_float_q8_K bit for bit: the scale from the
 * first value of the largest magnitude, round half to even (cvtps under the default MXCSR,
 * as nearest_int's float trick), at most 127, the 16-value sums */
void quant_from_float_q8_K_avx2(const float *src, void *dst, size_t n)
{
    struct block_q8_K *b = dst;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (size_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8) /* a NaN never wins: max_ps returns the second */
            m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src + k), absmask), m);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0.0f)
            continue;
        float max = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(src[j]) == amax) {
                max = src[j];
                break;
            }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i top = _mm256_set1_epi32(127);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i q[4];
            for (int h4 = 0; h4 < 4; h4++)
                q[h4] = _mm256_min_epi32(
                    _mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(src + k + 8 * h4))), top);
            b[i].bsums[k / 16] = (int16_t)hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[k / 16 + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(q[2], q[3]));
            __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                           _mm256_packs_epi32(q[2], q[3]));
            p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(b[i].qs + k), p);
        }
        b[i].d = 1 / iscale;
    }
}

/* ---- register-tiled GEMM for prompt batches ----
 * One weight row against GEMM_NT tokens at a time: each weight block is loaded and unpacked
 * once and multiplied with the GEMM_NT tokens' activation blocks (quantized once per token by
 * the caller and reused over all rows), GEMM_NT accumulators live in registers, one
 * horizontal sum per output. Every output follows the dot's exact operation order (the same
 * integer sums, the same float products, FMAs and final sum), so gemm == dot bit for bit and
 * prompt logits equal decode logits; leftover tokens (< GEMM_NT) go through the dot. */
#define GEMM_NT 8
#define GEMM_MAX_BLOCKS 1024 /* the tile's scale buffer (32 KB of stack): rows up to 32768 */

typedef void (*gemm_row_fn)(float *o, size_t out_tok, const void *wrow, const char *x,
                            size_t x_stride, size_t n, const float *yd);

/* Both row functions see the same buffer: yd[i * GEMM_NT + t] = token t's scale of block i,
 * converted once per tile (not once per row and token as the dot does). */
typedef float (*gemm_scale_fn)(const char *block);

static float scale_q8_0(const char *b) { return h2f(((const struct block_q8_0 *)(const void *)b)->d); }

static float scale_q8_K(const char *b) { return ((const struct block_q8_K *)(const void *)b)->d; }

static void gemm_tiled(gemm_row_fn row8, gemm_row_fn row4, kernels_dot_fn dot, gemm_scale_fn sc,
                       size_t ybytes, size_t qk, float *out, size_t out_row, size_t out_tok,
                       const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                       size_t x_stride, size_t n_tok)
{
    const char *base = w->data, *xb = x;
    const size_t nb = w->cols / qk;
    size_t t = 0;
    if (nb <= GEMM_MAX_BLOCKS) {
        float yd[GEMM_MAX_BLOCKS * GEMM_NT];
        while (n_tok - t >= 4) {
            const size_t nt = n_tok - t >= GEMM_NT ? GEMM_NT : 4;
            for (size_t i = 0; i < nb; i++)
                for (size_t k = 0; k < nt; k++)
                    yd[i * GEMM_NT + k] = sc(xb + (t + k) * x_stride + i * ybytes);
            const gemm_row_fn row = nt == GEMM_NT ? row8 : row4;
            for (size_t i = r0; i < r1; i++)
                row(out + (i - r0) * out_row + t * out_tok, out_tok, base + i * w->row_bytes,
                    xb + t * x_stride, x_stride, w->cols, yd);
            t += nt;
        }
    }
    for (; t < n_tok; t++)
        for (size_t i = r0; i < r1; i++)
            out[(i - r0) * out_row + t * out_tok] =
                dot(base + i * w->row_bytes, xb + t * x_stride, w->cols);
}

/* lane k of the block's scales D in every lane */
#define LANE_PS(D, k) _mm256_permutevar8x32_ps(D, _mm256_set1_epi32(k))

/* Q8_0 / Q4_0 / Q5_0 weights against Q8_0 activations: 'qw' is the block's signed bytes.
 * d = wd * yd in a vector for the tile's tokens at once, then per token the dot's
 * fmadd(d, int sums as floats, acc): the same products and sums as the dot. Token t's d is
 * broadcast from memory (a load) rather than permuted out of the vector (a shuffle on the
 * same vector pipes as the multiplies): ~18% less time per 8-token tile at 110M. */
#define ROWN_Q80(NAME, NT, WBLOCK, QK, UNPACK)                                                \
    static void NAME(float *o, size_t out_tok, const void *wrow, const char *x,               \
                     size_t xs, size_t n, const float *yd)                                    \
    {                                                                                         \
        const struct WBLOCK *w = wrow;                                                        \
        __m256 acc[NT];                                                                       \
        _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) acc[t] = _mm256_setzero_ps();  \
        for (size_t i = 0; i < n / (QK); i++) {                                               \
            const __m256i qw = UNPACK;                                                        \
            const __m256i ua = _mm256_sign_epi8(qw, qw);                                      \
            float dd[8] __attribute__((aligned(32)));                                         \
            _mm256_store_ps(dd, _mm256_mul_ps(_mm256_set1_ps(h2f(w[i].d)),                     \
                                              _mm256_loadu_ps(yd + i * GEMM_NT)));            \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const struct block_q8_0 *y = (const void *)(x + (size_t)t * xs);              \
                const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);               \
                const __m256 p = _mm256_cvtepi32_ps(dot_u8_i8(ua, _mm256_sign_epi8(qy, qw)));  \
                acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(dd + t), p, acc[t]);             \
            }                                                                                 \
        }                                                                                     \
        _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) o[(size_t)t * out_tok] =       \
            hsum_ps(acc[t]);                                                                  \
    }

#define ROWS_Q80(T, WBLOCK, QK, UNPACK)                                                       \
    ROWN_Q80(row8_##T, 8, WBLOCK, QK, UNPACK)                                                 \
    ROWN_Q80(row4_##T, 4, WBLOCK, QK, UNPACK)

ROWS_Q80(q8_0, block_q8_0, QK8_0, _mm256_loadu_si256((const __m256i *)w[i].qs))
ROWS_Q80(q4_0, block_q4_0, QK4_0, _mm256_sub_epi8(nibbles(w[i].qs), _mm256_set1_epi8(8)))
ROWS_Q80(q5_0, block_q5_0, QK4_0,
         _mm256_or_si256(nibbles(w[i].qs), _mm256_andnot_si256(bits_to_bytes(w[i].qh),
                                                                _mm256_set1_epi8((char)0xF0))))

/* Q4_K against Q8_K: the scales and mins unpacked once per block, the nibbles once per
 * block, for all NT tokens; per token the dot's integer sums and float operations */
#define ROWN_Q4K(NAME, NT)                                                                    \
    static void NAME(float *o, size_t out_tok, const void *wrow, const char *x, size_t xs,   \
                     size_t n, const float *yd)                                               \
    {                                                                                         \
        const struct block_q4_K *w = wrow;                                                    \
        __m256 acc[NT];                                                                       \
        float accm[NT];                                                                       \
        for (int t = 0; t < (NT); t++) {                                                      \
            acc[t] = _mm256_setzero_ps();                                                     \
            accm[t] = 0.0f;                                                                   \
        }                                                                                     \
        const __m256i low = _mm256_set1_epi8(0x0F);                                           \
        for (size_t i = 0; i < n / QK_K; i++) {                                               \
            uint8_t sc[8], m[8];                                                              \
            k_scales(w[i].scales, sc, m);                                                     \
            const float dmin = h2f(w[i].dmin), d = h2f(w[i].d);                               \
            __m256i q[8], s[8];                                                               \
            for (int p = 0; p < 4; p++) {                                                     \
                const __m256i v = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * p));    \
                q[2 * p] = _mm256_and_si256(v, low);                                          \
                q[2 * p + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);                \
                s[2 * p] = _mm256_set1_epi16(sc[2 * p]);                                      \
                s[2 * p + 1] = _mm256_set1_epi16(sc[2 * p + 1]);                              \
            }                                                                                 \
            const __m256 D = _mm256_mul_ps(_mm256_loadu_ps(yd + i * GEMM_NT), _mm256_set1_ps(d)); \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const struct block_q8_K *y = (const void *)(x + (size_t)t * xs);              \
                accm[t] += y[i].d * dmin * (float)k_mins_avx2(m, y[i].bsums);                 \
                __m256i sumi = _mm256_setzero_si256();                                        \
                for (int p = 0; p < 4; p++) {                                                 \
                    const int8_t *yq = y[i].qs + 64 * p;                                      \
                    const __m256i p0 = _mm256_madd_epi16(                                     \
                        _mm256_maddubs_epi16(q[2 * p], _mm256_loadu_si256((const __m256i *)yq)), \
                        s[2 * p]);                                                            \
                    const __m256i p1 = _mm256_madd_epi16(                                     \
                        _mm256_maddubs_epi16(q[2 * p + 1],                                    \
                                             _mm256_loadu_si256((const __m256i *)(yq + 32))), \
                        s[2 * p + 1]);                                                        \
                    sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1));                  \
                }                                                                             \
                acc[t] = _mm256_fmadd_ps(LANE_PS(D, t), _mm256_cvtepi32_ps(sumi), acc[t]); \
            }                                                                                 \
        }                                                                                     \
        for (int t = 0; t < (NT); t++)                                                        \
            o[(size_t)t * out_tok] = hsum_ps(acc[t]) - accm[t];                               \
    }

ROWN_Q4K(row8_q4_K, 8)
ROWN_Q4K(row4_q4_K, 4)

/* 8 int32 vectors -> their 8 lane totals (exact integers: any order) */
static inline __m256i reduce8_epi32(const __m256i v[8])
{
    const __m256i x = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    const __m256i y = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
}

/* one Q6_K block against one Q8_K block: 8 int32 lanes whose total is the block's exact
 * integer total (less 32 x the scaled bsums) */
static inline __m256i q6k_total(const __m256i q[8], const __m256i s[8], __m256i sc16,
                                const struct block_q8_K *y)
{
    __m256i sumi = _mm256_setzero_si256();
    for (int k = 0; k < 8; k++) {
        const __m256i yy = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], yy), s[k]));
    }
    const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y->bsums));
    return _mm256_sub_epi32(sumi, _mm256_slli_epi32(off, 5));
}

/* Q6_K against Q8_K: the codes and scales unpacked once per block for all NT tokens. The
 * dot forms one exact integer total per block (less 32 x the scaled bsums) and then adds
 * (wd * yd) * total in float: here the NT tokens' totals sit in the lanes of one vector and
 * the float multiply and add run on all of them at once (the same operations per lane). */
#define ROWN_Q6K(NAME, NT)                                                                    \
    static void NAME(float *o, size_t out_tok, const void *wrow, const char *x, size_t xs,   \
                     size_t n, const float *yd)                                               \
    {                                                                                         \
        const struct block_q6_K *w = wrow;                                                    \
        __m256 acc = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < n / QK_K; i++) {                                               \
            __m256i q[8], s[8], tot[8], sc16;                                                 \
            q6k_unpack(&w[i], q, s, &sc16);                                                   \
            for (int t = 0; t < 8; t++) {                                                     \
                if (t >= (NT)) {                                                              \
                    tot[t] = _mm256_setzero_si256();                                          \
                    continue;                                                                 \
                }                                                                             \
                const struct block_q8_K *y = (const void *)(x + (size_t)t * xs);              \
                tot[t] = q6k_total(q, s, sc16, &y[i]);                                        \
            }                                                                                 \
            const __m256 d = _mm256_mul_ps(_mm256_set1_ps(h2f(w[i].d)),                       \
                                           _mm256_loadu_ps(yd + i * GEMM_NT));                \
            acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8_epi32(tot)))); \
        }                                                                                     \
        float a[8];                                                                           \
        _mm256_storeu_ps(a, acc);                                                             \
        for (int t = 0; t < (NT); t++)                                                        \
            o[(size_t)t * out_tok] = a[t];                                                    \
    }

ROWN_Q6K(row8_q6_K, 8)
ROWN_Q6K(row4_q6_K, 4)

/* ---- decode matvec: 4 rows against one token ----
 * The token's block scales are converted once per call; the 4 rows share each activation
 * block load. Q4_0/Q5_0 multiply their unsigned codes (nibble, nibble | bit << 4) and take
 * 8 (16) times the activation block's 4-byte lane sums off after the madd: the same int32
 * lanes as the dot's (code - 8) * y, exactly, with no sign work per block. Per row the
 * same float operations as the dot, so matvec == dot bit for bit. */
#define MATVEC_ROWS_Q 4
#ifndef MATVEC_PREFETCH_ROWS
#define MATVEC_PREFETCH_ROWS 16
#endif

/* lane sums of y's 32 bytes, times 'mul' (8 or 16): per lane 4 bytes */
static inline __m256i y_lane_sums(const int8_t *qs, int mul)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8((char)mul),
                                                  _mm256_loadu_si256((const __m256i *)qs)),
                             _mm256_set1_epi16(1));
}

#define MATVEC4_Q80(NAME, WBLOCK, QK, OFFSET, LANES)                                          \
    static void NAME(float *out, const struct kernels_mat *w, size_t r0, size_t r1,           \
                     const void *x, kernels_dot_fn dot)                                       \
    {                                                                                         \
        const struct block_q8_0 *y = x;                                                       \
        const size_t nb = w->cols / (QK);                                                     \
        size_t r = r0;                                                                        \
        if (nb <= GEMM_MAX_BLOCKS && r1 - r0 >= MATVEC_ROWS_Q) {                              \
            float yd[GEMM_MAX_BLOCKS];                                                        \
            __m256i corr[(OFFSET) ? GEMM_MAX_BLOCKS : 1];                                     \
            corr[0] = _mm256_setzero_si256();                                                 \
            for (size_t i = 0; i < nb; i++) {                                                 \
                yd[i] = h2f(y[i].d);                                                          \
                if (OFFSET)                                                                   \
                    corr[i] = y_lane_sums(y[i].qs, (OFFSET));                                 \
            }                                                                                 \
            const char *base = w->data;                                                       \
            /* DRAM-bound matrices: software prefetch MATVEC_PREFETCH_ROWS ahead */           \
            const size_t pf = MATVEC_PREFETCH_ROWS * w->row_bytes;                            \
            for (; r + MATVEC_ROWS_Q <= r1; r += MATVEC_ROWS_Q) {                             \
                const struct WBLOCK *wr[MATVEC_ROWS_Q];                                       \
                __m256 acc[MATVEC_ROWS_Q];                                                    \
                for (int k = 0; k < MATVEC_ROWS_Q; k++) {                                     \
                    wr[k] = (const void *)(base + (r + (size_t)k) * w->row_bytes);            \
                    acc[k] = _mm256_setzero_ps();                                             \
                }                                                                             \
                for (size_t i = 0; i < nb; i++) {                                             \
                    const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);          \
                    _Pragma("GCC unroll 4") for (int k = 0; k < MATVEC_ROWS_Q; k++)           \
                    {                                                                         \
                        const struct WBLOCK *b = &wr[k][i];                                   \
                        _mm_prefetch((const char *)b + pf, _MM_HINT_T0);                      \
                        const __m256 d = _mm256_set1_ps(h2f(b->d) * yd[i]);                   \
                        acc[k] = _mm256_fmadd_ps(                                             \
                            d, _mm256_cvtepi32_ps(LANES(b, qy, corr[(OFFSET) ? i : 0])), acc[k]); \
                    }                                                                         \
                }                                                                             \
                for (int k = 0; k < MATVEC_ROWS_Q; k++)                                       \
                    out[r - r0 + (size_t)k] = hsum_ps(acc[k]);                                \
            }                                                                                 \
        }                                                                                     \
        for (; r < r1; r++)                                                                   \
            out[r - r0] = dot((const char *)w->data + r * w->row_bytes, x, w->cols);          \
    }

/* the int32 lanes of one weight block against qy, as the dot forms them */
static inline __m256i lanes_q8_0(const struct block_q8_0 *b, __m256i qy, __m256i corr)
{
    (void)corr;
    const __m256i qw = _mm256_loadu_si256((const __m256i *)b->qs);
    return dot_u8_i8(_mm256_sign_epi8(qw, qw), _mm256_sign_epi8(qy, qw));
}

static inline __m256i lanes_q4_0(const struct block_q4_0 *b, __m256i qy, __m256i corr)
{
    return _mm256_sub_epi32(dot_u8_i8(nibbles(b->qs), qy), corr);
}

static inline __m256i lanes_q5_0(const struct block_q5_0 *b, __m256i qy, __m256i corr)
{
    const __m256i hi = _mm256_and_si256(bits_to_bytes(b->qh), _mm256_set1_epi8(0x10));
    return _mm256_sub_epi32(dot_u8_i8(_mm256_or_si256(nibbles(b->qs), hi), qy), corr);
}

MATVEC4_Q80(matvec4_q8_0, block_q8_0, QK8_0, 0, lanes_q8_0)
MATVEC4_Q80(matvec4_q4_0, block_q4_0, QK4_0, 8, lanes_q4_0)
MATVEC4_Q80(matvec4_q5_0, block_q5_0, QK4_0, 16, lanes_q5_0)

/* One Q6_K block's exact integer total against y (the dot's, less 32 x the scaled bsums),
 * spread over 8 int32 lanes, unpacking and multiplying one 32-value vector at a time: the
 * unpacked block (16 vectors) held for 8 rows spilled to the stack, ~63 cycles a block.
 * Scales: E holds the even scales as int16 in its low lane and the odd ones in its high
 * lane, so vector v's (scale 2v for its first 16 values, 2v+1 for the rest) is one in-lane
 * shuffle of E. */
static inline __m256i q6k_block_lanes(const struct block_q6_K *b, const struct block_q8_K *y)
{
    const __m256i low = _mm256_set1_epi8(0x0F), hib = _mm256_set1_epi8(0x30);
    const __m128i sc = _mm_loadu_si128((const __m128i *)(const void *)b->scales);
    const __m256i e = _mm256_cvtepi8_epi16(
        _mm_shuffle_epi8(sc, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
    const __m256i off = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc),
                                          _mm256_loadu_si256((const __m256i *)(const void *)y->bsums));
    __m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
        const __m256i hh = _mm256_loadu_si256((const __m256i *)(const void *)qh);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const __m256i l = (k & 1) ? l1 : l0;
            const __m256i lo = (k & 2) ? _mm256_and_si256(_mm256_srli_epi16(l, 4), low)
                                       : _mm256_and_si256(l, low);
            __m256i hi;
            switch (k) {
            case 0: hi = _mm256_slli_epi16(hh, 4); break;
            case 1: hi = _mm256_slli_epi16(hh, 2); break;
            case 2: hi = hh; break;
            default: hi = _mm256_srli_epi16(hh, 2); break;
            }
            const __m256i q = _mm256_or_si256(lo, _mm256_and_si256(hi, hib));
            const int v = 4 * h + k;
            const __m256i sv = _mm256_shuffle_epi8(e, _mm256_set1_epi16((short)((2 * v + 1) << 8 | 2 * v)));
            const __m256i yy = _mm256_loadu_si256((const __m256i *)(const void *)(y->qs + 32 * v));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(_mm256_maddubs_epi16(q, yy), sv));
        }
    }
    return sumi;
}

/* Q6_K decode: 8 rows against one token. Each row's block total is the dot's exact integer;
 * the 8 totals land in the lanes of one vector (one reduction instead of 2 horizontal sums
 * per row) and each lane does the dot's float steps, acc += (wd * yd) * total, in its order:
 * equal to the dot bit for bit. A remainder of fewer than 8 rows goes through the dot. */
static void matvec8_q6_K(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                         const void *x, kernels_dot_fn dot)
{
    const struct block_q8_K *y = x;
    const size_t rb = w->row_bytes, nb = w->cols / QK_K;
    const char *base = w->data;
    size_t r = r0;
    for (; r + 8 <= r1; r += 8) {
        const struct block_q6_K *rows[8];
        for (int j = 0; j < 8; j++)
            rows[j] = (const void *)(base + (r + j) * rb);
        const char *ahead = base + (r + MATVEC_PREFETCH_ROWS) * rb;
        __m256 acc = _mm256_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            __m256i tot[8];
            float wd[8];
            for (int j = 0; j < 8; j++) {
                for (size_t off = 0; off < sizeof(struct block_q6_K); off += 64)
                    _mm_prefetch(ahead + (size_t)j * rb + i * sizeof(struct block_q6_K) + off,
                                 _MM_HINT_T0);
                tot[j] = q6k_block_lanes(&rows[j][i], &y[i]);
                wd[j] = h2f(rows[j][i].d);
            }
            const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(wd), _mm256_set1_ps(y[i].d));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8_epi32(tot))));
        }
        _mm256_storeu_ps(out + (r - r0), acc);
    }
    for (; r < r1; r++)
        out[r - r0] = dot(base + r * rb, x, w->cols);
}

/* one row at a time through the dot, prefetching MATVEC_PREFETCH_ROWS ahead */
static void quant_matvec_dot(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                             const void *x, kernels_dot_fn dot)
{
    const char *base = w->data;
    const size_t rb = w->row_bytes;
    for (size_t i = r0; i < r1; i++) {
        const char *ahead = base + (i + MATVEC_PREFETCH_ROWS) * rb;
        for (size_t off = 0; off < rb; off += 64)
            _mm_prefetch(ahead + off, _MM_HINT_T0);
        out[i - r0] = dot(base + i * rb, x, w->cols);
    }
}

/* ---- interleaved Q4_0 / Q8_0 (kernels_mat.interleave): one row per 32-bit lane ----
 * A tile is 8 rows x IL_NT tokens. Per block the 8 rows' quants are 4 (Q4_0: 8 after the
 * nibble split) vectors of 4 bytes per row; each is multiplied with the token's matching 4
 * activation bytes broadcast to every lane, so the lanes add up to each row's exact block
 * total with no horizontal sum: Q4_0 multiplies its unsigned nibbles, adds the 8 products in
 * int16 (|sum| <= 8 * 2 * 15 * 128 < 2^15) and takes 8 x the token's block sum off after one
 * madd; Q8_0 makes the weights unsigned by sign (as the dot) and adds in int32. The float
 * part is the ref dot's, in its order (Q4_0: total * wd * yd; Q8_0: total * (wd * yd), then
 * += per block), so every output equals the ref dot bit for bit, whatever the tile. */
#define IL_NT 4

static inline __m256i bcast4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

static inline void il_store(float *o, size_t out_row, size_t out_tok, const __m256 *acc, int nt)
{
    for (int t = 0; t < nt; t++) {
        if (out_row == 1) {
            _mm256_storeu_ps(o + (size_t)t * out_tok, acc[t]);
        } else {
            float v[8];
            _mm256_storeu_ps(v, acc[t]);
            for (size_t r = 0; r < 8; r++)
                o[r * out_row + (size_t)t * out_tok] = v[r];
        }
    }
}

/* the 5th bits of Q5_0 values s..s+3 (s = 0, 4, ..., 28) of each row, from its qh lane, as
 * 0x10 per byte */
static inline __m256i il_bit5(__m256i qh, int s)
{
    const __m256i pick = _mm256_add_epi8(
        _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12,
                         0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12),
        _mm256_set1_epi8((char)(s / 8)));
    const __m256i sel = _mm256_set1_epi32((int)(0x08040201u << (s % 8)));
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(qh, pick), sel);
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, sel), _mm256_set1_epi8(0x10));
}

/* Q4_0 / Q5_0 (Q5: codes 0..31 with the qh bits; 4 products per int16 sum, then two madds).
 * NT tokens: y[t] their blocks, yd[t * nb + i] their block scales, corr[t * nb + i] 8 (16) x
 * their block sums */
/* The 1-token tiles (decode) prefetch the weights IL_PF_BYTES ahead of the block they
 * work on: the hardware prefetcher alone left a DRAM-size Q4_0 decode at ~75% of a plain
 * streaming read (1B Q4_0, 1 thread: 18-25 -> 27-31 tok/s; 110M: 179-183 -> 183-217, machine
 * loaded; 1024 / 2048 / 4096 bytes were within noise of each other, 512 weaker). The prefetch
 * only moves data earlier: results are unchanged. */
#ifndef IL_PF_BYTES
#define IL_PF_BYTES 2048
#endif
#define IL_PREFETCH(NT, p, len)                                                                \
    do {                                                                                       \
        if ((NT) == 1)                                                                         \
            for (size_t pf_ = 0; pf_ < (len); pf_ += 64)                                       \
                _mm_prefetch((const char *)(p) + IL_PF_BYTES + pf_, _MM_HINT_T0);              \
    } while (0)
#define IL_Q45(NAME, NT, WBLOCK, Q5, QH)                                                        \
    static void NAME(float *o, size_t out_row, size_t out_tok, const void *wv, size_t nb, \
                     const struct block_q8_0 *const *y, const float *yd,               \
                     const int32_t *corr)                                              \
    {                                                                                  \
        const struct WBLOCK *w = wv;                                                       \
        const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi16(1);               \
        __m256 acc[NT];                                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            IL_PREFETCH(NT, w + i, sizeof *w);                                                \
            const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[i].d));     \
            /* u[2c]: values 4c..4c+3 of each row, u[2c+1]: values 16+4c.. */                 \
            __m256i u[8];                                                                     \
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++) {                           \
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));  \
                u[2 * c] = _mm256_and_si256(raw, m4);                                         \
                u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);               \
            }                                                                                 \
            if (Q5) {                                                                         \
                const __m256i qh = QH;                                                        \
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)                         \
                    u[c] = _mm256_or_si256(u[c], il_bit5(qh, 4 * (c / 2) + 16 * (c % 2)));   \
            }                                                                                 \
            _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const int8_t *q = y[t][i].qs;                                                 \
                __m256i s[2];                                                                 \
                _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++)                           \
                {                                                                             \
                    const int8_t *p = q + 8 * h;                                              \
                    const __m256i *v = u + 4 * h;                                             \
                    s[h] = _mm256_add_epi16(                                                  \
                        _mm256_add_epi16(_mm256_maddubs_epi16(v[0], bcast4(p)),               \
                                         _mm256_maddubs_epi16(v[1], bcast4(p + 16))),         \
                        _mm256_add_epi16(_mm256_maddubs_epi16(v[2], bcast4(p + 4)),           \
                                         _mm256_maddubs_epi16(v[3], bcast4(p + 20))));        \
                }                                                                             \
                const __m256i tot = _mm256_sub_epi32(                                         \
                    (Q5) ? _mm256_add_epi32(_mm256_madd_epi16(s[0], one),                     \
                                            _mm256_madd_epi16(s[1], one))                     \
                         : _mm256_madd_epi16(_mm256_add_epi16(s[0], s[1]), one),              \
                    _mm256_set1_epi32(corr[(size_t)t * nb + i]));                             \
                acc[t] = _mm256_add_ps(                                                       \
                    acc[t], _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(tot), wd),         \
                                          _mm256_set1_ps(yd[(size_t)t * nb + i])));          \
            }                                                                                 \
        }                                                                                     \
        il_store(o, out_row, out_tok, acc, (NT));                                             \
    }

#define IL_Q8_0(NAME, NT)                                                                     \
    static void NAME(float *o, size_t out_row, size_t out_tok, const void *wv, size_t nb, \
                     const struct block_q8_0 *const *y, const float *yd,               \
                     const int32_t *corr)                                              \
    {                                                                                  \
        const struct block_q8_0x8 *w = wv;                                                       \
        (void)corr;                                                                           \
        const __m256i one = _mm256_set1_epi16(1);                                             \
        __m256 acc[NT];                                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            IL_PREFETCH(NT, w + i, sizeof *w);                                                \
            const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[i].d));     \
            __m256i aw[8];                                                                    \
            _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++) {                           \
                const __m256i v = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));    \
                aw[c] = _mm256_sign_epi8(v, v);                                               \
            }                                                                                 \
            _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const int8_t *q = y[t][i].qs;                                                 \
                __m256i s = _mm256_setzero_si256();                                           \
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)                           \
                {                                                                             \
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c)); \
                    s = _mm256_add_epi32(                                                     \
                        s, _mm256_madd_epi16(                                                 \
                               _mm256_maddubs_epi16(aw[c], _mm256_sign_epi8(bcast4(q + 4 * c), v)), \
                               one));                                                         \
                }                                                                             \
                acc[t] = _mm256_add_ps(                                                       \
                    acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(s),                              \
                                          _mm256_mul_ps(wd, _mm256_set1_ps(yd[(size_t)t * nb + i])))); \
            }                                                                                 \
        }                                                                                     \
        il_store(o, out_row, out_tok, acc, (NT));                                             \
    }

#define IL_QH_NONE _mm256_setzero_si256()
#define IL_QH_Q5_0 _mm256_loadu_si256((const __m256i *)(const void *)w[i].qh)
/* tiles of 4 tokens, and of 1, 2, 3 for a batch's remainder (each token's lanes do the same
 * operations whatever the tile: equal bits) */
IL_Q45(il4_q4_0, IL_NT, block_q4_0x8, 0, IL_QH_NONE)
IL_Q45(il3_q4_0, 3, block_q4_0x8, 0, IL_QH_NONE)
IL_Q45(il2_q4_0, 2, block_q4_0x8, 0, IL_QH_NONE)
IL_Q45(il1_q4_0, 1, block_q4_0x8, 0, IL_QH_NONE)
IL_Q45(il4_q5_0, IL_NT, block_q5_0x8, 1, IL_QH_Q5_0)
IL_Q45(il3_q5_0, 3, block_q5_0x8, 1, IL_QH_Q5_0)
IL_Q45(il2_q5_0, 2, block_q5_0x8, 1, IL_QH_Q5_0)
IL_Q45(il1_q5_0, 1, block_q5_0x8, 1, IL_QH_Q5_0)
IL_Q8_0(il4_q8_0, IL_NT)
IL_Q8_0(il3_q8_0, 3)
IL_Q8_0(il2_q8_0, 2)
IL_Q8_0(il1_q8_0, 1)

/* Q4_K against Q8_K: per 64 values (p) the low nibbles are sub-block 2p and the high ones
 * 2p+1; each sub-block's 8 products per lane add up in int16 (8 x 2 x 15 x 128 < 2^15) and
 * one madd with the rows' scales (as int16 pairs) adds them to the int32 totals; the mins
 * against the tokens' 32-value sums by madd too. The float part is the ref dot's:
 * s += yd * d * sumi - yd * dmin * summs, per block. yd and corr are not used: the Q8_K
 * blocks carry a float scale and their 16-value sums. */
static inline __m256i il_pairs16(const uint8_t *b) /* 8 bytes -> (b, b) int16 pairs in lanes */
{
    const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)b));
    return _mm256_or_si256(v, _mm256_slli_epi32(v, 16));
}

#define IL_Q4K(NAME, NT)                                                                      \
    static void NAME(float *o, size_t out_row, size_t out_tok, const void *wv, size_t nb,    \
                     const struct block_q8_0 *const *y0, const float *yd,                     \
                     const int32_t *corr)                                                     \
    {                                                                                         \
        (void)yd;                                                                             \
        (void)corr;                                                                           \
        const struct block_q4_Kx8 *w = wv;                                                    \
        const struct block_q8_K *y[NT];                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            y[t] = (const void *)y0[t];                                                       \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                            \
        __m256 acc[NT];                                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            __m256i isum[NT];                                                                 \
            for (int t = 0; t < (NT); t++)                                                    \
                isum[t] = _mm256_setzero_si256();                                             \
            IL_PREFETCH(NT, w + i, sizeof *w);                                                \
            for (int p = 0; p < 4; p++) {                                                     \
                __m256i u[16]; /* lanes: sub-block 2p (even), 2p+1 (odd), turn c */           \
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)                           \
                {                                                                             \
                    const __m256i raw =                                                       \
                        _mm256_loadu_si256((const __m256i *)(w[i].qs + (8 * p + c) * 32));    \
                    u[2 * c] = _mm256_and_si256(raw, m4);                                     \
                    u[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);           \
                }                                                                             \
                const __m256i sl = il_pairs16(w[i].sc[2 * p]), sh = il_pairs16(w[i].sc[2 * p + 1]); \
                _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)                        \
                {                                                                             \
                    const int8_t *q = y[t][i].qs + 64 * p;                                    \
                    __m256i slo = _mm256_maddubs_epi16(u[0], bcast4(q));                      \
                    __m256i shi = _mm256_maddubs_epi16(u[1], bcast4(q + 32));                 \
                    _Pragma("GCC unroll 7") for (int c = 1; c < 8; c++)                       \
                    {                                                                         \
                        slo = _mm256_add_epi16(slo, _mm256_maddubs_epi16(u[2 * c], bcast4(q + 4 * c))); \
                        shi = _mm256_add_epi16(shi, _mm256_maddubs_epi16(u[2 * c + 1],        \
                                                                         bcast4(q + 32 + 4 * c))); \
                    }                                                                         \
                    isum[t] = _mm256_add_epi32(                                               \
                        isum[t], _mm256_add_epi32(_mm256_madd_epi16(slo, sl),                 \
                                                  _mm256_madd_epi16(shi, sh)));               \
                }                                                                             \
            }                                                                                 \
            const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[i].d));     \
            const __m256 wm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)w[i].dmin));  \
            _Pragma("GCC unroll 4") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                /* the 8 sub-block sums as int16, pairs (2k, 2k+1) in int32 lanes 0,1,4,5 */  \
                const __m256i b32 = _mm256_madd_epi16(                                        \
                    _mm256_loadu_si256((const __m256i *)(const void *)y[t][i].bsums),         \
                    _mm256_set1_epi16(1));                                                    \
                const __m256i b16 = _mm256_packs_epi32(b32, b32);                             \
                __m256i ms = _mm256_setzero_si256();                                          \
                for (int k = 0; k < 4; k++) {                                                 \
                    const __m256i mk = _mm256_cvtepu8_epi16(                                  \
                        _mm_loadu_si128((const __m128i *)(const void *)w[i].m[k]));           \
                    const __m256i bk =                                                        \
                        _mm256_permutevar8x32_epi32(b16, _mm256_set1_epi32(k + (k & 2)));     \
                    ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mk, bk));                     \
                }                                                                             \
                const __m256 d = _mm256_set1_ps(y[t][i].d);                                   \
                const __m256 a = _mm256_mul_ps(_mm256_mul_ps(d, wd), _mm256_cvtepi32_ps(isum[t])); \
                const __m256 b = _mm256_mul_ps(_mm256_mul_ps(d, wm), _mm256_cvtepi32_ps(ms)); \
                acc[t] = _mm256_add_ps(acc[t], _mm256_sub_ps(a, b));                          \
            }                                                                                 \
        }                                                                                     \
        il_store(o, out_row, out_tok, acc, (NT));                                             \
    }

IL_Q4K(il4_q4_K, IL_NT)
IL_Q4K(il3_q4_K, 3)
IL_Q4K(il2_q4_K, 2)
IL_Q4K(il1_q4_K, 1)

/* the sum of a block's 32 activation bytes */
static inline int32_t block_sum_i8(const int8_t *q)
{
    return hsum_epi32(_mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)q)),
        _mm256_set1_epi16(1)));
}

typedef void (*il_tile_fn)(float *o, size_t out_row, size_t out_tok, const void *w, size_t nb,
                           const struct block_q8_0 *const *y, const float *yd,
                           const int32_t *corr);

static void gemm_interleaved_avx2(float *out, size_t out_row, size_t out_tok,
                                  const struct kernels_mat *w, size_t r0, size_t r1,
                                  const void *x, size_t x_stride, size_t n_tok)
{
    const size_t nb = w->cols / kernels_types[w->type].block_size;
    const size_t a0 = (r0 + 7) / 8 * 8, a1 = r1 / 8 * 8;
    const int kq = w->type == KERNELS_Q4_K; /* Q8_K activations: nothing to prepare */
    /* tile[n]: n tokens at once (n = 1..IL_NT) */
    static const il_tile_fn tiles[][IL_NT + 1] = {
        {NULL, il1_q4_0, il2_q4_0, il3_q4_0, il4_q4_0},
        {NULL, il1_q5_0, il2_q5_0, il3_q5_0, il4_q5_0},
        {NULL, il1_q8_0, il2_q8_0, il3_q8_0, il4_q8_0},
        {NULL, il1_q4_K, il2_q4_K, il3_q4_K, il4_q4_K},
    };
    const il_tile_fn *tile;
    int offset; /* the codes' zero: 8 (Q4_0), 16 (Q5_0), none (Q8_0: signed bytes) */
    switch (w->type) {
    case KERNELS_Q4_0: tile = tiles[0], offset = 8; break;
    case KERNELS_Q5_0: tile = tiles[1], offset = 16; break;
    case KERNELS_Q8_0: tile = tiles[2], offset = 0; break;
    case KERNELS_Q4_K: tile = tiles[3], offset = 0; break;
    default: tile = NULL, offset = 0; break;
    }
    if (!tile || nb > GEMM_MAX_BLOCKS || a0 >= a1) {
        quant_gemm_interleaved(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
        return;
    }
    /* rows outside whole groups (a chunk boundary inside a group): one at a time */
    if (r0 < a0)
        quant_gemm_interleaved(out, out_row, out_tok, w, r0, a0, x, x_stride, n_tok);
    if (a1 < r1)
        quant_gemm_interleaved(out + (a1 - r0) * out_row, out_row, out_tok, w, a1, r1, x,
                               x_stride, n_tok);
    float yd[IL_NT * GEMM_MAX_BLOCKS];
    int32_t corr[IL_NT * GEMM_MAX_BLOCKS];
    const char *xb = x;
    for (size_t t = 0; t < n_tok; t += IL_NT) {
        const size_t nt = n_tok - t < IL_NT ? n_tok - t : IL_NT;
        const struct block_q8_0 *y[IL_NT];
        for (size_t k = 0; k < nt; k++) {
            y[k] = (const void *)(xb + (t + k) * x_stride);
            for (size_t i = 0; i < nb && !kq; i++) {
                yd[k * nb + i] = h2f(y[k][i].d);
                corr[k * nb + i] = offset ? offset * block_sum_i8(y[k][i].qs) : 0;
            }
        }
        for (size_t g = a0; g < a1; g += 8) {
            const void *wg = (const char *)w->data + g * w->row_bytes;
            float *o = out + (g - r0) * out_row + t * out_tok;
            tile[nt](o, out_row, out_tok, wg, nb, y, yd, corr);
        }
    }
}

#define QUANT_DEFINE_TILED(T, SCALE, YBLOCK, QK, MATVEC)                                      \
    void quant_matvec_##T##_avx2(float *out, const struct kernels_mat *w, size_t r0,          \
                                 size_t r1, const void *x)                                   \
    {                                                                                         \
        if (w->interleave)                                                                    \
            gemm_interleaved_avx2(out, 1, 0, w, r0, r1, x, 0, 1);                             \
        else                                                                                  \
            MATVEC(out, w, r0, r1, x, quant_dot_##T##_avx2);                                  \
    }                                                                                         \
    void quant_gemm_##T##_avx2(float *out, size_t out_row, size_t out_tok,                    \
                               const struct kernels_mat *w, size_t r0, size_t r1,             \
                               const void *x, size_t x_stride, size_t n_tok)                 \
    {                                                                                         \
        if (w->interleave) {                                                                  \
            gemm_interleaved_avx2(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);      \
            return;                                                                           \
        }                                                                                     \
        gemm_tiled(row8_##T, row4_##T, quant_dot_##T##_avx2, SCALE, sizeof(struct YBLOCK), QK, \
                   out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);                     \
    }

QUANT_DEFINE(bf16, avx2)
QUANT_DEFINE_TILED(q4_0, scale_q8_0, block_q8_0, QK8_0, matvec4_q4_0)
QUANT_DEFINE(q4_1, avx2)
QUANT_DEFINE_TILED(q5_0, scale_q8_0, block_q8_0, QK8_0, matvec4_q5_0)
QUANT_DEFINE(q5_1, avx2)
QUANT_DEFINE_TILED(q8_0, scale_q8_0, block_q8_0, QK8_0, matvec4_q8_0)
QUANT_DEFINE_TILED(q4_K, scale_q8_K, block_q8_K, QK_K, quant_matvec_dot)
QUANT_DEFINE(q5_K, avx2)
QUANT_DEFINE_TILED(q6_K, scale_q8_K, block_q8_K, QK_K, matvec8_q6_K)
