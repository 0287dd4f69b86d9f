/* act.c: the activation table (act.h): scalar references, AVX2 versions (compiled for that
 * target per function, run only when select.c found AVX2+FMA+F16C), and ggml's LayerNorm. */
#include "act.h"
#include "act_simd.h"
#include "kernels_internal.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#ifdef KERNELS_SIMD_AVX2
#define ACT_AVX2 1
#define AVX2_FN KERNELS_AVX2_FN
#endif

#define GELU_COEF_A 0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876f
#define GELU_GGML_LIMIT 10.0f
#define HALF_VALUES 65536

/* ---- scalar references ---- */

static float relu1(float x) { return x > 0.0f ? x : 0.0f; }
static float gelu1(float x) { return 0.5f * x * (1.0f + erff(x * (float)M_SQRT1_2)); }
static float gelu_tanh1(float x)
{
    return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x)));
}
static float silu1(float x) { return x * (1.0f / (1.0f + expf(-x))); } /* as forward.c had it */
static float softplus1(float x) { return x <= 20.0f ? log1pf(expf(x)) : x; } /* ggml's SSM scan */

/* ggml's table: GELU_TANH of every fp16 value, rounded to fp16 (as floats here) */
static float gelu_table[HALF_VALUES];
static pthread_once_t gelu_once = PTHREAD_ONCE_INIT;

static void gelu_table_fill(void)
{
    for (size_t h = 0; h < HALF_VALUES; h++) {
        const float f = kernels_half_to_float((uint16_t)h);
        gelu_table[h] = kernels_half_to_float(kernels_float_to_half(gelu_tanh1(f)));
    }
}

static float gelu_ggml1(float x)
{
    if (x <= -GELU_GGML_LIMIT)
        return 0.0f;
    if (x >= GELU_GGML_LIMIT)
        return x;
    return gelu_table[kernels_float_to_half(x)];
}

#define REF_LOOP(NAME, F)                                                                    \
    static void NAME(float *y, const float *x, const float *up, size_t n)                    \
    {                                                                                        \
        for (size_t i = 0; i < n; i++)                                                       \
            y[i] = up ? F(x[i]) * up[i] : F(x[i]);                                           \
    }
REF_LOOP(relu_ref, relu1)
REF_LOOP(gelu_ref, gelu1)
REF_LOOP(gelu_tanh_ref, gelu_tanh1)
REF_LOOP(silu_ref, silu1)
REF_LOOP(softplus_ref, softplus1)

static void gelu_ggml_ref(float *y, const float *x, const float *up, size_t n)
{
    pthread_once(&gelu_once, gelu_table_fill);
    for (size_t i = 0; i < n; i++)
        y[i] = up ? gelu_ggml1(x[i]) * up[i] : gelu_ggml1(x[i]);
}

/* ---- AVX2 ---- */
#ifdef ACT_AVX2

/* x * sigmoid(k x) = x / (1 + exp(-k x)) */
AVX2_FN static __m256 x_sigmoid8(__m256 x, __m256 kx)
{
    const __m256 e = kernels_exp8(_mm256_sub_ps(_mm256_setzero_ps(), kx));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

AVX2_FN static __m256 relu8(__m256 x) { return _mm256_max_ps(x, _mm256_setzero_ps()); }

AVX2_FN static __m256 silu8(__m256 x) { return x_sigmoid8(x, x); }

/* 0.5 x (1 + tanh(u)) = x sigmoid(2u) */
AVX2_FN static __m256 gelu_tanh8(__m256 x)
{
    const __m256 x2 = _mm256_mul_ps(x, x);
    const __m256 u = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(SQRT_2_OVER_PI), x),
                                   _mm256_fmadd_ps(_mm256_set1_ps(GELU_COEF_A), x2, _mm256_set1_ps(1.0f)));
    return x_sigmoid8(x, _mm256_add_ps(u, u));
}

/* erf by Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd extension */
AVX2_FN static __m256 gelu8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps((float)M_SQRT1_2));
    const __m256 az = _mm256_andnot_ps(sign, z);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                   _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), az, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = kernels_exp8(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(az, az)));
    const __m256 erf_abs = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
    const __m256 erf = _mm256_or_ps(erf_abs, _mm256_and_ps(sign, z));
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

/* the table looked up with F16C's conversion (round to nearest even, as the reference) */
AVX2_FN static __m256 gelu_ggml8(__m256 x)
{
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
    const __m256 t = _mm256_i32gather_ps(gelu_table, _mm256_cvtepu16_epi32(h), 4);
    const __m256 lo = _mm256_cmp_ps(x, _mm256_set1_ps(-GELU_GGML_LIMIT), _CMP_LE_OQ);
    const __m256 hi = _mm256_cmp_ps(x, _mm256_set1_ps(GELU_GGML_LIMIT), _CMP_GE_OQ);
    return _mm256_blendv_ps(_mm256_andnot_ps(lo, t), x, hi);
}

#define AVX2_LOOP(NAME, F8, F1, SETUP)                                                       \
    AVX2_FN static void NAME(float *y, const float *x, const float *up, size_t n)            \
    {                                                                                        \
        SETUP;                                                                               \
        size_t i = 0;                                                                        \
        for (; i + 8 <= n; i += 8) {                                                         \
            __m256 v = F8(_mm256_loadu_ps(x + i));                                           \
            if (up)                                                                          \
                v = _mm256_mul_ps(v, _mm256_loadu_ps(up + i));                               \
            _mm256_storeu_ps(y + i, v);                                                      \
        }                                                                                    \
        for (; i < n; i++)                                                                   \
            y[i] = up ? F1(x[i]) * up[i] : F1(x[i]);                                         \
    }
AVX2_LOOP(relu_avx2, relu8, relu1, (void)0)
AVX2_LOOP(gelu_avx2, gelu8, gelu1, (void)0)
AVX2_LOOP(gelu_tanh_avx2, gelu_tanh8, gelu_tanh1, (void)0)
AVX2_LOOP(gelu_ggml_avx2, gelu_ggml8, gelu_ggml1, pthread_once(&gelu_once, gelu_table_fill))
AVX2_LOOP(silu_avx2, silu8, silu1, (void)0)
AVX2_LOOP(softplus_avx2, kernels_softplus8, softplus1, (void)0)
#define AVX2_ENTRY(F) [KERNELS_TIER_AVX2] = F
#else
#define AVX2_ENTRY(F) [KERNELS_TIER_REF] = NULL
#endif

const struct kernels_act_row kernels_acts[KERNELS_ACT_COUNT] = {
    [KERNELS_ACT_RELU] = {"relu", {[KERNELS_TIER_REF] = relu_ref, AVX2_ENTRY(relu_avx2)}},
    [KERNELS_ACT_GELU] = {"gelu", {[KERNELS_TIER_REF] = gelu_ref, AVX2_ENTRY(gelu_avx2)}},
    [KERNELS_ACT_GELU_TANH] = {"gelu_tanh", {[KERNELS_TIER_REF] = gelu_tanh_ref, AVX2_ENTRY(gelu_tanh_avx2)}},
    [KERNELS_ACT_GELU_GGML] = {"gelu_ggml", {[KERNELS_TIER_REF] = gelu_ggml_ref, AVX2_ENTRY(gelu_ggml_avx2)}},
    [KERNELS_ACT_SILU] = {"silu", {[KERNELS_TIER_REF] = silu_ref, AVX2_ENTRY(silu_avx2)}},
    [KERNELS_ACT_SOFTPLUS] = {"softplus", {[KERNELS_TIER_REF] = softplus_ref, AVX2_ENTRY(softplus_avx2)}},
};

kernels_act_fn kernels_act_get(enum kernels_act a, enum kernels_tier t)
{
    int u = (int)t < KERNELS_TIER_COUNT ? (int)t : KERNELS_TIER_COUNT - 1;
    for (; u > 0 && !kernels_acts[a].tier[u]; u--)
        ;
    return kernels_acts[a].tier[u];
}

int kernels_act_by_name(const char *name)
{
    for (int a = 0; a < KERNELS_ACT_COUNT; a++)
        if (strcmp(kernels_acts[a].name, name) == 0)
            return a;
    return -1;
}

void kernels_layernorm(float *out, const float *x, const float *w, const float *b, size_t n,
                       float eps)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i] - mean;
        out[i] = v;
        sum2 += (double)(v * v);
    }
    const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
    for (size_t i = 0; i < n; i++) {
        const float v = (out[i] * scale) * w[i];
        out[i] = b ? v + b[i] : v;
    }
}

#ifdef ACT_AVX2
/* The sums in double, 4 lanes x 2 accumulators (another order than the reference's: the
 * double sums differ in their last bits, the float mean and scale almost never); the rest
 * is the reference's float arithmetic, 8 lanes at a time (no FMA: the same roundings). */
AVX2_FN static double sum8_pd(__m256d a, __m256d b)
{
    const __m256d s = _mm256_add_pd(a, b);
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

AVX2_FN void kernels_layernorm_avx2(float *out, const float *x, const float *w, const float *b,
                                    size_t n, float eps)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double sum = sum8_pd(s0, s1);
    for (; i < n; i++)
        sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    const __m256 vm = _mm256_set1_ps(mean);
    s0 = _mm256_setzero_pd();
    s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_sub_ps(_mm256_loadu_ps(x + i), vm);
        _mm256_storeu_ps(out + i, v);
        const __m256 v2 = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v2)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v2, 1)));
    }
    double sum2 = sum8_pd(s0, s1);
    for (; i < n; i++) {
        const float v = x[i] - mean;
        out[i] = v;
        sum2 += (double)(v * v);
    }
    const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(out + i), vs), _mm256_loadu_ps(w + i));
        if (b)
            v = _mm256_add_ps(v, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(out + i, v);
    }
    for (; i < n; i++) {
        const float v = (out[i] * scale) * w[i];
        out[i] = b ? v + b[i] : v;
    }
}
#endif

double kernels_exp_sum(float *y, const float *x, float max, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += (double)y[i];
    }
    return sum;
}

#ifdef ACT_AVX2
/* 8 at a time by act_simd.h's exp (~1 ulp of expf); each group's sum added in double */
AVX2_FN double kernels_exp_sum_avx2(float *y, const float *x, float max, size_t n)
{
    const __m256 vm = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = kernels_exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(y + i, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double sum = sum8_pd(s0, s1);
    for (; i < n; i++) {
        y[i] = expf(x[i] - max);
        sum += (double)y[i];
    }
    return sum;
}
#endif
