/* kernels.h: the one kernel table. Every weight type is a row (block size, bytes per block,
 * to_float, the activation type it multiplies with, and dot/matvec/GEMM per tier); the tiers
 * are ref (scalar, the definition of correct), avx2 and avx512, chosen once from CPUID by
 * kernels_select(). Transformers and word vectors call the same entries. Plus the vector ops
 * (rmsnorm, softmax, axpy) and a small thread team (team.c). Knows nothing of models or HTTP.
 *
 * Adding a weight type (e.g. a GGUF block format) is one row:
 *   1. a value in enum kernels_type (before KERNELS_TYPE_COUNT);
 *   2. its scalar to_float / dot / matvec / gemm in ref.c (loops over blocks; the definition);
 *   3. its row in kernels_types[] (types.c): name, block_size, block_bytes, vec_dot_type,
 *      to_float (and from_float if it is an activation type), .tier[KERNELS_TIER_REF];
 *   4. optionally SIMD entries in avx2.c / avx512.c, named in .tier[KERNELS_TIER_AVX2/AVX512];
 *      a NULL entry falls back to the next lower tier, so a row can start with ref only;
 *   5. a case in tests/unit/models/kernels/test_kernels.c (every tier against ref, odd sizes).
 * Adding a tier: a value in enum kernels_tier, a CPUID check in select.c, a column in types.c. */
#ifndef LMSERVE_KERNELS_H
#define LMSERVE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Tolerance of the SIMD-vs-reference test: different summation orders only. */
#define KERNELS_TOL_DOT_F32 1e-5f /* relative to sum |a_i b_i| */
/* int8 word-vector rows and queries use [-127, 127] (never -128: |x| must fit an unsigned
 * byte and a pair of products an int16); their dot is exact in int32 for n < 2^31/127^2. */
#define KERNELS_I8_MAX 127

enum kernels_tier { KERNELS_TIER_REF, KERNELS_TIER_AVX2, KERNELS_TIER_AVX512, KERNELS_TIER_COUNT };

enum kernels_type {
    KERNELS_F32,  /* float32 */
    KERNELS_F16,  /* IEEE half (bit patterns); activation F32 */
    KERNELS_I8,   /* int8 in [-127, 127], scale kept by the caller; activation I8; the dot
                     is the exact int32 sum, returned as float */
    KERNELS_Q8_G, /* llama2.c v2 "Q8_0": int8 values, one float scale per 'gs' values of the
                     flattened matrix in a separate array (groups may straddle rows);
                     activation F32; no per-row dot (use matvec) and no block to_float */
    /* ggml's block formats (GGUF weights; layouts in quant_internal.h). The activation
     * types are ggml's CPU ones: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the
     * K-quants; BF16 takes F32 activations (round them to bf16 first to match ggml). */
    KERNELS_BF16,
    KERNELS_Q4_0,
    KERNELS_Q4_1,
    KERNELS_Q5_0,
    KERNELS_Q5_1,
    KERNELS_Q8_0,
    KERNELS_Q8_1, /* activation type (also usable as a weight) */
    KERNELS_Q4_K,
    KERNELS_Q5_K,
    KERNELS_Q6_K,
    KERNELS_Q8_K, /* activation type (also usable as a weight) */
    KERNELS_TYPE_COUNT
};

/* A borrowed view of a weight matrix. Row-major (interleave 0): row r starts at
 * data + r * row_bytes. Interleaved (KERNELS_INTERLEAVE, kernels_interleave()): the rows in
 * groups of 8, group g at data + 8 g row_bytes, block i of its 8 rows stored together (the 8
 * scales, then the 8 rows' quants in 4-byte turns) so that a GEMM tile reads one contiguous
 * stream with one row per 32-bit lane. */
#define KERNELS_INTERLEAVE 8
struct kernels_mat {
    enum kernels_type type;
    const void *data;
    size_t row_bytes;
    size_t cols;         /* values per row */
    const float *scales; /* KERNELS_Q8_G: (rows * cols / gs), else NULL */
    size_t gs;           /* KERNELS_Q8_G: group size (> 0) */
    unsigned interleave; /* 0, or KERNELS_INTERLEAVE (Q4_0 / Q5_0 / Q8_0 / Q4_K) */
};

/* a . x for one row of n values; a in the weight type, x in its activation type. */
typedef float (*kernels_dot_fn)(const void *a, const void *x, size_t n);
/* out[i - r0] = row i . x for i in [r0, r1); x holds w->cols values of the activation type. */
typedef void (*kernels_matvec_fn)(float *out, const struct kernels_mat *w, size_t r0, size_t r1,
                                  const void *x);
/* Rows [r0, r1) times n_tok activations (token t at x + t * x_stride bytes):
 * out[(i - r0) * out_row + t * out_tok] = row i . x_t. Every output takes the same code path
 * (equal rows give bit-equal results within a call). */
typedef void (*kernels_gemm_fn)(float *out, size_t out_row, size_t out_tok,
                                const struct kernels_mat *w, size_t r0, size_t r1, const void *x,
                                size_t x_stride, size_t n_tok);

struct kernels_entries {
    kernels_dot_fn dot;
    kernels_matvec_fn matvec;
    kernels_gemm_fn gemm;
    /* activation types: n floats into this type (the row's from_float, bit for bit); in a
     * resolved table every type with a from_float has one */
    void (*from_float)(const float *src, void *dst, size_t n);
};

/* One row of the type table (types.c). */
struct kernels_type_traits {
    const char *name;
    size_t block_size;              /* values per block */
    size_t block_bytes;             /* bytes per block */
    enum kernels_type vec_dot_type; /* the activation type x of dot/matvec/gemm */
    void (*to_float)(const void *src, float *dst, size_t n);   /* n: a multiple of block_size */
    void (*from_float)(const float *src, void *dst, size_t n); /* NULL: not made from floats */
    struct kernels_entries tier[KERNELS_TIER_COUNT];           /* NULL: the next lower tier */
};
extern const struct kernels_type_traits kernels_types[KERNELS_TYPE_COUNT];

/* The vector ops of a tier: one list for struct kernels_vec_ops (a tier's own table) and the
 * resolved struct kernels_ops (where they are named directly: k->rmsnorm). */
#define KERNELS_VEC_OPS                                                                       \
    /* out = w * x / sqrt(mean(x^2) + eps); out may alias x. */                               \
    void (*rmsnorm)(float *out, const float *x, const float *w, size_t n, float eps);         \
    /* In place, numerically stable (max subtracted). */                                      \
    void (*softmax)(float *x, size_t n);                                                      \
    /* y += a * x */                                                                          \
    void (*axpy)(float *y, float a, const float *x, size_t n);                                \
    /* v[i] = half_to_float(float_to_half(v[i])) (round to nearest even; ggml's F16 KV) */    \
    void (*round_f16)(float *v, size_t n);                                                    \
    /* dst[i] = float_to_half(src[i]) (round to nearest even; a KV cache of kv_type f16) */   \
    void (*to_f16)(uint16_t *dst, const float *src, size_t n);                                \
    /* Attention of one query over n keys/values (rows k + i * k_stride, hs floats):          \
     * sc[i] = dot(q, k_i) * scale, bit for bit the tier's dot times scale ... */             \
    void (*att_scores)(float *sc, const float *q, const float *k, size_t k_stride, size_t n,  \
                       size_t hs, float scale);                                               \
    /* ... and out = sum_i w[i] * v_i, bit for bit out = 0 then axpy(out, w[i], v_i) in key   \
     * order (the partial sums stay in registers instead of going through memory per key). */ \
    void (*att_sum)(float *out, const float *w, const float *v, size_t v_stride, size_t n,    \
                    size_t hs);                                                               \
    /* The same with keys / values stored as IEEE half (a KV cache of kv_type f16): bit for   \
     * bit what att_scores / att_sum give on the keys / values converted to float. */         \
    void (*att_scores_f16)(float *sc, const float *q, const uint16_t *k, size_t k_stride,     \
                           size_t n, size_t hs, float scale);                                 \
    void (*att_sum_f16)(float *out, const float *w, const uint16_t *v, size_t v_stride,       \
                        size_t n, size_t hs);                                                 \
    /* A block of nq queries (a prompt's rows, query j at q + j * q_stride) over one KV head's \
     * fp16 keys / values, each bit for bit the one-query op: scores of every query over the  \
     * same n keys into sc + j * sc_ld; and out + j * out_stride = the att_sum_f16 of weights \
     * w + j * w_ld over query j's own first n[j] values (causal: later queries see more). The \
     * keys / values are read once per block instead of once per query. */                   \
    void (*att_scores_f16_multi)(float *sc, size_t sc_ld, const float *q, size_t q_stride,   \
                                 size_t nq, const uint16_t *k, size_t k_stride, size_t n,    \
                                 size_t hs, float scale);                                    \
    void (*att_sum_f16_multi)(float *out, size_t out_stride, const float *w, size_t w_ld,    \
                              size_t nq, const uint16_t *v, size_t v_stride, const size_t *n, \
                              size_t hs);                                                     \
    /* ... and with values stored as ggml Q8_0 blocks (a KV cache of kv_type q8_0; its keys   \
     * are scored with the Q8_0 row's matvec): out = sum_i (w[i] * d_ib) * q_i, hs a multiple \
     * of 32, row i at v + i * v_row_bytes; the reference multiplies and adds, SIMD fuses.   */ \
    void (*att_sum_q8_0)(float *out, const float *w, const void *v, size_t v_row_bytes,       \
                         size_t n, size_t hs);                                                \
    /* ... and its keys: sc[i] = dot(k_i, q8) * scale, q8 the query as Q8_0 blocks, the dot  \
     * the Q8_0 row's (per block the exact integer sum times d_k * d_q; SIMD: 8 keys at once) */ \
    void (*att_scores_q8_0)(float *sc, const void *q8, const void *k, size_t k_row_bytes,     \
                            size_t n, size_t hs, float scale);                                \
    /* LayerNorm as ggml computes it (act.h: kernels_layernorm is the definition; the AVX2    \
     * tier sums in double in another order, within 1e-6 relative); out may alias x. */       \
    void (*layernorm)(float *out, const float *x, const float *w, const float *b, size_t n,   \
                      float eps);                                                             \
    /* A softmax's exponentials y[i] = exp(x[i] - max) and their sum in double (act.h:        \
     * kernels_exp_sum; the AVX2 tier's exp within ~1 ulp); y may alias x. */                 \
    double (*exp_sum)(float *y, const float *x, float max, size_t n);

struct kernels_vec_ops {
    KERNELS_VEC_OPS
};

/* A resolved table: one tier, every entry filled (falling back to lower tiers). */
struct kernels_ops {
    const char *name; /* "ref", "avx2" or "avx512" */
    enum kernels_tier tier;
    struct kernels_entries type[KERNELS_TYPE_COUNT];
    kernels_dot_fn dot; /* float32 . float32: type[KERNELS_F32].dot */
    union { /* the vector ops by name (k->rmsnorm), or all at once (k->vec) */
        struct {
            KERNELS_VEC_OPS
        };
        struct kernels_vec_ops vec;
    };
};

/* The table of tier t, or NULL when this CPU cannot run it. Thread-safe. */
const struct kernels_ops *kernels_tier(enum kernels_tier t);
/* The chosen table: the highest tier the CPU has, or the one LMSERVE_KERNELS=ref|avx2|avx512
 * names (an unknown value or a tier the CPU lacks falls back to the best available, with a
 * warning). The first call decides and logs the choice to stderr. Thread-safe. */
const struct kernels_ops *kernels_select(void);

/* Row 'row' of w as floats (out: w->cols values); any type. */
void kernels_row_to_float(const struct kernels_mat *w, size_t row, float *out);

/* Interleaving by 8 rows (Q4_0, Q5_0, Q8_0 and Q4_K weights; the layout above): whether w
 * (row-major, 'rows' rows) can be interleaved; its row_bytes once interleaved (Q4_K keeps
 * its scales unpacked: 148 bytes per 144); and the interleaved copy (rows times that many
 * bytes) into dst; the caller then points a view at dst with that row_bytes and
 * .interleave = KERNELS_INTERLEAVE. Every
 * entry of every tier takes both layouts; an interleaved matrix computes in the ref tier's
 * order (exact block totals, then the ref dot's float operations block by block), so its
 * dot, matvec and GEMM equal the ref dot bit for bit in every tier. */
int kernels_can_interleave(const struct kernels_mat *w, size_t rows);
size_t kernels_interleaved_row_bytes(const struct kernels_mat *w);
void kernels_interleave(const struct kernels_mat *w, size_t rows, void *dst);

/* IEEE half <-> float, round to nearest even (the reference conversions). */
float kernels_half_to_float(uint16_t h);
uint16_t kernels_float_to_half(float f);

/* ---- thread team (team.c) ---- */
#define KERNELS_THREADS_MAX 64

/* Work on items [begin, end). Must be safe to run concurrently on disjoint ranges. */
typedef void (*kernels_range_fn)(void *ctx, size_t begin, size_t end);

/* Run fn over [0, n) in chunks of 'chunk' items taken from an atomic counter by the
 * caller and the team's helper threads, so a descheduled helper never holds the step.
 * When the team is busy with another caller (or has no helpers) the caller runs
 * everything itself: concurrent sequences never oversubscribe the cores. Returns when
 * every item is done. */
void kernels_parallel_for(size_t n, size_t chunk, kernels_range_fn fn, void *ctx);
/* Set the total number of threads (caller included) used by kernels_parallel_for:
 * 1..KERNELS_THREADS_MAX; 0 means the number of online CPUs (or LMSERVE_KERNEL_THREADS when
 * set). Must not race with kernels_parallel_for; call at start-up or between runs. */
void kernels_threads_set(int n);
int kernels_threads(void);
/* How many times the team stood down because helpers were late (a busy machine). */
unsigned long kernels_team_stood_down(void);

#endif
