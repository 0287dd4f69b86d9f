/* avx512.c: the AVX-512 tier of the kernel table (the only file built with -mavx512f
 * -mavx512bw -mavx512vl). The tier's column in types.c takes an entry only where 16 lanes
 * pay; every other entry falls back to avx2. The float32 dot/matvec here measured no faster
 * than avx2 on this Zen 4 and are kept out of the column, tested against ref. Only called on
 * a CPU with AVX-512 F/BW/VL and the avx2 set. */
#include "kernels_internal.h"

#include <immintrin.h>

#define F32_LANES 16  /* floats per __m512 */
#define MATVEC_ROWS 4 /* rows per matvec block: 4 memory streams, 8 chains */
/* As in avx2.c: short rows give the hardware prefetcher too little to learn. */
#define PREFETCH_ROWS_AHEAD 16

static const void *row_at(const struct kernels_mat *w, size_t i)
{
    return (const char *)w->data + i * w->row_bytes;
}

float kernels_dot_f32_avx512(const void *pa, const void *px, size_t n)
{
    const float *a = pa, *b = px;
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 2 * F32_LANES <= n; i += 2 * F32_LANES) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    if (i < n) { /* the tail as one masked step: no scalar loop */
        const size_t m = n - i < F32_LANES ? n - i : F32_LANES;
        const __mmask16 k = (__mmask16)((1u << m) - 1u);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), s0);
        i += m;
        if (i < n) {
            const __mmask16 k2 = (__mmask16)((1u << (n - i)) - 1u);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k2, a + i),
                                 _mm512_maskz_loadu_ps(k2, b + i), s1);
        }
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* Four rows against x, every row through the same code (see avx2.c's rows4_f32). */
static inline void rows4_f32(const float *w0, const float *w1, const float *w2, const float *w3,
                             const float *x, size_t cols, float s[MATVEC_ROWS])
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *pf = w0 + PREFETCH_ROWS_AHEAD * cols; /* prefetch never faults */
    size_t i = 0;
    for (; i + F32_LANES <= cols; i += F32_LANES) {
        __m512 xa = _mm512_loadu_ps(x + i);
        _mm_prefetch((const char *)(pf + i), _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + cols + i), _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + 2 * cols + i), _MM_HINT_T0);
        _mm_prefetch((const char *)(pf + 3 * cols + i), _MM_HINT_T0);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + i), xa, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + i), xa, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + i), xa, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + i), xa, a3);
    }
    if (i < cols) {
        const __mmask16 k = (__mmask16)((1u << (cols - i)) - 1u);
        __m512 xa = _mm512_maskz_loadu_ps(k, x + i);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w0 + i), xa, a0);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w1 + i), xa, a1);
        a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w2 + i), xa, a2);
        a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w3 + i), xa, a3);
    }
    s[0] = _mm512_reduce_add_ps(a0);
    s[1] = _mm512_reduce_add_ps(a1);
    s[2] = _mm512_reduce_add_ps(a2);
    s[3] = _mm512_reduce_add_ps(a3);
}

void kernels_matvec_f32_avx512(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                               const void *px)
{
    const float *x = px;
    float s[MATVEC_ROWS];
    for (size_t r = r0; r < r1; r += MATVEC_ROWS) {
        const size_t m = r1 - r < MATVEC_ROWS ? r1 - r : MATVEC_ROWS;
        const float *w0 = row_at(w, r);
        const float *w1 = m > 1 ? row_at(w, r + 1) : w0, *w2 = m > 2 ? row_at(w, r + 2) : w0;
        const float *w3 = m > 3 ? row_at(w, r + 3) : w0;
        rows4_f32(w0, w1, w2, w3, x, w->cols, s);
        for (size_t k = 0; k < m; k++)
            out[r - r0 + k] = s[k];
    }
}
