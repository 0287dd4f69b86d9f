/* quant_avx512.c: the AVX-512 tier of ggml's block formats (VNNI: vpdpbusd / vpdpwssd).
 * Interleaved Q4_0 / Q5_0 / Q8_0 / Q4_K matrices (kernels.h: 8-row groups) run two groups at
 * once, 16 rows = the 16 int32 lanes of a 512-bit register, the token's 4 activation bytes
 * broadcast from memory into vpdpbusd: each lane adds up its row's exact block total with no
 * horizontal sum and no shuffle per token; the float part is the ref dot's, in its order, so
 * an interleaved matrix still gives the ref tier's bits (test_quant.c). One token (decode)
 * reads one group per tile instead (one stream from DRAM). Q6_K (row-major)
 * forms each row's exact block total in 16 lanes and does the dot's float steps per row.
 * Plain (row-major) Q4_0/Q5_0/Q8_0/Q4_K matrices and every dot go to the avx2 entries.
 * Built with -mavx512f/bw/vl/vnni + the avx2 set; select.c checks them all first. */
#include "quant_internal.h"

#include <immintrin.h>
#include <string.h>

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

/* ---- interleaved Q4_0 / Q5_0 / Q8_0 / Q4_K: tiles of 16 rows x NT tokens ---- */
#define T16_NT 8                 /* tokens per tile at most (a batch: 8, then the rest) */
#define T16_MAX_BLOCKS 1024      /* per row (the prepared scales: 64 KB of stack) */
#ifndef T16_ONE_MAX
#define T16_ONE_MAX 1 /* tiles of at most this many tokens read one group (1 or 2) */
#endif
_Static_assert(T16_ONE_MAX >= 0 && T16_ONE_MAX <= 2, "one-group tiles exist for 1 and 2 tokens");
#ifndef T16_PF_BYTES
#define T16_PF_BYTES 2048 /* software prefetch this far ahead in each group's stream (1-8 KB
                          * measured within noise from DRAM) */
#endif

/* 32 bytes of group a, then 32 of group b: one register of 16 rows' 4-byte turns */
static inline __m512i ld2g(const void *a, const void *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* the 8 fp16 scales of group a, then those of b, as 16 floats */
static inline __m512 wd16(const uint16_t *a, const uint16_t *b)
{
    const __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)a);
    const __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)b);
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

/* 4 activation bytes in every lane (a broadcast load) */
static inline __m512i bc4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* sum over c < 8 of v[c] x the 4 activation bytes at q + 4c (two chains) */
static inline __m512i dpb8(const __m512i v[8], const int8_t *q)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, v[c], bc4(q + 4 * c));
        s1 = _mm512_dpbusd_epi32(s1, v[c + 1], bc4(q + 4 * c + 4));
    }
    return _mm512_add_epi32(s0, s1);
}

/* 16 lanes of acc[t] to the outputs: rows (two groups, or one: 8 lanes) x NT tokens */
static inline void t16_store(float *o, size_t out_row, size_t out_tok, const __m512 *acc, int nt,
                             int two)
{
    for (int t = 0; t < nt; t++) {
        float *d = o + (size_t)t * out_tok;
        if (out_row == 1 && two) {
            _mm512_storeu_ps(d, acc[t]);
        } else if (out_row == 1) {
            _mm256_storeu_ps(d, _mm512_castps512_ps256(acc[t]));
        } else {
            float v[16];
            _mm512_storeu_ps(v, acc[t]);
            for (size_t r = 0; r < (two ? 16u : 8u); r++)
                d[r * out_row] = v[r];
        }
    }
}

#ifndef T16_PF_NEXT
#define T16_PF_NEXT 1 /* 1: prefetch the next tile's two groups at the same block (a tile's
                       * own second group was left cold by a fixed distance); 0: T16_PF_BYTES */
#endif
#if T16_PF_NEXT
/* block i of the next 16 rows: groups a + 2 gb and b + 2 gb, gb = b - a (a tile of two groups;
 * a lone last group has no next tile) */
#define T16_PREFETCH(NT, pa, pb, len)                                                          \
    do {                                                                                       \
        const size_t d_ = 2 * (size_t)((const char *)(pb) - (const char *)(pa));              \
        for (size_t pf_ = 0; two && pf_ < (len); pf_ += 64) {                                  \
            _mm_prefetch((const char *)(pa) + d_ + pf_, _MM_HINT_T0);                          \
            _mm_prefetch((const char *)(pb) + d_ + pf_, _MM_HINT_T0);                          \
        }                                                                                      \
    } while (0)
#else
#define T16_PREFETCH(NT, pa, pb, len)                                                          \
    do {                                                                                       \
        for (size_t pf_ = 0; pf_ < (len); pf_ += 64) {                                         \
            _mm_prefetch((const char *)(pa) + T16_PF_BYTES + pf_, _MM_HINT_T0);                \
            if (two)                                                                           \
                _mm_prefetch((const char *)(pb) + T16_PF_BYTES + pf_, _MM_HINT_T0);            \
        }                                                                                      \
    } while (0)
#endif

/* The arguments of every tile: groups a and b (b == a when 'two' is 0: the lanes of b are
 * computed and dropped), nb blocks, y[t] the tokens' activation blocks; yd[t * nb + i] token
 * t's block scale, corr[t * nb + i] what the unsigned codes add to the block total (Q8_0:
 * 128, Q4_0: 8, Q5_0: 16 times the block's activation sum); Q4_K: corr[(t * nb + i) * 4 + k]
 * the 32-value sums of sub-blocks 2k, 2k+1 as an int16 pair. */
#define T16_ARGS                                                                              \
    float *o, size_t out_row, size_t out_tok, const void *wa, const void *wb, int two,       \
        size_t nb, const struct block_q8_0 *const *y, const float *yd, const int32_t *corr
typedef void (*t16_fn)(T16_ARGS);

/* The ref dot's float step per block: Q4_0 / Q5_0 add total * wd * yd, Q8_0 total * (wd * yd) */
static inline __m512 step16_q4(__m512 acc, __m512i tot, __m512 wd, float yd)
{
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(tot), wd), _mm512_set1_ps(yd)));
}
static inline __m512 step16_q8(__m512 acc, __m512i tot, __m512 wd, float yd)
{
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(tot), _mm512_mul_ps(wd, _mm512_set1_ps(yd))));
}

/* the 5th bits of Q5_0 values s0.. (lanes 0..7) and s1.. (lanes 8..15), 4 each (s = 0, 4,
 * ..., 28), from each lane's qh dword (its row's 32 fifth bits), as 0x10 per byte */
static inline __m512i bit5_2(__m512i qh, int s0, int s1)
{
    const __m512i pick = _mm512_add_epi8(
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12)),
        _mm512_inserti64x4(_mm512_set1_epi8((char)(s0 / 8)), _mm256_set1_epi8((char)(s1 / 8)), 1));
    const __m512i sel = _mm512_inserti64x4(_mm512_set1_epi32((int)(0x08040201u << (s0 % 8))),
                                           _mm256_set1_epi32((int)(0x08040201u << (s1 % 8))), 1);
    const __mmask64 m = _mm512_test_epi8_mask(_mm512_shuffle_epi8(qh, pick), sel);
    return _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(0x10));
}

/* One block of groups a and b as 8 registers of unsigned codes, v[c] pairing with activation
 * bytes 4c..4c+3. Q8_0: the weights made unsigned (w ^ 0x80 = w + 128); Q4_0: turn c's low
 * nibbles are values 4c.., its high ones 16 + 4c..; Q5_0: | the 5th bit << 4 (its qh is turn
 * 0 of the interleaved block) */
static inline void unpack16_q8_0(const void *pa, const void *pb, __m512i v[8])
{
    const struct block_q8_0x8 *a = pa, *b = pb;
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++)
        v[c] = _mm512_xor_si512(ld2g(a->qs + 32 * c, b->qs + 32 * c), _mm512_set1_epi8((char)0x80));
}
static inline void nibbles16(const uint8_t *a, const uint8_t *b, __m512i v[8])
{
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        const __m512i raw = ld2g(a + 32 * c, b + 32 * c);
        v[c] = _mm512_and_si512(raw, _mm512_set1_epi8(0x0F));
        v[4 + c] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), _mm512_set1_epi8(0x0F));
    }
}
static inline void unpack16_q4_0(const void *pa, const void *pb, __m512i v[8])
{
    nibbles16(((const struct block_q4_0x8 *)pa)->qs, ((const struct block_q4_0x8 *)pb)->qs, v);
}
static inline void unpack16_q5_0(const void *pa, const void *pb, __m512i v[8])
{
    const struct block_q5_0x8 *a = pa, *b = pb;
    nibbles16(a->qs, b->qs, v);
    const __m512i qh = ld2g(a->qh, b->qh);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++)
        v[c] = _mm512_or_si512(v[c], bit5_2(qh, 4 * c, 4 * c));
}

/* Q8_0 / Q4_0 / Q5_0 (T): per token the lanes' exact block totals (less corr), then the ref
 * dot's float step (STEP). TOT(t, i) and YD(t, i): token t's total and scale at block i
 * (ARGS: T16_ARGS or P16_ARGS below, the activations as pointers or packed). */
#define T16_TILE(NAME, ARGS, NT, T, WBLOCK, STEP, TOT, YD)                                    \
    static void NAME(ARGS)                                                                    \
    {                                                                                         \
        const struct WBLOCK *a = wa, *b = wb;                                                 \
        __m512 acc[NT];                                                                       \
        _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                                \
            acc[t] = _mm512_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            T16_PREFETCH(NT, a + i, b + i, sizeof *a);                                        \
            const __m512 wd = wd16(a[i].d, b[i].d);                                           \
            __m512i v[8];                                                                     \
            unpack16_##T(&a[i], &b[i], v);                                                    \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                            \
                acc[t] = STEP(acc[t], TOT(t, i), wd, YD(t, i));                               \
        }                                                                                     \
        t16_store(o, out_row, out_tok, acc, (NT), two);                                       \
    }
#define T16_TOT(t, i)                                                                         \
    _mm512_sub_epi32(dpb8(v, y[t][i].qs), _mm512_set1_epi32(corr[(size_t)(t) * nb + (i)]))
#define T16_YD(t, i) yd[(size_t)(t) * nb + (i)]
#define T16_Q32(NAME, NT, T, WBLOCK, STEP)                                                    \
    T16_TILE(NAME, T16_ARGS, NT, T, WBLOCK, STEP, T16_TOT, T16_YD)

/* The same tiles on packed activations (gemm_t16 copies them per call): block i of token t at
 * yq + (i T16_NT + t) 32, its scale at yd[i T16_NT + t], its correction negated at
 * nc[i T16_NT + t]. One base register addresses every token (a compile-time stride), each
 * token's block total is one chain of 8 vpdpbusd started at -corr with the activation dword
 * as an embedded broadcast ({1to16}: the load folded into the instruction), then the ref
 * dot's float step: the same exact integers and float operations as T16_Q32. */
#define P16_ARGS                                                                              \
    float *o, size_t out_row, size_t out_tok, const void *wa, const void *wb, int two,       \
        size_t nb, const int8_t *yq, const float *yd, const int32_t *nc
typedef void (*p16_fn)(P16_ARGS);

static inline __attribute__((always_inline)) __m512i dpbusd_bc(__m512i acc, __m512i u,
                                                               const int8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(u), "m"(*(const int32_t *)(const void *)p));
    return acc;
}

/* token t's block i: one chain of 8 vpdpbusd from -corr over its packed activations */
static inline __attribute__((always_inline)) __m512i p16_total(const __m512i v[8], const int8_t *q,
                                                               int32_t nc)
{
    __m512i s = _mm512_set1_epi32(nc);
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++)
        s = dpbusd_bc(s, v[c], q + 4 * c);
    return s;
}
#define P16_TOT(t, i)                                                                         \
    p16_total(v, yq + ((i) * T16_NT + (size_t)(t)) * QK8_0, nc[(i) * T16_NT + (size_t)(t)])
#define P16_YD(t, i) yd[(i) * T16_NT + (size_t)(t)]
#define P16_Q32(NAME, NT, T, WBLOCK, STEP)                                                    \
    T16_TILE(NAME, P16_ARGS, NT, T, WBLOCK, STEP, P16_TOT, P16_YD)

/* Q4_K against Q8_K: per 64 values (p) the low nibbles are sub-block 2p, the high ones 2p+1;
 * each sub-block's exact sum (vpdpbusd over its 8 turns) times the rows' 6-bit scales
 * (vpmulld) into the block total; the mins against the tokens' 32-value sums by vpdpwssd.
 * Float part as the ref dot: (yd * d) * sumi - (yd * dmin) * summs, then += per block. */
#define T16_Q4K(NAME, NT)                                                                     \
    static void NAME(T16_ARGS)                                                                \
    {                                                                                         \
        (void)yd;                                                                             \
        const struct block_q4_Kx8 *a = wa, *b = wb;                                           \
        const struct block_q8_K *yk[NT];                                                      \
        for (int t = 0; t < (NT); t++)                                                        \
            yk[t] = (const void *)y[t];                                                       \
        const __m512i m4 = _mm512_set1_epi8(0x0F);                                            \
        __m512 acc[NT];                                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm512_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            T16_PREFETCH(NT, a + i, b + i, sizeof *a);                                        \
            __m512i isum[NT];                                                                 \
            for (int t = 0; t < (NT); t++)                                                    \
                isum[t] = _mm512_setzero_si512();                                             \
            for (int j = 0; j < 8; j++) { /* sub-block j: turns 8 (j / 2) + c, nibble j % 2 */ \
                __m512i u[8];                                                                 \
                _Pragma("GCC unroll 8") for (int c = 0; c < 8; c++)                           \
                {                                                                             \
                    const size_t at = (size_t)(8 * (j / 2) + c) * 32;                         \
                    const __m512i raw = ld2g(a[i].qs + at, b[i].qs + at);                     \
                    u[c] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(raw, 4) : raw, m4);   \
                }                                                                             \
                uint64_t sa, sb;                                                              \
                memcpy(&sa, a[i].sc[j], 8);                                                   \
                memcpy(&sb, b[i].sc[j], 8);                                                   \
                const __m512i sc = _mm512_cvtepu8_epi32(_mm_set_epi64x((long long)sb, (long long)sa)); \
                _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                        \
                {                                                                             \
                    isum[t] = _mm512_add_epi32(                                               \
                        isum[t], _mm512_mullo_epi32(dpb8(u, yk[t][i].qs + 32 * j), sc));      \
                }                                                                             \
            }                                                                                 \
            const __m512 wd = wd16(a[i].d, b[i].d), wm = wd16(a[i].dmin, b[i].dmin);          \
            __m512i mk[4];                                                                    \
            for (int k = 0; k < 4; k++)                                                       \
                mk[k] = _mm512_cvtepu8_epi16(ld2g_half(a[i].m[k], b[i].m[k]));                \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const int32_t *pr = corr + ((size_t)t * nb + i) * 4;                          \
                __m512i ms = _mm512_setzero_si512();                                          \
                for (int k = 0; k < 4; k++)                                                   \
                    ms = _mm512_dpwssd_epi32(ms, mk[k], _mm512_set1_epi32(pr[k]));            \
                const __m512 d = _mm512_set1_ps(yk[t][i].d);                                  \
                const __m512 av = _mm512_mul_ps(_mm512_mul_ps(d, wd), _mm512_cvtepi32_ps(isum[t])); \
                const __m512 bv = _mm512_mul_ps(_mm512_mul_ps(d, wm), _mm512_cvtepi32_ps(ms)); \
                acc[t] = _mm512_add_ps(acc[t], _mm512_sub_ps(av, bv));                        \
            }                                                                                 \
        }                                                                                     \
        t16_store(o, out_row, out_tok, acc, (NT), two);                                       \
    }

/* 16 bytes of group a, then 16 of group b */
static inline __m256i ld2g_half(const void *a, const void *b)
{
    return _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
        _mm_loadu_si128((const __m128i *)b), 1);
}

/* ---- one group (8 rows) per tile, one stream: decode ----
 * Two 16-row streams read a DRAM-size matrix at ~3/4 of one stream's rate (1 token), so the
 * few-token tiles read one group: a register is 2 turns (64 contiguous bytes), lanes r and
 * r + 8 both row r, the activation's matching dwords permuted in; the halves are added at the
 * block's end (exact integers) and the float part runs on 8 lanes, the same operations. */
#define S8_PF(p, len)                                                                         \
    for (size_t pf_ = 0; pf_ < (len); pf_ += 64)                                               \
    _mm_prefetch((const char *)(p) + T16_PF_BYTES + pf_, _MM_HINT_T0)

/* dwords a, a + 1 (a even) of a block's activations: a in lanes 0..7, a + 1 in lanes 8..15 */
#define P2(a) {a, a, a, a, a, a, a, a, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1, a + 1}
static const int32_t PAIRS[8][16] __attribute__((aligned(64))) = {P2(0), P2(2), P2(4), P2(6),
                                                                   P2(8), P2(10), P2(12), P2(14)};
static inline __m512i pidx(int a) { return _mm512_load_si512(PAIRS[a / 2]); }

/* sum over k < 4 of v[k] x the activation dwords (a_k, a_k + 1) of yv (two chains) */
static inline __m512i dp4p(const __m512i v[4], __m512i yv, int a0, int a1, int a2, int a3)
{
    __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v[0], _mm512_permutexvar_epi32(pidx(a0), yv));
    __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v[1], _mm512_permutexvar_epi32(pidx(a1), yv));
    s0 = _mm512_dpbusd_epi32(s0, v[2], _mm512_permutexvar_epi32(pidx(a2), yv));
    s1 = _mm512_dpbusd_epi32(s1, v[3], _mm512_permutexvar_epi32(pidx(a3), yv));
    return _mm512_add_epi32(s0, s1);
}

static inline __m256i fold16(__m512i v)
{
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

static inline void s8_store(float *o, size_t out_row, size_t out_tok, const __m256 *acc, int nt)
{
    for (int t = 0; t < nt; t++) {
        float *d = o + (size_t)t * out_tok;
        if (out_row == 1) {
            _mm256_storeu_ps(d, acc[t]);
        } else {
            float v[8];
            _mm256_storeu_ps(v, acc[t]);
            for (size_t r = 0; r < 8; r++)
                d[r * out_row] = v[r];
        }
    }
}

static inline __m256 step8_q4(__m256 acc, __m256i tot, __m256 wd, float yd)
{
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(tot), wd), _mm256_set1_ps(yd)));
}
static inline __m256 step8_q8(__m256 acc, __m256i tot, __m256 wd, float yd)
{
    return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_cvtepi32_ps(tot), _mm256_mul_ps(wd, _mm256_set1_ps(yd))));
}

/* One block of one group as 4 registers of unsigned codes (register k: turns 2k, 2k+1);
 * S8_PAIRS_<type> names the activation dword pair of each: Q8_0 (0, 2, 4, 6); Q4_0 / Q5_0:
 * v[2k] the low nibbles (values 8k..), v[2k + 1] the high ones (16 + 8k..) */
#define S8_PAIRS_q8_0 0, 2, 4, 6
#define S8_PAIRS_q4_0 0, 4, 2, 6
#define S8_PAIRS_q5_0 0, 4, 2, 6
static inline void unpack8_q8_0(const void *pa, __m512i v[4])
{
    const struct block_q8_0x8 *a = pa;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++)
        v[k] = _mm512_xor_si512(_mm512_loadu_si512(a->qs + 64 * k), _mm512_set1_epi8((char)0x80));
}
static inline void nibbles8(const uint8_t *qs, __m512i v[4])
{
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        const __m512i raw = _mm512_loadu_si512(qs + 64 * k);
        v[2 * k] = _mm512_and_si512(raw, _mm512_set1_epi8(0x0F));
        v[2 * k + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), _mm512_set1_epi8(0x0F));
    }
}
static inline void unpack8_q4_0(const void *pa, __m512i v[4])
{
    nibbles8(((const struct block_q4_0x8 *)pa)->qs, v);
}
static inline void unpack8_q5_0(const void *pa, __m512i v[4])
{
    const struct block_q5_0x8 *a = pa;
    nibbles8(a->qs, v);
    const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)a->qh));
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        v[2 * k] = _mm512_or_si512(v[2 * k], bit5_2(qh, 8 * k, 8 * k + 4));
        v[2 * k + 1] = _mm512_or_si512(v[2 * k + 1], bit5_2(qh, 16 + 8 * k, 20 + 8 * k));
    }
}

/* PF: 1 = software prefetch T16_PF_BYTES ahead, 0 = none. On Zen 5 (1B files, decode
 * interleaved A/B, 2026-12-06 s8) the prefetch cost Q4_0 5% and Q8_0 12% at 1 thread (the
 * hardware prefetcher keeps up with the one stream; the extra instructions and early
 * requests do not help) while Q4_K (more work per byte) lost 10% without it. */
#define S8_Q32(NAME, NT, T, WBLOCK, STEP, PF)                                                 \
    static void NAME(T16_ARGS)                                                                \
    {                                                                                         \
        (void)wb, (void)two;                                                                  \
        const struct WBLOCK *a = wa;                                                          \
        __m256 acc[NT];                                                                       \
        for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            if (PF)                                                                           \
                S8_PF(a + i, sizeof *a);                                                      \
            const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)a[i].d)); \
            __m512i v[4];                                                                     \
            unpack8_##T(&a[i], v);                                                            \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                            \
            {                                                                                 \
                const size_t k = (size_t)t * nb + i;                                          \
                const __m512i yv = _mm512_castsi256_si512(                                    \
                    _mm256_loadu_si256((const __m256i *)(const void *)y[t][i].qs));          \
                const __m256i tot = fold16(dp4p(v, yv, S8_PAIRS_##T));                        \
                acc[t] = STEP(acc[t], _mm256_sub_epi32(tot, _mm256_set1_epi32(corr[k])), wd, yd[k]); \
            }                                                                                 \
        }                                                                                     \
        s8_store(o, out_row, out_tok, acc, (NT));                                             \
    }

/* Q4_K: sub-block j's turns 8 (j / 2) + c as 4 registers (turns 2k, 2k+1); its values in the
 * activation register of its 64 (p = j / 2): low nibbles dwords 2k, 2k+1, high 8 + 2k, 9 + 2k */
#define S8_Q4K(NAME, NT)                                                                      \
    static void NAME(T16_ARGS)                                                                \
    {                                                                                         \
        (void)yd, (void)wb, (void)two;                                                        \
        const struct block_q4_Kx8 *a = wa;                                                    \
        const struct block_q8_K *yk[NT];                                                      \
        _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                                                        \
            yk[t] = (const void *)y[t];                                                       \
        const __m512i m4 = _mm512_set1_epi8(0x0F);                                            \
        __m256 acc[NT];                                                                       \
        _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                                                        \
            acc[t] = _mm256_setzero_ps();                                                     \
        for (size_t i = 0; i < nb; i++) {                                                     \
            S8_PF(a + i, sizeof *a);                                                          \
            __m512i isum[NT];                                                                 \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++)                                                    \
                isum[t] = _mm512_setzero_si512();                                             \
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {                                                     \
                const int p = j / 2, h = 8 * (j & 1);                                         \
                __m512i u[4];                                                                 \
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                                 \
                    const __m512i raw = _mm512_loadu_si512(a[i].qs + (size_t)(8 * p + 2 * k) * 32); \
                    u[k] = _mm512_and_si512((j & 1) ? _mm512_srli_epi16(raw, 4) : raw, m4);   \
                }                                                                             \
                const __m512i sc = _mm512_broadcast_i64x4(_mm256_cvtepu8_epi32(               \
                    _mm_loadl_epi64((const __m128i *)(const void *)a[i].sc[j])));             \
                _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) {                                              \
                    const __m512i yv = _mm512_loadu_si512(yk[t][i].qs + 64 * p);              \
                    isum[t] = _mm512_add_epi32(                                               \
                        isum[t], _mm512_mullo_epi32(dp4p(u, yv, h, h + 2, h + 4, h + 6), sc));    \
                }                                                                             \
            }                                                                                 \
            const __m256 wd = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)a[i].d)); \
            const __m256 wm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)a[i].dmin)); \
            _Pragma("GCC unroll 8") for (int t = 0; t < (NT); t++) {                                                  \
                const int32_t *pr = corr + ((size_t)t * nb + i) * 4;                          \
                __m256i ms = _mm256_setzero_si256();                                          \
                _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++)                                                   \
                    ms = _mm256_dpwssd_epi32(                                                 \
                        ms, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)a[i].m[k])), \
                        _mm256_set1_epi32(pr[k]));                                            \
                const __m256 d = _mm256_set1_ps(yk[t][i].d);                                  \
                const __m256 av = _mm256_mul_ps(_mm256_mul_ps(d, wd), _mm256_cvtepi32_ps(fold16(isum[t]))); \
                const __m256 bv = _mm256_mul_ps(_mm256_mul_ps(d, wm), _mm256_cvtepi32_ps(ms)); \
                acc[t] = _mm256_add_ps(acc[t], _mm256_sub_ps(av, bv));                        \
            }                                                                                 \
        }                                                                                     \
        s8_store(o, out_row, out_tok, acc, (NT));                                             \
    }

S8_Q32(s1_q8_0, 1, q8_0, block_q8_0x8, step8_q8, 0) S8_Q32(s2_q8_0, 2, q8_0, block_q8_0x8, step8_q8, 0)
S8_Q32(s1_q4_0, 1, q4_0, block_q4_0x8, step8_q4, 0) S8_Q32(s2_q4_0, 2, q4_0, block_q4_0x8, step8_q4, 0)
S8_Q32(s1_q5_0, 1, q5_0, block_q5_0x8, step8_q4, 1) S8_Q32(s2_q5_0, 2, q5_0, block_q5_0x8, step8_q4, 1)
S8_Q4K(s1_q4_K, 1) S8_Q4K(s2_q4_K, 2)

#define T16_ALL(MAC, T, ...)                                                                  \
    MAC(t1_##T, 1 __VA_ARGS__) MAC(t2_##T, 2 __VA_ARGS__) MAC(t3_##T, 3 __VA_ARGS__)          \
    MAC(t4_##T, 4 __VA_ARGS__) MAC(t5_##T, 5 __VA_ARGS__) MAC(t6_##T, 6 __VA_ARGS__)          \
    MAC(t7_##T, 7 __VA_ARGS__) MAC(t8_##T, 8 __VA_ARGS__)
T16_ALL(T16_Q32, q8_0, , q8_0, block_q8_0x8, step16_q8)
T16_ALL(T16_Q32, q4_0, , q4_0, block_q4_0x8, step16_q4)
T16_ALL(T16_Q32, q5_0, , q5_0, block_q5_0x8, step16_q4)
T16_ALL(T16_Q4K, q4_K, )
#define T16_ROW(T) {NULL, t1_##T, t2_##T, t3_##T, t4_##T, t5_##T, t6_##T, t7_##T, t8_##T}
#define P16_ALL(MAC, T, ...)                                                                  \
    MAC(p2_##T, 2 __VA_ARGS__) MAC(p3_##T, 3 __VA_ARGS__) MAC(p4_##T, 4 __VA_ARGS__)          \
    MAC(p5_##T, 5 __VA_ARGS__) MAC(p6_##T, 6 __VA_ARGS__) MAC(p7_##T, 7 __VA_ARGS__)          \
    MAC(p8_##T, 8 __VA_ARGS__)
P16_ALL(P16_Q32, q8_0, , q8_0, block_q8_0x8, step16_q8)
P16_ALL(P16_Q32, q4_0, , q4_0, block_q4_0x8, step16_q4)
P16_ALL(P16_Q32, q5_0, , q5_0, block_q5_0x8, step16_q4)
#define P16_ROW(T) {NULL, NULL, p2_##T, p3_##T, p4_##T, p5_##T, p6_##T, p7_##T, p8_##T}
#ifndef T16_PACK_MAX_BLOCKS
#define T16_PACK_MAX_BLOCKS 256 /* packed activations per row at most (64 KB of stack) */
#endif

/* the sum of a block's 32 activation bytes */
static inline int32_t block_sum_i8(const int8_t *q)
{
    const __m256i s = _mm256_madd_epi16(
        _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)q)),
        _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* Interleaved matrices: whole groups in tiles of 16 rows (an odd last group alone), tokens in
 * tiles of up to T16_NT; rows outside whole groups (a chunk boundary inside a group) one at a
 * time as the ref tier reads them. 'fallback': the avx2 entry, for what the tiles do not
 * take (too many blocks per row). */
static void gemm_t16(float *out, size_t out_row, size_t out_tok, const struct kernels_mat *w,
                     size_t r0, size_t r1, const void *x, size_t x_stride, size_t n_tok,
                     kernels_gemm_fn fallback)
{
    static const t16_fn tiles[][T16_NT + 1] = {T16_ROW(q4_0), T16_ROW(q5_0), T16_ROW(q8_0),
                                               T16_ROW(q4_K)};
    static const t16_fn ones[][3] = {{NULL, s1_q4_0, s2_q4_0}, {NULL, s1_q5_0, s2_q5_0},
                                     {NULL, s1_q8_0, s2_q8_0}, {NULL, s1_q4_K, s2_q4_K}};
    int ty;
    const size_t nb = w->cols / kernels_types[w->type].block_size;
    const size_t a0 = (r0 + 7) / 8 * 8, a1 = r1 / 8 * 8;
    int offset; /* what makes the codes unsigned: 8 (Q4_0), 16 (Q5_0), 128 (Q8_0) */
    switch (w->type) {
    case KERNELS_Q4_0: ty = 0, offset = 8; break;
    case KERNELS_Q5_0: ty = 1, offset = 16; break;
    case KERNELS_Q8_0: ty = 2, offset = 128; break;
    case KERNELS_Q4_K: ty = 3, offset = 0; break;
    default: ty = -1, offset = 0; break;
    }
    const size_t per_block = w->type == KERNELS_Q4_K ? 4 : 1; /* corr entries */
    if (ty < 0 || nb * per_block > T16_MAX_BLOCKS || a0 >= a1) {
        fallback(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
        return;
    }
    const size_t edge[2][2] = {{r0, a0}, {a1, r1}}; /* [begin, end) of each */
    for (int e = 0; e < 2; e++)
        if (edge[e][0] < edge[e][1])
            quant_gemm_interleaved(out + (edge[e][0] - r0) * out_row, out_row, out_tok, w,
                                   edge[e][0], edge[e][1], x, x_stride, n_tok);
    float yd[T16_NT * T16_MAX_BLOCKS];
    int32_t corr[T16_NT * T16_MAX_BLOCKS];
    const char *xb = x;
    const size_t gb = KERNELS_INTERLEAVE * w->row_bytes; /* bytes per group */
    const int packs = per_block == 1 && nb <= T16_PACK_MAX_BLOCKS;
    for (size_t t = 0; t < n_tok; t += T16_NT) {
        const size_t nt = n_tok - t < T16_NT ? n_tok - t : T16_NT;
        if (packs && nt >= 2) { /* the P16 tiles: block-major, T16_NT tokens per block */
            static const p16_fn ptiles[][T16_NT + 1] = {P16_ROW(q4_0), P16_ROW(q5_0), P16_ROW(q8_0)};
            _Alignas(64) int8_t yq[T16_PACK_MAX_BLOCKS * T16_NT * QK8_0];
            for (size_t k = 0; k < nt; k++) {
                const struct block_q8_0 *yk = (const void *)(xb + (t + k) * x_stride);
                for (size_t i = 0; i < nb; i++) {
                    memcpy(yq + (i * T16_NT + k) * QK8_0, yk[i].qs, QK8_0);
                    yd[i * T16_NT + k] = h2f(yk[i].d);
                    corr[i * T16_NT + k] = -offset * block_sum_i8(yk[i].qs);
                }
            }
            for (size_t g = a0; g < a1; g += 2 * KERNELS_INTERLEAVE) {
                const char *wg = (const char *)w->data + g * w->row_bytes;
                const int two = g + KERNELS_INTERLEAVE < a1;
                ptiles[ty][nt](out + (g - r0) * out_row + t * out_tok, out_row, out_tok, wg,
                               two ? wg + gb : wg, two, nb, yq, yd, corr);
            }
            continue;
        }
        const struct block_q8_0 *y[T16_NT];
        for (size_t k = 0; k < nt; k++) {
            y[k] = (const void *)(xb + (t + k) * x_stride);
            for (size_t i = 0; i < nb; i++) {
                if (per_block == 4) {
                    const int16_t *bs = ((const struct block_q8_K *)(const void *)y[k])[i].bsums;
                    for (int p = 0; p < 4; p++) {
                        const int lo = bs[4 * p] + bs[4 * p + 1], hi = bs[4 * p + 2] + bs[4 * p + 3];
                        corr[(k * nb + i) * 4 + (size_t)p] =
                            (int32_t)(((uint32_t)(uint16_t)hi << 16) | (uint16_t)lo);
                    }
                    continue;
                }
                yd[k * nb + i] = h2f(y[k][i].d);
                corr[k * nb + i] = offset * block_sum_i8(y[k][i].qs);
            }
        }
        const size_t step = nt <= T16_ONE_MAX ? 1 : 2; /* groups per tile */
        for (size_t g = a0; g < a1; g += step * KERNELS_INTERLEAVE) {
            const char *wg = (const char *)w->data + g * w->row_bytes;
            const int two = step == 2 && g + KERNELS_INTERLEAVE < a1;
            (step == 1 ? ones[ty] : tiles[ty])[nt](out + (g - r0) * out_row + t * out_tok, out_row,
                                                  out_tok, wg, two ? wg + gb : wg, two, nb, y, yd,
                                                  corr);
        }
    }
}

#define QUANT_DEFINE_T16(T)                                                                   \
    void quant_matvec_##T##_avx512(float *out, const struct kernels_mat *w, size_t r0,        \
                                   size_t r1, const void *x)                                 \
    {                                                                                         \
        if (w->interleave)                                                                    \
            gemm_t16(out, 1, 0, w, r0, r1, x, 0, 1, quant_gemm_##T##_avx2);                   \
        else                                                                                  \
            quant_matvec_##T##_avx2(out, w, r0, r1, x);                                       \
    }                                                                                         \
    void quant_gemm_##T##_avx512(float *out, size_t out_row, size_t out_tok,                  \
                                 const struct kernels_mat *w, size_t r0, size_t r1,           \
                                 const void *x, size_t x_stride, size_t n_tok)               \
    {                                                                                         \
        if (w->interleave)                                                                    \
            gemm_t16(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok,                    \
                     quant_gemm_##T##_avx2);                                                  \
        else                                                                                  \
            quant_gemm_##T##_avx2(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);      \
    }

QUANT_DEFINE_T16(q4_0)
QUANT_DEFINE_T16(q5_0)
QUANT_DEFINE_T16(q8_0)
QUANT_DEFINE_T16(q4_K)

/* ---- Q6_K (row-major): each row's exact block total in 16 lanes ----
 * Register m (0..3) holds values 64m..64m+63 of the block (ggml's ql/qh split: the low
 * nibbles of ql's 64 bytes at 128h are values 128h..128h+63, their high nibbles the next 64;
 * qh's 32 bytes give bits 4-5 through one variable 16-bit shift per half); vpmaddubsw makes
 * value pairs, each 128-bit lane one 16-value group, and vpdpwssd multiplies by the group's
 * scale into int32 lanes. Less 32 x the scaled bsums, the lanes add up to the dot's exact
 * integer total; the float part is the dot's (wd * yd) * total, += per block: bit for bit the
 * ref (and avx2) dot. */
#define G4(m) {G8(4 * m), G8(4 * m + 1), G8(4 * m + 2), G8(4 * m + 3)}
#define G8(g) g, g, g, g, g, g, g, g
static const int16_t Q6K_GROUPS[4][32] __attribute__((aligned(64))) = {G4(0), G4(1), G4(2), G4(3)};

static inline void q6k_unpack512(const struct block_q6_K *b, __m512i q[4], __m512i s[4],
                                 __m256i *sc16)
{
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    const __m512i shl = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i shr = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    *sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)b->scales));
    const __m512i s512 = _mm512_castsi256_si512(*sc16);
#pragma GCC unroll 8
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512(b->ql + 64 * h);
        const __m512i hb = _mm512_broadcast_i64x4(
            _mm256_loadu_si256((const __m256i *)(const void *)(b->qh + 32 * h)));
        q[2 * h] = _mm512_or_si512(_mm512_and_si512(l, m4),
                                   _mm512_and_si512(_mm512_sllv_epi16(hb, shl), m30));
        q[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                       _mm512_and_si512(_mm512_srlv_epi16(hb, shr), m30));
#pragma GCC unroll 2
        for (int k = 0; k < 2; k++) /* int16 lane i of register m: group 4m + i / 8 */
            s[2 * h + k] = _mm512_permutexvar_epi16(_mm512_load_si512(Q6K_GROUPS[2 * h + k]), s512);
    }
}

/* the unpacked block against one Q8_K block: 16 lanes adding up to the exact total */
static inline __m512i q6k_total512(const __m512i q[4], const __m512i s[4], __m256i sc16,
                                   const struct block_q8_K *y)
{
    const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)(const void *)y->bsums));
    __m512i acc = _mm512_inserti64x4(_mm512_setzero_si512(),
                                      _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5)), 0);
#pragma GCC unroll 8
    for (int m = 0; m < 4; m++)
        acc = _mm512_dpwssd_epi32(
            acc, _mm512_maddubs_epi16(q[m], _mm512_loadu_si512(y->qs + 64 * m)), s[m]);
    return acc;
}

/* 8 registers of 16 lanes -> their 8 totals in the lanes of one (exact integers) */
static inline __m256i reduce8x16(const __m512i v[8])
{
    __m256i f[8];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++)
        f[j] = fold16(v[j]);
    const __m256i x = _mm256_hadd_epi32(_mm256_hadd_epi32(f[0], f[1]), _mm256_hadd_epi32(f[2], f[3]));
    const __m256i z = _mm256_hadd_epi32(_mm256_hadd_epi32(f[4], f[5]), _mm256_hadd_epi32(f[6], f[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(x, z, 0x20), _mm256_permute2x128_si256(x, z, 0x31));
}

#define Q6K_PF_ROWS 16 /* decode: software prefetch this many rows ahead */

/* decode: 8 rows against one token, the 8 totals in one vector's lanes; a remainder of
 * fewer than 8 rows through the dot */
void quant_matvec_q6_K_avx512(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                              const void *x)
{
    const struct block_q8_K *y = x;
    const size_t rb = w->row_bytes, nb = w->cols / QK_K;
    const char *base = w->data;
    size_t r = r0;
    for (; r + 8 <= r1; r += 8) {
        const char *ahead = base + (r + Q6K_PF_ROWS) * rb;
        __m256 acc = _mm256_setzero_ps();
        for (size_t i = 0; i < nb; i++) {
            __m512i tot[8];
            float wd[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                const struct block_q6_K *b = (const void *)(base + (r + (size_t)j) * rb);
                for (size_t off = 0; off < sizeof *b; off += 64)
                    _mm_prefetch(ahead + (size_t)j * rb + i * sizeof *b + off, _MM_HINT_T0);
                __m512i q[4], s[4];
                __m256i sc16;
                q6k_unpack512(&b[i], q, s, &sc16);
                tot[j] = q6k_total512(q, s, sc16, &y[i]);
                wd[j] = h2f(b[i].d);
            }
            const __m256 d = _mm256_mul_ps(_mm256_loadu_ps(wd), _mm256_set1_ps(y[i].d));
            acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8x16(tot))));
        }
        _mm256_storeu_ps(out + (r - r0), acc);
    }
    for (; r < r1; r++)
        out[r - r0] = quant_dot_q6_K_avx2(base + r * rb, x, w->cols);
}

#define Q6K_MAX_BLOCKS 256 /* the GEMM's token scales on the stack: rows up to 65536 */

/* prompts: one row against up to 8 tokens at once (the block unpacked once), the tokens'
 * totals in one vector's lanes */
void quant_gemm_q6_K_avx512(float *out, size_t out_row, size_t out_tok,
                            const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                            size_t x_stride, size_t n_tok)
{
    const size_t rb = w->row_bytes, nb = w->cols / QK_K;
    if (nb > Q6K_MAX_BLOCKS) {
        quant_gemm_q6_K_avx2(out, out_row, out_tok, w, r0, r1, x, x_stride, n_tok);
        return;
    }
    const char *base = w->data, *xb = x;
    float yd[Q6K_MAX_BLOCKS * 8];
    for (size_t t = 0; t < n_tok; t += 8) {
        const size_t nt = n_tok - t < 8 ? n_tok - t : 8;
        const struct block_q8_K *y[8];
        for (size_t k = 0; k < 8; k++) {
            y[k] = (const void *)(xb + (t + (k < nt ? k : 0)) * x_stride);
            for (size_t i = 0; i < nb; i++)
                yd[i * 8 + k] = y[k][i].d;
        }
        for (size_t r = r0; r < r1; r++) {
            const struct block_q6_K *b = (const void *)(base + r * rb);
            __m256 acc = _mm256_setzero_ps();
            for (size_t i = 0; i < nb; i++) {
                __m512i q[4], s[4], tot[8];
                __m256i sc16;
                q6k_unpack512(&b[i], q, s, &sc16);
#pragma GCC unroll 8
                for (size_t k = 0; k < 8; k++)
                    tot[k] = k < nt ? q6k_total512(q, s, sc16, &y[k][i]) : _mm512_setzero_si512();
                const __m256 d = _mm256_mul_ps(_mm256_set1_ps(h2f(b[i].d)), _mm256_loadu_ps(yd + i * 8));
                acc = _mm256_add_ps(acc, _mm256_mul_ps(d, _mm256_cvtepi32_ps(reduce8x16(tot))));
            }
            float a[8];
            _mm256_storeu_ps(a, acc);
            for (size_t k = 0; k < nt; k++)
                out[(r - r0) * out_row + (t + k) * out_tok] = a[k];
        }
    }
}
