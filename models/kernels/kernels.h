/* kernels.h: the numeric kernels (matvec, matmul, rmsnorm, softmax, dot, Q8_0) behind one
 * table of function pointers: a scalar reference (ref.c) and an AVX2/FMA twin (avx2.c),
 * chosen once by kernels_select(), plus a small thread team that splits matrix rows
 * dynamically (team.c). Knows nothing of models or HTTP. */
#ifndef LMSERVE_KERNELS_H
#define LMSERVE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Tolerances of the SIMD-vs-reference test: different summation orders only. */
#define KERNELS_TOL_DOT_F32 1e-5f /* relative to sum |a_i b_i| */

/* Matrices are row-major [rows][cols]: out[i] = sum_j W[i*cols + j] * x[j].
 * A Q8_0 matrix is int8 values q[rows*cols] with one float scale per 'gs' consecutive
 * values of the flattened matrix (llama2.c's export: groups may straddle rows when
 * cols % gs != 0); value = q * s[index / gs]. */
struct kernels_q8 {
    const int8_t *q; /* (rows * cols) */
    const float *s;  /* (rows * cols / gs) */
    size_t gs;       /* group size (> 0) */
};

struct kernels_ops {
    const char *name; /* "ref" or "avx2" */
    float (*dot)(const float *a, const float *b, size_t n);
    /* out[i] = W[i,:] . x for i in [0, rows) */
    void (*matvec)(float *out, const float *w, const float *x, size_t rows, size_t cols);
    /* Rows [r0, r1) of a Q8_0 matrix times x: out[i - r0] for i in [r0, r1). */
    void (*matvec_q8)(float *out, const struct kernels_q8 *w, size_t r0, size_t r1,
                      const float *x, size_t cols);
    /* Batched: x is [n][cols], out is [n][ld_out] and row i of token t lands in
     * out[t*ld_out + i] for i in [0, rows). */
    void (*matmul)(float *out, size_t ld_out, const float *w, const float *x, size_t n,
                   size_t rows, size_t cols);
    void (*matmul_q8)(float *out, size_t ld_out, const struct kernels_q8 *w, size_t r0,
                      size_t r1, const float *x, size_t n, size_t cols);
    /* out = w * x / sqrt(mean(x^2) + eps); out may alias x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, size_t n, float eps);
    /* In place, numerically stable (max subtracted). */
    void (*softmax)(float *x, size_t n);
    /* y += a * x */
    void (*axpy)(float *y, float a, const float *x, size_t n);
};

extern const struct kernels_ops kernels_ref;  /* ref.c: always available */
extern const struct kernels_ops kernels_avx2; /* avx2.c: needs AVX2 + FMA at run time */

/* The chosen table: AVX2 when the CPU has AVX2+FMA and LMSERVE_KERNELS is not "ref".
 * The first call decides and logs the choice to stderr; later calls return the same
 * table. Thread-safe. */
const struct kernels_ops *kernels_select(void);
/* 1 if this CPU can run kernels_avx2. */
int kernels_have_avx2(void);

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
