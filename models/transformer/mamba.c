/* mamba.c: the Mamba-1 forward pass (selective state spaces), computing as llama.cpp's
 * build_mamba and ggml's ssm_conv / ssm_scan do. Per layer: RMSNorm; in_proj -> x, z; a
 * causal depthwise conv1d over the last d_conv inputs (+ bias, SiLU); x_proj -> dt, B, C;
 * dt_proj + bias, softplus; the selective scan h = exp(dt*A) h + dt*B*x, y = C.h + D*x;
 * y *= SiLU(z); out_proj; residual. A sequence keeps a fixed-size state per layer (the last
 * d_conv - 1 conv inputs and the d_inner x d_state SSM state) instead of a KV cache, so
 * its memory does not grow with its length. A prompt runs in batches of MAMBA_BATCH tokens:
 * every projection is one matrix-matrix product over the batch, the conv and the scan run
 * token by token inside each channel, channels split over the kernel thread team (with the
 * time step's bias and softplus, the SiLUs and the gating, by channel too); the residual and
 * the next layer's norm run as one pass split by tokens. On the AVX2 tier the scan updates 8
 * states per instruction (models/kernels/act_simd.h's exp), and softplus and SiLU come from
 * the activation table (models/kernels/act.h) at the kernel tier. Several sequences share a
 * step (forward_multi: continuous batching, sched.c): their rows form one batch for the
 * projections while the conv and the scan walk each sequence's rows on its own state. */
#include "../kernels/act_simd.h"
#include "transformer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h> /* baseline on x86-64: no kernel tier needed */
#endif

#define MAMBA_BATCH 64       /* prompt tokens per batch */
#define CLS_SLICES 8         /* a preemptible step's classifier: this many slices, the stop
                              * flag looked at before each (the classifier is most of a
                              * decode step: 50k x 384 against 8 layers of 1M weights) */
#define CLS_SLICE_ALIGN 24   /* slice rows: whole F32 GEMM blocks and 8-row interleave groups */
#define CHANNELS_PER_CHUNK 16 /* conv/scan channels per claimed chunk */

struct mamba_state {
    size_t L, dim, di, ds, dc, dtr, nxdb;
    float *conv;  /* (L, d_inner, d_conv - 1): the last inputs of each channel, oldest first */
    float *ssm;   /* (L, d_inner, d_state) */
    /* scratch for one batch, allocated on the sequence's first own forward (a sequence that
     * only ever runs in the scheduler's steps uses the step's scratch and never has any) */
    float *x, *xb;   /* (B, dim) residual stream, normed */
    float *xz;       /* (B, 2*d_inner) */
    float *xc;       /* (B, d_inner) conv output */
    float *xdb;      /* (B, dt_rank + 2*d_state) */
    float *dtin;     /* (B, dt_rank) */
    float *dt;       /* (B, d_inner) */
    float *y;        /* (B, d_inner) */
    void *xa;        /* (B, max(dim, d_inner)) * 4 bytes */
    float *out;      /* forward_multi's output rows (out_cap x vocab), grown as needed */
    size_t out_cap;
    float *snap;     /* forward_multi (preemptible step): each sequence's conv + SSM state
                      * before the step (snap_cap sequences), restored when it is cancelled */
    size_t snap_cap;
    size_t bytes;
};

static void state_free(void *st);

static void *state_new(const transformer *t)
{
    const struct checkpoint *ck = &t->ck;
    struct mamba_state *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->L = (size_t)ck->shape.n_layers;
    m->dim = (size_t)ck->shape.dim;
    m->di = (size_t)ck->ssm.d_inner;
    m->ds = (size_t)ck->ssm.d_state;
    m->dc = (size_t)ck->ssm.d_conv;
    m->dtr = (size_t)ck->ssm.dt_rank;
    m->nxdb = m->dtr + 2 * m->ds;
    m->conv = calloc(m->L * m->di * (m->dc - 1) + 1, sizeof(float));
    m->ssm = calloc(m->L * m->di * m->ds, sizeof(float));
    m->bytes = sizeof *m + (m->L * m->di * (m->dc - 1) + 1 + m->L * m->di * m->ds) * sizeof(float);
    if (!m->conv || !m->ssm) {
        state_free(m);
        return NULL;
    }
    return m;
}

/* The batch scratch of m (once); -1 when out of memory. */
static int scratch_ready(struct mamba_state *m)
{
    if (m->xa)
        return 0;
    const size_t B = MAMBA_BATCH, wide = m->dim > m->di ? m->dim : m->di;
    struct {
        float **p;
        size_t n;
    } bufs[] = {{&m->x, B * m->dim},        {&m->xb, B * m->dim},
                {&m->xz, B * 2 * m->di},    {&m->xc, B * m->di},
                {&m->xdb, B * m->nxdb},     {&m->dtin, B * m->dtr},
                {&m->dt, B * m->di},        {&m->y, B * m->di}};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!*bufs[i].p) {
            *bufs[i].p = calloc(bufs[i].n, sizeof(float));
            if (!*bufs[i].p)
                return -1;
            m->bytes += bufs[i].n * sizeof(float);
        }
    m->xa = malloc(B * wide * sizeof(float));
    if (!m->xa)
        return -1;
    m->bytes += B * wide * sizeof(float);
    return 0;
}

static void state_free(void *st)
{
    struct mamba_state *m = st;
    if (!m)
        return;
    float *bufs[] = {m->conv, m->ssm, m->x, m->xb, m->xz, m->xc, m->xdb, m->dtin, m->dt, m->y,
                     m->out, m->snap};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(m->xa);
    free(m);
}

static size_t state_bytes(const void *st)
{
    return ((const struct mamba_state *)st)->bytes;
}

/* ---- the conv and the scan, by channel ---- */

#define GATE_BLOCK 64 /* channels per SiLU(z) gating call (stack scratch) */
#define CONV_BLOCK 16 /* channels per conv block (stack scratch, token-major) */
#define CONV_KEEP_MAX 64 /* d_conv - 1 at most (the loader checks) */

/* The rows of one sequence in a batch: rows [r0, r0 + n) of the scratch, in order, advance
 * st's conv and SSM state (several sequences share a step: continuous batching). */
struct seg {
    struct mamba_state *st;
    size_t r0, n;
};

struct chan_job {
    const struct mamba_layer *w;
    struct mamba_state *m; /* the scratch (x, xz, xc, xdb, dt, y) of all n rows */
    const struct seg *seg; /* whose rows they are: each sequence's state */
    size_t n_seg;
    size_t layer, n;
    kernels_act_fn silu, softplus; /* the activation table's, at the kernel tier */
    int avx2;                      /* the kernel tier has AVX2: scan_chan_avx2 */
};

/* ggml_ssm_conv over concat(state, x): token i sees window positions i .. i + d_conv - 1
 * (a float sum in order, as ggml computes it), then + bias and SiLU. The state keeps the
 * last d_conv - 1 inputs. */
static void conv_range(void *ctx, size_t b, size_t e)
{
    const struct chan_job *j = ctx;
    struct mamba_state *m = j->m;
    const size_t dc = m->dc, keep = dc - 1, di = m->di;
    /* CONV_BLOCK channels at a time, laid out token-major so the loops over channels
     * vectorize; each channel's sum still runs k = 0 .. d_conv-1 in order */
    float win[(MAMBA_BATCH + CONV_KEEP_MAX) * CONV_BLOCK], wt[(CONV_KEEP_MAX + 1) * CONV_BLOCK];
    float acc[CONV_BLOCK];
    for (size_t c0 = b; c0 < e; c0 += CONV_BLOCK) {
        const size_t nc = e - c0 < CONV_BLOCK ? e - c0 : CONV_BLOCK;
        if (nc < CONV_BLOCK) /* the last block: unused lanes computed on zeros */
            memset(wt, 0, dc * CONV_BLOCK * sizeof *wt);
        for (size_t c = 0; c < nc; c++)
            for (size_t k = 0; k < dc; k++)
                wt[k * CONV_BLOCK + c] = j->w->conv_w[(c0 + c) * dc + k];
        for (size_t g = 0; g < j->n_seg; g++) {
            const size_t n = j->seg[g].n, r0 = j->seg[g].r0;
            float *st = j->seg[g].st->conv + (j->layer * di + c0) * keep; /* (channel, keep) */
            if (nc < CONV_BLOCK)
                memset(win, 0, (keep + n) * CONV_BLOCK * sizeof *win);
            for (size_t c = 0; c < nc; c++)
                for (size_t k = 0; k < keep; k++)
                    win[k * CONV_BLOCK + c] = st[c * keep + k];
            for (size_t i = 0; i < n; i++)
                memcpy(win + (keep + i) * CONV_BLOCK, m->xz + (r0 + i) * 2 * di + c0,
                       nc * sizeof *win);
            for (size_t i = 0; i < n; i++) {
                for (size_t c = 0; c < CONV_BLOCK; c++)
                    acc[c] = 0.0f;
                for (size_t k = 0; k < dc; k++) {
                    const float *wr = win + (i + k) * CONV_BLOCK, *kr = wt + k * CONV_BLOCK;
                    for (size_t c = 0; c < CONV_BLOCK; c++) /* fixed count: vectorized */
                        acc[c] += wr[c] * kr[c];
                }
                float *out = m->xc + (r0 + i) * di + c0;
                for (size_t c = 0; c < nc; c++)
                    out[c] = acc[c] + j->w->conv_b[c0 + c];
            }
            for (size_t c = 0; c < nc; c++)
                for (size_t k = 0; k < keep; k++)
                    st[c * keep + k] = win[(n + k) * CONV_BLOCK + c];
        }
    }
    for (size_t i = 0; i < j->n; i++) /* SiLU, by token over these channels */
        j->silu(m->xc + i * di + b, m->xc + i * di + b, NULL, e - b);
}

#ifdef __SSE2__
/* exp of 4 floats: 2^n times a degree-6 polynomial on |r| <= ln2/2 (within 2 ulp of expf
 * over the clamped range [-87.3, 88.7]; below it, 2^-126 scale: a decay of ~1e-38). */
static __m128 exp4(__m128 x)
{
    x = _mm_min_ps(_mm_max_ps(x, _mm_set1_ps(-87.3f)), _mm_set1_ps(88.7f));
    const __m128i n = _mm_cvtps_epi32(_mm_mul_ps(x, _mm_set1_ps(1.44269504f))); /* nearest */
    const __m128 fn = _mm_cvtepi32_ps(n);
    __m128 r = _mm_sub_ps(x, _mm_mul_ps(fn, _mm_set1_ps(0.693145752f)));
    r = _mm_sub_ps(r, _mm_mul_ps(fn, _mm_set1_ps(1.42860677e-6f)));
    __m128 p = _mm_set1_ps(1.0f / 720);
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 120));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 24));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f / 6));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(0.5f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f));
    p = _mm_add_ps(_mm_mul_ps(p, r), _mm_set1_ps(1.0f));
    const __m128 scale = _mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(n, _mm_set1_epi32(127)), 23));
    return _mm_mul_ps(p, scale);
}

/* One channel's state update over d_state (a multiple of 4): h = exp(sp*A) h + B x_dt;
 * returns C.h (four partial sums, then added: not ggml's order, within float rounding). */
static float scan_step4(float *h, const float *A, const float *Bv, const float *Cv, size_t ds,
                        float sp, float x_dt)
{
    const __m128 vsp = _mm_set1_ps(sp), vx = _mm_set1_ps(x_dt);
    __m128 acc = _mm_setzero_ps();
    for (size_t k = 0; k < ds; k += 4) {
        const __m128 dA = exp4(_mm_mul_ps(vsp, _mm_loadu_ps(A + k)));
        const __m128 s = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(h + k), dA),
                                    _mm_mul_ps(_mm_loadu_ps(Bv + k), vx));
        acc = _mm_add_ps(acc, _mm_mul_ps(s, _mm_loadu_ps(Cv + k)));
        _mm_storeu_ps(h + k, s);
    }
    float l[4];
    _mm_storeu_ps(l, acc);
    return (l[0] + l[1]) + (l[2] + l[3]);
}
#endif

#ifdef KERNELS_SIMD_AVX2
/* One channel over the batch on the AVX2 tier: 8 states per step, exp(dt*A) by act_simd.h's
 * exp (~1 ulp), h = h exp(dt*A) + B x dt with one FMA, y = C.h (8 partial sums) + D x. */
KERNELS_AVX2_FN static void scan_chan_avx2(const struct chan_job *j, const struct seg *g, size_t c)
{
    struct mamba_state *m = j->m;
    const size_t di = m->di, ds = m->ds;
    float *h = g->st->ssm + (j->layer * di + c) * ds;
    const float *A = j->w->A + c * ds;
    const float Dc = j->w->D[c];
    for (size_t i = g->r0; i < g->r0 + g->n; i++) {
        const float *Bv = m->xdb + i * m->nxdb + m->dtr, *Cv = Bv + ds;
        const float sp = m->dt[i * di + c], xv = m->xc[i * di + c];
        const __m256 vsp = _mm256_set1_ps(sp), vx = _mm256_set1_ps(xv * sp);
        __m256 acc = _mm256_setzero_ps();
        for (size_t k = 0; k < ds; k += 8) {
            const __m256 dA = kernels_exp8(_mm256_mul_ps(vsp, _mm256_loadu_ps(A + k)));
            const __m256 s = _mm256_fmadd_ps(_mm256_loadu_ps(h + k), dA,
                                             _mm256_mul_ps(_mm256_loadu_ps(Bv + k), vx));
            acc = _mm256_fmadd_ps(s, _mm256_loadu_ps(Cv + k), acc);
            _mm256_storeu_ps(h + k, s);
        }
        __m128 q = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        q = _mm_add_ps(q, _mm_movehl_ps(q, q));
        q = _mm_add_ss(q, _mm_movehdup_ps(q));
        m->y[i * di + c] = _mm_cvtss_f32(q) + xv * Dc;
    }
}
#endif

/* ggml_ssm_scan over channels [b, e): dt + bias and softplus (by token over these channels),
 * then per channel token by token; y += D x; then y *= SiLU(z) by token. */
static void scan_range(void *ctx, size_t b, size_t e)
{
    const struct chan_job *j = ctx;
    struct mamba_state *m = j->m;
    const struct mamba_layer *w = j->w;
    const size_t di = m->di, ds = m->ds, n = j->n;
    for (size_t i = 0; i < n; i++) {
        float *dt = m->dt + i * di + b;
        for (size_t c = 0; c < e - b; c++)
            dt[c] += w->dt_b[b + c];
        j->softplus(dt, dt, NULL, e - b);
    }
    for (size_t c = b; c < e; c++) {
        const float *A = w->A + c * ds;
        for (const struct seg *g = j->seg; g < j->seg + j->n_seg; g++) {
#ifdef KERNELS_SIMD_AVX2
            if (j->avx2 && ds % 8 == 0) {
                scan_chan_avx2(j, g, c);
                continue;
            }
#endif
            float *h = g->st->ssm + (j->layer * di + c) * ds;
            for (size_t i = g->r0; i < g->r0 + g->n; i++) {
                const float *Bv = m->xdb + i * m->nxdb + m->dtr, *Cv = Bv + ds;
                const float sp = m->dt[i * di + c];
                const float xv = m->xc[i * di + c], x_dt = xv * sp;
                float sum = 0.0f;
#ifdef __SSE2__
                if (ds % 4 == 0) {
                    sum = scan_step4(h, A, Bv, Cv, ds, sp, x_dt);
                } else
#endif
                {
                    for (size_t k = 0; k < ds; k++) {
                        const float s = h[k] * expf(sp * A[k]) + Bv[k] * x_dt;
                        sum += s * Cv[k];
                        h[k] = s;
                    }
                }
                m->y[i * di + c] = sum + xv * w->D[c];
            }
        }
    }
    float g[GATE_BLOCK];
    for (size_t i = 0; i < n; i++)
        for (size_t c = b; c < e; c += GATE_BLOCK) {
            const size_t len = e - c < GATE_BLOCK ? e - c : GATE_BLOCK;
            float *y = m->y + i * di + c;
            j->silu(g, m->xz + i * 2 * di + di + c, y, len); /* SiLU(z) * y */
            memcpy(y, g, len * sizeof *g);
        }
}

/* ---- the residual and the next norm, by token ---- */

struct tok_job {
    const transformer *t;
    struct mamba_state *m;
    const float *norm; /* the next layer's norm weight, or NULL (last layer) */
    int add;           /* x += xb (out_proj) first */
};

static void tok_range(void *ctx, size_t b, size_t e)
{
    const struct tok_job *j = ctx;
    const size_t dim = j->m->dim;
    for (size_t i = b; i < e; i++) {
        float *x = j->m->x + i * dim, *xb = j->m->xb + i * dim;
        if (j->add)
            for (size_t k = 0; k < dim; k++)
                x[k] += xb[k];
        if (j->norm)
            transformer_rmsnorm(j->t, xb, x, j->norm, dim);
    }
}

#define TOKENS_PER_CHUNK 4

/* ggml_rms_norm without a weight (FalconMamba's dt, B, C). */
static void rms_plain(float *v, size_t n, float eps)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)(v[i] * v[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (size_t i = 0; i < n; i++)
        v[i] *= scale;
}

/* n rows through every layer: the projections over all rows at once, the conv and the scan
 * through each sequence's rows in order on its own state (seg); then the rows out_rows[0..
 * n_out) through the final norm and the classifier into out (n_out x vocab). */
static int forward_batch(const transformer *t, struct mamba_state *m, const struct seg *seg,
                         size_t n_seg, const int *ids, size_t n, const size_t *out_rows,
                         size_t n_out, float *out, const volatile int *cancelled,
                         struct status_err *err)
{
    const struct checkpoint *ck = &t->ck;
    const size_t dim = m->dim, di = m->di, ds = m->ds, dtr = m->dtr;
    for (size_t i = 0; i < n; i++)
        kernels_row_to_float(&ck->tok_emb.m, (size_t)ids[i], m->x + i * dim);
    struct tok_job tj = {.t = t, .m = m, .norm = ck->mamba[0].norm};
    kernels_parallel_for(n, TOKENS_PER_CHUNK, tok_range, &tj); /* xb = the first norm */
    const enum kernels_tier tier = t->k->tier;
    for (size_t l = 0; l < m->L; l++) {
        if (cancelled && *cancelled)
            return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
        const struct mamba_layer *w = &ck->mamba[l];
        transformer_linear(t, m->xa, m->xb, n, dim, &w->in, m->xz, 2 * di);
        struct chan_job j = {.w = w, .m = m, .seg = seg, .n_seg = n_seg, .layer = l, .n = n,
                             .silu = kernels_act_get(KERNELS_ACT_SILU, tier),
                             .softplus = kernels_act_get(KERNELS_ACT_SOFTPLUS, tier),
                             .avx2 = tier >= KERNELS_TIER_AVX2};
        kernels_parallel_for(di, CHANNELS_PER_CHUNK, conv_range, &j);
        transformer_linear(t, m->xa, m->xc, n, di, &w->x, m->xdb, m->nxdb);
        for (size_t i = 0; i < n; i++) {
            float *row = m->xdb + i * m->nxdb;
            if (ck->ssm.dt_b_c_rms) {
                rms_plain(row, dtr, ck->arch.rms_eps);
                rms_plain(row + dtr, ds, ck->arch.rms_eps);
                rms_plain(row + dtr + ds, ds, ck->arch.rms_eps);
            }
            memcpy(m->dtin + i * dtr, row, dtr * sizeof(float));
        }
        transformer_linear(t, m->xa, m->dtin, n, dtr, &w->dt, m->dt, di);
        kernels_parallel_for(di, CHANNELS_PER_CHUNK, scan_range, &j);
        transformer_linear(t, m->xa, m->y, n, di, &w->out, m->xb, dim);
        tj = (struct tok_job){.t = t, .m = m, .add = 1,
                              .norm = l + 1 < m->L ? ck->mamba[l + 1].norm : NULL};
        kernels_parallel_for(n, TOKENS_PER_CHUNK, tok_range, &tj);
    }
    if (n_out == 0) /* an earlier batch of a long prompt: only the end's logits count */
        return STATUS_OK;
    /* the output rows, normed, side by side in xb (free after the last layer) */
    for (size_t k = 0; k < n_out; k++)
        transformer_rmsnorm(t, m->xb + k * dim, m->x + out_rows[k] * dim, ck->rms_final, dim);
    const size_t V = (size_t)ck->shape.vocab;
    size_t slice = V;
    if (cancelled && !ck->wcls.m.scales) { /* (a grouped llama2.c Q8_0 view: one slice) */
        slice = (V / CLS_SLICES + CLS_SLICE_ALIGN - 1) / CLS_SLICE_ALIGN * CLS_SLICE_ALIGN;
        slice = slice ? slice : V;
    }
    for (size_t v0 = 0; v0 < V; v0 += slice) {
        if (cancelled && *cancelled)
            return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
        struct tensor w = ck->wcls;
        w.rows = V - v0 < slice ? V - v0 : slice;
        w.m.data = (const char *)w.m.data + v0 * w.m.row_bytes;
        transformer_linear(t, m->xa, m->xb, n_out, dim, &w, out + v0, V);
    }
    return STATUS_OK;
}

static int forward(const transformer *t, void *st, const int *ids, size_t n, float *logits,
                   float *all_logits, const volatile int *cancelled, struct status_err *err)
{
    struct mamba_state *m = st;
    const size_t V = (size_t)t->ck.shape.vocab;
    if (scratch_ready(m) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a Mamba batch");
    size_t rows[MAMBA_BATCH];
    for (size_t i = 0; i < MAMBA_BATCH; i++)
        rows[i] = i;
    for (size_t done = 0; done < n;) {
        const size_t b = n - done < MAMBA_BATCH ? n - done : MAMBA_BATCH;
        const struct seg g = {m, 0, b};
        const size_t *out_rows = all_logits ? rows : rows + b - 1;
        const size_t n_out = all_logits ? b : done + b == n;
        int rc = forward_batch(t, m, &g, 1, ids + done, b, out_rows, n_out,
                               all_logits ? all_logits + done * V : logits, cancelled, err);
        if (rc != STATUS_OK)
            return rc;
        done += b;
    }
    if (all_logits)
        memcpy(logits, all_logits + (n - 1) * V, V * sizeof(float));
    return STATUS_OK;
}

/* ---- a preemptible step's snapshot of its sequences' states ---- */

struct snap_job {
    struct mamba_state *m;
    void *const *st;
    int restore; /* 0: states -> snapshot, 1: back */
};

static void snap_range(void *ctx, size_t b, size_t e)
{
    const struct snap_job *j = ctx;
    const size_t nc = j->m->L * j->m->di * (j->m->dc - 1), ns = j->m->L * j->m->di * j->m->ds;
    for (size_t k = b; k < e; k++) {
        struct mamba_state *s = j->st[k];
        float *c = j->m->snap + k * (nc + ns), *h = c + nc;
        if (j->restore) {
            memcpy(s->conv, c, nc * sizeof *c);
            memcpy(s->ssm, h, ns * sizeof *h);
        } else {
            memcpy(c, s->conv, nc * sizeof *c);
            memcpy(h, s->ssm, ns * sizeof *h);
        }
    }
}

/* Copy the n_seq states into m->snap (restore 0) or back (1); -1 when out of memory. */
static int snapshot(struct mamba_state *m, void *const *st, size_t n_seq, int restore)
{
    const size_t per = m->L * m->di * (m->dc - 1 + m->ds);
    if (!restore && n_seq > m->snap_cap) {
        float *p = realloc(m->snap, n_seq * per * sizeof *p);
        if (!p)
            return -1;
        m->bytes += (n_seq - m->snap_cap) * per * sizeof *p;
        m->snap = p;
        m->snap_cap = n_seq;
    }
    struct snap_job j = {m, st, restore};
    kernels_parallel_for(n_seq, 1, snap_range, &j);
    return 0;
}

/* Several sequences in one step: batches of up to MAMBA_BATCH rows taken from the sequences
 * in order (a sequence's rows may span two batches; its state carries over), each batch one
 * pass of forward_batch. A cancelled step (the stop flag, looked at between layers and
 * classifier slices) puts every state back as it was before the step: the scheduler preempts
 * a decode step for a new prompt's first token and runs the step again after it. */
static int forward_multi(const transformer *t, void *scratch, void *const *st,
                         const int *const *ids, const size_t *n, size_t n_seq,
                         float *const *logits, float *const *all_logits,
                         const volatile int *cancelled, struct status_err *err)
{
    struct mamba_state *m = scratch;
    const size_t V = (size_t)t->ck.shape.vocab;
    if (scratch_ready(m) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a Mamba batch");
    if (cancelled && *cancelled)
        return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
    /* one sequence's step is short (one row through the classifier): the snapshot and the
     * classifier's slices cost it more (single stream 800 -> 480 tok/s measured on the Q8_0
     * bench file) than a new prompt would wait for it */
    if (n_seq < 2)
        cancelled = NULL;
    if (cancelled && snapshot(m, st, n_seq, 0) != 0)
        cancelled = NULL; /* no room for a snapshot: this step runs to its end */
    struct seg seg[MAMBA_BATCH];
    int tok[MAMBA_BATCH];
    size_t rows[MAMBA_BATCH];
    float *dst[MAMBA_BATCH]; /* where each output row goes */
    size_t k = 0, i = 0;     /* the next row: sequence k's i-th */
    for (;;) {
        size_t r = 0, g = 0, o = 0;
        while (k < n_seq && r < MAMBA_BATCH) {
            if (i == n[k]) {
                k++;
                i = 0;
                continue;
            }
            const size_t take = n[k] - i < MAMBA_BATCH - r ? n[k] - i : MAMBA_BATCH - r;
            seg[g++] = (struct seg){st[k], r, take};
            for (size_t q = 0; q < take; q++) {
                tok[r + q] = ids[k][i + q];
                if (all_logits[k]) {
                    rows[o] = r + q;
                    dst[o++] = all_logits[k] + (i + q) * V;
                }
            }
            if (i + take == n[k] && !all_logits[k]) {
                rows[o] = r + take - 1;
                dst[o++] = logits[k];
            }
            r += take;
            i += take;
        }
        if (r == 0)
            break;
        if (o > m->out_cap) {
            float *p = realloc(m->out, o * V * sizeof *p);
            if (!p)
                return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a Mamba batch");
            m->bytes += (o - m->out_cap) * V * sizeof *p;
            m->out = p;
            m->out_cap = o;
        }
        int rc = forward_batch(t, m, seg, g, tok, r, rows, o, m->out, cancelled, err);
        if (rc == STATUS_CANCELLED && cancelled)
            snapshot(m, st, n_seq, 1);
        if (rc != STATUS_OK)
            return rc;
        for (size_t q = 0; q < o; q++)
            memcpy(dst[q], m->out + q * V, V * sizeof(float));
    }
    for (k = 0; k < n_seq; k++)
        if (all_logits[k] && n[k] > 0)
            memcpy(logits[k], all_logits[k] + (n[k] - 1) * V, V * sizeof(float));
    return STATUS_OK;
}

const struct recurrent_ops mamba_ops = {state_new, state_free, state_bytes, forward, forward_multi};
