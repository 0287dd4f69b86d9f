/* act_simd.h: the AVX2 vector math the activation table (act.c) and the architectures' own
 * AVX2 loops (mamba.c's scan) share: exp and log1p of 8 floats. Each function is compiled for
 * AVX2+FMA by its target attribute, so a file including this needs no -mavx2; call them only
 * from code run when kernels_select() chose the AVX2 tier or higher (t->k->tier). x86 only:
 * KERNELS_SIMD_AVX2 is defined when these exist. */
#ifndef LMSERVE_KERNELS_ACT_SIMD_H
#define LMSERVE_KERNELS_ACT_SIMD_H

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define KERNELS_SIMD_AVX2 1
#define KERNELS_AVX2_FN __attribute__((target("avx2,fma,f16c")))

/* exp(x) for 8 floats: Cody-Waite range reduction and Cephes' degree-6 polynomial (about
 * 1 ulp); x clamped to [-87.3, 88.7] (results underflow to ~1e-38, never inf/NaN from range) */
KERNELS_AVX2_FN static inline __m256 kernels_exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n in two factors: n down to -126 keeps both normal */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i h1 = _mm256_srai_epi32(ni, 1), h2 = _mm256_sub_epi32(ni, h1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* log(1 + t) for t >= 0: u = 1 + t, log(u) by Cephes' logf (exponent and a degree-8
 * polynomial on [sqrt(1/2), sqrt(2)), ~1 ulp), plus the rounding error of 1 + t divided by u
 * (so tiny t keep their precision: log1p(t) ~ t) */
KERNELS_AVX2_FN static inline __m256 kernels_log1p8(__m256 t)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 u = _mm256_add_ps(one, t);
    const __m256 corr = _mm256_div_ps(_mm256_sub_ps(t, _mm256_sub_ps(u, one)), u);
    const __m256i bits = _mm256_castps_si256(u);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(126)));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)),
                                                   _mm256_set1_epi32(0x3f000000))); /* [0.5, 1) */
    const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
    e = _mm256_sub_ps(e, _mm256_and_ps(small, one));
    const __m256 x = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(small, m)), one);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(7.0376836292E-2f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.1514610310E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.1676998740E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.2420140846E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.4249322787E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-1.6668057665E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(2.0000714765E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(-2.4999993993E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(3.3333331174E-1f));
    y = _mm256_mul_ps(_mm256_mul_ps(y, x), z);
    y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
    y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
    __m256 r = _mm256_add_ps(x, y);
    r = _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), r);
    return _mm256_add_ps(r, corr);
}

/* softplus as ggml's SSM scan computes it: x <= 20: log(1 + exp(x)), else x */
KERNELS_AVX2_FN static inline __m256 kernels_softplus8(__m256 x)
{
    const __m256 sp = kernels_log1p8(kernels_exp8(_mm256_min_ps(x, _mm256_set1_ps(20.0f))));
    return _mm256_blendv_ps(sp, x, _mm256_cmp_ps(x, _mm256_set1_ps(20.0f), _CMP_GT_OQ));
}
#endif

#endif
