/* gguf_weights.c: the weights of a GGUF file (llama.cpp's names and shapes) as views into
 * its map, for the architectures llama (Llama 2/3, TinyLlama, SmolLM, Mistral-style),
 * qwen2 (Q/K/V biases, NeoX RoPE), mamba (mamba.c computes it), bert (bert.c) and gpt2 (learned positions,
 * LayerNorm, fused QKV as row views, biases, GELU), one row each in ARCHS. Every tensor's
 * presence, shape, type and alignment is checked here; the forward pass (forward.c) then
 * runs on them in place. */
#include "../gguf/gguf.h"
#include "../vocab/vocab_gguf.h"
#include "transformer_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 96

static const struct {
    enum gguf_ttype g;
    enum kernels_type k;
} TYPE_MAP[] = {
    {GGUF_T_F32, KERNELS_F32},   {GGUF_T_F16, KERNELS_F16},   {GGUF_T_BF16, KERNELS_BF16},
    {GGUF_T_Q4_0, KERNELS_Q4_0}, {GGUF_T_Q4_1, KERNELS_Q4_1}, {GGUF_T_Q5_0, KERNELS_Q5_0},
    {GGUF_T_Q5_1, KERNELS_Q5_1}, {GGUF_T_Q8_0, KERNELS_Q8_0}, {GGUF_T_Q4_K, KERNELS_Q4_K},
    {GGUF_T_Q5_K, KERNELS_Q5_K}, {GGUF_T_Q6_K, KERNELS_Q6_K},
};

struct loader {
    const gguf *g;
    const char *path;
    struct checkpoint *ck;
    struct status_err *err;
    char arch[32];
};

static const struct gguf_tensor *find(struct loader *ld, const char *name, int layer)
{
    char full[NAME_MAX_LEN];
    if (layer >= 0)
        snprintf(full, sizeof full, "blk.%d.%s", layer, name);
    else
        snprintf(full, sizeof full, "%s", name);
    return gguf_find_tensor(ld->g, full);
}

static int missing(struct loader *ld, const char *name, int layer)
{
    if (layer >= 0)
        return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                          "%s: tensor 'blk.%d.%s' is missing (architecture %s)", ld->path,
                          layer, name, ld->arch);
    return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                      "%s: tensor '%s' is missing (architecture %s)", ld->path, name, ld->arch);
}

static int bad_shape(struct loader *ld, const struct gguf_tensor *t, uint64_t c, uint64_t r)
{
    return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                      "%s: tensor '%.*s' has shape [%llu, %llu, %llu, %llu], expected [%llu, %llu]",
                      ld->path, (int)t->name.len, t->name.s, (unsigned long long)t->ne[0],
                      (unsigned long long)t->ne[1], (unsigned long long)t->ne[2],
                      (unsigned long long)t->ne[3], (unsigned long long)c,
                      (unsigned long long)r);
}

/* A weight matrix of 'rows' x 'cols' (GGUF ne = [cols, rows]). */
static int take_mat(struct loader *ld, const char *name, int layer, size_t rows, size_t cols,
                    struct tensor *out, int optional)
{
    const struct gguf_tensor *t = find(ld, name, layer);
    if (!t)
        return optional ? STATUS_NOT_FOUND : missing(ld, name, layer);
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return bad_shape(ld, t, cols, rows);
    size_t k = 0;
    while (k < sizeof TYPE_MAP / sizeof TYPE_MAP[0] && TYPE_MAP[k].g != t->type)
        k++;
    if (k == sizeof TYPE_MAP / sizeof TYPE_MAP[0])
        return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                          "%s: tensor '%.*s' has type %s, which lmserve does not compute with "
                          "(F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)",
                          ld->path, (int)t->name.len, t->name.s, gguf_ttype_name(t->type));
    if ((uintptr_t)t->data % 4 != 0)
        return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                          "%s: tensor '%.*s' is not 4-byte aligned in the file", ld->path,
                          (int)t->name.len, t->name.s);
    const enum kernels_type kt = TYPE_MAP[k].k;
    memset(out, 0, sizeof *out);
    out->rows = rows;
    out->cols = cols;
    out->m.type = kt;
    out->m.data = t->data;
    out->m.cols = cols;
    out->m.row_bytes = cols / kernels_types[kt].block_size * kernels_types[kt].block_bytes;
    ld->ck->type_params[kt] += rows * cols;
    return STATUS_OK;
}

/* A float32 tensor of ne0 x ne1 values (ne1 = 1: a vector: norms, biases, rope factors). */
static int take_f32(struct loader *ld, const char *name, int layer, size_t ne0, size_t ne1,
                    const float **out, int optional)
{
    const struct gguf_tensor *t = find(ld, name, layer);
    if (!t)
        return optional ? STATUS_NOT_FOUND : missing(ld, name, layer);
    if (t->n_elems != ne0 * ne1 || t->ne[0] != ne0)
        return bad_shape(ld, t, ne0, ne1);
    if (t->type != GGUF_T_F32 || (uintptr_t)t->data % 4 != 0)
        return status_set(ld->err, STATUS_BAD_FORMAT, "tensor",
                          "%s: tensor '%.*s' must be F32 (it is %s)", ld->path,
                          (int)t->name.len, t->name.s, gguf_ttype_name(t->type));
    *out = t->data;
    ld->ck->type_params[KERNELS_F32] += ne0 * ne1;
    return STATUS_OK;
}

static int take_vec(struct loader *ld, const char *name, int layer, size_t n, const float **out,
                    int optional)
{
    return take_f32(ld, name, layer, n, 1, out, optional);
}

/* The architectures' tables of required tensors (layer -1: not in a block), taken in order
 * until one fails. */
struct mat_spec {
    const char *name;
    size_t rows, cols;
    struct tensor *t;
};

struct f32_spec {
    const char *name;
    size_t ne0, ne1; /* ne1 = 1: a vector */
    const float **p;
};

#define N_SPECS(a) (sizeof(a) / sizeof(a)[0])

static int take_mats(struct loader *ld, int layer, const struct mat_spec *m, size_t n)
{
    int rc = STATUS_OK;
    for (size_t i = 0; i < n && rc == STATUS_OK; i++)
        rc = take_mat(ld, m[i].name, layer, m[i].rows, m[i].cols, m[i].t, 0);
    return rc;
}

static int take_f32s(struct loader *ld, int layer, const struct f32_spec *v, size_t n)
{
    int rc = STATUS_OK;
    for (size_t i = 0; i < n && rc == STATUS_OK; i++)
        rc = take_f32(ld, v[i].name, layer, v[i].ne0, v[i].ne1, v[i].p, 0);
    return rc;
}

/* output.weight, or the token embedding when the file ties the two (no output.weight). */
static int take_classifier(struct loader *ld)
{
    struct checkpoint *ck = ld->ck;
    int rc = take_mat(ld, "output.weight", -1, (size_t)ck->shape.vocab, (size_t)ck->shape.dim,
                      &ck->wcls, 1);
    if (rc == STATUS_NOT_FOUND) {
        ck->shape.shared_classifier = 1;
        ck->wcls = ck->tok_emb;
        rc = STATUS_OK;
    }
    return rc;
}

/* '<arch>.<key>' as an integer in [lo, hi]; 'def' when absent and def >= 0. */
static int meta_int(struct loader *ld, const char *key, int64_t lo, int64_t hi, int64_t def,
                    int *out)
{
    char full[NAME_MAX_LEN];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    int64_t v;
    int rc = gguf_get_int(ld->g, full, &v, ld->err);
    if (rc == STATUS_NOT_FOUND && def >= 0) {
        *out = (int)def;
        return STATUS_OK;
    }
    if (rc == STATUS_NOT_FOUND)
        return status_set(ld->err, STATUS_BAD_FORMAT, full, "%s: metadata key '%s' is missing",
                          ld->path, full);
    if (rc != STATUS_OK)
        return rc;
    if (v < lo || v > hi)
        return status_set(ld->err, STATUS_BAD_FORMAT, full,
                          "%s: metadata key '%s' = %lld is out of range [%lld, %lld]", ld->path,
                          full, (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return STATUS_OK;
}

static int meta_float(struct loader *ld, const char *key, double def, float *out)
{
    char full[NAME_MAX_LEN];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    double v;
    int rc = gguf_get_float(ld->g, full, &v, ld->err);
    if (rc == STATUS_NOT_FOUND)
        v = def;
    else if (rc != STATUS_OK)
        return rc;
    if (!isfinite(v) || v <= 0)
        return status_set(ld->err, STATUS_BAD_FORMAT, full,
                          "%s: metadata key '%s' = %g must be a positive number", ld->path, full,
                          v);
    *out = (float)v;
    return STATUS_OK;
}

/* '<arch>.<key>' as a boolean; 'def' when absent. */
static int meta_bool(struct loader *ld, const char *key, int def, int *out)
{
    char full[NAME_MAX_LEN];
    snprintf(full, sizeof full, "%s.%s", ld->arch, key);
    int rc = gguf_get_bool(ld->g, full, out, ld->err);
    if (rc == STATUS_NOT_FOUND)
        *out = def, rc = STATUS_OK;
    return rc;
}

/* '<arch>.rope.dimension_count': even, at most the head size (the default). */
static int meta_rope_dims(struct loader *ld, int *out)
{
    const int hs = ld->ck->shape.dim / ld->ck->shape.n_heads;
    int rc = meta_int(ld, "rope.dimension_count", 2, hs, hs, out);
    if (rc == STATUS_OK && *out % 2 != 0)
        rc = status_set(ld->err, STATUS_BAD_FORMAT, "rope.dimension_count",
                        "%s: rope.dimension_count %d is odd", ld->path, *out);
    return rc;
}

/* The shape every attention architecture reads alike: width, FFN width, layers, heads (keys/
 * values default to the heads), context. */
static int read_attention_shape(struct loader *ld)
{
    struct transformer_shape *s = &ld->ck->shape;
    int rc;
    if ((rc = meta_int(ld, "embedding_length", 1, CKPT_DIM_MAX, -1, &s->dim)) != STATUS_OK ||
        (rc = meta_int(ld, "feed_forward_length", 1, CKPT_HIDDEN_MAX, -1, &s->hidden_dim)) != STATUS_OK ||
        (rc = meta_int(ld, "block_count", 1, CKPT_LAYERS_MAX, -1, &s->n_layers)) != STATUS_OK ||
        (rc = meta_int(ld, "attention.head_count", 1, CKPT_HEADS_MAX, -1, &s->n_heads)) != STATUS_OK ||
        (rc = meta_int(ld, "attention.head_count_kv", 1, CKPT_HEADS_MAX, s->n_heads, &s->n_kv_heads)) != STATUS_OK ||
        (rc = meta_int(ld, "context_length", 1, CKPT_SEQ_MAX, -1, &s->seq_len)) != STATUS_OK)
        return rc;
    return STATUS_OK;
}

/* The heads must divide the width (into even head sizes when 'even': RoPE rotates pairs). */
static int check_heads(struct loader *ld, int even)
{
    const struct transformer_shape *s = &ld->ck->shape;
    if (s->dim % s->n_heads != 0 || s->n_heads % s->n_kv_heads != 0 ||
        (even && (s->dim / s->n_heads) % 2 != 0))
        return status_set(ld->err, STATUS_BAD_FORMAT, "attention.head_count",
                          "%s: %d heads (%d for keys/values) do not divide the width %d%s",
                          ld->path, s->n_heads, s->n_kv_heads, s->dim,
                          even ? " into even head sizes" : "");
    return STATUS_OK;
}

static int read_hparams(struct loader *ld)
{
    struct arch *a = &ld->ck->arch;
    int rc;
    if ((rc = read_attention_shape(ld)) != STATUS_OK || (rc = check_heads(ld, 1)) != STATUS_OK)
        return rc;
    if ((rc = meta_rope_dims(ld, &a->n_rot)) != STATUS_OK ||
        (rc = meta_float(ld, "rope.freq_base", 10000.0, &a->rope_theta)) != STATUS_OK ||
        (rc = meta_float(ld, "attention.layer_norm_rms_epsilon", 1e-5, &a->rms_eps)) != STATUS_OK)
        return rc;
    a->rope_freq_scale = 1.0f;
    char key[NAME_MAX_LEN];
    snprintf(key, sizeof key, "%s.rope.scaling.type", ld->arch);
    struct gguf_str st = {"none", 4};
    rc = gguf_get_str(ld->g, key, &st, ld->err);
    if (rc != STATUS_OK && rc != STATUS_NOT_FOUND)
        return rc;
    float factor = 1.0f;
    if ((rc = meta_float(ld, "rope.scaling.factor", 1.0, &factor)) != STATUS_OK)
        return rc;
    if (gguf_str_eq(st, "linear"))
        a->rope_freq_scale = 1.0f / factor;
    else if (!gguf_str_eq(st, "none"))
        return status_set(ld->err, STATUS_BAD_FORMAT, key,
                          "%s: rope scaling '%.*s' is not supported (none and linear are)",
                          ld->path, (int)(st.len > 40 ? 40 : st.len), st.s);
    if (gguf_str_eq(st, "none") && gguf_find(ld->g, key) == NULL) {
        /* older files: only rope.scale_linear */
        float lin = 1.0f;
        if ((rc = meta_float(ld, "rope.scale_linear", 1.0, &lin)) != STATUS_OK)
            return rc;
        a->rope_freq_scale = 1.0f / lin;
    }
    return STATUS_OK;
}

static int alloc_layers(struct checkpoint *ck, int biases, struct status_err *err)
{
    const size_t L = (size_t)ck->shape.n_layers;
    ck->rms_att = calloc(L, sizeof *ck->rms_att);
    ck->rms_ffn = calloc(L, sizeof *ck->rms_ffn);
    int ok = ck->rms_att && ck->rms_ffn;
    struct tensor **mats[] = {&ck->wq, &ck->wk, &ck->wv, &ck->wo, &ck->w1, &ck->w2, &ck->w3};
    for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
        ok = ok && (*mats[i] = calloc(L, sizeof **mats[i])) != NULL;
    if (biases) {
        const float ***b[] = {&ck->bq, &ck->bk, &ck->bv};
        for (size_t i = 0; i < 3; i++)
            ok = ok && (*b[i] = calloc(L, sizeof **b[i])) != NULL;
    }
    return ok ? STATUS_OK : status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
}

static int take_weights(struct loader *ld, int qwen2)
{
    struct checkpoint *ck = ld->ck;
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, hid = (size_t)s->hidden_dim, V = (size_t)s->vocab;
    const size_t kv = dim / (size_t)s->n_heads * (size_t)s->n_kv_heads;
    int rc = take_mat(ld, "token_embd.weight", -1, V, dim, &ck->tok_emb, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "output_norm.weight", -1, dim, &ck->rms_final, 0);
    if (rc == STATUS_OK)
        rc = take_classifier(ld);
    if (rc == STATUS_OK) {
        rc = take_vec(ld, "rope_freqs.weight", -1, (size_t)ck->arch.n_rot / 2,
                      &ck->arch.rope_freqs, 1);
        rc = rc == STATUS_NOT_FOUND ? STATUS_OK : rc;
    }
    for (int l = 0; l < s->n_layers && rc == STATUS_OK; l++) {
        const struct mat_spec mats[] = {{"attn_q.weight", dim, dim, &ck->wq[l]},
                                        {"attn_k.weight", kv, dim, &ck->wk[l]},
                                        {"attn_v.weight", kv, dim, &ck->wv[l]},
                                        {"attn_output.weight", dim, dim, &ck->wo[l]},
                                        {"ffn_gate.weight", hid, dim, &ck->w1[l]},
                                        {"ffn_down.weight", dim, hid, &ck->w2[l]},
                                        {"ffn_up.weight", hid, dim, &ck->w3[l]}};
        const struct f32_spec vecs[] = {{"attn_norm.weight", dim, 1, &ck->rms_att[l]},
                                        {"ffn_norm.weight", dim, 1, &ck->rms_ffn[l]}};
        rc = take_mats(ld, l, mats, N_SPECS(mats));
        if (rc == STATUS_OK)
            rc = take_f32s(ld, l, vecs, N_SPECS(vecs));
        if (rc == STATUS_OK && qwen2) {
            const struct f32_spec bias[] = {{"attn_q.bias", dim, 1, &ck->bq[l]},
                                            {"attn_k.bias", kv, 1, &ck->bk[l]},
                                            {"attn_v.bias", kv, 1, &ck->bv[l]}};
            rc = take_f32s(ld, l, bias, N_SPECS(bias));
        }
    }
    return rc;
}

/* ---- Mamba-1: llama.cpp's names and shapes (llama-model.cpp, LLM_ARCH_MAMBA) ---- */

#define MAMBA_CONV_MAX 64 /* d_conv bound (real models: 4) */

static int read_mamba_hparams(struct loader *ld)
{
    struct transformer_shape *s = &ld->ck->shape;
    struct mamba_hparams *h = &ld->ck->ssm;
    int rc;
    if ((rc = meta_int(ld, "embedding_length", 1, CKPT_DIM_MAX, -1, &s->dim)) != STATUS_OK ||
        (rc = meta_int(ld, "block_count", 1, CKPT_LAYERS_MAX, -1, &s->n_layers)) != STATUS_OK ||
        (rc = meta_int(ld, "context_length", 1, INT32_MAX, -1, &s->seq_len)) != STATUS_OK ||
        (rc = meta_int(ld, "ssm.conv_kernel", 1, MAMBA_CONV_MAX, -1, &h->d_conv)) != STATUS_OK ||
        (rc = meta_int(ld, "ssm.inner_size", 1, CKPT_HIDDEN_MAX, -1, &h->d_inner)) != STATUS_OK ||
        (rc = meta_int(ld, "ssm.state_size", 1, CKPT_DIM_MAX, -1, &h->d_state)) != STATUS_OK ||
        (rc = meta_int(ld, "ssm.time_step_rank", 1, CKPT_DIM_MAX, -1, &h->dt_rank)) != STATUS_OK ||
        (rc = meta_float(ld, "attention.layer_norm_rms_epsilon", 1e-5, &ld->ck->arch.rms_eps)) != STATUS_OK)
        return rc;
    if ((rc = meta_bool(ld, "ssm.dt_b_c_rms", 0, &h->dt_b_c_rms)) != STATUS_OK)
        return rc;
    /* no attention: one "head" keeps the shape's divisions defined; no feed-forward */
    s->n_heads = s->n_kv_heads = 1;
    s->hidden_dim = h->d_inner;
    ld->ck->arch.n_rot = 2;
    return STATUS_OK;
}

static int take_mamba(struct loader *ld)
{
    struct checkpoint *ck = ld->ck;
    const struct mamba_hparams *h = &ck->ssm;
    const size_t dim = (size_t)ck->shape.dim, di = (size_t)h->d_inner, ds = (size_t)h->d_state;
    const size_t dc = (size_t)h->d_conv, dtr = (size_t)h->dt_rank, V = (size_t)ck->shape.vocab;
    ck->recurrent = &mamba_ops;
    ck->mamba = calloc((size_t)ck->shape.n_layers, sizeof *ck->mamba);
    if (!ck->mamba)
        return status_set(ld->err, STATUS_NO_MEMORY, NULL, "out of memory");
    int rc = take_mat(ld, "token_embd.weight", -1, V, dim, &ck->tok_emb, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "output_norm.weight", -1, dim, &ck->rms_final, 0);
    if (rc == STATUS_OK)
        rc = take_classifier(ld);
    for (int l = 0; l < ck->shape.n_layers && rc == STATUS_OK; l++) {
        struct mamba_layer *w = &ck->mamba[l];
        const struct mat_spec mats[] = {{"ssm_in.weight", 2 * di, dim, &w->in},
                                        {"ssm_x.weight", dtr + 2 * ds, di, &w->x},
                                        {"ssm_dt.weight", di, dtr, &w->dt},
                                        {"ssm_out.weight", dim, di, &w->out}};
        const struct f32_spec vecs[] = {
            {"attn_norm.weight", dim, 1, &w->norm}, {"ssm_conv1d.weight", dc, di, &w->conv_w},
            {"ssm_conv1d.bias", di, 1, &w->conv_b}, {"ssm_dt.bias", di, 1, &w->dt_b},
            {"ssm_a", ds, di, &w->A},               {"ssm_d", di, 1, &w->D}};
        rc = take_mats(ld, l, mats, N_SPECS(mats));
        if (rc == STATUS_OK)
            rc = take_f32s(ld, l, vecs, N_SPECS(vecs));
    }
    return rc;
}

/* ---- BERT encoders: llama.cpp's names and shapes (llama-model.cpp, LLM_ARCH_BERT) ---- */

#define BERT_TYPES_MAX 1024 /* token type rows bound (real models: 1 or 2) */

static int read_bert_hparams(struct loader *ld)
{
    struct bert_hparams *h = &ld->ck->enc;
    int rc;
    if ((rc = read_attention_shape(ld)) != STATUS_OK ||
        (rc = meta_float(ld, "attention.layer_norm_epsilon", 1e-12, &h->norm_eps)) != STATUS_OK)
        return rc;
    if ((rc = check_heads(ld, 0)) != STATUS_OK)
        return rc;
    if ((rc = meta_bool(ld, "attention.causal", 0, &h->causal)) != STATUS_OK)
        return rc;
    char key[NAME_MAX_LEN];
    snprintf(key, sizeof key, "%s.pooling_type", ld->arch);
    h->pooling_in_file = gguf_find(ld->g, key) != NULL;
    /* absent: mean, as sentence-transformers models pool */
    if ((rc = meta_int(ld, "pooling_type", BERT_POOL_NONE, BERT_POOL_RANK, BERT_POOL_MEAN,
                       &h->pooling)) != STATUS_OK)
        return rc;
    ld->ck->arch.n_rot = 2; /* bert: no RoPE (learned positions) */
    if (!strcmp(ld->arch, "nomic-bert")) {
        h->nomic = 1;
        if ((rc = meta_rope_dims(ld, &h->n_rot)) != STATUS_OK ||
            (rc = meta_float(ld, "rope.freq_base", 10000.0, &h->rope_base)) != STATUS_OK)
            return rc;
    }
    return STATUS_OK;
}

static int take_bert(struct loader *ld)
{
    struct checkpoint *ck = ld->ck;
    struct bert_weights *w = &ck->encw;
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, hid = (size_t)s->hidden_dim, V = (size_t)s->vocab;
    const size_t kv = dim / (size_t)s->n_heads * (size_t)s->n_kv_heads;
    ck->bert = calloc((size_t)s->n_layers, sizeof *ck->bert);
    if (!ck->bert)
        return status_set(ld->err, STATUS_NO_MEMORY, NULL, "out of memory");
    const struct gguf_tensor *tt = find(ld, "token_types.weight", -1);
    if (!tt)
        return missing(ld, "token_types.weight", -1);
    if (tt->ne[1] < 1 || tt->ne[1] > BERT_TYPES_MAX)
        return bad_shape(ld, tt, dim, 2);
    ck->enc.n_types = (int)tt->ne[1];
    int rc = take_mat(ld, "token_embd.weight", -1, V, dim, &ck->tok_emb, 0);
    if (rc == STATUS_OK)
        rc = take_mat(ld, "token_types.weight", -1, (size_t)ck->enc.n_types, dim, &w->type_emb, 0);
    if (rc == STATUS_OK && !ck->enc.nomic) /* nomic-bert: RoPE instead */
        rc = take_mat(ld, "position_embd.weight", -1, (size_t)s->seq_len, dim, &w->pos_emb, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "token_embd_norm.weight", -1, dim, &w->emb_norm, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "token_embd_norm.bias", -1, dim, &w->emb_norm_b, 0);
    /* the classification head (rerankers): optional, both parts or none */
    if (rc == STATUS_OK) {
        rc = take_mat(ld, "cls.weight", -1, dim, dim, &w->cls, 1);
        if (rc == STATUS_OK)
            rc = take_vec(ld, "cls.bias", -1, dim, &w->cls_b, 0);
        else if (rc == STATUS_NOT_FOUND)
            rc = STATUS_OK;
    }
    if (rc == STATUS_OK && w->cls.rows) {
        const struct gguf_tensor *co = find(ld, "cls.output.weight", -1);
        if (co && (co->ne[1] < 1 || co->ne[1] > BERT_TYPES_MAX))
            rc = bad_shape(ld, co, dim, 1);
        else if (co)
            rc = take_mat(ld, "cls.output.weight", -1, (size_t)co->ne[1], dim, &w->cls_out, 0);
        if (rc == STATUS_OK && co)
            rc = take_vec(ld, "cls.output.bias", -1, (size_t)co->ne[1], &w->cls_out_b, 0);
    }
    if (rc == STATUS_OK && ck->enc.pooling == BERT_POOL_RANK && !w->cls.rows)
        rc = status_set(ld->err, STATUS_BAD_FORMAT, "pooling_type",
                        "%s: pooling_type is rank but the file has no classification head "
                        "(cls.weight)", ld->path);
    for (int l = 0; l < s->n_layers && rc == STATUS_OK && ck->enc.nomic; l++) {
        struct bert_layer *b = &ck->bert[l];
        const struct mat_spec mats[] = {{"attn_qkv.weight", dim + 2 * kv, dim, &b->wqkv},
                                        {"attn_output.weight", dim, dim, &b->wo},
                                        {"ffn_up.weight", hid, dim, &b->up},
                                        {"ffn_gate.weight", hid, dim, &b->gate},
                                        {"ffn_down.weight", dim, hid, &b->down}};
        const struct f32_spec vecs[] = {{"attn_output_norm.weight", dim, 1, &b->att_norm},
                                        {"attn_output_norm.bias", dim, 1, &b->att_norm_b},
                                        {"layer_output_norm.weight", dim, 1, &b->out_norm},
                                        {"layer_output_norm.bias", dim, 1, &b->out_norm_b}};
        rc = take_mats(ld, l, mats, N_SPECS(mats));
        if (rc == STATUS_OK)
            rc = take_f32s(ld, l, vecs, N_SPECS(vecs));
    }
    for (int l = 0; l < s->n_layers && rc == STATUS_OK && !ck->enc.nomic; l++) {
        struct bert_layer *b = &ck->bert[l];
        const struct mat_spec mats[] = {
            {"attn_q.weight", dim, dim, &b->wq}, {"attn_k.weight", kv, dim, &b->wk},
            {"attn_v.weight", kv, dim, &b->wv},  {"attn_output.weight", dim, dim, &b->wo},
            {"ffn_up.weight", hid, dim, &b->up}, {"ffn_down.weight", dim, hid, &b->down}};
        const struct f32_spec vecs[] = {{"attn_q.bias", dim, 1, &b->bq},
                                        {"attn_k.bias", kv, 1, &b->bk},
                                        {"attn_v.bias", kv, 1, &b->bv},
                                        {"attn_output.bias", dim, 1, &b->bo},
                                        {"attn_output_norm.weight", dim, 1, &b->att_norm},
                                        {"attn_output_norm.bias", dim, 1, &b->att_norm_b},
                                        {"ffn_up.bias", hid, 1, &b->up_b},
                                        {"ffn_down.bias", dim, 1, &b->down_b},
                                        {"layer_output_norm.weight", dim, 1, &b->out_norm},
                                        {"layer_output_norm.bias", dim, 1, &b->out_norm_b}};
        rc = take_mats(ld, l, mats, N_SPECS(mats));
        if (rc == STATUS_OK)
            rc = take_f32s(ld, l, vecs, N_SPECS(vecs));
    }
    return rc;
}

/* ---- GPT-2: llama.cpp's names and shapes (llama-model.cpp, LLM_ARCH_GPT2) ---- */

static int read_gpt2_hparams(struct loader *ld)
{
    struct arch *a = &ld->ck->arch;
    int rc;
    if ((rc = read_attention_shape(ld)) != STATUS_OK ||
        (rc = meta_float(ld, "attention.layer_norm_epsilon", 1e-5, &a->rms_eps)) != STATUS_OK)
        return rc;
    if ((rc = check_heads(ld, 0)) != STATUS_OK)
        return rc;
    a->n_rot = 0; /* learned positions, no RoPE */
    a->layernorm = 1;
    a->act = KERNELS_ACT_GELU_GGML; /* GPT-2's tanh GELU, as llama.cpp computes it */
    a->gated = 0;
    return STATUS_OK;
}

/* A view of rows [r0, r0 + rows) of a matrix (the fused QKV's parts). */
static struct tensor rows_of(const struct tensor *t, size_t r0, size_t rows)
{
    struct tensor v = *t;
    v.rows = rows;
    v.m.data = (const char *)t->m.data + r0 * t->m.row_bytes;
    return v;
}

static int take_gpt2(struct loader *ld)
{
    struct checkpoint *ck = ld->ck;
    const struct transformer_shape *s = &ck->shape;
    const size_t dim = (size_t)s->dim, hid = (size_t)s->hidden_dim, V = (size_t)s->vocab;
    const size_t kv = dim / (size_t)s->n_heads * (size_t)s->n_kv_heads;
    int rc = alloc_layers(ck, 1, ld->err);
    if (rc != STATUS_OK)
        return rc;
    if (!(ck->lb = calloc((size_t)s->n_layers, sizeof *ck->lb)))
        return status_set(ld->err, STATUS_NO_MEMORY, NULL, "out of memory");
    rc = take_mat(ld, "token_embd.weight", -1, V, dim, &ck->tok_emb, 0);
    if (rc == STATUS_OK)
        rc = take_mat(ld, "position_embd.weight", -1, (size_t)s->seq_len, dim, &ck->pos_emb, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "output_norm.weight", -1, dim, &ck->rms_final, 0);
    if (rc == STATUS_OK)
        rc = take_vec(ld, "output_norm.bias", -1, dim, &ck->final_norm_b, 0);
    if (rc == STATUS_OK)
        rc = take_classifier(ld);
    for (int l = 0; l < s->n_layers && rc == STATUS_OK; l++) {
        struct layer_bias *b = &ck->lb[l];
        struct tensor qkv;
        const float *bqkv = NULL;
        rc = take_mat(ld, "attn_qkv.weight", l, dim + 2 * kv, dim, &qkv, 0);
        if (rc == STATUS_OK)
            rc = take_vec(ld, "attn_qkv.bias", l, dim + 2 * kv, &bqkv, 0);
        if (rc != STATUS_OK)
            break;
        ck->wq[l] = rows_of(&qkv, 0, dim);
        ck->wk[l] = rows_of(&qkv, dim, kv);
        ck->wv[l] = rows_of(&qkv, dim + kv, kv);
        ck->bq[l] = bqkv;
        ck->bk[l] = bqkv + dim;
        ck->bv[l] = bqkv + dim + kv;
        const struct mat_spec mats[] = {{"attn_output.weight", dim, dim, &ck->wo[l]},
                                        {"ffn_up.weight", hid, dim, &ck->w3[l]},
                                        {"ffn_down.weight", dim, hid, &ck->w2[l]}};
        const struct f32_spec vecs[] = {
            {"attn_norm.weight", dim, 1, &ck->rms_att[l]}, {"attn_norm.bias", dim, 1, &b->att_norm},
            {"attn_output.bias", dim, 1, &b->o},           {"ffn_norm.weight", dim, 1, &ck->rms_ffn[l]},
            {"ffn_norm.bias", dim, 1, &b->ffn_norm},       {"ffn_up.bias", hid, 1, &b->up},
            {"ffn_down.bias", dim, 1, &b->down}};
        rc = take_mats(ld, l, mats, N_SPECS(mats));
        if (rc == STATUS_OK)
            rc = take_f32s(ld, l, vecs, N_SPECS(vecs));
    }
    return rc;
}

/* ---- the architectures: one row each ---- */

static int take_llama(struct loader *ld)
{
    int rc = alloc_layers(ld->ck, 0, ld->err);
    return rc == STATUS_OK ? take_weights(ld, 0) : rc;
}

static int take_qwen2(struct loader *ld)
{
    int rc = alloc_layers(ld->ck, 1, ld->err);
    return rc == STATUS_OK ? take_weights(ld, 1) : rc;
}

/* A decoder's <arch>.pooling_type (an embedding model built on a decoder, e.g. gte-Qwen2):
 * when present, the model also serves /v1/embeddings from its final normed hidden states. */
static int read_decoder_pooling(struct loader *ld)
{
    char key[NAME_MAX_LEN];
    snprintf(key, sizeof key, "%s.pooling_type", ld->arch);
    if (!gguf_find(ld->g, key))
        return STATUS_OK;
    ld->ck->enc.pooling_in_file = 1;
    return meta_int(ld, "pooling_type", BERT_POOL_NONE, BERT_POOL_LAST, BERT_POOL_NONE,
                    &ld->ck->enc.pooling);
}

static const struct gguf_arch {
    const char *name;
    int neox; /* NeoX RoPE */
    int (*hparams)(struct loader *);
    int (*weights)(struct loader *);
} ARCHS[] = {
    {"llama", 0, read_hparams, take_llama},
    {"qwen2", 1, read_hparams, take_qwen2},
    {"mamba", 0, read_mamba_hparams, take_mamba},
    {"bert", 0, read_bert_hparams, take_bert},
    {"nomic-bert", 1, read_bert_hparams, take_bert},
    {"gpt2", 0, read_gpt2_hparams, take_gpt2},
};
#define ARCHS_NAMES "llama, qwen2, mamba, bert, nomic-bert and gpt2"

int checkpoint_open_gguf(const char *path, struct checkpoint *ck, struct status_err *err)
{
    memset(ck, 0, sizeof *ck);
    gguf *g = NULL;
    int rc = gguf_open_resident(path, &g, err); /* the weights on huge pages */
    if (rc != STATUS_OK)
        return rc;
    ck->g = g;
    struct loader ld = {.g = g, .path = path, .ck = ck, .err = err};
    struct gguf_str arch;
    rc = gguf_get_str(g, "general.architecture", &arch, err);
    if (rc == STATUS_NOT_FOUND)
        rc = status_set(err, STATUS_BAD_FORMAT, "general.architecture",
                        "%s: metadata key 'general.architecture' is missing", path);
    if (rc != STATUS_OK)
        goto fail;
    snprintf(ld.arch, sizeof ld.arch, "%.*s", (int)(arch.len < 31 ? arch.len : 31), arch.s);
    const struct gguf_arch *ga = NULL;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0] && !ga; i++)
        if (gguf_str_eq(arch, ARCHS[i].name))
            ga = &ARCHS[i];
    if (!ga) {
        rc = status_set(err, STATUS_BAD_FORMAT, "general.architecture",
                        "%s: architecture '%s' is not supported (" ARCHS_NAMES " are)", path,
                        ld.arch);
        goto fail;
    }
    if (gguf_n_tensors(g) == 0) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tensor", "%s: holds no tensors", path);
        goto fail;
    }
    snprintf(ck->arch.name, sizeof ck->arch.name, "%s", ld.arch);
    ck->arch.neox = ga->neox;
    ck->arch.ggml = 1;
    ck->arch.act = KERNELS_ACT_SILU; /* llama's SwiGLU unless the architecture says */
    ck->arch.gated = 1;
    if ((rc = ga->hparams(&ld)) != STATUS_OK ||
        (ga->hparams != read_bert_hparams && (rc = read_decoder_pooling(&ld)) != STATUS_OK))
        goto fail;
    const struct gguf_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
    if (!emb) {
        rc = missing(&ld, "token_embd.weight", -1);
        goto fail;
    }
    if (emb->ne[1] == 0 || emb->ne[1] > CKPT_VOCAB_MAX) {
        rc = status_set(err, STATUS_BAD_FORMAT, "tensor", "%s: vocabulary of %llu is out of range",
                        path, (unsigned long long)emb->ne[1]);
        goto fail;
    }
    ck->shape.vocab = (int)emb->ne[1];
    ck->shape.version = 3;
    if ((rc = ga->weights(&ld)) != STATUS_OK)
        goto fail;
    size_t params = 0;
    for (size_t i = 0; i < gguf_n_tensors(g); i++)
        params += (size_t)gguf_tensor_at(g, i)->n_elems;
    ck->shape.n_params = params;
    ck->shape.bytes = gguf_file_size(g);
    return STATUS_OK;
fail:
    checkpoint_close(ck);
    return rc;
}

int transformer_open_gguf(const char *path, transformer **out, struct status_err *err)
{
    gguf *g;
    int rc = gguf_open(path, &g, err);
    if (rc != STATUS_OK)
        return rc;
    const size_t n_tensors = gguf_n_tensors(g);
    gguf_close(g);
    if (n_tensors == 0) /* a vocabulary without weights: whatever its architecture */
        return transformer_open_tokenizer_only(path, out, err);
    transformer *t = calloc(1, sizeof *t);
    if (!t)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    rc = checkpoint_open_gguf(path, &t->ck, err);
    if (rc == STATUS_OK && vocab_gguf_present(t->ck.g)) {
        rc = vocab_from_gguf(t->ck.g, &t->vocab, err);
        if (rc == STATUS_OK && vocab_n_tokens(t->vocab) > t->ck.shape.vocab)
            rc = status_set(err, STATUS_BAD_FORMAT, "tokenizer.ggml.tokens",
                            "%s: the vocabulary has %d tokens, token_embd.weight only %d rows",
                            path, vocab_n_tokens(t->vocab), t->ck.shape.vocab);
    }
    return transformer_opened(t, rc, out);
}
