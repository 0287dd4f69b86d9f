/* model.c: the "embedding" model type for the registry: options, load, describe. */
#include "../registry.h"
#include "../caps.h"
#include "embed_internal.h"

#include <stdlib.h>

#define OPT_THREADS_DEFAULT 2 /* scan threads: the target machine has 2 cores */

static int embed_model_load(const char *path, const struct model_options *opts, void **impl,
                      struct status_err *err)
{
    struct embed_opts o = {.threads = OPT_THREADS_DEFAULT, .storage = EMBED_STORAGE_F32};
    o.lowercase = model_options_bool(opts, "lowercase", 0);
    if (o.lowercase < 0)
        return status_set(err, STATUS_BAD_INPUT, "lowercase", "option lowercase must be true or false");
    const char *t = model_options_get(opts, "threads");
    if (t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*t == '\0' || *end != '\0' || v < 1 || v > EMBED_THREADS_MAX)
            return status_set(err, STATUS_BAD_INPUT, "threads", "option threads must be 1..%d",
                              EMBED_THREADS_MAX);
        o.threads = (int)v;
    }
    const char *s = model_options_get(opts, "storage");
    if (s && embed_storage_parse(s, &o.storage) != 0)
        return status_set(err, STATUS_BAD_INPUT, "storage",
                          "option storage must be float32, float16 or int8");
    embed *e;
    int rc = embed_open(path, &o, &e, err);
    if (rc != STATUS_OK)
        return rc;
    *impl = e;
    return STATUS_OK;
}

static void embed_model_free(void *impl) { embed_close(impl); }

static json_t *embed_model_describe(const void *impl)
{
    const embed *e = impl;
    return json_pack("{s:I, s:I, s:s, s:I, s:I, s:b, s:i, s:s}", "vocab_size",
                     (json_int_t)embed_size(e), "dim", (json_int_t)embed_dim(e), "storage",
                     embed_storage_name(embed_storage_of(e)), "duplicates",
                     (json_int_t)embed_duplicates(e), "bytes", (json_int_t)embed_bytes(e),
                     "lowercase", embed_lowercase(e), "threads", e->threads, "kernels",
                     e->k->name);
}

static size_t embed_model_bytes(const void *impl) { return embed_bytes(impl); }

static const char *const embed_model_options[] = {"lowercase", "threads", "storage", NULL};

/* ---- the embedding capability (models/caps.h) ---- */

static size_t cap_dim(const void *impl) { return embed_dim(impl); }
static int cap_text(const void *impl, const char *text, size_t len, int normalize, float *out,
                    size_t *n_tokens, struct embed_span **oov, size_t *n_oov,
                    struct status_err *err)
{
    return embed_text(impl, text, len, normalize, out, n_tokens, oov, n_oov, err);
}
static long cap_lookup(const void *impl, const char *w, size_t len)
{
    return embed_lookup(impl, w, len);
}
static const char *cap_word(const void *impl, size_t row) { return embed_word(impl, row); }
static void cap_vector(const void *impl, size_t row, float *out) { embed_vector(impl, row, out); }
static int cap_knn(const void *impl, const float *q, size_t top_k, const uint32_t *exclude,
                   size_t n_exclude, struct embed_hit *out, size_t *n_out, struct status_err *err)
{
    return embed_knn(impl, q, top_k, exclude, n_exclude, out, n_out, err);
}
static int cap_most_similar(const void *impl, const uint32_t *pos, size_t n_pos,
                            const uint32_t *neg, size_t n_neg, enum embed_method m, size_t top_k,
                            int exclude_inputs, struct embed_hit *out, size_t *n_out,
                            struct status_err *err)
{
    return embed_most_similar(impl, pos, n_pos, neg, n_neg, m, top_k, exclude_inputs, out, n_out,
                              err);
}

static const struct embedding_ops embed_embedding_ops = {
    .dim = cap_dim,
    .text = cap_text,
    .lookup = cap_lookup,
    .word = cap_word,
    .vector = cap_vector,
    .knn = cap_knn,
    .most_similar = cap_most_similar,
};

const struct model_ops embed_model_ops = {
    MODEL_OPS_LIFECYCLE("embedding", embed_model),
    .embedding = &embed_embedding_ops,
};
