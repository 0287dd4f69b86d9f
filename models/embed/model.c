/* model.c: the "embedding" model type for the registry: options, load, describe. */
#include "../registry.h"
#include "embed_internal.h"

#include <stdlib.h>

#define OPT_THREADS_DEFAULT 2 /* scan threads: the target machine has 2 cores */

static int embed_ops_load(const char *path, const struct model_options *opts, void **impl,
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

static void embed_ops_free(void *impl) { embed_close(impl); }

static json_t *embed_ops_describe(const void *impl)
{
    const embed *e = impl;
    return json_pack("{s:I, s:I, s:s, s:I, s:I, s:b, s:i, s:s}", "vocab_size",
                     (json_int_t)embed_size(e), "dim", (json_int_t)embed_dim(e), "storage",
                     embed_storage_name(embed_storage_of(e)), "duplicates",
                     (json_int_t)embed_duplicates(e), "bytes", (json_int_t)embed_bytes(e),
                     "lowercase", embed_lowercase(e), "threads", e->threads, "kernels",
                     e->k->name);
}

static size_t embed_ops_bytes(const void *impl) { return embed_bytes(impl); }

static const char *const embed_model_options[] = {"lowercase", "threads", "storage", NULL};

const struct model_ops embed_model_ops = {
    .type = "embedding",
    .options = embed_model_options,
    .load = embed_ops_load,
    .free_impl = embed_ops_free,
    .describe = embed_ops_describe,
    .bytes = embed_ops_bytes,
    .lm = NULL,
};
