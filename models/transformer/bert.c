/* bert.c: the BERT encoder pass (general.architecture = bert, and nomic-bert: fused QKV,
 * NeoX RoPE instead of learned positions, SwiGLU without biases), computing as llama.cpp's
 * build_bert and ggml's CPU ops do: token + token-type (type 0) + learned position
 * embeddings, LayerNorm; per layer bidirectional multi-head attention with Q/K/V/output
 * biases, residual, LayerNorm (post-norm), GELU feed-forward (tanh form, through ggml's fp16
 * table), residual, LayerNorm; then pooling as the file says (mean, CLS, last token, or the
 * classification head's scores for rerankers). Several sequences run in one pass: every
 * linear layer multiplies all their tokens at once (kernel GEMM over the thread team);
 * attention stays inside each sequence. Weights from gguf_weights.c (take_bert). LayerNorm
 * and GELU are the kernel library's (models/kernels/act.h: ggml's numerics). */
#include "../kernels/act.h"
#include "transformer_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BERT_ROWS 64 /* tokens per linear-layer call: activations stay in L2 */
#define BERT_GROUP_TOKENS 4096 /* tokens per encoder pass (bounds the activation memory) */

size_t bert_out_dim(const transformer *t)
{
    const struct checkpoint *ck = &t->ck;
    if (ck->enc.pooling == BERT_POOL_RANK)
        return ck->encw.cls_out.rows ? ck->encw.cls_out.rows : (size_t)ck->shape.dim;
    return (size_t)ck->shape.dim;
}

const char *bert_pooling_name(int pooling)
{
    static const char *const names[] = {"none", "mean", "cls", "last", "rank"};
    return pooling >= 0 && pooling <= BERT_POOL_RANK ? names[pooling] : "?";
}

/* ---- buffers of one pass ---- */

struct enc {
    const transformer *t;
    size_t N, dim, hid, kvd, hs, H, group;
    const size_t *start, *len; /* [n_seq]: first row and tokens of each sequence */
    size_t n_seq, max_len;
    float *x;     /* (N, dim) the layer input / output */
    float *q, *k, *v; /* (N, dim) (N, kv) (N, kv) */
    float *att;   /* (N, dim) attention output */
    float *o;     /* (N, dim) projections before the residual */
    float *h;     /* (N, max(hidden, dim + 2 kv)) */
    float *g;     /* nomic-bert: (N, hidden) the up projection beside the gate's */
    float *cs;    /* nomic-bert: (n_rot) cos, sin of one position */
    void *xa;     /* 3 parts of xa_part = BERT_ROWS * max(dim, hidden) * 4 bytes: the input
                     of each matrix of one call (Q, K, V) in its activation type */
    size_t xa_part;
    float *sc;    /* (n_seq * H, max_len) attention weights, one row per item */
    int causal;
};

/* The per-row work after a linear layer, split over the kernel thread team by rows: the
 * residual and LayerNorm (x = LN((o + b) + x)). Biases and GELU right after a product run in
 * the product's own chunks (transformer_linear_n's epilogue). */
struct row_job {
    float *out;              /* (N, cols) */
    float *x;                /* the residual, overwritten with the result */
    const float *b, *w, *wb; /* the projection's bias; LayerNorm weight and bias */
    size_t cols;
    float eps;
    const struct kernels_ops *k; /* the tier whose LayerNorm runs */
};

static void row_range(void *ctx, size_t b0, size_t e0)
{
    const struct row_job *j = ctx;
    for (size_t r = b0; r < e0; r++) {
        float *o = j->out + r * j->cols;
        float *x = j->x + r * j->cols;
        if (j->b) /* the bias first: (o + b) + x; o + 1 * b is o + b (the tier's loop) */
            j->k->axpy(o, 1.0f, j->b, j->cols);
        j->k->axpy(o, 1.0f, x, j->cols);
        j->k->layernorm(x, o, j->w, j->wb, j->cols, j->eps);
    }
}

#define ROWS_PER_CHUNK 4

/* out[r] = act(W in[r] + b) for every row (b, act may be NULL), BERT_ROWS at a time; the
 * bias and the activation on each chunk of rows as soon as it is computed. */
static void linear_bias_act(const struct enc *e, const float *in, size_t cols,
                            const struct tensor *w, const float *b, float *out,
                            kernels_act_fn act)
{
    const struct tensor *const ws[1] = {w};
    const float *const bs[1] = {b};
    void *const xa[1] = {e->xa};
    for (size_t r = 0; r < e->N; r += BERT_ROWS) {
        const size_t m = e->N - r < BERT_ROWS ? e->N - r : BERT_ROWS;
        float *const o[1] = {out + r * w->rows};
        transformer_linear_n(e->t, xa, in + r * cols, m, cols, ws, o, &w->rows, bs, act, 1);
    }
}

/* bert: Q, K, V = W x + b, the three products and their biases in one dispatch per
 * BERT_ROWS rows (the input quantized once) */
static void linear_qkv(const struct enc *e, const struct bert_layer *b)
{
    const struct tensor *const w[3] = {&b->wq, &b->wk, &b->wv};
    const float *const bias[3] = {b->bq, b->bk, b->bv};
    const size_t ld[3] = {e->dim, e->kvd, e->kvd};
    void *const xa[3] = {e->xa, (char *)e->xa + e->xa_part, (char *)e->xa + 2 * e->xa_part};
    for (size_t r = 0; r < e->N; r += BERT_ROWS) {
        const size_t m = e->N - r < BERT_ROWS ? e->N - r : BERT_ROWS;
        float *const out[3] = {e->q + r * e->dim, e->k + r * e->kvd, e->v + r * e->kvd};
        transformer_linear_n(e->t, xa, e->x + r * e->dim, m, e->dim, w, out, ld, bias, NULL, 3);
    }
}

static void linear_bias(const struct enc *e, const float *in, size_t cols, const struct tensor *w,
                        const float *b, float *out)
{
    linear_bias_act(e, in, cols, w, b, out, NULL);
}

/* x = LayerNorm((o + b) + x) row by row: the bias of the projection before it in the same
 * pass (one dispatch of the thread team instead of two; the same additions in the same order) */
static void resid_norm(const struct enc *e, float *o, const float *b, const float *w, const float *wb)
{
    struct row_job j = {.out = o, .x = e->x, .b = b, .w = w, .wb = wb,
                        .cols = e->dim, .eps = e->t->ck.enc.norm_eps, .k = e->t->k};
    kernels_parallel_for(e->N, ROWS_PER_CHUNK, row_range, &j);
}

/* nomic-bert: Q, K, V from the fused projection (rows of dim + 2 kv), then NeoX RoPE on Q
 * and K at each token's position in its sequence, angles as ggml computes them (theta *=
 * base^(-2/n_rot) pair by pair, cosf/sinf in float). */
static void qkv_rope(const struct enc *e, const float *qkv)
{
    const struct bert_hparams *h = &e->t->ck.enc;
    const size_t half = (size_t)h->n_rot / 2, w = e->dim + 2 * e->kvd;
    const float theta_scale = powf(h->rope_base, -2.0f / (float)h->n_rot);
    float *cs = e->cs;
    for (size_t s = 0; s < e->n_seq; s++)
        for (size_t p = 0; p < e->len[s]; p++) {
            const size_t r = e->start[s] + p;
            memcpy(e->q + r * e->dim, qkv + r * w, e->dim * sizeof(float));
            memcpy(e->k + r * e->kvd, qkv + r * w + e->dim, e->kvd * sizeof(float));
            memcpy(e->v + r * e->kvd, qkv + r * w + e->dim + e->kvd, e->kvd * sizeof(float));
            float theta = (float)p;
            for (size_t i = 0; i < half; i++) {
                cs[2 * i] = cosf(theta);
                cs[2 * i + 1] = sinf(theta);
                theta *= theta_scale;
            }
            for (int qk = 0; qk < 2; qk++) {
                float *v = qk ? e->k + r * e->kvd : e->q + r * e->dim;
                const size_t heads = (qk ? e->kvd : e->dim) / e->hs;
                for (size_t hh = 0; hh < heads; hh++) {
                    float *x = v + hh * e->hs;
                    for (size_t i = 0; i < half; i++) {
                        const float x0 = x[i], x1 = x[i + half];
                        x[i] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
                        x[i + half] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
                    }
                }
            }
        }
}

/* attention items: (sequence, head) pairs; each does every query row of its sequence */
static void att_range(void *ctx, size_t b, size_t end)
{
    const struct enc *e = ctx;
    const struct kernels_ops *k = e->t->k;
    const float scale = 1.0f / sqrtf((float)e->hs);
    for (size_t it = b; it < end; it++) {
        float *sc = e->sc + it * e->max_len;
        const size_t sq = it / e->H, h = it % e->H;
        const size_t r0 = e->start[sq], n = e->len[sq];
        const size_t koff = (h / e->group) * e->hs;
        for (size_t i = 0; i < n; i++) {
            const float *q = e->q + (r0 + i) * e->dim + h * e->hs;
            const size_t upto = e->causal ? i + 1 : n;
            /* the tier's attention entries: bit for bit dot * scale per key, and zero then
             * axpy of each weighted value in key order */
            k->att_scores(sc, q, e->k + r0 * e->kvd + koff, e->kvd, upto, e->hs, scale);
            float mx = -INFINITY;
            for (size_t j = 0; j < upto; j++)
                mx = sc[j] > mx ? sc[j] : mx;
            const double sum = k->exp_sum(sc, sc, mx, upto); /* ggml's: the sum in double */
            const float inv = (float)(1.0 / sum);
            for (size_t j = 0; j < upto; j++)
                sc[j] *= inv;
            k->att_sum(e->att + (r0 + i) * e->dim + h * e->hs, sc, e->v + r0 * e->kvd + koff,
                       e->kvd, upto, e->hs);
        }
    }
}

static void enc_free(struct enc *e)
{
    free(e->x);
    free(e->q);
    free(e->k);
    free(e->v);
    free(e->att);
    free(e->o);
    free(e->h);
    free(e->g);
    free(e->cs);
    free(e->xa);
    free(e->sc);
}

/* sequence s's vector at out + s * stride */
static void pool(const struct enc *e, float *out, size_t stride)
{
    const struct checkpoint *ck = &e->t->ck;
    const size_t dim = e->dim;
    for (size_t s = 0; s < e->n_seq; s++) {
        const float *x = e->x + e->start[s] * dim;
        const size_t n = e->len[s];
        float *o = out + s * stride;
        switch (ck->enc.pooling) {
        case BERT_POOL_MEAN: {
            const float inv = 1.0f / (float)n;
            for (size_t i = 0; i < dim; i++) {
                float acc = 0.0f;
                for (size_t r = 0; r < n; r++)
                    acc += x[r * dim + i] * inv;
                o[i] = acc;
            }
            break;
        }
        case BERT_POOL_LAST:
            memcpy(o, x + (n - 1) * dim, dim * sizeof *o);
            break;
        case BERT_POOL_RANK:
        case BERT_POOL_CLS:
        case BERT_POOL_NONE: /* no pooling in the file: the first token ([CLS]) */
        default:
            memcpy(o, x, dim * sizeof *o);
            break;
        }
    }
}

/* the classification head on each sequence's [CLS] vector: tanh(cls x + b), then cls.output */
static void rank_head(const struct enc *e, float *pooled, float *out)
{
    const struct bert_weights *w = &e->t->ck.encw;
    const size_t dim = e->dim, n_out = bert_out_dim(e->t);
    for (size_t s = 0; s < e->n_seq; s++) {
        float *c = pooled + s * dim;
        transformer_linear(e->t, e->xa, c, 1, dim, &w->cls, e->o, dim);
        for (size_t i = 0; i < dim; i++)
            e->o[i] = tanhf(e->o[i] + w->cls_b[i]);
        if (w->cls_out.rows) {
            transformer_linear(e->t, e->xa, e->o, 1, dim, &w->cls_out, out + s * n_out, n_out);
            for (size_t i = 0; i < n_out; i++)
                out[s * n_out + i] += w->cls_out_b[i];
        } else {
            memcpy(out + s * n_out, e->o, dim * sizeof *out);
        }
    }
}

/* One pass over n_seq sequences (bert_encode splits a request into such groups). */
static int encode_group(const transformer *t, const int *const *ids, const size_t *n,
                        size_t n_seq, float *out, const volatile int *cancelled,
                        struct status_err *err)
{
    const struct checkpoint *ck = &t->ck;
    const struct transformer_shape *sh = &ck->shape;
    struct enc e = {.t = t, .dim = (size_t)sh->dim, .hid = (size_t)sh->hidden_dim,
                    .H = (size_t)sh->n_heads, .n_seq = n_seq, .causal = ck->enc.causal};
    e.hs = e.dim / e.H;
    e.kvd = e.hs * (size_t)sh->n_kv_heads;
    e.group = e.H / (size_t)sh->n_kv_heads;
    size_t *start = malloc((n_seq + 1) * sizeof *start);
    int rc = STATUS_OK;
    if (!start)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    for (size_t s = 0; s < n_seq; s++) {
        start[s] = e.N;
        e.N += n[s];
        e.max_len = n[s] > e.max_len ? n[s] : e.max_len;
    }
    e.start = start;
    e.len = n;
    const size_t wide = e.dim > e.hid ? e.dim : e.hid;
    e.x = malloc(e.N * e.dim * sizeof(float));
    e.q = malloc(e.N * e.dim * sizeof(float));
    e.k = malloc(e.N * e.kvd * sizeof(float));
    e.v = malloc(e.N * e.kvd * sizeof(float));
    e.att = malloc(e.N * e.dim * sizeof(float));
    e.o = malloc((e.N > 1 ? e.N : 1) * wide * sizeof(float));
    const size_t hw = e.hid > e.dim + 2 * e.kvd ? e.hid : e.dim + 2 * e.kvd;
    e.h = malloc(e.N * hw * sizeof(float));
    e.g = ck->enc.nomic ? malloc(e.N * e.hid * sizeof(float)) : NULL;
    e.cs = ck->enc.nomic ? malloc((size_t)ck->enc.n_rot * sizeof(float)) : NULL;
    e.xa_part = BERT_ROWS * wide * sizeof(float);
    e.xa = malloc(3 * e.xa_part);
    e.sc = malloc(n_seq * e.H * e.max_len * sizeof(float));
    if (!e.x || !e.q || !e.k || !e.v || !e.att || !e.o || !e.h || !e.xa || !e.sc ||
        (ck->enc.nomic && (!e.g || !e.cs))) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    /* embeddings: token + type 0 + position, then LayerNorm */
    const struct bert_weights *w = &ck->encw;
    float *type0 = e.att, *row = e.q; /* scratch before the first layer */
    kernels_row_to_float(&w->type_emb.m, 0, type0);
    for (size_t s = 0; s < n_seq; s++)
        for (size_t p = 0; p < n[s]; p++) {
            float *x = e.x + (start[s] + p) * e.dim;
            kernels_row_to_float(&ck->tok_emb.m, (size_t)ids[s][p], x);
            if (w->pos_emb.m.data) { /* learned positions (bert); nomic-bert ropes instead */
                kernels_row_to_float(&w->pos_emb.m, p, row);
                for (size_t i = 0; i < e.dim; i++)
                    x[i] = row[i] + (x[i] + type0[i]);
            } else {
                for (size_t i = 0; i < e.dim; i++)
                    x[i] += type0[i];
            }
            t->k->layernorm(x, x, w->emb_norm, w->emb_norm_b, e.dim, ck->enc.norm_eps);
        }
    for (int l = 0; l < sh->n_layers; l++) {
        if (cancelled && *cancelled) {
            rc = status_set(err, STATUS_CANCELLED, NULL, "cancelled");
            goto done;
        }
        const struct bert_layer *b = &ck->bert[l];
        if (ck->enc.nomic) {
            linear_bias(&e, e.x, e.dim, &b->wqkv, NULL, e.h); /* h: (N, dim + 2 kv) scratch */
            qkv_rope(&e, e.h);
        } else {
            linear_qkv(&e, b);
        }
        kernels_parallel_for(n_seq * e.H, 1, att_range, &e);
        linear_bias(&e, e.att, e.dim, &b->wo, NULL, e.o);
        resid_norm(&e, e.o, b->bo, b->att_norm, b->att_norm_b);
        if (ck->enc.nomic) { /* SwiGLU: silu(gate x) * (up x) */
            linear_bias(&e, e.x, e.dim, &b->gate, NULL, e.h);
            linear_bias(&e, e.x, e.dim, &b->up, NULL, e.g);
            kernels_act_get(KERNELS_ACT_SILU, t->k->tier)(e.h, e.h, e.g, e.N * e.hid);
        } else {
            linear_bias_act(&e, e.x, e.dim, &b->up, b->up_b, e.h,
                            kernels_act_get(KERNELS_ACT_GELU_GGML, t->k->tier));
        }
        linear_bias(&e, e.h, e.hid, &b->down, NULL, e.o);
        resid_norm(&e, e.o, b->down_b, b->out_norm, b->out_norm_b);
    }
    if (ck->enc.pooling == BERT_POOL_RANK) {
        pool(&e, e.att, e.dim); /* [CLS] rows, n_seq * dim <= N * dim */
        rank_head(&e, e.att, out);
    } else {
        pool(&e, out, e.dim);
    }
done:
    free(start);
    enc_free(&e);
    return rc;
}

int bert_encode(const transformer *t, const int *const *ids, const size_t *n, size_t n_seq,
                float *out, const volatile int *cancelled, struct status_err *err)
{
    /* groups of whole sequences of at most BERT_GROUP_TOKENS tokens (one sequence may be
     * longer: up to the context), so a request of many long inputs never holds the
     * activations of all of them at once */
    const size_t od = bert_out_dim(t);
    for (size_t s0 = 0; s0 < n_seq;) {
        size_t s1 = s0 + 1, tok = n[s0];
        while (s1 < n_seq && tok + n[s1] <= BERT_GROUP_TOKENS)
            tok += n[s1++];
        int rc = encode_group(t, ids + s0, n + s0, s1 - s0, out + s0 * od, cancelled, err);
        if (rc != STATUS_OK)
            return rc;
        s0 = s1;
    }
    return STATUS_OK;
}
