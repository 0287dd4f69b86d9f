/* knn.c: exact cosine top-k over the vocabulary: single queries as a streaming scan of the
 * rows, batches as a blocked rows x queries product, analogies (3CosAdd, 3CosMul), all split
 * over the process's kernel thread team (models/kernels/team.c; as many slots as the model's
 * threads option) in small chunks taken from an atomic counter (a descheduled thread never
 * holds the others at a barrier). Compact storage (float16 / int8) scans the
 * compact copy, then rescores the top candidates against the float32 rows; a per-row bound
 * on the quantisation error proves the result exact or triggers a full float32 scan. */
#include "embed_internal.h"
#include "../util/topk.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_ROWS 2048        /* rows per claim in a single-query scan (~2.4 MB at d=300) */
#define GEMM_CHUNK_ROWS 256    /* rows per claim in a batch scan */
#define GEMM_BLOCK_ROWS 48     /* rows scored at once against every query of a batch */
#define RESCORE_MIN 64         /* compact search keeps at least this many candidates... */
#define RESCORE_FACTOR 8       /* ...or 8 per requested neighbour */
#define RESCORE_SLACK 1e-4f    /* float rounding of the approximate and exact scores */
#define BATCH_MAX_QUERIES 4096 /* a batch larger than this is split */

/* Scan slots: the model's threads option, at most the process's kernel thread team
 * (models/kernels/team.c, --threads): one thread budget for every model. */
static int n_workers(const embed *e)
{
    const int team = kernels_threads();
    return e->threads < team ? e->threads : team;
}

/* ---- top-k: models/util/topk (score desc, then row asc); its pairs are our hits ---- */

_Static_assert(sizeof(struct topk_hit) == sizeof(struct embed_hit) &&
                   offsetof(struct topk_hit, id) == offsetof(struct embed_hit, index) &&
                   offsetof(struct topk_hit, score) == offsetof(struct embed_hit, score),
               "struct embed_hit is copied from struct topk_hit");

static int excluded(const uint32_t *ex, size_t n_ex, uint32_t r)
{
    for (size_t i = 0; i < n_ex; i++)
        if (ex[i] == r)
            return 1;
    return 0;
}

/* ---- scans ---- */

enum scan_kind { SCAN_F32, SCAN_F16, SCAN_I8, SCAN_GEMM, SCAN_COSMUL };

struct scan {
    const embed *e;
    enum scan_kind kind;
    const float *q;           /* (qlen) padded unit query: f32 / f16 */
    const int8_t *q8;         /* (cstride) int8 scan query */
    float q8_scale;
    const float *qs;          /* (n_q, stride) unit queries: gemm / cosmul terms */
    size_t n_q, n_pos;
    const uint32_t *ex;
    size_t n_ex;
    size_t cap, n_heaps;      /* heap capacity; heaps per worker */
    struct topk *heaps;       /* (workers, n_heaps) */
    float *scratch;           /* (workers, scratch_len) */
    size_t scratch_len;
    size_t chunk_rows, n_chunks;
    atomic_size_t next;
};

static void push_rows(struct scan *s, struct topk *hp, size_t r0, size_t cnt, const float *sc)
{
    float fl = topk_floor(hp);
    for (size_t i = 0; i < cnt; i++) {
        if (sc[i] < fl)
            continue;
        uint32_t r = (uint32_t)(r0 + i);
        if (s->n_ex && excluded(s->ex, s->n_ex, r))
            continue;
        topk_push(hp, r, sc[i]);
        fl = topk_floor(hp);
    }
}

static void scan_worker(void *ctx, int w)
{
    struct scan *s = ctx;
    const embed *e = s->e;
    const struct kernels_ops *k = e->k;
    const struct kernels_mat unit = embed_unit_mat(e);
    const struct kernels_mat compact = {
        .type = e->storage == EMBED_STORAGE_F16 ? KERNELS_F16 : KERNELS_I8,
        .data = e->compact,
        .row_bytes = e->cstride * embed_compact_elem(e->storage),
        .cols = e->cstride};
    struct topk *heaps = s->heaps + (size_t)w * s->n_heaps;
    float *sc = s->scratch + (size_t)w * s->scratch_len;
    size_t c;
    while ((c = atomic_fetch_add(&s->next, 1)) < s->n_chunks) {
        size_t r0 = c * s->chunk_rows;
        size_t cnt = r0 + s->chunk_rows <= e->n ? s->chunk_rows : e->n - r0;
        switch (s->kind) {
        case SCAN_F32:
            /* one row at a time through the table's dot: a single sequential stream, which
             * the hardware prefetcher follows best (the 4-row matvec measured ~60% slower
             * on this scan); every row, and the rescoring below, takes the same path */
            for (size_t i = 0; i < cnt; i++)
                sc[i] = k->dot(e->unit + (r0 + i) * e->stride, s->q, e->stride);
            push_rows(s, heaps, r0, cnt, sc);
            break;
        case SCAN_F16:
            k->type[KERNELS_F16].matvec(sc, &compact, r0, r0 + cnt, s->q);
            push_rows(s, heaps, r0, cnt, sc);
            break;
        case SCAN_I8: /* the kernel's float is the exact int32 dot */
            k->type[KERNELS_I8].matvec(sc, &compact, r0, r0 + cnt, s->q8);
            for (size_t i = 0; i < cnt; i++)
                sc[i] = e->scales[r0 + i] * s->q8_scale * sc[i];
            push_rows(s, heaps, r0, cnt, sc);
            break;
        case SCAN_GEMM:
        case SCAN_COSMUL:
            for (size_t b = 0; b < cnt; b += GEMM_BLOCK_ROWS) {
                size_t nb = cnt - b < GEMM_BLOCK_ROWS ? cnt - b : GEMM_BLOCK_ROWS;
                float *blk = sc; /* (nb, n_q) */
                k->type[KERNELS_F32].gemm(blk, s->n_q, 1, &unit, r0 + b, r0 + b + nb, s->qs,
                                          e->stride * sizeof(float), s->n_q);
                if (s->kind == SCAN_GEMM) {
                    for (size_t j = 0; j < s->n_q; j++) {
                        struct topk *hp = &heaps[j];
                        float fl = topk_floor(hp);
                        for (size_t i = 0; i < nb; i++)
                            if (blk[i * s->n_q + j] >= fl) {
                                topk_push(hp, (uint32_t)(r0 + b + i), blk[i * s->n_q + j]);
                                fl = topk_floor(hp);
                            }
                    }
                } else {
                    float *comb = sc + GEMM_BLOCK_ROWS * s->n_q;
                    for (size_t i = 0; i < nb; i++) {
                        const float *row = blk + i * s->n_q;
                        double pos = 1.0, neg = 1.0;
                        for (size_t j = 0; j < s->n_pos; j++)
                            pos *= (1.0 + row[j]) / 2.0;
                        for (size_t j = s->n_pos; j < s->n_q; j++)
                            neg *= (1.0 + row[j]) / 2.0;
                        comb[i] = (float)(pos / (neg + EMBED_COSMUL_EPS));
                    }
                    push_rows(s, heaps, r0 + b, nb, comb);
                }
            }
            break;
        }
    }
}

/* Slots [begin, end) of the scan on the kernel team: each slot takes row chunks from the
 * scan's counter until none is left, so a team busy with another caller (which then runs
 * every slot itself, one after another) or a late helper only costs time. */
static void scan_slots(void *ctx, size_t begin, size_t end)
{
    for (size_t w = begin; w < end; w++)
        scan_worker(ctx, (int)w);
}

/* Run the scan over all rows; returns the per-query result heaps merged (heap q of worker 0
 * then holds the answer for query q). */
static int scan_run(struct scan *s, struct status_err *err)
{
    const embed *e = s->e;
    int nw = n_workers(e);
    s->heaps = calloc((size_t)nw * s->n_heaps, sizeof *s->heaps);
    struct topk_hit *store = malloc((size_t)nw * s->n_heaps * s->cap * sizeof *store);
    s->scratch = malloc((size_t)nw * s->scratch_len * sizeof(float));
    if (!s->heaps || !store || !s->scratch) {
        free(s->heaps);
        free(store);
        free(s->scratch);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for the search");
    }
    for (size_t i = 0; i < (size_t)nw * s->n_heaps; i++) {
        s->heaps[i].h = store + i * s->cap;
        s->heaps[i].cap = s->cap;
    }
    s->n_chunks = (e->n + s->chunk_rows - 1) / s->chunk_rows;
    atomic_init(&s->next, 0);
    if (nw == 1)
        scan_worker(s, 0); /* no team dispatch at all for a one-thread model */
    else
        kernels_parallel_for((size_t)nw, 1, scan_slots, s);
    for (int w = 1; w < nw; w++)
        for (size_t j = 0; j < s->n_heaps; j++) {
            struct topk *src = &s->heaps[(size_t)w * s->n_heaps + j];
            for (size_t i = 0; i < src->n; i++)
                topk_push(&s->heaps[j], src->h[i].id, src->h[i].score);
        }
    free(s->scratch);
    s->scratch = NULL;
    return STATUS_OK;
}

static void scan_free(struct scan *s)
{
    if (s->heaps)
        free(s->heaps[0].h);
    free(s->heaps);
    s->heaps = NULL;
}

/* Sorted copy of heap into out (at most k). */
static size_t heap_take(struct topk *hp, size_t k, struct embed_hit *out)
{
    topk_sort(hp->h, hp->n);
    size_t n = hp->n < k ? hp->n : k;
    memcpy(out, hp->h, n * sizeof *out);
    return n;
}

/* unit copy of q padded with zeros to 'len'; 0 norm -> -1 */
static int unit_query(const embed *e, const float *q, float *out, size_t len)
{
    double s = 0.0;
    for (size_t i = 0; i < e->dim; i++)
        s += (double)q[i] * q[i];
    if (!(s > 0.0) || !isfinite(s))
        return -1;
    double inv = 1.0 / sqrt(s);
    for (size_t i = 0; i < len; i++)
        out[i] = i < e->dim ? (float)(q[i] * inv) : 0.0f;
    return 0;
}

static int knn_f32(const embed *e, const float *uq, size_t k, const uint32_t *ex, size_t n_ex,
                   struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    struct scan s = {.e = e, .kind = SCAN_F32, .q = uq, .ex = ex, .n_ex = n_ex, .cap = k,
                     .n_heaps = 1, .scratch_len = CHUNK_ROWS, .chunk_rows = CHUNK_ROWS};
    int rc = scan_run(&s, err);
    if (rc != STATUS_OK)
        return rc;
    *n_out = heap_take(&s.heaps[0], k, out);
    scan_free(&s);
    return STATUS_OK;
}

/* Compact scan + exact rescoring; see the file comment for the proof obligation. */
static int knn_compact(const embed *e, const float *uq, size_t k, const uint32_t *ex,
                       size_t n_ex, struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    size_t cap = RESCORE_FACTOR * k > RESCORE_MIN ? RESCORE_FACTOR * k : RESCORE_MIN;
    if (cap > e->n)
        cap = e->n;
    struct scan s = {.e = e, .q = uq, .ex = ex, .n_ex = n_ex, .cap = cap, .n_heaps = 1,
                     .scratch_len = CHUNK_ROWS, .chunk_rows = CHUNK_ROWS};
    int8_t *q8 = NULL;
    float eq = 0.0f; /* ||q - dequantised q||: part of the error bound */
    if (e->storage == EMBED_STORAGE_F16) {
        s.kind = SCAN_F16;
    } else {
        s.kind = SCAN_I8;
        q8 = embed_aligned_alloc(e->cstride + EMBED_ALIGN_BYTES);
        if (!q8)
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        float amax = 0.0f;
        for (size_t i = 0; i < e->dim; i++)
            amax = fmaxf(amax, fabsf(uq[i]));
        float scale = amax / (float)KERNELS_I8_MAX; /* uq is a unit vector: amax > 0 */
        double e2 = 0.0;
        for (size_t i = 0; i < e->cstride; i++) {
            long v = i < e->dim ? lrintf(uq[i] / scale) : 0;
            if (v > KERNELS_I8_MAX)
                v = KERNELS_I8_MAX;
            if (v < -KERNELS_I8_MAX)
                v = -KERNELS_I8_MAX;
            q8[i] = (int8_t)v;
            double d = (i < e->dim ? uq[i] : 0.0f) - (double)scale * (double)v;
            e2 += d * d;
        }
        eq = (float)(sqrt(e2) * (1.0 + 1e-6));
        s.q8 = q8;
        s.q8_scale = scale;
    }
    int rc = scan_run(&s, err);
    free(q8);
    if (rc != STATUS_OK)
        return rc;
    struct topk *cand = &s.heaps[0];
    float a_min = cand->n ? cand->h[0].score : -INFINITY; /* worst kept approximate score */
    size_t nc = cand->n;
    for (size_t i = 0; i < nc; i++) { /* exact scores from the float32 rows */
        float x;
        x = e->k->dot(e->unit + (size_t)cand->h[i].id * e->stride, uq, e->stride);
        cand->h[i].score = x;
    }
    topk_sort(cand->h, nc);
    size_t eligible = e->n; /* rows the scan could have kept */
    for (size_t i = 0; i < n_ex; i++)
        if (ex[i] < e->n && !excluded(ex, i, ex[i]))
            eligible--;
    float bound = e->resid_max + eq * (1.0f + e->resid_max) + RESCORE_SLACK;
    int proven = nc >= eligible || (nc >= k && cand->h[k - 1].score > a_min + bound);
    if (proven) {
        *n_out = nc < k ? nc : k;
        memcpy(out, cand->h, *n_out * sizeof *out);
        scan_free(&s);
        return STATUS_OK;
    }
    scan_free(&s);
    atomic_fetch_add(&((embed *)e)->fallbacks, 1);
    return knn_f32(e, uq, k, ex, n_ex, out, n_out, err);
}

static size_t qlen(const embed *e) { return e->cstride > e->stride ? e->cstride : e->stride; }

static int check_k(size_t k, struct status_err *err)
{
    if (k < 1 || k > EMBED_TOP_K_MAX)
        return status_set(err, STATUS_BAD_INPUT, "top_k", "top_k must be in 1..%d",
                          EMBED_TOP_K_MAX);
    return STATUS_OK;
}

static int knn_unit(const embed *e, const float *uq, size_t k, const uint32_t *ex, size_t n_ex,
                    struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    if (e->storage == EMBED_STORAGE_F32)
        return knn_f32(e, uq, k, ex, n_ex, out, n_out, err);
    return knn_compact(e, uq, k, ex, n_ex, out, n_out, err);
}

int embed_knn(const embed *e, const float *q, size_t top_k, const uint32_t *exclude,
              size_t n_exclude, struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    int rc = check_k(top_k, err);
    if (rc != STATUS_OK)
        return rc;
    float *uq = embed_aligned_alloc(qlen(e) * sizeof(float) + EMBED_ALIGN_BYTES);
    if (!uq)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (unit_query(e, q, uq, qlen(e)) != 0) {
        free(uq);
        return status_set(err, STATUS_BAD_INPUT, "vector", "the vector has no direction (zero or not finite)");
    }
    rc = knn_unit(e, uq, top_k, exclude, n_exclude, out, n_out, err);
    free(uq);
    return rc;
}

int embed_knn_batch(const embed *e, const float *qs, size_t n_q, size_t top_k,
                    struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    int rc = check_k(top_k, err);
    if (rc != STATUS_OK)
        return rc;
    for (size_t b = 0; b < n_q; b += BATCH_MAX_QUERIES) {
        size_t nb = n_q - b < BATCH_MAX_QUERIES ? n_q - b : BATCH_MAX_QUERIES;
        float *uq = embed_aligned_alloc(nb * e->stride * sizeof(float) + EMBED_ALIGN_BYTES);
        if (!uq)
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        for (size_t j = 0; j < nb; j++)
            if (unit_query(e, qs + (b + j) * e->dim, uq + j * e->stride, e->stride) != 0) {
                free(uq);
                return status_set(err, STATUS_BAD_INPUT, "vector",
                                  "query %zu has no direction (zero or not finite)", b + j);
            }
        struct scan s = {.e = e, .kind = SCAN_GEMM, .qs = uq, .n_q = nb, .cap = top_k,
                         .n_heaps = nb, .scratch_len = GEMM_BLOCK_ROWS * nb,
                         .chunk_rows = GEMM_CHUNK_ROWS};
        rc = scan_run(&s, err);
        free(uq);
        if (rc != STATUS_OK)
            return rc;
        for (size_t j = 0; j < nb; j++)
            n_out[b + j] = heap_take(&s.heaps[j], top_k, out + (b + j) * top_k);
        scan_free(&s);
    }
    return STATUS_OK;
}

int embed_most_similar(const embed *e, const uint32_t *pos, size_t n_pos, const uint32_t *neg,
                       size_t n_neg, enum embed_method m, size_t top_k, int exclude_inputs,
                       struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    int rc = check_k(top_k, err);
    if (rc != STATUS_OK)
        return rc;
    size_t nt = n_pos + n_neg;
    if (nt == 0 || nt > EMBED_TERMS_MAX)
        return status_set(err, STATUS_BAD_INPUT, "positive", "give 1..%d positive and negative words",
                          EMBED_TERMS_MAX);
    uint32_t ex[EMBED_TERMS_MAX];
    for (size_t i = 0; i < nt; i++) {
        ex[i] = i < n_pos ? pos[i] : neg[i - n_pos];
        if (ex[i] >= e->n)
            return status_set(err, STATUS_INTERNAL, NULL, "row %u out of range", ex[i]);
    }
    size_t n_ex = exclude_inputs ? nt : 0;
    size_t len = qlen(e);
    float *t = embed_aligned_alloc((nt > 1 ? nt : 1) * len * sizeof(float) + EMBED_ALIGN_BYTES);
    if (!t)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (m == EMBED_3COSADD) {
        /* gensim: unit vector of sum(+-unit(v)) */
        for (size_t i = 0; i < len; i++)
            t[i] = 0.0f;
        double *acc = calloc(e->dim, sizeof *acc);
        if (!acc) {
            free(t);
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        }
        for (size_t i = 0; i < nt; i++) {
            const float *x = e->unit + (size_t)ex[i] * e->stride;
            double w = i < n_pos ? 1.0 : -1.0;
            for (size_t j = 0; j < e->dim; j++)
                acc[j] += w * x[j];
        }
        double s = 0.0;
        for (size_t j = 0; j < e->dim; j++)
            s += acc[j] * acc[j];
        if (!(s > 0.0)) {
            free(acc);
            free(t);
            return status_set(err, STATUS_UNPROCESSABLE, "positive",
                              "the words cancel out: their mean has no direction");
        }
        for (size_t j = 0; j < e->dim; j++)
            t[j] = (float)(acc[j] / sqrt(s));
        free(acc);
        rc = knn_unit(e, t, top_k, ex, n_ex, out, n_out, err);
        free(t);
        return rc;
    }
    for (size_t i = 0; i < nt; i++)
        memcpy(t + i * e->stride, e->unit + (size_t)ex[i] * e->stride, e->stride * sizeof(float));
    struct scan s = {.e = e, .kind = SCAN_COSMUL, .qs = t, .n_q = nt, .n_pos = n_pos,
                     .ex = ex, .n_ex = n_ex, .cap = top_k, .n_heaps = 1,
                     .scratch_len = GEMM_BLOCK_ROWS * (nt + 1), .chunk_rows = GEMM_CHUNK_ROWS};
    rc = scan_run(&s, err);
    free(t);
    if (rc != STATUS_OK)
        return rc;
    *n_out = heap_take(&s.heaps[0], top_k, out);
    scan_free(&s);
    return STATUS_OK;
}
