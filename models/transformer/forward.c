/* forward.c: the Llama forward pass over a mapped checkpoint: RMSNorm, RoPE, grouped-query
 * attention over a per-sequence KV cache, SwiGLU, shared or separate classifier; for GGUF
 * files also qwen2's Q/K/V biases and NeoX RoPE, GPT-2's learned positions, LayerNorm,
 * biases and GELU MLP (the activation from models/kernels/act.h), and ggml's numerics
 * (struct arch). A prompt
 * runs as one batch (matrix-matrix); decoding is the same code with n = 1. Matrix rows are
 * split over the kernel thread team. Not the loader (checkpoint.c, gguf_weights.c), not
 * sampling. */
#include "transformer_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TRANSFORMER_BATCH_MAX 128 /* prompt tokens per batch: fewer, larger team dispatches (64 -> 128:
                                   * 2 threads +6-44% on 15M/110M pp512, 07:23) */
#define CHUNK_WEIGHT_BYTES (48 * 1024) /* decode: weights per claimed chunk (~5 us of DRAM) */
#define CHUNK_COUNT_MAX 128 /* decode: a large matrix (GPT-2's 77 MB classifier) in at most this
                              * many chunks: every claim moves the team's state line between
                              * cores, ~1,600 claims per step at 48 KB */
#define CHUNK_ROWS_ALIGN 8             /* the matvec kernels' row block (interleaved: 8) */
#define CHUNK_ROWS_BATCH 24            /* the GEMM kernel's row block (8 tiles of 3) */
#define CHUNK_ROWS_QUANT 48 /* quantized GEMM chunks: 3 avx512 tiles of 16 rows (24 left an
                             * 8-row group in half a tile: -25%), 6 avx2 groups of 8 */
/* F32 GEMM: chunks of several row blocks, so the kernel's prefetch of the next block (which
 * stops at the chunk's end) runs; a matrix in about CHUNK_F32_SPLIT chunks, within
 * [CHUNK_F32_MIN, CHUNK_F32_MAX] rows */
#define CHUNK_F32_SPLIT 16
#define CHUNK_F32_MIN (2 * CHUNK_ROWS_BATCH)
#define CHUNK_F32_MAX (20 * CHUNK_ROWS_BATCH)
#define ATT_ITEMS_PER_CHUNK 2          /* (token, head) pairs per attention chunk */
#define ATT_QBLOCK 8 /* fp16 KV (ggml): one sequence's rows per attention item, whose keys and
                      * values are read once for all of them (att_*_f16_multi) */

struct transformer_seq {
    const transformer *t;
    size_t cap, pos;
    size_t batch_cap;
    /* (n_layers, n_kv_heads, cap) rows of kv_rb bytes: one head's key (value) at one
     * position, as floats, IEEE half or Q8_0 blocks (kv_type); a head's keys of consecutive
     * positions are contiguous, so attention streams whole cache lines */
    unsigned char *kb, *vb;
    size_t kv_rb;
    size_t kv_bytes;    /* the blocks kb and vb point at (each; pooled, see buf_get) */
    void *batch_block;  /* x ... qblk below in one block of batch_bytes */
    size_t batch_bytes, scores_bytes;
    int kv_type; /* enum transformer_kv_type */
    float *x, *xb, *xb2, *q; /* (batch, dim) */
    float *hb, *hb2;         /* (batch, hidden_dim) */
    float *kn, *vn;          /* (batch, kv_dim): this step's keys and values before the cache */
    float *logits;           /* (vocab) */
    float *all_out; /* transformer_forward_multi: every fed row's logits go here too (or NULL) */
    size_t *qblk; /* (batch): the first row of each query block (fp16 KV attention) */
    float *rope; /* (batch, head_size): each row's cos then sin of its position's n_rot / 2
                  * angles, computed once per step for every layer */
    void *xa[3];  /* (batch, max(dim, hidden)) activations in a weight's activation type */
    size_t xa_bytes;
    float *scores; /* ggml-rounded attention's scores (rows x heads x positions), kept */
    size_t scores_cap; /* floats */
    float *hidden; /* set during transformer_forward_hidden: where the normed final hidden
                      states go instead of logits */
    void *rs; /* a recurrent architecture's fixed-size state (ck.recurrent); no KV cache then */
    const struct recurrent_ops *rops; /* its table (kept: a sequence may outlive its model) */
};

#define KV_Q8_BLOCK 32    /* values per Q8_0 block */
#define KV_Q8_BYTES 34    /* its bytes: an fp16 scale, 32 int8 */
#define KV_Q8_HS_MAX 512  /* kv_type q8_0: a query head quantized on the stack */

/* ---- a pool of freed sequence buffers ----
 * A fresh KV cache or batch scratch is memory the kernel has to fault in page by page: on this
 * kind of VM ~10 us a page, a 15M pp512's 3.5 MB cache alone ~30% of its time (and glibc
 * gives such blocks back to the system on free, so every request paid it again). Freed KV
 * caches and scratch blocks wait here, bounded, for the next sequence. */
#define POOL_SLOTS 16
#define POOL_BYTES_MAX ((size_t)128 << 20) /* memory held back at most */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t bytes;
} pool[POOL_SLOTS];
static size_t pool_n, pool_total;

/* A block of at least 'bytes' (*got: its size): the smallest pooled one that fits, else new. */
static void *buf_get(size_t bytes, size_t *got)
{
    pthread_mutex_lock(&pool_mu);
    size_t best = POOL_SLOTS;
    for (size_t i = 0; i < pool_n; i++)
        if (pool[i].bytes >= bytes && (best == POOL_SLOTS || pool[i].bytes < pool[best].bytes))
            best = i;
    if (best < POOL_SLOTS) {
        void *p = pool[best].p;
        *got = pool[best].bytes;
        pool_total -= pool[best].bytes;
        pool[best] = pool[--pool_n];
        pthread_mutex_unlock(&pool_mu);
        return p;
    }
    pthread_mutex_unlock(&pool_mu);
    *got = bytes;
    return malloc(bytes ? bytes : 1);
}

/* Back to the pool, or freed when it is full */
static void buf_put(void *p, size_t bytes)
{
    if (!p)
        return;
    pthread_mutex_lock(&pool_mu);
    if (pool_n < POOL_SLOTS && pool_total + bytes <= POOL_BYTES_MAX) {
        pool[pool_n].p = p;
        pool[pool_n++].bytes = bytes;
        pool_total += bytes;
        p = NULL;
    }
    pthread_mutex_unlock(&pool_mu);
    free(p);
}

/* Bytes of one head's key (or value) at one position in the cache */
static size_t kv_row_bytes(const transformer *t)
{
    const size_t hs = (size_t)t->head_size;
    switch (t->kv_type) {
    case TRANSFORMER_KV_F16: return hs * sizeof(uint16_t);
    case TRANSFORMER_KV_Q8_0: return hs / KV_Q8_BLOCK * KV_Q8_BYTES;
    default: return hs * sizeof(float);
    }
}

transformer_seq *transformer_seq_new(const transformer *t, size_t capacity)
{
    const struct transformer_shape *sh = &t->ck.shape;
    if (capacity == 0 || capacity > (size_t)sh->seq_len)
        capacity = (size_t)sh->seq_len;
    transformer_seq *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->t = t;
    s->cap = capacity;
    if (t->ck.recurrent) {
        s->rops = t->ck.recurrent;
        s->rs = s->rops->state_new(t);
        s->logits = malloc((size_t)sh->vocab * sizeof(float));
        if (!s->rs || !s->logits) {
            transformer_seq_free(s);
            return NULL;
        }
        return s;
    }
    s->kv_type = t->kv_type;
    s->kv_rb = kv_row_bytes(t);
    const size_t kv = transformer_seq_kv_bytes(t, capacity) / 2;
    size_t got_k = 0, got_v = 0;
    s->kb = buf_get(kv, &got_k);
    s->vb = buf_get(kv, &got_v);
    /* both blocks count as the smaller one's size (what buf_put gives back) */
    s->kv_bytes = got_k < got_v ? got_k : got_v;
    s->logits = malloc((size_t)sh->vocab * sizeof(float));
    if (!s->kb || !s->vb || !s->logits) {
        transformer_seq_free(s);
        return NULL;
    }
    return s;
}

static void free_batch(transformer_seq *s)
{
    buf_put(s->batch_block, s->batch_bytes);
    buf_put(s->scores, s->scores_bytes);
    for (size_t i = 0; i < 3; i++)
        s->xa[i] = NULL;
    s->batch_block = NULL;
    s->qblk = NULL;
    s->x = s->xb = s->xb2 = s->q = s->hb = s->hb2 = s->kn = s->vn = s->scores = s->rope = NULL;
    s->batch_cap = s->scores_cap = s->batch_bytes = s->scores_bytes = 0;
}

void transformer_seq_free(transformer_seq *s)
{
    if (!s)
        return;
    free_batch(s);
    buf_put(s->kb, s->kv_bytes);
    buf_put(s->vb, s->kv_bytes);
    free(s->logits);
    if (s->rs)
        s->rops->state_free(s->rs);
    free(s);
}

size_t transformer_seq_bytes(const transformer_seq *s)
{
    if (s->rs)
        return sizeof *s + s->rops->state_bytes(s->rs) +
               (size_t)s->t->ck.shape.vocab * sizeof(float);
    const struct transformer_shape *sh = &s->t->ck.shape;
    size_t b = sizeof *s + 2 * (size_t)sh->n_layers * s->cap * (size_t)(s->t->kv_dim / s->t->head_size) * s->kv_rb;
    b += (size_t)sh->vocab * sizeof(float);
    const size_t dim = (size_t)sh->dim, hid = (size_t)sh->hidden_dim, hs = (size_t)s->t->head_size;
    return b + s->batch_cap * (4 * dim + 2 * hid + hs) * sizeof(float) + 3 * s->xa_bytes +
           s->scores_cap * sizeof(float);
}

int transformer_set_kv_type(transformer *t, const char *type, struct status_err *err)
{
    int kt;
    if (strcmp(type, "f32") == 0)
        kt = TRANSFORMER_KV_F32;
    else if (strcmp(type, "f16") == 0)
        kt = TRANSFORMER_KV_F16;
    else if (strcmp(type, "q8_0") == 0)
        kt = TRANSFORMER_KV_Q8_0;
    else
        return status_set(err, STATUS_BAD_INPUT, "options.kv_type",
                          "kv_type must be f32, f16 or q8_0, not '%s'", type);
    if (t->ck.recurrent) /* no KV cache: nothing to store */
        return STATUS_OK;
    if (kt != TRANSFORMER_KV_F32 && !t->ck.arch.ggml)
        return status_set(err, STATUS_BAD_INPUT, "options.kv_type",
                          "kv_type %s needs a GGUF model (llama2.c checkpoints keep float keys)",
                          type);
    if (kt == TRANSFORMER_KV_Q8_0 && (t->head_size % KV_Q8_BLOCK != 0 || t->head_size > KV_Q8_HS_MAX))
        return status_set(err, STATUS_BAD_INPUT, "options.kv_type",
                          "kv_type q8_0 needs a head size that is a multiple of %d and at most "
                          "%d (this model's is %d); use f16",
                          KV_Q8_BLOCK, KV_Q8_HS_MAX, t->head_size);
    t->kv_type = kt;
    return STATUS_OK;
}

size_t transformer_seq_pos(const transformer_seq *s) { return s->pos; }
size_t transformer_seq_room(const transformer_seq *s) { return s->cap - s->pos; }

void transformer_seq_set_all_logits(transformer_seq *s, float *out) { s->all_out = out; }

int transformer_seq_copy_prefix(transformer_seq *dst, const transformer_seq *src, size_t n)
{
    /* src->pos is not read: a step may be advancing src (a running generation) right now */
    if (dst->rs || src->rs || dst->t != src->t || dst->pos != 0 || n > src->cap || n > dst->cap ||
        dst->kv_type != src->kv_type)
        return -1;
    const size_t hs = (size_t)dst->t->head_size;
    /* one block of cap x head_size per layer and KV head */
    const size_t blocks = (size_t)dst->t->ck.shape.n_layers * ((size_t)dst->t->kv_dim / hs);
    const size_t rb = dst->kv_rb;
    for (size_t b = 0; b < blocks; b++) {
        memcpy(dst->kb + b * dst->cap * rb, src->kb + b * src->cap * rb, n * rb);
        memcpy(dst->vb + b * dst->cap * rb, src->vb + b * src->cap * rb, n * rb);
    }
    dst->pos = n;
    return 0;
}

size_t transformer_seq_kv_bytes(const transformer *t, size_t capacity)
{
    if (t->ck.recurrent) /* a fixed-size state, no KV cache: the slot count bounds them */
        return 0;
    const size_t seq_len = (size_t)t->ck.shape.seq_len;
    if (capacity == 0 || capacity > seq_len)
        capacity = seq_len;
    return 2 * (size_t)t->ck.shape.n_layers * capacity * (size_t)(t->kv_dim / t->head_size) *
           kv_row_bytes(t);
}
const float *transformer_logits(const transformer_seq *s) { return s->logits; }

static int ensure_batch(transformer_seq *s, size_t n)
{
    if (n <= s->batch_cap)
        return 0;
    free_batch(s);
    const size_t dim = (size_t)s->t->ck.shape.dim, hid = (size_t)s->t->ck.shape.hidden_dim;
    const size_t kvd = (size_t)s->t->kv_dim, hs = (size_t)s->t->head_size;
    /* 4 bytes per value covers floats and every block format */
    s->xa_bytes = n * (dim > hid ? dim : hid) * sizeof(float);
    /* every buffer in one block (pooled), each at a cache line */
    const size_t sizes[] = {n * dim * 4, n * dim * 4, n * dim * 4, n * dim * 4, n * hid * 4,
                            n * hid * 4, n * kvd * 4, n * kvd * 4, n * hs * 4, n * sizeof(size_t),
                            s->xa_bytes, s->xa_bytes, s->xa_bytes};
    const size_t nb = sizeof sizes / sizeof sizes[0];
    size_t off[sizeof sizes / sizeof sizes[0]], total = 0;
    for (size_t i = 0; i < nb; i++) {
        off[i] = total;
        total += (sizes[i] + 63) / 64 * 64;
    }
    char *blk = buf_get(total + 64, &s->batch_bytes);
    if (!blk)
        return -1;
    s->batch_block = blk;
    char *b = blk + (64 - (uintptr_t)blk % 64) % 64;
    float **const f[] = {&s->x, &s->xb, &s->xb2, &s->q, &s->hb, &s->hb2, &s->kn, &s->vn, &s->rope};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        *f[i] = (float *)(void *)(b + off[i]);
    s->qblk = (size_t *)(void *)(b + off[9]);
    for (size_t i = 0; i < 3; i++)
        s->xa[i] = b + off[10 + i];
    s->batch_cap = n;
    return 0;
}

/* ---- linear layers, split by rows over the thread team ---- */

#define LIN_SEGS_MAX 3 /* q, k and v share one dispatch */

struct lin_seg {
    const struct tensor *w;
    float *out;
    size_t ld; /* floats between tokens in out */
    const void *xa; /* the input in the weight's activation type: set by linear(), or before
                     * (prequant: the pass that wrote x converted each token in L1) */
    size_t xa_stride; /* bytes between tokens in xa */
};

struct lin_job {
    const struct kernels_ops *k;
    struct lin_seg seg[LIN_SEGS_MAX];
    size_t start[LIN_SEGS_MAX + 1]; /* first global row of each segment */
    size_t nseg;
    const float *x;
    size_t n, cols;
    const float *bias[LIN_SEGS_MAX]; /* the epilogue on each chunk's outputs (BERT): out +=
                                      * bias (NULL: none), */
    kernels_act_fn act;               /* then out = act(out) (NULL: none), still in L1 */
};

static void lin_range(void *ctx, size_t b, size_t e)
{
    const struct lin_job *j = ctx;
    for (size_t i = 0; i < j->nseg; i++) {
        size_t lo = b > j->start[i] ? b : j->start[i];
        size_t hi = e < j->start[i + 1] ? e : j->start[i + 1];
        if (lo >= hi)
            continue;
        const size_t r0 = lo - j->start[i], r1 = hi - j->start[i];
        const struct lin_seg *sg = &j->seg[i];
        const struct kernels_mat *w = &sg->w->m;
        const struct kernels_entries *ke = &j->k->type[w->type];
        if (j->n == 1)
            ke->matvec(sg->out + r0, w, r0, r1, sg->xa);
        else
            ke->gemm(sg->out + r0, 1, sg->ld, w, r0, r1, sg->xa, sg->xa_stride, j->n);
        const float *bias = j->bias[i];
        for (size_t t = 0; (bias || j->act) && t < j->n; t++) {
            float *o = sg->out + t * sg->ld;
            if (bias) /* o + 1 * b: the same sum as o + b, in the tier's vector loop */
                j->k->axpy(o + r0, 1.0f, bias + r0, r1 - r0);
            if (j->act)
                j->act(o + r0, o + r0, NULL, r1 - r0);
        }
    }
}

static uint16_t to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

/* x (n tokens of cols floats) in the form weight type 'wt' multiplies: quantized per block
 * to its activation type, or (ggml numerics) rounded to fp16/bf16 for F16/BF16 weights.
 * Returns x itself when it is already right; else writes 'buf'. *stride: bytes per token. */
static const void *activations(const transformer *t, enum kernels_type wt, const float *x,
                               size_t n, size_t cols, void *buf, size_t *stride)
{
    const enum kernels_type at = kernels_types[wt].vec_dot_type;
    *stride = cols * sizeof(float);
    if (at != KERNELS_F32) {
        const struct kernels_type_traits *tr = &kernels_types[at];
        *stride = cols / tr->block_size * tr->block_bytes;
        for (size_t i = 0; i < n; i++)
            t->k->type[at].from_float(x + i * cols, (char *)buf + i * *stride, cols);
        return buf;
    }
    if (!t->ck.arch.ggml || (wt != KERNELS_F16 && wt != KERNELS_BF16))
        return x;
    float *r = buf;
    if (wt == KERNELS_F16) {
        memcpy(r, x, n * cols * sizeof *r);
        t->k->round_f16(r, n * cols);
        return buf;
    }
    for (size_t i = 0; i < n * cols; i++) {
        const uint32_t u = (uint32_t)to_bf16(x[i]) << 16;
        memcpy(&r[i], &u, 4);
    }
    return buf;
}

/* out_i[t][:] = W_i x[t] for up to three matrices with the same input width; xa[i]:
 * scratch for segment i's converted input. */
static void linear_epi(const transformer *t, void *const *xa, const float *x, size_t n,
                       size_t cols, const struct lin_seg *segs, size_t nseg,
                       const float *const *bias, kernels_act_fn act)
{
    struct lin_job j = {.k = t->k, .nseg = nseg, .x = x, .n = n, .cols = cols, .act = act};
    for (size_t i = 0; bias && i < nseg; i++)
        j.bias[i] = bias[i];
    size_t rows = 0;
    for (size_t i = 0; i < nseg; i++) {
        j.seg[i] = segs[i];
        /* one conversion per distinct weight type */
        const enum kernels_type wt = segs[i].w->m.type;
        size_t same = 0;
        while (same < i && segs[same].w->m.type != wt)
            same++;
        if (segs[i].xa) { /* converted by the pass that wrote x (prequant) */
        } else if (same < i) {
            j.seg[i].xa = j.seg[same].xa;
            j.seg[i].xa_stride = j.seg[same].xa_stride;
        } else {
            j.seg[i].xa = activations(t, wt, x, n, cols, xa[i], &j.seg[i].xa_stride);
        }
        j.start[i] = rows;
        rows += segs[i].w->rows;
    }
    j.start[nseg] = rows;
    size_t chunk;
    if (n == 1) {
        size_t bytes = rows * segs[0].w->m.row_bytes / CHUNK_COUNT_MAX;
        bytes = bytes > CHUNK_WEIGHT_BYTES ? bytes : CHUNK_WEIGHT_BYTES;
        chunk = bytes / segs[0].w->m.row_bytes;
        chunk = chunk < CHUNK_ROWS_ALIGN ? CHUNK_ROWS_ALIGN : chunk / CHUNK_ROWS_ALIGN * CHUNK_ROWS_ALIGN;
    } else if (segs[0].w->m.type == KERNELS_F32) {
        chunk = rows / CHUNK_F32_SPLIT / CHUNK_ROWS_BATCH * CHUNK_ROWS_BATCH;
        chunk = chunk < CHUNK_F32_MIN ? CHUNK_F32_MIN : chunk > CHUNK_F32_MAX ? CHUNK_F32_MAX : chunk;
    } else {
        chunk = CHUNK_ROWS_QUANT;
    }
    kernels_parallel_for(rows, chunk, lin_range, &j);
}

static void linear_xa(const transformer *t, void *const *xa, const float *x, size_t n,
                      size_t cols, const struct lin_seg *segs, size_t nseg)
{
    linear_epi(t, xa, x, n, cols, segs, nseg, NULL, NULL);
}

static void linear(transformer_seq *s, const float *x, size_t n, size_t cols,
                   const struct lin_seg *segs, size_t nseg)
{
    linear_xa(s->t, s->xa, x, n, cols, segs, nseg);
}

void transformer_linear(const transformer *t, void *xa, const float *x, size_t n, size_t cols,
                        const struct tensor *w, float *out, size_t ld)
{
    const struct lin_seg seg = {w, out, ld, NULL, 0};
    void *const bufs[1] = {xa};
    linear_xa(t, bufs, x, n, cols, &seg, 1);
}

void transformer_linear_n(const transformer *t, void *const *xa, const float *x, size_t n,
                          size_t cols, const struct tensor *const *w, float *const *out,
                          const size_t *ld, const float *const *bias, kernels_act_fn act,
                          size_t nw)
{
    struct lin_seg segs[LIN_SEGS_MAX];
    for (size_t i = 0; i < nw && i < LIN_SEGS_MAX; i++)
        segs[i] = (struct lin_seg){w[i], out[i], ld[i], NULL, 0};
    linear_epi(t, xa, x, n, cols, segs, nw < LIN_SEGS_MAX ? nw : LIN_SEGS_MAX, bias, act);
}

/* ---- attention ---- */

/* One row of a step: a token of some sequence at some position. The rows of one step may
 * come from several sequences (continuous batching); each attends over its own KV cache. */
struct fwd_row {
    transformer_seq *seq;
    size_t pos;
};

struct att_job {
    const transformer *t;
    transformer_seq *s; /* the step's buffers (q, xb) */
    const struct fwd_row *rows;
    size_t layer, n;
    size_t score_cap; /* positions per row of 'scores' */
    float *scores; /* ggml numerics: (n * n_heads, score_cap) scratch, else NULL */
    const size_t *qblk; /* fp16 KV: the query blocks' first rows, nblk of them (att_block_range) */
    size_t nblk;
};

/* ggml's softmax of one row of scores in place: the max, exp in float with the sum in double,
 * the weights scaled, then rounded to fp16 when 'round' (they multiply fp16 values) */
static void softmax_ggml(const transformer *t, float *sc, size_t n, int round)
{
    float mx[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                   -INFINITY};
    size_t i = 0;
    for (; i + 8 <= n; i += 8) /* 8 running maxima: vectorizable (the max is exact) */
        for (size_t c = 0; c < 8; c++)
            mx[c] = sc[i + c] > mx[c] ? sc[i + c] : mx[c];
    for (; i < n; i++)
        mx[0] = sc[i] > mx[0] ? sc[i] : mx[0];
    for (size_t c = 1; c < 8; c++)
        mx[0] = mx[c] > mx[0] ? mx[c] : mx[0];
    const double sum = t->k->exp_sum(sc, sc, mx[0], n);
    const float inv = (float)(1.0 / sum);
    for (i = 0; i < n; i++)
        sc[i] *= inv;
    if (round)
        t->k->round_f16(sc, n);
}

/* kv_type q8_0: the query quantized to Q8_0 as llama.cpp's flash attention does, then
 * scored against the n cached keys */
static void att_scores_q8_0(const transformer *t, float *sc, const float *q,
                            const unsigned char *k, size_t rb, size_t n, float scale)
{
    unsigned char qq[KV_Q8_HS_MAX / KV_Q8_BLOCK * KV_Q8_BYTES];
    const size_t hs = (size_t)t->head_size;
    t->k->type[KERNELS_Q8_0].from_float(q, qq, hs);
    t->k->att_scores_q8_0(sc, qq, k, rb, n, hs, scale);
}

/* The sizes attention works with */
struct att_dims {
    size_t hs, kvd, dim, H, group; /* group: query heads per KV head */
    float scale;
};

static struct att_dims att_dims(const transformer *t)
{
    const size_t hs = (size_t)t->head_size, H = (size_t)t->ck.shape.n_heads;
    return (struct att_dims){hs, (size_t)t->kv_dim, (size_t)t->ck.shape.dim, H,
                             H / (size_t)t->ck.shape.n_kv_heads, 1.0f / sqrtf((float)hs)};
}

static void att_range(void *ctx, size_t b, size_t e)
{
    const struct att_job *j = ctx;
    const transformer *t = j->t;
    transformer_seq *s = j->s;
    const struct att_dims g = att_dims(t);
    const size_t hs = g.hs, kvd = g.kvd, dim = g.dim, group = g.group;
    const float scale = g.scale;
    for (size_t it = b; it < e; it++) {
        /* head-major: consecutive items are one head's rows, so that head's keys and values
         * (a long prompt's: up to head_size x positions x 2 each) stay in L1/L2 between them */
        const size_t h = it / j->n, tok = it % j->n, p = j->rows[tok].pos;
        const transformer_seq *sq = j->rows[tok].seq;
        /* this layer's and KV head's block: positions contiguous, one row of kv_rb apart */
        const size_t kvoff = ((j->layer * kvd / hs) + h / group) * sq->cap;
        const unsigned char *kb = sq->kb + kvoff * sq->kv_rb, *vb = sq->vb + kvoff * sq->kv_rb;
        const float *kc = (const float *)(const void *)kb, *vc = (const float *)(const void *)vb;
        const float *q = s->q + tok * dim + h * hs;
        float *out = s->xb + tok * dim + h * hs;
        memset(out, 0, hs * sizeof *out);
        if (j->scores) {
            /* ggml: softmax in float with its sum in double, the weights rounded to fp16
             * before they multiply the (fp16) values */
            float *sc = j->scores + it * j->score_cap;
            if (sq->kv_type == TRANSFORMER_KV_Q8_0) {
                att_scores_q8_0(t, sc, q, kb, sq->kv_rb, p + 1, scale);
                softmax_ggml(t, sc, p + 1, 0); /* float weights (llama.cpp's flash path) */
                t->k->att_sum_q8_0(out, sc, vb, sq->kv_rb, p + 1, hs);
                continue;
            }
            const uint16_t *kh = (const uint16_t *)(const void *)kb;
            const uint16_t *vh = (const uint16_t *)(const void *)vb;
            if (sq->kv_type == TRANSFORMER_KV_F16) /* the same floats, half the memory */
                t->k->att_scores_f16(sc, q, kh, hs, p + 1, hs, scale);
            else
                t->k->att_scores(sc, q, kc, hs, p + 1, hs, scale);
            softmax_ggml(t, sc, p + 1, 1);
            if (sq->kv_type == TRANSFORMER_KV_F16)
                t->k->att_sum_f16(out, sc, vh, hs, p + 1, hs);
            else
                t->k->att_sum(out, sc, vc, hs, p + 1, hs);
            continue;
        }
        /* one pass with a running max (online softmax): no scratch of seq_len floats */
        float m = -INFINITY, l = 0.0f;
        for (size_t i = 0; i <= p; i++) {
            const float sc = t->k->dot(q, kc + i * hs, hs) * scale;
            if (sc > m) {
                const float f = expf(m - sc); /* 0 on the first position */
                for (size_t d = 0; d < hs; d++)
                    out[d] *= f;
                l *= f;
                m = sc;
            }
            const float w = expf(sc - m);
            t->k->axpy(out, w, vc + i * hs, hs);
            l += w;
        }
        const float inv = 1.0f / l;
        for (size_t d = 0; d < hs; d++)
            out[d] *= inv;
    }
}

/* fp16 KV (ggml numerics): items are (query block, head), the blocks of the latest rows (the
 * most keys) first, so the team's last claims are the cheapest; each block's keys and values
 * are read once for its rows. Bit for bit att_range's one-query ops per row. */
static void att_block_range(void *ctx, size_t b, size_t e)
{
    const struct att_job *j = ctx;
    const transformer *t = j->t;
    const struct att_dims g = att_dims(t);
    const size_t hs = g.hs, dim = g.dim;
    for (size_t it = b; it < e; it++) {
        const size_t blk = j->nblk - 1 - it / g.H, h = it % g.H;
        const size_t r0 = j->qblk[blk], r1 = blk + 1 < j->nblk ? j->qblk[blk + 1] : j->n;
        const transformer_seq *sq = j->rows[r0].seq; /* one sequence's rows */
        const size_t kvoff = ((j->layer * g.kvd / hs) + h / g.group) * sq->cap;
        const uint16_t *kb = (const uint16_t *)(const void *)(sq->kb + kvoff * sq->kv_rb);
        const uint16_t *vb = (const uint16_t *)(const void *)(sq->vb + kvoff * sq->kv_rb);
        size_t cnt[ATT_QBLOCK], nmax = 0;
        for (size_t r = r0; r < r1; r++) {
            cnt[r - r0] = j->rows[r].pos + 1;
            nmax = cnt[r - r0] > nmax ? cnt[r - r0] : nmax;
        }
        float *sc = j->scores + (h * j->n + r0) * j->score_cap;
        t->k->att_scores_f16_multi(sc, j->score_cap, j->s->q + r0 * dim + h * hs, dim, r1 - r0, kb,
                                   hs, nmax, hs, g.scale);
        for (size_t r = r0; r < r1; r++)
            softmax_ggml(t, sc + (r - r0) * j->score_cap, cnt[r - r0], 1);
        t->k->att_sum_f16_multi(j->s->xb + r0 * dim + h * hs, dim, sc, j->score_cap, r1 - r0, vb, hs,
                                cnt, hs);
    }
}

/* The query blocks of fp16 attention: runs of one sequence's rows, at most ATT_QBLOCK each */
static size_t query_blocks(const struct fwd_row *rows, size_t n, size_t *first)
{
    size_t nb = 0;
    for (size_t r = 0; r < n; r++)
        if (r == 0 || rows[r].seq != rows[r - 1].seq || r - first[nb - 1] == ATT_QBLOCK)
            first[nb++] = r;
    return nb;
}

/* ---- the pass ---- */

/* One head's key or value (hs floats) into its cache row */
static void kv_store(const transformer *t, int kv_type, unsigned char *dst, const float *x)
{
    const size_t hs = (size_t)t->head_size;
    switch (kv_type) {
    case TRANSFORMER_KV_F16: /* already rounded to fp16: the conversion is exact */
        t->k->to_f16((uint16_t *)(void *)dst, x, hs);
        break;
    case TRANSFORMER_KV_Q8_0: t->k->type[KERNELS_Q8_0].from_float(x, dst, hs); break;
    default: memcpy(dst, x, hs * sizeof(float)); break;
    }
}

/* cos/sin of the n_rot/2 angles at position p: run.c's formula for llama2.c checkpoints,
 * ggml's recurrence (theta *= base^(-2/n_rot), frequency factors, linear scaling) else. */
static void rope_angles(const struct arch *a, size_t p, float *cr, float *ci)
{
    const size_t half = (size_t)a->n_rot / 2;
    if (!a->ggml) {
        for (size_t d = 0; d < half; d++) {
            float freq = 1.0f / powf(a->rope_theta, (float)(2 * d) / (float)a->n_rot);
            float val = (float)p * freq;
            cr[d] = cosf(val);
            ci[d] = sinf(val);
        }
        return;
    }
    const float theta_scale = powf(a->rope_theta, -2.0f / (float)a->n_rot);
    float theta = (float)p;
    for (size_t d = 0; d < half; d++) {
        const float ff = a->rope_freqs ? a->rope_freqs[d] : 1.0f;
        const float ang = a->rope_freq_scale * (theta / ff);
        cr[d] = cosf(ang);
        ci[d] = sinf(ang);
        theta *= theta_scale;
    }
}

/* Rotate the first n_rot dimensions of every head of v[0..n): adjacent pairs (run.c, ggml's
 * "norm" mode for llama) or pairs (d, d + n_rot/2) (NeoX mode, qwen2). */
static void rope(const struct arch *a, float *v, size_t n, size_t hs, const float *cr,
                 const float *ci)
{
    const size_t half = (size_t)a->n_rot / 2;
    for (size_t h0 = 0; h0 < n; h0 += hs)
        for (size_t d = 0; d < half; d++) {
            const size_t i0 = h0 + (a->neox ? d : 2 * d), i1 = i0 + (a->neox ? half : 1);
            const float v0 = v[i0], v1 = v[i1];
            v[i0] = v0 * cr[d] - v1 * ci[d];
            v[i1] = v0 * ci[d] + v1 * cr[d];
        }
}

/* ggml's RMSNorm: the sum of squares in double. */
static void rmsnorm_ggml(float *out, const float *x, const float *w, size_t n, float eps)
{
    /* 4 partial sums in double (ggml adds them in one chain: the float scale it gives differs
     * only when a double rounding lands on a float tie); vectorizable */
    double p[4] = {0, 0, 0, 0};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (size_t c = 0; c < 4; c++)
            p[c] += (double)(x[i + c] * x[i + c]);
    double sum = (p[0] + p[1]) + (p[2] + p[3]);
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
    for (i = 0; i < n; i++)
        out[i] = (x[i] * scale) * w[i];
}

/* The architecture's norm: LayerNorm with bias b (gpt2) or RMSNorm (b unused). */
static void norm_b(const transformer *t, float *out, const float *x, const float *w,
                   const float *b, size_t n)
{
    if (t->ck.arch.layernorm)
        t->k->layernorm(out, x, w, b, n, t->ck.arch.rms_eps);
    else if (t->ck.arch.ggml)
        rmsnorm_ggml(out, x, w, n, t->ck.arch.rms_eps);
    else
        t->k->rmsnorm(out, x, w, n, t->ck.arch.rms_eps);
}

static void norm(const transformer *t, float *out, const float *x, const float *w, size_t n)
{
    norm_b(t, out, x, w, NULL, n);
}

void transformer_rmsnorm(const transformer *t, float *out, const float *x, const float *w,
                         size_t n)
{
    norm(t, out, x, w, n);
}


/* ---- the per-token passes between the matrix products, split by tokens over the team ---- */

#define ROW_PASS_TOKENS 4 /* tokens per claimed chunk (a decode step runs inline) */

/* x[i] += add[i] (+ add_b) when add is set (the residual, with gpt2's output bias: the same
 * roundings as adding the bias to add first), then out[i] = norm(x[i]) (w, b) when out is
 * set: the residual and the next norm in one pass over each token. */
/* prequant: a pass's output rows also converted to the next product's activation type (a
 * quantized one), token by token while the row is in L1 and split over the team, instead of
 * by linear() on one thread; q.from_float NULL: none */
struct prequant {
    void (*from_float)(const float *src, void *dst, size_t n);
    enum kernels_type at;
    void *xa;
    size_t stride; /* bytes per token */
};

static void prequant_row(const struct prequant *q, size_t i, const float *row, size_t n)
{
    if (q->from_float)
        q->from_float(row, (char *)q->xa + i * q->stride, n);
}

struct resid_job {
    const transformer *t;
    float *x;
    const float *add, *add_b;
    float *out;
    const float *nw, *nb;
    size_t dim;
    struct prequant q;
};

static void resid_range(void *ctx, size_t b, size_t e)
{
    const struct resid_job *j = ctx;
    const size_t d = j->dim;
    for (size_t i = b; i < e; i++) {
        float *x = j->x + i * d;
        const float *a = j->add ? j->add + i * d : NULL, *ab = j->add_b;
        if (a && ab)
            for (size_t k = 0; k < d; k++)
                x[k] += a[k] + ab[k];
        else if (a)
            for (size_t k = 0; k < d; k++)
                x[k] += a[k];
        if (j->out) {
            norm_b(j->t, j->out + i * d, x, j->nw, j->nb, d);
            prequant_row(&j->q, i, j->out + i * d, d);
        }
    }
}

static void resid_norm(const transformer *t, size_t n, float *x, const float *add,
                       const float *add_b, float *out, const float *nw, const float *nb,
                       struct prequant q)
{
    struct resid_job j = {t, x, add, add_b, out, nw, nb, (size_t)t->ck.shape.dim, q};
    kernels_parallel_for(n, ROW_PASS_TOKENS, resid_range, &j);
}

/* The prequant for a product by w of 'cols'-wide rows into buffer xa: w's activation type when
 * it is a block format (floats and ggml's F16/BF16 rounding stay with linear()) */
static struct prequant prequant_for(const transformer *t, const struct tensor *w, size_t cols,
                                    void *xa)
{
    struct prequant q = {NULL, KERNELS_F32, xa, 0};
    const enum kernels_type at = kernels_types[w->m.type].vec_dot_type;
    if (at == KERNELS_F32 || !xa)
        return q;
    const struct kernels_type_traits *tr = &kernels_types[at];
    q.from_float = t->k->type[at].from_float;
    q.at = at;
    q.stride = cols / tr->block_size * tr->block_bytes;
    return q;
}

/* The segments whose weights take q's activation type read q's buffer */
static void prequant_use(const struct prequant *q, struct lin_seg *segs, size_t nseg)
{
    for (size_t i = 0; q->from_float && i < nseg; i++)
        if (kernels_types[segs[i].w->m.type].vec_dot_type == q->at) {
            segs[i].xa = q->xa;
            segs[i].xa_stride = q->stride;
        }
}

/* h[i] = act(h[i]) * up[i] (gated), by token; the ungated act(up x + b) runs in the
 * product's chunks (linear_epi). */
struct act_job {
    kernels_act_fn act;
    float *h;
    const float *up;
    size_t hid;
    struct prequant q;
};

static void act_range(void *ctx, size_t b, size_t e)
{
    const struct act_job *j = ctx;
    for (size_t i = b; i < e; i++) {
        float *h = j->h + i * j->hid;
        j->act(h, h, j->up + i * j->hid, j->hid);
        prequant_row(&j->q, i, h, j->hid);
    }
}

/* After Q, K and V: each token's RoPE, ggml's fp16 rounding of q, k and v, and its keys and
 * values into its sequence's cache, by token over the team */
struct qkv_job {
    const transformer *t;
    transformer_seq *s;
    const struct fwd_row *rows;
    size_t layer;
    int round; /* ggml with an f32/f16 cache: q, k, v rounded to fp16 */
};

static void qkv_range(void *ctx, size_t b, size_t e)
{
    const struct qkv_job *j = ctx;
    const transformer *t = j->t;
    const struct arch *a = &t->ck.arch;
    const size_t dim = (size_t)t->ck.shape.dim, hs = (size_t)t->head_size, kvd = (size_t)t->kv_dim;
    for (size_t i = b; i < e; i++) {
        float *q = j->s->q + i * dim, *k = j->s->kn + i * kvd, *v = j->s->vn + i * kvd;
        if (a->n_rot > 0) {
            const float *cr = j->s->rope + i * hs, *ci = cr + (size_t)a->n_rot / 2;
            rope(a, q, dim, hs, cr, ci);
            rope(a, k, kvd, hs, cr, ci);
        }
        if (j->round) {
            t->k->round_f16(q, dim);
            t->k->round_f16(k, kvd);
            t->k->round_f16(v, kvd);
        }
        transformer_seq *sq = j->rows[i].seq;
        for (size_t hh = 0; hh < kvd / hs; hh++) { /* each KV head's block */
            const size_t off = ((j->layer * (kvd / hs) + hh) * sq->cap + j->rows[i].pos) * sq->kv_rb;
            kv_store(t, sq->kv_type, sq->kb + off, k + hh * hs);
            kv_store(t, sq->kv_type, sq->vb + off, v + hh * hs);
        }
    }
}

/* The token's embedding, plus its position's when the architecture learns them (gpt2;
 * 'tmp': dim floats of scratch). */
static void embed(const transformer *t, int id, size_t pos, float *out, float *tmp)
{
    kernels_row_to_float(&t->ck.tok_emb.m, (size_t)id, out);
    if (t->ck.pos_emb.m.data) {
        kernels_row_to_float(&t->ck.pos_emb.m, pos, tmp);
        for (size_t i = 0; i < (size_t)t->ck.shape.dim; i++)
            out[i] += tmp[i];
    }
}

/* One step over n rows (s: the step's buffers, sized by ensure_batch). The keys and values
 * of every row go to its sequence's cache at its position before attention, so rows of one
 * sequence see each other causally. Logits of rows out_rows[0..n_out) go to out (n_out, vocab).
 * Positions are not advanced here. */
static int forward_rows(transformer_seq *s, const struct fwd_row *rows, const int *ids, size_t n,
                        const size_t *out_rows, size_t n_out, float *out,
                        const volatile int *cancelled, struct status_err *err)
{
    const transformer *t = s->t;
    const struct checkpoint *ck = &t->ck;
    const struct transformer_shape *sh = &ck->shape;
    const struct arch *a = &ck->arch;
    const size_t dim = (size_t)sh->dim, hid = (size_t)sh->hidden_dim, hs = (size_t)t->head_size;
    const size_t kvd = (size_t)t->kv_dim;
    size_t score_cap = 0;
    for (size_t i = 0; i < n; i++)
        score_cap = rows[i].pos + 1 > score_cap ? rows[i].pos + 1 : score_cap;

    for (size_t i = 0; i < n; i++)
        embed(t, ids[i], rows[i].pos, s->x + i * dim, s->xb);
    for (size_t i = 0; i < n && a->n_rot > 0; i++) /* the same angles in every layer */
        rope_angles(a, rows[i].pos, s->rope + i * hs, s->rope + i * hs + (size_t)a->n_rot / 2);
    const struct layer_bias *lb = ck->lb; /* gpt2's biases, or NULL */
    const kernels_act_fn act = kernels_act_get(a->act, t->k->tier);

    const size_t L = (size_t)sh->n_layers;
    /* xb = the first layer's attention norm; every later one comes with the residual
     * before it (resid_norm) */
    resid_norm(t, n, s->x, NULL, NULL, s->xb, ck->rms_att[0], lb ? lb[0].att_norm : NULL,
               prequant_for(t, &ck->wq[0], dim, s->xa[0]));
    for (size_t l = 0; l < L; l++) {
        if (cancelled && *cancelled)
            return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
        float *kn = s->kn, *vn = s->vn;
        struct lin_seg qkv[3] = {{&ck->wq[l], s->q, dim, NULL, 0}, {&ck->wk[l], kn, kvd, NULL, 0}, {&ck->wv[l], vn, kvd, NULL, 0}};
        const struct prequant pq_att = prequant_for(t, &ck->wq[l], dim, s->xa[0]);
        prequant_use(&pq_att, qkv, 3); /* xb's rows converted by the norm pass before */
        if (ck->bq) { /* qwen2's and gpt2's Q/K/V biases, in the products' own chunks */
            const float *const qkv_b[3] = {ck->bq[l], ck->bk[l], ck->bv[l]};
            linear_epi(t, s->xa, s->xb, n, dim, qkv, 3, qkv_b, NULL);
        } else {
            linear(s, s->xb, n, dim, qkv, 3);
        }
        struct att_job aj = {.t = t, .s = s, .rows = rows, .layer = l, .n = n, .score_cap = score_cap};
        if (a->ggml) { /* llama.cpp's default F16 KV cache; Q rounded as ggml does (a Q8_0
                        * cache quantizes the floats, as llama.cpp's flash attention) */
            /* kept between layers and steps: no allocation per layer */
            const size_t need = n * (size_t)sh->n_heads * score_cap;
            if (need > s->scores_cap) { /* scratch: the old contents are dead */
                buf_put(s->scores, s->scores_bytes);
                s->scores = buf_get(need * sizeof(float), &s->scores_bytes);
                s->scores_cap = s->scores ? s->scores_bytes / sizeof(float) : 0;
                if (!s->scores)
                    return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            }
            aj.scores = s->scores;
        }
        struct qkv_job qj = {t, s, rows, l, a->ggml && t->kv_type != TRANSFORMER_KV_Q8_0};
        kernels_parallel_for(n, ROW_PASS_TOKENS, qkv_range, &qj);
        size_t f16 = 0; /* rows whose sequence keeps an fp16 cache */
        for (size_t i = 0; aj.scores && i < n; i++)
            f16 += rows[i].seq->kv_type == TRANSFORMER_KV_F16;
        if (f16 == n) {
            aj.qblk = s->qblk;
            aj.nblk = query_blocks(rows, n, s->qblk);
            kernels_parallel_for(aj.nblk * (size_t)sh->n_heads, aj.nblk == n ? ATT_ITEMS_PER_CHUNK : 1,
                                 att_block_range, &aj);
        } else {
            kernels_parallel_for(n * (size_t)sh->n_heads, ATT_ITEMS_PER_CHUNK, att_range, &aj);
        }
        struct lin_seg o = {&ck->wo[l], s->xb2, dim, NULL, 0};
        linear(s, s->xb, n, dim, &o, 1);
        const struct tensor *w_up = a->gated ? &ck->w1[l] : &ck->w3[l];
        const struct prequant pq_ffn = prequant_for(t, w_up, dim, s->xa[0]);
        resid_norm(t, n, s->x, s->xb2, lb ? lb[l].o : NULL, s->xb, ck->rms_ffn[l],
                   lb ? lb[l].ffn_norm : NULL, pq_ffn);
        struct act_job acj = {.act = act, .h = s->hb, .hid = hid};
        struct lin_seg down = {&ck->w2[l], s->xb2, dim, NULL, 0};
        if (a->gated) { /* act(gate x) * (up x): SwiGLU for llama */
            struct lin_seg up[2] = {{&ck->w1[l], s->hb, hid, NULL, 0}, {&ck->w3[l], s->hb2, hid, NULL, 0}};
            prequant_use(&pq_ffn, up, 2);
            linear(s, s->xb, n, dim, up, 2);
            acj.up = s->hb2;
            acj.q = prequant_for(t, &ck->w2[l], hid, s->xa[0]); /* hb's rows for down */
            prequant_use(&acj.q, &down, 1);
            kernels_parallel_for(n, ROW_PASS_TOKENS, act_range, &acj);
        } else { /* act(up x + b): gpt2, the bias and GELU in the product's own chunks
                  * (chunk edges are multiples of 8: the same vector/tail split per row) */
            struct lin_seg up = {&ck->w3[l], s->hb, hid, NULL, 0};
            const float *const up_b[1] = {lb ? lb[l].up : NULL};
            prequant_use(&pq_ffn, &up, 1);
            linear_epi(t, s->xa, s->xb, n, dim, &up, 1, up_b, act);
        }
        linear(s, s->hb, n, hid, &down, 1);
        const int last = l + 1 == L;
        resid_norm(t, n, s->x, s->xb2, lb ? lb[l].down : NULL, last ? NULL : s->xb,
                   last ? NULL : ck->rms_att[l + 1], !last && lb ? lb[l + 1].att_norm : NULL,
                   last ? (struct prequant){0} : prequant_for(t, &ck->wq[l + 1], dim, s->xa[0]));
    }
    if (cancelled && *cancelled) /* the classifier is much of a small model's step */
        return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
    if (n_out == 0) /* an earlier batch of a long prompt: no logits wanted */
        return STATUS_OK;
    /* classifier: only the rows whose logits are wanted, gathered into xb */
    for (size_t j = 0; j < n_out; j++)
        norm_b(t, s->xb + j * dim, s->x + out_rows[j] * dim, ck->rms_final, ck->final_norm_b, dim);
    if (s->hidden) { /* transformer_forward_hidden: the normed states are the output */
        memcpy(out, s->xb, n_out * dim * sizeof(float));
        return STATUS_OK;
    }
    struct lin_seg cls = {&ck->wcls, out, (size_t)sh->vocab, NULL, 0};
    linear(s, s->xb, n_out, dim, &cls, 1);
    return STATUS_OK;
}

/* 'last': this batch ends the caller's tokens; an earlier batch of a long prompt computes no
 * logits (only the final position's are kept: the classifier is a large matrix, 77 MB for
 * GPT-2's F32 vocabulary, read once per prompt instead of once per 64 tokens). */
static int forward_batch(transformer_seq *s, const int *ids, size_t n, float *all_logits,
                         int last, const volatile int *cancelled, struct status_err *err)
{
    struct fwd_row rows[TRANSFORMER_BATCH_MAX];
    size_t out_rows[TRANSFORMER_BATCH_MAX];
    for (size_t i = 0; i < n; i++) {
        rows[i] = (struct fwd_row){s, s->pos + i};
        out_rows[i] = i;
    }
    const size_t V = (size_t)s->t->ck.shape.vocab;
    if (s->hidden) { /* every position's normed hidden state, no logits */
        int rc = forward_rows(s, rows, ids, n, out_rows, n, s->hidden, cancelled, err);
        if (rc == STATUS_OK)
            s->pos += n;
        return rc;
    }
    int rc = all_logits ? forward_rows(s, rows, ids, n, out_rows, n, all_logits, cancelled, err)
                        : forward_rows(s, rows, ids, n, &out_rows[n - 1], last ? 1 : 0, s->logits,
                                       cancelled, err);
    if (rc != STATUS_OK)
        return rc;
    s->pos += n;
    if (all_logits)
        memcpy(s->logits, all_logits + (n - 1) * V, V * sizeof(float));
    return STATUS_OK;
}

/* The checks both entries make: the tokens fit the context and every id is in the vocabulary. */
static int check_tokens(const transformer_seq *s, const int *ids, size_t n, struct status_err *err)
{
    const int vocab = s->t->ck.shape.vocab;
    if (n > s->cap - s->pos)
        return status_set(err, STATUS_BAD_INPUT, NULL,
                          "%zu tokens do not fit: position %zu of a %zu-token context", n,
                          s->pos, s->cap);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return status_set(err, STATUS_BAD_INPUT, NULL, "token id %d out of range [0, %d)",
                              ids[i], vocab);
    return STATUS_OK;
}

/* n tokens in batches of at most TRANSFORMER_BATCH_MAX: logits (all_logits: every position's)
 * or, with 'hidden', every position's normed hidden state. */
static int forward_chunks(transformer_seq *s, const int *ids, size_t n, float *all_logits,
                          float *hidden, const volatile int *cancelled, struct status_err *err)
{
    const struct transformer_shape *sh = &s->t->ck.shape;
    int rc = STATUS_OK;
    for (size_t done = 0; done < n && rc == STATUS_OK;) {
        const size_t b = n - done < TRANSFORMER_BATCH_MAX ? n - done : TRANSFORMER_BATCH_MAX;
        if (ensure_batch(s, b) != 0)
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        s->hidden = hidden ? hidden + done * (size_t)sh->dim : NULL;
        rc = forward_batch(s, ids + done, b, all_logits ? all_logits + done * (size_t)sh->vocab : NULL,
                           done + b == n, cancelled, err);
        s->hidden = NULL;
        done += b;
    }
    return rc;
}

int transformer_forward(transformer_seq *s, const int *ids, size_t n, float *all_logits,
                        const volatile int *cancelled, struct status_err *err)
{
    if (n == 0)
        return STATUS_OK;
    int rc = check_tokens(s, ids, n, err);
    if (rc != STATUS_OK)
        return rc;
    if (s->rs) {
        rc = s->rops->forward(s->t, s->rs, ids, n, s->logits, all_logits, cancelled, err);
        if (rc == STATUS_OK)
            s->pos += n;
        return rc;
    }
    return forward_chunks(s, ids, n, all_logits, NULL, cancelled, err);
}

int transformer_forward_hidden(transformer_seq *s, const int *ids, size_t n, float *hidden,
                               const volatile int *cancelled, struct status_err *err)
{
    if (s->rs)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "a recurrent model keeps no per-position hidden states here");
    int rc = check_tokens(s, ids, n, err);
    return rc == STATUS_OK ? forward_chunks(s, ids, n, NULL, hidden, cancelled, err) : rc;
}

/* ---- several sequences in one step (continuous batching) ---- */

struct transformer_batch {
    transformer_seq *ws; /* the step's buffers; its own KV cache is never used */
    struct fwd_row *rows;
    int *ids;
    size_t *out_rows;
    float *out;
    size_t cap;
    const volatile int *stop; /* transformer_batch_stop_flag */
    void **rs;              /* a recurrent model's step: the sequences' states, */
    float **rs_logits, **rs_all; /* their logits and all-rows outputs */
    size_t rs_cap;
};

void transformer_batch_stop_flag(transformer_batch *b, const volatile int *stop) { b->stop = stop; }

transformer_batch *transformer_batch_new(const transformer *t)
{
    transformer_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ws = transformer_seq_new(t, 1);
    if (!b->ws) {
        free(b);
        return NULL;
    }
    return b;
}

void transformer_batch_free(transformer_batch *b)
{
    if (!b)
        return;
    transformer_seq_free(b->ws);
    free(b->rows);
    free(b->ids);
    free(b->out_rows);
    free(b->out);
    free(b->rs);
    free(b->rs_logits);
    free(b->rs_all);
    free(b);
}

/* Frees old and returns a fresh block of `bytes` (the old contents are dead). */
static void *regrow(void *old, size_t bytes)
{
    free(old);
    return malloc(bytes);
}

static int batch_reserve(transformer_batch *b, size_t n)
{
    const size_t V = (size_t)b->ws->t->ck.shape.vocab;
    if (n > b->cap) {
        b->rows = regrow(b->rows, n * sizeof *b->rows);
        b->ids = regrow(b->ids, n * sizeof *b->ids);
        b->out_rows = regrow(b->out_rows, n * sizeof *b->out_rows);
        b->out = regrow(b->out, n * V * sizeof *b->out);
        b->cap = b->rows && b->ids && b->out_rows && b->out ? n : 0;
        if (!b->cap)
            return -1;
    }
    return ensure_batch(b->ws, n);
}

static int forward_recurrent(transformer_batch *b, transformer_seq *const *seqs,
                             const int *const *ids, const size_t *n, size_t n_seq,
                             struct status_err *err)
{
    if (n_seq > b->rs_cap) {
        b->rs = regrow(b->rs, n_seq * sizeof *b->rs);
        b->rs_logits = regrow(b->rs_logits, n_seq * sizeof *b->rs_logits);
        b->rs_all = regrow(b->rs_all, n_seq * sizeof *b->rs_all);
        b->rs_cap = b->rs && b->rs_logits && b->rs_all ? n_seq : 0;
        if (!b->rs_cap)
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a %zu-sequence step",
                              n_seq);
    }
    for (size_t k = 0; k < n_seq; k++) {
        b->rs[k] = seqs[k]->rs;
        b->rs_logits[k] = seqs[k]->logits;
        b->rs_all[k] = seqs[k]->all_out;
    }
    const struct recurrent_ops *ops = b->ws->rops;
    int rc = ops->forward_multi(b->ws->t, b->ws->rs, b->rs, ids, n, n_seq, b->rs_logits, b->rs_all,
                                b->stop, err);
    if (rc != STATUS_OK)
        return rc;
    for (size_t k = 0; k < n_seq; k++)
        seqs[k]->pos += n[k];
    return STATUS_OK;
}

int transformer_forward_multi(transformer_batch *b, transformer_seq *const *seqs,
                              const int *const *ids, const size_t *n, size_t n_seq,
                              struct status_err *err)
{
    const transformer *t = b->ws->t;
    const size_t V = (size_t)t->ck.shape.vocab;
    size_t total = 0, n_out = 0;
    for (size_t k = 0; k < n_seq; k++) {
        if (seqs[k]->t != t)
            return status_set(err, STATUS_INTERNAL, NULL, "a sequence of another model in the batch");
        if (n[k] > seqs[k]->cap - seqs[k]->pos)
            return status_set(err, STATUS_BAD_INPUT, NULL,
                              "%zu tokens do not fit: position %zu of a %zu-token context", n[k],
                              seqs[k]->pos, seqs[k]->cap);
        for (size_t i = 0; i < n[k]; i++)
            if (ids[k][i] < 0 || ids[k][i] >= t->ck.shape.vocab)
                return status_set(err, STATUS_BAD_INPUT, NULL, "token id %d out of range [0, %d)",
                                  ids[k][i], t->ck.shape.vocab);
        total += n[k];
        n_out += seqs[k]->all_out ? n[k] : n[k] > 0;
    }
    if (total == 0)
        return STATUS_OK;
    if (t->ck.recurrent) /* every sequence's own state, the rows in one batched pass */
        return forward_recurrent(b, seqs, ids, n, n_seq, err);
    if (batch_reserve(b, total) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for a %zu-row batch", total);
    size_t r = 0, o = 0;
    for (size_t k = 0; k < n_seq; k++) {
        for (size_t i = 0; i < n[k]; i++, r++) {
            b->rows[r] = (struct fwd_row){seqs[k], seqs[k]->pos + i};
            b->ids[r] = ids[k][i];
        }
        if (seqs[k]->all_out)
            for (size_t i = 0; i < n[k]; i++)
                b->out_rows[o++] = r - n[k] + i;
        else if (n[k] > 0)
            b->out_rows[o++] = r - 1;
    }
    int rc = forward_rows(b->ws, b->rows, b->ids, total, b->out_rows, n_out, b->out, b->stop, err);
    if (rc != STATUS_OK)
        return rc;
    o = 0;
    for (size_t k = 0; k < n_seq; k++) {
        if (n[k] == 0)
            continue;
        if (seqs[k]->all_out) {
            memcpy(seqs[k]->all_out, b->out + o * V, n[k] * V * sizeof(float));
            o += n[k];
        } else {
            o++;
        }
        memcpy(seqs[k]->logits, b->out + (o - 1) * V, V * sizeof(float));
        seqs[k]->pos += n[k];
    }
    return STATUS_OK;
}
