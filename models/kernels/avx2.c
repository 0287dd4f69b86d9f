/* avx2.c: AVX2/FMA twins of ref.c (the only file compiled with -mavx2 -mfma). Several
 * independent accumulators per loop, so a decode matvec is bound by memory, not by one
 * serial chain of additions; one index runs across the SIMD body and the scalar tail.
 * Only called when kernels_select() saw AVX2+FMA on the CPU. */
#include "kernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>

#define F32_LANES 8            /* floats per __m256 */
#define MATVEC_ROWS 4          /* rows per matvec block: 4 memory streams, 8 chains */
#define MATMUL_ROWS 2          /* micro-tile of matmul: 2 rows x 4 tokens = 8 accumulators */
#define MATMUL_TOKENS 4
#define MATMUL_ROW_BLOCK 16    /* rows kept hot in L2 while every token tile passes */
/* Software prefetch this many rows ahead of a decode matvec: short rows (288 floats) give
 * the hardware prefetcher too little to learn; measured +10% on DRAM-bound matrices here. */
#define PREFETCH_ROWS_AHEAD 16
#define CACHE_LINE_BYTES 64

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

/* ---- dot, matvec ---- */

static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 4 * F32_LANES <= n; i += 4 * F32_LANES) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + F32_LANES <= n; i += F32_LANES)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void matvec_avx2(float *out, const float *w, const float *x, size_t rows, size_t cols)
{
    size_t r = 0;
    for (; r + MATVEC_ROWS <= rows; r += MATVEC_ROWS) {
        const float *w0 = w + r * cols, *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
        __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
        /* prefetches past the matrix are harmless: prefetch never faults */
        const float *pf = w0 + PREFETCH_ROWS_AHEAD * cols;
        size_t i = 0;
        for (; i + 2 * F32_LANES <= cols; i += 2 * F32_LANES) {
            __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);
            _mm_prefetch((const char *)(pf + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + cols + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 2 * cols + i), _MM_HINT_T0);
            _mm_prefetch((const char *)(pf + 3 * cols + i), _MM_HINT_T0);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xa, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xa, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xa, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xa, a3);
            b0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i + 8), xb, b0);
            b1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i + 8), xb, b1);
            b2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i + 8), xb, b2);
            b3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i + 8), xb, b3);
        }
        for (; i + F32_LANES <= cols; i += F32_LANES) {
            __m256 xa = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xa, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xa, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xa, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xa, a3);
        }
        float s0 = hsum(_mm256_add_ps(a0, b0)), s1 = hsum(_mm256_add_ps(a1, b1));
        float s2 = hsum(_mm256_add_ps(a2, b2)), s3 = hsum(_mm256_add_ps(a3, b3));
        for (; i < cols; i++) {
            s0 += w0[i] * x[i];
            s1 += w1[i] * x[i];
            s2 += w2[i] * x[i];
            s3 += w3[i] * x[i];
        }
        out[r] = s0;
        out[r + 1] = s1;
        out[r + 2] = s2;
        out[r + 3] = s3;
    }
    for (; r < rows; r++)
        out[r] = dot_avx2(w + r * cols, x, cols);
}

/* ---- Q8_0 ---- */

static inline __m256 load_q8(const int8_t *p)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

/* Scalar row for shapes the fast path does not cover (groups straddling rows). */
static float row_q8_scalar(const struct kernels_q8 *w, size_t row, const float *x, size_t cols)
{
    size_t e = row * cols;
    float s = 0.0f;
    for (size_t j = 0; j < cols; j++, e++)
        s += (float)w->q[e] * w->s[e / w->gs] * x[j];
    return s;
}

/* Fast path: every row starts on a group boundary and groups are whole 16-value steps. */
static int q8_fast(const struct kernels_q8 *w, size_t cols)
{
    return w->gs % (2 * F32_LANES) == 0 && cols % w->gs == 0;
}

static void matvec_q8_avx2(float *out, const struct kernels_q8 *w, size_t r0, size_t r1,
                           const float *x, size_t cols)
{
    if (!q8_fast(w, cols)) {
        for (size_t i = r0; i < r1; i++)
            out[i - r0] = row_q8_scalar(w, i, x, cols);
        return;
    }
    const size_t gs = w->gs, ng = cols / gs;
    size_t r = r0;
    for (; r + 2 <= r1; r += 2) {
        const int8_t *q0 = w->q + r * cols, *q1 = q0 + cols;
        const float *sc0 = w->s + r * ng, *sc1 = sc0 + ng;
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
        const int8_t *q0 = w->q + r * cols;
        const float *sc0 = w->s + r * ng;
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

/* ---- matmul: a prompt's tokens against the same weights ---- */

/* out[t][i] for rows i in [0, nr) (nr <= MATMUL_ROW_BLOCK) of 'w' and all n tokens. */
static void matmul_block(float *out, size_t ld_out, const float *w, size_t nr, const float *x,
                         size_t n, size_t cols)
{
    size_t t = 0;
    for (; t + MATMUL_TOKENS <= n; t += MATMUL_TOKENS) {
        const float *x0 = x + t * cols, *x1 = x0 + cols, *x2 = x1 + cols, *x3 = x2 + cols;
        size_t r = 0;
        for (; r + MATMUL_ROWS <= nr; r += MATMUL_ROWS) {
            const float *w0 = w + r * cols, *w1 = w0 + cols;
            __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
            __m256 c02 = _mm256_setzero_ps(), c03 = _mm256_setzero_ps();
            __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
            __m256 c12 = _mm256_setzero_ps(), c13 = _mm256_setzero_ps();
            size_t i = 0;
            for (; i + F32_LANES <= cols; i += F32_LANES) {
                __m256 va = _mm256_loadu_ps(w0 + i), vb = _mm256_loadu_ps(w1 + i);
                __m256 xv = _mm256_loadu_ps(x0 + i);
                c00 = _mm256_fmadd_ps(va, xv, c00);
                c10 = _mm256_fmadd_ps(vb, xv, c10);
                xv = _mm256_loadu_ps(x1 + i);
                c01 = _mm256_fmadd_ps(va, xv, c01);
                c11 = _mm256_fmadd_ps(vb, xv, c11);
                xv = _mm256_loadu_ps(x2 + i);
                c02 = _mm256_fmadd_ps(va, xv, c02);
                c12 = _mm256_fmadd_ps(vb, xv, c12);
                xv = _mm256_loadu_ps(x3 + i);
                c03 = _mm256_fmadd_ps(va, xv, c03);
                c13 = _mm256_fmadd_ps(vb, xv, c13);
            }
            float s[2][MATMUL_TOKENS] = {{hsum(c00), hsum(c01), hsum(c02), hsum(c03)},
                                         {hsum(c10), hsum(c11), hsum(c12), hsum(c13)}};
            for (; i < cols; i++) {
                s[0][0] += w0[i] * x0[i];
                s[0][1] += w0[i] * x1[i];
                s[0][2] += w0[i] * x2[i];
                s[0][3] += w0[i] * x3[i];
                s[1][0] += w1[i] * x0[i];
                s[1][1] += w1[i] * x1[i];
                s[1][2] += w1[i] * x2[i];
                s[1][3] += w1[i] * x3[i];
            }
            for (size_t k = 0; k < MATMUL_TOKENS; k++) {
                out[(t + k) * ld_out + r] = s[0][k];
                out[(t + k) * ld_out + r + 1] = s[1][k];
            }
        }
        for (; r < nr; r++)
            for (size_t k = 0; k < MATMUL_TOKENS; k++)
                out[(t + k) * ld_out + r] = dot_avx2(w + r * cols, x + (t + k) * cols, cols);
    }
    for (; t < n; t++)
        matvec_avx2(out + t * ld_out, w, x + t * cols, nr, cols);
}

static void matmul_avx2(float *out, size_t ld_out, const float *w, const float *x, size_t n,
                        size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows; r += MATMUL_ROW_BLOCK) {
        size_t nr = rows - r < MATMUL_ROW_BLOCK ? rows - r : MATMUL_ROW_BLOCK;
        matmul_block(out + r, ld_out, w + r * cols, nr, x, n, cols);
    }
}

/* Q8_0 matmul: dequantize a block of rows once into a scratch buffer, then reuse it for
 * every token with the float micro-kernel. */
static void matmul_q8_avx2(float *out, size_t ld_out, const struct kernels_q8 *w, size_t r0,
                           size_t r1, const float *x, size_t n, size_t cols)
{
    float *scratch = malloc(MATMUL_ROW_BLOCK * cols * sizeof *scratch);
    if (!scratch) { /* degrade to one pass per token rather than fail mid-forward */
        for (size_t t = 0; t < n; t++)
            matvec_q8_avx2(out + t * ld_out, w, r0, r1, x + t * cols, cols);
        return;
    }
    for (size_t r = r0; r < r1; r += MATMUL_ROW_BLOCK) {
        size_t nr = r1 - r < MATMUL_ROW_BLOCK ? r1 - r : MATMUL_ROW_BLOCK;
        size_t e = r * cols, i = 0;
        const size_t ne = nr * cols;
        if (q8_fast(w, cols)) {
            for (; i < ne; i += w->gs) {
                __m256 sc = _mm256_set1_ps(w->s[(e + i) / w->gs]);
                for (size_t k = 0; k < w->gs; k += F32_LANES)
                    _mm256_storeu_ps(scratch + i + k, _mm256_mul_ps(load_q8(w->q + e + i + k), sc));
            }
        }
        for (; i < ne; i++)
            scratch[i] = (float)w->q[e + i] * w->s[(e + i) / w->gs];
        matmul_block(out + (r - r0), ld_out, scratch, nr, x, n, cols);
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

const struct kernels_ops kernels_avx2 = {
    .name = "avx2",
    .dot = dot_avx2,
    .matvec = matvec_avx2,
    .matvec_q8 = matvec_q8_avx2,
    .matmul = matmul_avx2,
    .matmul_q8 = matmul_q8_avx2,
    .rmsnorm = rmsnorm_avx2,
    .softmax = softmax_avx2,
    .axpy = axpy_avx2,
};
