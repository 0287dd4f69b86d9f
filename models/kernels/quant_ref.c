/* quant_ref.c: the scalar definitions of ggml's block formats: dequantization, the
 * activation quantizers of ggml's CPU backend, the weight quantizers of the converter and
 * one dot per weight type with its activation type (integer sums per block, scaled in
 * float as ggml does). Speed does not matter here; being the definition does. */
#include "quant_internal.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#define H2F(h) kernels_half_to_float(h)
#define F2H(f) kernels_float_to_half(f)

/* ---- to_float ---- */

void quant_to_float_bf16(const void *src, float *dst, size_t n)
{
    const uint16_t *s = src;
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)s[i] << 16;
        memcpy(&dst[i], &u, 4);
    }
}

void quant_to_float_q4_0(const void *src, float *dst, size_t n)
{
    const struct block_q4_0 *b = src;
    for (size_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = ((b[i].qs[j] & 0xF) - 8) * d;
            dst[j + 16] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void quant_to_float_q4_1(const void *src, float *dst, size_t n)
{
    const struct block_q4_1 *b = src;
    for (size_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = H2F(b[i].d), m = H2F(b[i].m);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = (b[i].qs[j] & 0xF) * d + m;
            dst[j + 16] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static int q5_value(const uint8_t *qh, const uint8_t *qs, int j)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    const int nib = j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
    return nib | (int)(((h >> j) & 1) << 4);
}

void quant_to_float_q5_0(const void *src, float *dst, size_t n)
{
    const struct block_q5_0 *b = src;
    for (size_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < QK4_0; j++)
            dst[j] = (q5_value(b[i].qh, b[i].qs, j) - 16) * d;
    }
}

void quant_to_float_q5_1(const void *src, float *dst, size_t n)
{
    const struct block_q5_1 *b = src;
    for (size_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = H2F(b[i].d), m = H2F(b[i].m);
        for (int j = 0; j < QK4_0; j++)
            dst[j] = q5_value(b[i].qh, b[i].qs, j) * d + m;
    }
}

void quant_to_float_q8_0(const void *src, float *dst, size_t n)
{
    const struct block_q8_0 *b = src;
    for (size_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < QK8_0; j++)
            dst[j] = b[i].qs[j] * d;
    }
}

void quant_to_float_q8_1(const void *src, float *dst, size_t n)
{
    const struct block_q8_1 *b = src;
    for (size_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = H2F(b[i].d);
        for (int j = 0; j < QK8_0; j++)
            dst[j] = b[i].qs[j] * d;
    }
}

/* The 4-bit (or 5-bit) value l (0..255) of a Q4_K/Q5_K block: sub-block pairs of 64 share
 * 32 bytes, low nibbles first. */
static int k4_value(const uint8_t *qs, int l)
{
    const int pair = l / 64, r = l % 64;
    const uint8_t byte = qs[pair * 32 + r % 32];
    return r < 32 ? byte & 0xF : byte >> 4;
}

static int k5_value(const struct block_q5_K *b, int l)
{
    return k4_value(b->qs, l) | (((b->qh[l % 32] >> (l / 32)) & 1) << 4);
}

/* The value l of a Q4_K / Q5_K block at b: the one difference between the two types, for
 * to_float_k45_blocks and dot_k45_blocks. */
static inline int q4_K_code(const void *b, int l)
{
    return k4_value(((const struct block_q4_K *)b)->qs, l);
}

static inline int q5_K_code(const void *b, int l) { return k5_value(b, l); }

/* Q4_K and Q5_K share the header (d, dmin, 12 bytes of 6-bit scales and mins, the same
 * offsets in both structs); inlined with each constant 'code' */
static inline __attribute__((always_inline)) void to_float_k45_blocks(const void *src, float *dst,
                                                                      size_t n, size_t bytes,
                                                                      int (*code)(const void *, int))
{
    const char *w = src;
    for (size_t i = 0; i < n / QK_K; i++, w += bytes, dst += QK_K) {
        uint16_t d16, dmin16;
        memcpy(&d16, w, 2);
        memcpy(&dmin16, w + 2, 2);
        const float d = H2F(d16), dmin = H2F(dmin16);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_scale_min_k4(j, (const uint8_t *)w + offsetof(struct block_q4_K, scales), &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            for (int l = 0; l < 32; l++)
                dst[j * 32 + l] = d1 * code(w, j * 32 + l) - m1;
        }
    }
}

void quant_to_float_q4_K(const void *src, float *dst, size_t n)
{
    to_float_k45_blocks(src, dst, n, sizeof(struct block_q4_K), q4_K_code);
}

void quant_to_float_q5_K(const void *src, float *dst, size_t n)
{
    to_float_k45_blocks(src, dst, n, sizeof(struct block_q5_K), q5_K_code);
}

/* The 6-bit value l (0..255) of a Q6_K block, before the -32. Halves of 128: ql holds 64
 * bytes per half (values l and l+64 in the low/high nibbles of byte l, l+32 and l+96 in
 * byte l+32), qh 32 bytes per half (2 bits of each of the four). */
static int k6_value(const struct block_q6_K *b, int l)
{
    const int half = l / 128, r = l % 128, quarter = r / 32, k = r % 32;
    const uint8_t *ql = b->ql + half * 64, *qh = b->qh + half * 32;
    const uint8_t low = quarter == 0 ? ql[k] & 0xF
                        : quarter == 1 ? ql[k + 32] & 0xF
                        : quarter == 2 ? ql[k] >> 4
                                       : ql[k + 32] >> 4;
    return low | (((qh[k] >> (2 * quarter)) & 3) << 4);
}

void quant_to_float_q6_K(const void *src, float *dst, size_t n)
{
    const struct block_q6_K *b = src;
    for (size_t i = 0; i < n / QK_K; i++, dst += QK_K) {
        const float d = H2F(b[i].d);
        for (int l = 0; l < QK_K; l++)
            dst[l] = d * b[i].scales[l / 16] * (k6_value(&b[i], l) - 32);
    }
}

void quant_to_float_q8_K(const void *src, float *dst, size_t n)
{
    const struct block_q8_K *b = src;
    for (size_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int l = 0; l < QK_K; l++)
            dst[l] = b[i].d * b[i].qs[l];
}

/* ---- from_float ---- */

/* ggml's activation quantizer (its AVX2 path): d = amax / 127 stored as fp16, values
 * x * (127 / amax) rounded half to even. Returns the float d and sets *sum to sum(q). */
static float q8_block(const float *x, int8_t *q, int *sum)
{
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    int s = 0;
    for (int j = 0; j < QK8_0; j++) {
        q[j] = (int8_t)nearbyintf(x[j] * id); /* default rounding mode: to nearest even */
        s += q[j];
    }
    *sum = s;
    return d;
}

void quant_from_float_q8_0(const float *src, void *dst, size_t n)
{
    struct block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QK8_0; i++) {
        int s;
        b[i].d = F2H(q8_block(src + i * QK8_0, b[i].qs, &s));
    }
}

void quant_from_float_q8_1(const float *src, void *dst, size_t n)
{
    struct block_q8_1 *b = dst;
    for (size_t i = 0; i < n / QK8_0; i++) {
        int s;
        const float d = q8_block(src + i * QK8_0, b[i].qs, &s);
        b[i].d = F2H(d);
        b[i].s = F2H(d * (float)s);
    }
}

/* ggml's nearest_int: round half to even through the float mantissa. */
static int nearest_int(float f)
{
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

void quant_from_float_q8_K(const float *src, void *dst, size_t n)
{
    struct block_q8_K *b = dst;
    for (size_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float max = 0.0f, amax = 0.0f;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        memset(&b[i], 0, sizeof b[i]);
        if (amax == 0.0f)
            continue;
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * src[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int s = 0;
            for (int k = 0; k < 16; k++)
                s += b[i].qs[j * 16 + k];
            b[i].bsums[j] = (int16_t)s;
        }
        b[i].d = 1 / iscale;
    }
}

void quant_from_float_bf16(const float *src, void *dst, size_t n)
{
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u)
            d[i] = (uint16_t)((u >> 16) | 64); /* quiet NaN */
        else
            d[i] = (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }
}

/* ggml's reference weight quantizer: roundf (half away from zero). */
void quant_from_float_q8_0_weights(const float *src, void *dst, size_t n)
{
    struct block_q8_0 *b = dst;
    for (size_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(src[j]));
        const float d = amax / 127.f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < QK8_0; j++)
            b[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

void quant_from_float_q4_0_weights(const float *src, void *dst, size_t n)
{
    struct block_q4_0 *b = dst;
    for (size_t i = 0; i < n / QK4_0; i++, src += QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++)
            if (fabsf(src[j]) > amax) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        const float d = max / -8, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = F2H(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int x0 = (int)(src[j] * id + 8.5f), x1 = (int)(src[j + 16] * id + 8.5f);
            b[i].qs[j] = (uint8_t)((x0 < 15 ? x0 : 15) | (x1 < 15 ? x1 : 15) << 4);
        }
    }
}

/* A simple Q4_K quantizer (min/max per sub-block, 6-bit scales relative to the block's
 * largest): a valid Q4_K layout, not llama-quantize's iterative search. */
void quant_from_float_q4_K_weights(const float *src, void *dst, size_t n)
{
    struct block_q4_K *b = dst;
    for (size_t i = 0; i < n / QK_K; i++, src += QK_K) {
        float scale[8], minv[8], max_scale = 0.0f, max_min = 0.0f;
        for (int j = 0; j < 8; j++) {
            float lo = src[j * 32], hi = src[j * 32];
            for (int l = 1; l < 32; l++) {
                lo = fminf(lo, src[j * 32 + l]);
                hi = fmaxf(hi, src[j * 32 + l]);
            }
            lo = fminf(lo, 0.0f);
            scale[j] = (hi - lo) / 15.0f;
            minv[j] = -lo;
            max_scale = fmaxf(max_scale, scale[j]);
            max_min = fmaxf(max_min, minv[j]);
        }
        const float d = max_scale / 63.0f, dmin = max_min / 63.0f;
        b[i].d = F2H(d);
        b[i].dmin = F2H(dmin);
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) {
            const int s = d > 0 ? nearest_int(scale[j] / d) : 0, m = dmin > 0 ? nearest_int(minv[j] / dmin) : 0;
            ls[j] = (uint8_t)(s > 63 ? 63 : s);
            lm[j] = (uint8_t)(m > 63 ? 63 : m);
        }
        for (int j = 0; j < 4; j++) {
            b[i].scales[j] = (uint8_t)(ls[j] | ((ls[j + 4] >> 4) << 6));
            b[i].scales[j + 4] = (uint8_t)(lm[j] | ((lm[j + 4] >> 4) << 6));
            b[i].scales[j + 8] = (uint8_t)((ls[j + 4] & 0xF) | ((lm[j + 4] & 0xF) << 4));
        }
        const float dd = H2F(b[i].d), dm = H2F(b[i].dmin);
        memset(b[i].qs, 0, sizeof b[i].qs);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_scale_min_k4(j, b[i].scales, &sc, &m);
            const float d1 = dd * sc, m1 = dm * m;
            for (int l = 0; l < 32; l++) {
                int q = d1 > 0 ? nearest_int((src[j * 32 + l] + m1) / d1) : 0;
                q = q < 0 ? 0 : q > 15 ? 15 : q;
                const int at = (j / 2) * 32 + l;
                b[i].qs[at] |= (uint8_t)(j % 2 ? q << 4 : q);
            }
        }
    }
}

/* ---- dot ---- */

float quant_dot_bf16_ref(const void *a, const void *x, size_t n)
{
    const uint16_t *p = a;
    const float *q = x;
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)p[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        s += f * q[i];
    }
    return s;
}

/* The 32-value formats: the codes of values j (lo) and j + 16 (hi) of a block, j < 16 (the
 * weight's value / d, or (value - m) / d) */
static inline int q4_0_lo(const void *b, int j) { return (((const struct block_q4_0 *)b)->qs[j] & 0xF) - 8; }
static inline int q4_0_hi(const void *b, int j) { return (((const struct block_q4_0 *)b)->qs[j] >> 4) - 8; }
static inline int q4_1_lo(const void *b, int j) { return ((const struct block_q4_1 *)b)->qs[j] & 0xF; }
static inline int q4_1_hi(const void *b, int j) { return ((const struct block_q4_1 *)b)->qs[j] >> 4; }

static inline int q5_0_lo(const void *b, int j)
{
    const struct block_q5_0 *w = b;
    return q5_value(w->qh, w->qs, j) - 16;
}

static inline int q5_0_hi(const void *b, int j) { return q5_0_lo(b, j + 16); }

static inline int q5_1_lo(const void *b, int j)
{
    const struct block_q5_1 *w = b;
    return q5_value(w->qh, w->qs, j);
}

static inline int q5_1_hi(const void *b, int j) { return q5_1_lo(b, j + 16); }

/* Q4_0 / Q5_0 against Q8_0 (with_min 0: s += sumi * d * yd) and Q4_1 / Q5_1 against Q8_1
 * (with_min 1: s += (d * yd) * sumi + m * ys; m is the fp16 after d): 'bytes' per block;
 * inlined with each constant lo / hi */
static inline __attribute__((always_inline)) float dot_q32_blocks(const void *a, const void *x,
                                                                  size_t n, size_t bytes,
                                                                  int (*lo)(const void *, int),
                                                                  int (*hi)(const void *, int),
                                                                  int with_min)
{
    const char *w = a;
    float s = 0.0f;
    for (size_t i = 0; i < n / QK4_0; i++, w += bytes) {
        const int8_t *yq = with_min ? ((const struct block_q8_1 *)x)[i].qs
                                    : ((const struct block_q8_0 *)x)[i].qs;
        int sumi = 0;
        for (int j = 0; j < 16; j++)
            sumi += lo(w, j) * yq[j] + hi(w, j) * yq[j + 16];
        uint16_t d, m;
        memcpy(&d, w, 2);
        memcpy(&m, w + 2, 2);
        if (with_min) {
            const struct block_q8_1 *y = (const struct block_q8_1 *)x + i;
            s += (H2F(d) * H2F(y->d)) * sumi + H2F(m) * H2F(y->s);
        } else {
            s += sumi * H2F(d) * H2F(((const struct block_q8_0 *)x)[i].d);
        }
    }
    return s;
}

float quant_dot_q4_0_ref(const void *a, const void *x, size_t n)
{
    return dot_q32_blocks(a, x, n, sizeof(struct block_q4_0), q4_0_lo, q4_0_hi, 0);
}

float quant_dot_q4_1_ref(const void *a, const void *x, size_t n)
{
    return dot_q32_blocks(a, x, n, sizeof(struct block_q4_1), q4_1_lo, q4_1_hi, 1);
}

float quant_dot_q5_0_ref(const void *a, const void *x, size_t n)
{
    return dot_q32_blocks(a, x, n, sizeof(struct block_q5_0), q5_0_lo, q5_0_hi, 0);
}

float quant_dot_q5_1_ref(const void *a, const void *x, size_t n)
{
    return dot_q32_blocks(a, x, n, sizeof(struct block_q5_1), q5_1_lo, q5_1_hi, 1);
}

/* Q8_0 and Q8_1 blocks (layouts that differ only by Q8_1's s): the fp16 scale first, the
 * 32 quants at qs_off; 'bytes' per block */
static float dot_q8_blocks(const void *a, const void *x, size_t n, size_t bytes, size_t qs_off)
{
    const char *w = a, *y = x;
    float s = 0.0f;
    for (size_t i = 0; i < n / QK8_0; i++, w += bytes, y += bytes) {
        const int8_t *wq = (const int8_t *)(w + qs_off), *yq = (const int8_t *)(y + qs_off);
        uint16_t wd, yd;
        memcpy(&wd, w, 2);
        memcpy(&yd, y, 2);
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += wq[j] * yq[j];
        s += sumi * (H2F(wd) * H2F(yd));
    }
    return s;
}

float quant_dot_q8_0_ref(const void *a, const void *x, size_t n)
{
    return dot_q8_blocks(a, x, n, sizeof(struct block_q8_0), offsetof(struct block_q8_0, qs));
}

/* kv_type q8_0's keys (kernels.h, att_scores_q8_0): the Q8_0 dot times the scale */
void quant_att_scores_q8_0_ref(float *sc, const void *q8, const void *k, size_t k_row_bytes,
                               size_t n, size_t hs, float scale)
{
    for (size_t i = 0; i < n; i++)
        sc[i] = quant_dot_q8_0_ref((const char *)k + i * k_row_bytes, q8, hs) * scale;
}

float quant_dot_q8_1_ref(const void *a, const void *x, size_t n)
{
    return dot_q8_blocks(a, x, n, sizeof(struct block_q8_1), offsetof(struct block_q8_1, qs));
}

/* Q4_K and Q5_K against Q8_K: the same header (d, dmin, 12 bytes of scales and mins);
 * inlined with each constant 'code' */
static inline __attribute__((always_inline)) float dot_k45_blocks(const void *a, const void *x,
                                                                  size_t n, size_t bytes,
                                                                  int (*code)(const void *, int))
{
    const char *w = a;
    const struct block_q8_K *y = x;
    float s = 0.0f;
    for (size_t i = 0; i < n / QK_K; i++, w += bytes) {
        int sumi = 0, summs = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            quant_scale_min_k4(j, (const uint8_t *)w + offsetof(struct block_q4_K, scales), &sc, &m);
            int sj = 0;
            for (int l = 0; l < 32; l++)
                sj += code(w, j * 32 + l) * y[i].qs[j * 32 + l];
            sumi += sc * sj;
            summs += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
        uint16_t d, dmin;
        memcpy(&d, w, 2);
        memcpy(&dmin, w + 2, 2);
        s += y[i].d * H2F(d) * sumi - y[i].d * H2F(dmin) * summs;
    }
    return s;
}

float quant_dot_q4_K_ref(const void *a, const void *x, size_t n)
{
    return dot_k45_blocks(a, x, n, sizeof(struct block_q4_K), q4_K_code);
}

float quant_dot_q5_K_ref(const void *a, const void *x, size_t n)
{
    return dot_k45_blocks(a, x, n, sizeof(struct block_q5_K), q5_K_code);
}

float quant_dot_q6_K_ref(const void *a, const void *x, size_t n)
{
    const struct block_q6_K *w = a;
    const struct block_q8_K *y = x;
    float s = 0.0f;
    for (size_t i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++)
                sg += (k6_value(&w[i], g * 16 + l) - 32) * y[i].qs[g * 16 + l];
            sumi += w[i].scales[g] * sg;
        }
        s += H2F(w[i].d) * y[i].d * sumi;
    }
    return s;
}

float quant_dot_q8_K_ref(const void *a, const void *x, size_t n)
{
    const struct block_q8_K *w = a, *y = x;
    float s = 0.0f;
    for (size_t i = 0; i < n / QK_K; i++) {
        int sumi = 0;
        for (int l = 0; l < QK_K; l++)
            sumi += w[i].qs[l] * y[i].qs[l];
        s += w[i].d * y[i].d * sumi;
    }
    return s;
}

/* ---- matvec / gemm by rows ---- */

void quant_matvec(kernels_dot_fn dot, float *out, const struct kernels_mat *w, size_t r0,
                  size_t r1, const void *x)
{
    if (w->interleave) {
        quant_matvec_interleaved(out, w, r0, r1, x);
        return;
    }
    const char *base = w->data;
    for (size_t i = r0; i < r1; i++)
        out[i - r0] = dot(base + i * w->row_bytes, x, w->cols);
}

void quant_gemm(kernels_dot_fn dot, float *out, size_t out_row, size_t out_tok,
                const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                size_t x_stride, size_t n_tok)
{
    if (w->interleave) {
        quant_gemm_interleaved(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
        return;
    }
    const char *base = w->data;
    for (size_t i = r0; i < r1; i++)
        for (size_t t = 0; t < n_tok; t++)
            out[(i - r0) * out_row + t * out_tok] =
                dot(base + i * w->row_bytes, (const char *)x + t * x_stride, w->cols);
}

QUANT_DEFINE(bf16, ref)
QUANT_DEFINE(q4_0, ref)
QUANT_DEFINE(q4_1, ref)
QUANT_DEFINE(q5_0, ref)
QUANT_DEFINE(q5_1, ref)
QUANT_DEFINE(q8_0, ref)
QUANT_DEFINE(q8_1, ref)
QUANT_DEFINE(q4_K, ref)
QUANT_DEFINE(q5_K, ref)
QUANT_DEFINE(q6_K, ref)
QUANT_DEFINE(q8_K, ref)
