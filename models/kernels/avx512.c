/* avx512.c: the AVX-512 tier of the kernel table (the only file built with -mavx512f
 * -mavx512bw -mavx512vl). The tier's column in types.c takes an entry only where 16 lanes
 * pay; every other entry falls back to avx2. The float32 dot here (and a 4-row matvec, since
 * removed) measured no faster than avx2 on this Zen 4 and is kept out of the column, tested
 * against ref. Only called on a CPU with AVX-512 F/BW/VL and the avx2 set. */
#include "kernels_internal.h"

#include <immintrin.h>

#define F32_LANES 16  /* floats per __m512 */

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
