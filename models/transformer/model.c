/* model.c: the registry's view of a Transformer: the "transformer" model type (load a
 * llama2.c checkpoint with option tokenizer=PATH, or a vocabulary-only GGUF file as a
 * tokenizer; describe, bytes) and the language-model interface behind
 * /v1/score and /v1/next (exact per-token natural-log probabilities). */
#include "../chat/chat.h"
#include "../lm.h"
#include "../registry.h"
#include "../caps.h"
#include "../util/mapfile.h"
#include "../util/vecnorm.h"
#include "transformer_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCORE_BATCH 64 /* positions whose logits are held at once while scoring */

/* 'opt' relative to the directory of 'model_path' unless absolute. */
static int resolve_beside(const char *model_path, const char *opt, char *out, size_t size)
{
    if (opt[0] == '/')
        return snprintf(out, size, "%s", opt) < (int)size ? 0 : -1;
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    const char *dir = slash ? model_path : ".";
    return snprintf(out, size, "%.*s/%s", dir_len, dir, opt) < (int)size ? 0 : -1;
}

/* 1 when the file at 'path' starts with the GGUF magic. */
static int file_is_gguf(const char *path)
{
    char head[4] = {0};
    FILE *f = mapfile_fopen(path, NULL); /* regular files only: a FIFO never blocks */
    if (!f)
        return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, "GGUF", sizeof head) == 0;
}

static char kv_type_default[8]; /* the server's --kv-type ("": f16), a copy */

void transformer_kv_type_default(const char *type)
{
    snprintf(kv_type_default, sizeof kv_type_default, "%s", type ? type : "");
}

static int tf_load(const char *path, const struct model_options *opts, void **impl,
                   struct status_err *err)
{
    const char *chat = model_options_get(opts, "chat_template");
    const char *par = model_options_get(opts, "parallel");
    const char *kvt = model_options_get(opts, "kv_type");
    long parallel = 0;
    if (par) {
        char *end;
        parallel = strtol(par, &end, 10);
        if (end == par || *end || parallel < 1 || parallel > 10000)
            return status_set(err, STATUS_BAD_INPUT, "options.parallel",
                              "parallel must be an integer in [1, 10000], not '%s'", par);
    }
    int tmpl = CHAT_TEMPLATE_NONE;
    if (chat && (tmpl = chat_template_find(chat)) == CHAT_TEMPLATE_NONE)
        return status_set(err, STATUS_BAD_INPUT, "options.chat_template",
                          "unknown chat template '%s' (known: %s)", chat, chat_template_names());
    transformer *t;
    int rc;
    if (file_is_gguf(path)) {
        /* GGUF: weights (llama, qwen2) or, without tensors, a tokenizer-only model */
        rc = transformer_open_gguf(path, &t, err);
    } else {
        const char *tok = model_options_get(opts, "tokenizer");
        if (!tok || !*tok)
            return status_set(err, STATUS_BAD_INPUT, "options.tokenizer",
                              "a transformer model needs the option tokenizer=PATH");
        char tok_path[PATH_MAX];
        if (resolve_beside(path, tok, tok_path, sizeof tok_path) != 0)
            return status_set(err, STATUS_BAD_INPUT, "options.tokenizer",
                              "tokenizer path too long");
        rc = transformer_open(path, tok_path, &t, err);
    }
    if (rc != STATUS_OK)
        return rc;
    /* the option overrides (or supplies) the template the file carries (GGUF only) */
    if (tmpl == CHAT_TEMPLATE_NONE)
        tmpl = chat_template_of_gguf(path);
    transformer_set_chat_template(t, tmpl);
    /* GGUF (ggml numerics): keys and values are rounded to fp16 before they are stored, so
     * an fp16 cache gives the same logits with half the memory and half the bytes attention
     * reads per token (llama.cpp's default too); kv_type=f32 keeps floats, q8_0 quarters
     * them; the server's --kv-type sets the default */
    if (!kvt && t->ck.arch.ggml && !t->ck.recurrent) {
        kvt = kv_type_default[0] ? kv_type_default : "f16";
        if (transformer_set_kv_type(t, kvt, err) != STATUS_OK) {
            fprintf(stderr, "lmserve: %s: --kv-type %s does not fit (%s); using f16\n", path,
                    kvt, err->msg);
            kvt = "f16";
        }
    }
    if (kvt && (rc = transformer_set_kv_type(t, kvt, err)) != STATUS_OK) {
        transformer_close(t);
        return rc;
    }
    t->sched_parallel = (size_t)parallel; /* 0: the server's --parallel */
    *impl = t;
    return STATUS_OK;
}

static void tf_free(void *impl) { transformer_close(impl); }

static json_t *tf_describe(const void *impl)
{
    const transformer *t = impl;
    const struct transformer_shape *s = transformer_shape_of(t);
    const char *chat = chat_template_name(transformer_chat_template(t));
    if (t->tokenizer_only) {
        json_t *v = json_pack("{s:i, s:s, s:I, s:b, s:s, s:s}", "vocab", s->vocab, "format",
                              transformer_format_name(t), "bytes", (json_int_t)s->bytes,
                              "tokenizer_only", 1, "tokenizer", vocab_model_name(t->vocab),
                              "pre_tokenizer", vocab_pre_name(t->vocab));
        if (v && chat)
            json_object_set_new(v, "chat_template", json_string(chat));
        return v;
    }
    json_t *o = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:s, s:I, s:b}", "dim", s->dim,
                          "hidden_dim", s->hidden_dim, "layers", s->n_layers, "heads", s->n_heads,
                          "kv_heads", s->n_kv_heads, "vocab", s->vocab, "seq_len", s->seq_len,
                          "parameters", (json_int_t)s->n_params, "format",
                          transformer_format_name(t), "bytes", (json_int_t)s->bytes,
                          "shared_classifier", s->shared_classifier);
    if (o && s->version == 2)
        json_object_set_new(o, "group_size", json_integer(s->group_size));
    if (o && t->ck.g) { /* GGUF */
        json_object_set_new(o, "architecture", json_string(t->ck.arch.name));
        json_object_set_new(o, "context_length", json_integer(s->seq_len));
        json_t *types = json_object();
        size_t total = 0;
        for (int k = 0; k < KERNELS_TYPE_COUNT; k++)
            total += t->ck.type_params[k];
        for (int k = 0; k < KERNELS_TYPE_COUNT && types && total; k++)
            if (t->ck.type_params[k])
                json_object_set_new(types, kernels_types[k].name,
                                    json_real((double)t->ck.type_params[k] / (double)total));
        json_object_set_new(o, "tensor_types", types);
        if (t->vocab)
            json_object_set_new(o, "tokenizer", json_string(vocab_model_name(t->vocab)));
    }
    if (o && t->ck.mamba) { /* no attention: a fixed-size state per sequence, no KV cache */
        const struct mamba_hparams *h = &t->ck.ssm;
        const size_t state = (size_t)s->n_layers * (size_t)h->d_inner *
                             (size_t)(h->d_conv - 1 + h->d_state) * sizeof(float);
        json_object_set_new(o, "heads", json_integer(0));
        json_object_set_new(o, "kv_heads", json_integer(0));
        json_object_set_new(o, "ssm", json_pack("{s:i, s:i, s:i, s:i, s:I}", "conv_kernel", h->d_conv,
                                                "inner_size", h->d_inner, "state_size", h->d_state,
                                                "time_step_rank", h->dt_rank, "state_bytes",
                                                (json_int_t)state));
    }
    if (o && !t->ck.bert && t->ck.enc.pooling_in_file) /* a decoder used for embeddings */
        json_object_set_new(o, "pooling", json_string(bert_pooling_name(t->ck.enc.pooling)));
    if (o && t->ck.bert) { /* an encoder: how it pools, what it outputs */
        const struct bert_hparams *h = &t->ck.enc;
        json_t *e = json_pack("{s:s, s:b, s:b, s:i, s:I}", "pooling", bert_pooling_name(h->pooling),
                              "pooling_in_file", h->pooling_in_file, "causal", h->causal,
                              "token_types", h->n_types, "output_dim", (json_int_t)bert_out_dim(t));
        if (e && t->ck.encw.cls.rows)
            json_object_set_new(e, "classifier_outputs",
                                json_integer(t->ck.encw.cls_out.rows ? (json_int_t)t->ck.encw.cls_out.rows
                                                                     : (json_int_t)s->dim));
        json_object_set_new(o, "encoder", e);
    }
    if (o && !t->ck.bert && !t->ck.recurrent) { /* the KV cache's storage (kv_type) */
        static const char *const kv_names[] = {"f32", "f16", "q8_0"};
        json_object_set_new(o, "kv_type", json_string(kv_names[t->kv_type]));
    }
    if (o && chat)
        json_object_set_new(o, "chat_template", json_string(chat));
    return o;
}

static size_t tf_bytes(const void *impl) { return transformer_shape_of(impl)->bytes; }

static int tf_score(void *impl, const char *text, const struct lm_score_opts *opts,
                    struct lm_scored *out, struct status_err *err)
{
    const transformer *t = impl;
    const struct transformer_shape *sh = transformer_shape_of(t);
    memset(out, 0, sizeof *out);
    int *ids = NULL;
    size_t n = 0;
    int rc = transformer_check_generate(t, err);
    if (rc != STATUS_OK)
        return rc;
    /* the model always starts from BOS: it is the context of the first token, never scored */
    rc = transformer_encode(t, text, strlen(text), 1, opts ? opts->eos : 1, &ids, &n, err);
    if (rc != STATUS_OK)
        return rc;
    transformer_seq *seq = NULL;
    float *logits = NULL;
    size_t kv = 0;
    if (n > (size_t)sh->seq_len) {
        rc = status_set(err, STATUS_BAD_INPUT, "text",
                        "the text has %zu tokens with BOS; the model's context is %d", n,
                        sh->seq_len);
        goto fail;
    }
    /* a slot of the model's scheduler: the sentences of concurrent requests share its
     * batched steps with the running generations (models/transformer/sched.c) */
    const volatile int *cancelled = opts ? opts->cancelled : NULL;
    kv = transformer_seq_kv_bytes(t, n);
    rc = transformer_sched_enter(t, kv, cancelled, err);
    if (rc != STATUS_OK) {
        kv = 0;
        goto fail;
    }
    seq = transformer_seq_new(t, n);
    logits = malloc(SCORE_BATCH * (size_t)sh->vocab * sizeof *logits);
    out->tokens = calloc(n, sizeof *out->tokens);
    if (!seq || !logits || !out->tokens) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto fail;
    }
    /* feed ids[0..n-1); logits at position i predict ids[i+1] */
    for (size_t done = 0; done + 1 < n;) {
        size_t b = n - 1 - done < SCORE_BATCH ? n - 1 - done : SCORE_BATCH;
        rc = transformer_sched_forward_all(t, seq, ids + done, b, logits, cancelled, err);
        if (rc != STATUS_OK)
            goto fail;
        for (size_t i = 0; i < b; i++) {
            const int id = ids[done + i + 1];
            struct lm_token *tk = &out->tokens[out->n];
            tk->logprob = sampler_logprob(logits + i * (size_t)sh->vocab, sh->vocab, id, NULL, 0);
            tk->id = id;
            tk->text = transformer_token_text(t, ids[done + i], id);
            if (!tk->text) {
                rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
                goto fail;
            }
            out->n++;
        }
        done += b;
    }
    transformer_seq_free(seq);
    transformer_sched_leave(t, kv);
    free(logits);
    free(ids);
    return STATUS_OK;
fail:
    lm_scored_free(out);
    transformer_seq_free(seq);
    if (kv)
        transformer_sched_leave(t, kv);
    free(logits);
    free(ids);
    return rc;
}

static int tf_next(void *impl, const char *context, const struct lm_score_opts *opts,
                   size_t top_k, struct lm_candidate **out, size_t *n_out,
                   struct status_err *err)
{
    const transformer *t = impl;
    const struct transformer_shape *sh = transformer_shape_of(t);
    int *ids = NULL;
    size_t n = 0;
    int rc = transformer_check_generate(t, err);
    if (rc != STATUS_OK)
        return rc;
    rc = transformer_encode(t, context, strlen(context), opts->bos, 0, &ids, &n, err);
    if (rc != STATUS_OK)
        return rc;
    if (n == 0) {
        free(ids);
        return status_set(err, STATUS_BAD_INPUT, "context",
                          "the context is empty and 'bos' is false: nothing to condition on");
    }
    transformer_seq *seq = NULL;
    size_t kv = 0;
    struct transformer_gen_alt *top = NULL;
    struct lm_candidate *c = NULL;
    if (top_k > (size_t)sh->vocab)
        top_k = (size_t)sh->vocab;
    if (n > (size_t)sh->seq_len) {
        rc = status_set(err, STATUS_BAD_INPUT, "context",
                        "the context has %zu tokens with BOS; the model's context is %d", n,
                        sh->seq_len);
        goto fail;
    }
    kv = transformer_seq_kv_bytes(t, n);
    rc = transformer_sched_enter(t, kv, opts->cancelled, err);
    if (rc != STATUS_OK) {
        kv = 0;
        goto fail;
    }
    seq = transformer_seq_new(t, n);
    top = malloc(top_k * sizeof *top);
    c = calloc(top_k, sizeof *c);
    if (!seq || !top || !c) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        goto fail;
    }
    /* batched with the model's other work; a context seen before reuses its keys and values */
    const size_t cached = transformer_sched_prefix(t, ids, n, seq);
    rc = transformer_sched_forward(t, seq, ids + cached, n - cached, opts->cancelled, err);
    if (rc != STATUS_OK)
        goto fail;
    sampler_logprob(transformer_logits(seq), sh->vocab, 0, top, top_k);
    for (size_t i = 0; i < top_k; i++) {
        c[i].id = top[i].id;
        c[i].logprob = top[i].logprob;
        c[i].text = transformer_token_text(t, ids[n - 1], top[i].id);
        if (!c[i].text) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            goto fail;
        }
    }
    *out = c;
    *n_out = top_k;
    transformer_sched_leave(t, kv);
    transformer_sched_keep(t, seq, ids, n); /* the cache owns seq and ids now */
    free(top);
    return STATUS_OK;
fail:
    lm_candidates_free(c, top_k);
    transformer_seq_free(seq);
    if (kv)
        transformer_sched_leave(t, kv);
    free(top);
    free(ids);
    return rc;
}

static int tf_lm_check(const void *impl, struct status_err *err)
{
    return transformer_check_generate(impl, err);
}

static const struct lm_ops transformer_lm_ops = {
    .check = tf_lm_check, .score = tf_score, .next = tf_next,
    .batch_width = TRANSFORMER_PARALLEL_DEFAULT}; /* a list's texts share the scheduler's steps */

static const char *const tf_options[] = {"tokenizer", "chat_template", "parallel", "kv_type", NULL};

/* ---- the tokenizer and generation capabilities (models/caps.h) ---- */

static int cap_vocab_size(const void *impl) { return transformer_shape_of(impl)->vocab; }
static int cap_encode(const void *impl, const char *text, size_t len, int bos, int eos,
                      int **ids, size_t *n, struct status_err *err)
{
    return transformer_encode(impl, text, len, bos, eos, ids, n, err);
}
static char *cap_decode(const void *impl, const int *ids, size_t n, size_t *len)
{
    return transformer_decode(impl, ids, n, len);
}
static const char *cap_piece(const void *impl, int prev, int id, size_t *len)
{
    return transformer_piece(impl, prev, id, len);
}
static char *cap_token_text(const void *impl, int prev, int id)
{
    return transformer_token_text(impl, prev, id);
}
static int cap_tokenize(const void *impl, const char *text, size_t len, int add_special,
                        int parse_special, int **ids, size_t *n, struct status_err *err)
{
    return transformer_tokenize(impl, text, len, add_special, parse_special, ids, n, err);
}
static int cap_check(const void *impl, struct status_err *err)
{
    return transformer_check_generate(impl, err);
}
static size_t cap_ctx_len(const void *impl) { return (size_t)transformer_shape_of(impl)->seq_len; }
static int cap_chat_template(const void *impl) { return transformer_chat_template(impl); }
static int cap_generate(const void *impl, const int *ids, size_t n,
                        const struct transformer_gen_params *p, transformer_gen_cb cb, void *ud,
                        const volatile int *cancelled, struct transformer_gen_result *res,
                        struct status_err *err)
{
    return transformer_generate(impl, ids, n, p, cb, ud, cancelled, res, err);
}

/* ---- the embedding capability: BERT encoders (bert.c) ---- */

/* A decoder embeds when its file names a pooling type (mean, cls, last): llama.cpp's pooled
 * "result_norm" states. Recurrent models (Mamba) do not. */
static int decoder_embeds(const transformer *t)
{
    const int p = t->ck.enc.pooling;
    return !t->tokenizer_only && !t->ck.bert && !t->ck.recurrent && t->ck.enc.pooling_in_file &&
           (p == BERT_POOL_MEAN || p == BERT_POOL_CLS || p == BERT_POOL_LAST);
}

static int emb_check(const void *impl, struct status_err *err)
{
    const transformer *t = impl;
    if (decoder_embeds(t))
        return STATUS_OK;
    if (!t->ck.bert)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "this model is a %s (architecture %s) without a pooling type "
                          "(<arch>.pooling_type mean, cls or last): it computes no sentence "
                          "embeddings",
                          t->tokenizer_only ? "tokenizer only" : "decoder",
                          t->tokenizer_only ? "none" : t->ck.arch.name);
    if (t->ck.enc.pooling == BERT_POOL_RANK)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "this model is a reranker (pooling_type rank, a classification "
                          "head): it scores query/document pairs (/v1/rerank), it computes no "
                          "embeddings");
    return STATUS_OK;
}

/* A decoder's embeddings: each text alone through the causal pass (its own KV cache), the
 * normed final hidden states pooled as the file says. */
static int decoder_embed(const transformer *t, const int *const *ids, const size_t *n,
                         size_t n_seq, float *out, const volatile int *cancelled,
                         struct status_err *err)
{
    const size_t dim = (size_t)t->ck.shape.dim;
    for (size_t k = 0; k < n_seq; k++) {
        transformer_seq *s = transformer_seq_new(t, n[k]);
        float *h = malloc(n[k] * dim * sizeof *h);
        int rc = s && h ? transformer_forward_hidden(s, ids[k], n[k], h, cancelled, err)
                        : status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        float *o = out + k * dim;
        if (rc == STATUS_OK && t->ck.enc.pooling == BERT_POOL_MEAN) {
            const float inv = 1.0f / (float)n[k];
            for (size_t i = 0; i < dim; i++) {
                float acc = 0.0f;
                for (size_t r = 0; r < n[k]; r++)
                    acc += h[r * dim + i] * inv;
                o[i] = acc;
            }
        } else if (rc == STATUS_OK) {
            const size_t r = t->ck.enc.pooling == BERT_POOL_LAST ? n[k] - 1 : 0;
            memcpy(o, h + r * dim, dim * sizeof *o);
        }
        free(h);
        transformer_seq_free(s);
        if (rc != STATUS_OK)
            return rc;
    }
    return STATUS_OK;
}

static size_t emb_dim(const void *impl)
{
    const transformer *t = impl;
    return t->ck.bert ? bert_out_dim(t) : (size_t)t->ck.shape.dim;
}

/* Token ids of each text ([CLS] ... [SEP] as the vocabulary adds them), checked against the
 * context; ids[i] malloc'd (the caller frees them, also on error). */
static int encode_texts(const transformer *t, const char *const *text, const size_t *len,
                        size_t n, int **ids, size_t *n_ids, size_t *n_tokens, size_t *bad,
                        struct status_err *err)
{
    *n_tokens = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = transformer_tokenize(t, text[i], len[i], 1, 0, &ids[i], &n_ids[i], err);
        if (rc == STATUS_OK && n_ids[i] == 0)
            rc = status_set(err, STATUS_BAD_INPUT, NULL, "the text has no tokens");
        if (rc == STATUS_OK && n_ids[i] > (size_t)t->ck.shape.seq_len)
            rc = status_set(err, STATUS_BAD_INPUT, NULL,
                            "the text has %zu tokens (special tokens included); the model's "
                            "context is %d",
                            n_ids[i], t->ck.shape.seq_len);
        if (rc != STATUS_OK) {
            *bad = i;
            return rc;
        }
        *n_tokens += n_ids[i];
    }
    return STATUS_OK;
}

static int emb_texts(const void *impl, const char *const *text, const size_t *len, size_t n,
                     int normalize, float *out, size_t *n_tokens, size_t *bad,
                     const volatile int *cancelled, struct status_err *err)
{
    const transformer *t = impl;
    *bad = n;
    int rc = emb_check(impl, err);
    if (rc != STATUS_OK)
        return rc;
    int **ids = calloc(n, sizeof *ids);
    size_t *n_ids = calloc(n, sizeof *n_ids);
    if (!ids || !n_ids)
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (rc == STATUS_OK)
        rc = encode_texts(t, text, len, n, ids, n_ids, n_tokens, bad, err);
    if (rc == STATUS_OK)
        rc = t->ck.bert ? bert_encode(t, (const int *const *)ids, n_ids, n, out, cancelled, err)
                        : decoder_embed(t, (const int *const *)ids, n_ids, n, out, cancelled, err);
    const size_t dim = emb_dim(t);
    if (rc == STATUS_OK && normalize)
        for (size_t i = 0; i < n; i++)
            vec_l2_normalize(out + i * dim, dim);
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
    free(n_ids);
    return rc;
}

static int emb_text(const void *impl, const char *text, size_t len, int normalize, float *out,
                    size_t *n_tokens, struct embed_span **oov, size_t *n_oov,
                    struct status_err *err)
{
    size_t bad;
    *oov = NULL;
    *n_oov = 0;
    return emb_texts(impl, &text, &len, 1, normalize, out, n_tokens, &bad, NULL, err);
}

static const struct embedding_ops transformer_embedding_ops = {
    .check = emb_check,
    .dim = emb_dim,
    .texts = emb_texts,
    .text = emb_text,
};

/* ---- the rerank capability: a BERT with a classification head (pooling_type rank) ---- */

static int rr_check(const void *impl, struct status_err *err)
{
    const transformer *t = impl;
    if (!t->ck.bert || t->ck.enc.pooling != BERT_POOL_RANK)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "this model has no classification head (a reranker is a BERT encoder "
                          "with pooling_type rank and cls/cls.output tensors)");
    return STATUS_OK;
}

/* Each pair as llama.cpp's rerank formats it for BERT: [CLS] query [SEP] document [SEP] (its
 * EOS is no token in a WordPiece vocabulary), token type 0 throughout, as llama.cpp does. */
static int rr_rank(const void *impl, const char *query, size_t query_len, const char *const *doc,
                   const size_t *doc_len, size_t n, float *scores, size_t *n_tokens, size_t *bad,
                   const volatile int *cancelled, struct status_err *err)
{
    const transformer *t = impl;
    *bad = n;
    *n_tokens = 0;
    int rc = rr_check(impl, err);
    if (rc != STATUS_OK)
        return rc;
    const int cls = vocab_bos(t->vocab), sep = vocab_sep(t->vocab);
    if (cls < 0 || sep < 0)
        return status_set(err, STATUS_BAD_INPUT, "model",
                          "the model's vocabulary has no [CLS] or [SEP] token");
    int *q = NULL;
    size_t nq = 0;
    int **ids = calloc(n, sizeof *ids);
    size_t *n_ids = calloc(n, sizeof *n_ids);
    float *out = malloc(n * bert_out_dim(t) * sizeof *out);
    if (!ids || !n_ids || !out)
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (rc == STATUS_OK)
        rc = transformer_tokenize(t, query, query_len, 0, 0, &q, &nq, err);
    for (size_t i = 0; i < n && rc == STATUS_OK; i++) {
        int *d = NULL;
        size_t nd = 0;
        rc = transformer_tokenize(t, doc[i], doc_len[i], 0, 0, &d, &nd, err);
        if (rc == STATUS_OK && nq + nd + 3 > (size_t)t->ck.shape.seq_len)
            rc = status_set(err, STATUS_BAD_INPUT, NULL,
                            "the query and this document are %zu tokens with [CLS] and [SEP]; "
                            "the model's context is %d",
                            nq + nd + 3, t->ck.shape.seq_len);
        if (rc == STATUS_OK && !(ids[i] = malloc((nq + nd + 3) * sizeof **ids)))
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        if (rc == STATUS_OK) {
            int *p = ids[i];
            *p++ = cls;
            memcpy(p, q, nq * sizeof *p);
            p += nq;
            *p++ = sep;
            memcpy(p, d, nd * sizeof *p);
            p += nd;
            *p++ = sep;
            n_ids[i] = (size_t)(p - ids[i]);
            *n_tokens += n_ids[i];
        } else {
            *bad = i;
        }
        free(d);
    }
    if (rc == STATUS_OK)
        rc = bert_encode(t, (const int *const *)ids, n_ids, n, out, cancelled, err);
    for (size_t i = 0; rc == STATUS_OK && i < n; i++)
        scores[i] = out[i * bert_out_dim(t)];
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
    free(n_ids);
    free(out);
    free(q);
    return rc;
}

static const struct rerank_ops transformer_rerank_ops = {.check = rr_check, .rank = rr_rank};

static const struct tokenizer_ops transformer_tokenizer_ops = {
    .vocab_size = cap_vocab_size,
    .encode = cap_encode,
    .decode = cap_decode,
    .piece = cap_piece,
    .token_text = cap_token_text,
    .tokenize = cap_tokenize,
};
static const struct generation_ops transformer_generation_ops = {
    .check = cap_check,
    .ctx_len = cap_ctx_len,
    .chat_template = cap_chat_template,
    .generate = cap_generate,
};

const struct model_ops transformer_model_ops = {
    MODEL_OPS_LIFECYCLE("transformer", tf),
    .lm = &transformer_lm_ops,
    .embedding = &transformer_embedding_ops,
    .rerank = &transformer_rerank_ops,
    .tokenizer = &transformer_tokenizer_ops,
    .generation = &transformer_generation_ops,
    .heavy = 1, /* every request is forward passes: never on the event loop */
};
