/* registry.h: the shared model registry: ids -> loaded models of any type, with
 * reference counts so in-flight requests finish before a model is freed. Knows no HTTP. */
#ifndef LMSERVE_REGISTRY_H
#define LMSERVE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/status.h"

#define REGISTRY_ID_MAX 128      /* bytes in a model id, NUL excluded */
#define REGISTRY_OPTIONS_MAX 32  /* KEY=VALUE options per model */

typedef struct registry registry;
typedef struct model model;

enum model_state { MODEL_LOADING, MODEL_READY, MODEL_FAILED, MODEL_UNLOADING };

struct model_option {
    char *key;
    char *value;
};

/* Options of one model, from --model ...,KEY=VALUE or the config file's "options". */
struct model_options {
    size_t n;
    struct model_option items[REGISTRY_OPTIONS_MAX];
};

/* Borrowed value for 'key', or NULL. */
const char *model_options_get(const struct model_options *o, const char *key);
/* "true"/"1"/"yes" -> 1, "false"/"0"/"no" -> 0, absent -> dflt, anything else -> -1. */
int model_options_bool(const struct model_options *o, const char *key, int dflt);
/* Add a copy of key/value; STATUS_TOO_LARGE past REGISTRY_OPTIONS_MAX. */
int model_options_add(struct model_options *o, const char *key, const char *value,
                      struct status_err *err);
void model_options_clear(struct model_options *o);

struct lm_ops;         /* models/lm.h */
struct embedding_ops;  /* models/caps.h */
struct tokenizer_ops;  /* models/caps.h */
struct generation_ops; /* models/caps.h */
struct rerank_ops;     /* models/caps.h */

/* One table per model type: a new type is one folder plus one of these in models/types.c. */
struct model_ops {
    const char *type; /* "ngram", "embedding", "transformer", ... */
    /* Load 'path' (already resolved). On STATUS_OK *impl is owned by the registry and freed
     * with free_impl(); on error *impl is untouched and err says why (prefix "path:line:"). */
    int (*load)(const char *path, const struct model_options *opts, void **impl,
                struct status_err *err);
    void (*free_impl)(void *impl);
    /* New reference to a JSON object of type-specific details (order, dim, ...). */
    json_t *(*describe)(const void *impl);
    /* Bytes of model data (mapped or allocated). */
    size_t (*bytes)(const void *impl);
    /* The capabilities this type serves (NULL: not served). The server asks for one of
     * these, never for a type name (models/caps.h). */
    const struct lm_ops *lm;                 /* /v1/score, /v1/next */
    const struct embedding_ops *embedding;   /* /v1/embeddings, /v1/neighbors, /v1/similarity */
    const struct tokenizer_ops *tokenizer;   /* /v1/tokenize, /v1/detokenize */
    const struct generation_ops *generation; /* /v1/completions, /v1/chat/completions */
    const struct rerank_ops *rerank;         /* /v1/rerank */
    /* NULL-terminated option keys this type reads (NULL: none). Any other key is refused
     * (400 naming options.KEY) by registry_add, so a typo is never silently ignored. */
    const char *const *options;
    /* 1 when even a small request is long work (Transformer forward passes): the server
     * then never answers this type's requests on the event loop. */
    int heavy;
};

/* The lifecycle half of a type's table, from the names every model folder gives its
 * functions: PREFIX_load, PREFIX_free, PREFIX_describe, PREFIX_bytes and the option list
 * PREFIX_options. A type's table is then this line plus the capabilities it serves:
 *   const struct model_ops ngram_model_ops = {MODEL_OPS_LIFECYCLE("ngram", ngram_model),
 *                                             .lm = &ngram_lm_ops};                      */
#define MODEL_OPS_LIFECYCLE(name, prefix)                                                   \
    .type = (name), .options = prefix##_options, .load = prefix##_load,                     \
    .free_impl = prefix##_free, .describe = prefix##_describe, .bytes = prefix##_bytes

/* NULL-terminated list of every known type (models/types.c). */
extern const struct model_ops *const MODEL_TYPES[];
const struct model_ops *registry_find_type(const char *type);
/* A type that is not in MODEL_TYPES, for builds that add one (the tests' "test" type,
 * tests/testmodel/testmodel.c, registers itself at start-up; the server binary has none).
 * Call before any registry is used; returns -1 when the small table is full. */
int registry_register_type(const struct model_ops *ops);

/* A registry whose runtime (API) loads are confined to 'models_root' (may be NULL: then
 * API loads are refused). 'load_threads' bounds parallel background loads. */
registry *registry_new(const char *models_root, int load_threads);
/* Unloads everything (waits for references) and frees. Accepts NULL. */
void registry_free(registry *r);

/* Add a model and load it: in the background when 'async' (state LOADING at return), else
 * before returning (then a failed load leaves the registry unchanged and returns its error).
 * STATUS_CONFLICT if the id exists, STATUS_BAD_INPUT for an unknown type, an option the
 * type does not read (param "options.KEY") or a bad id. */
int registry_add(registry *r, const char *id, const char *type, const char *path,
                 const struct model_options *opts, int async, struct status_err *err);

/* Resolve an API-supplied 'path' inside the models root into 'out' (realpath, no escape).
 * STATUS_FORBIDDEN for '..' or symlink escapes or when no root is set; STATUS_NOT_FOUND
 * when the file does not exist. */
int registry_resolve_path(const registry *r, const char *path, char *out, size_t out_size,
                          struct status_err *err);

/* Take a reference to a READY model. STATUS_NOT_FOUND (unknown or unloading),
 * STATUS_BUSY (still loading), STATUS_UNPROCESSABLE (failed: message says why).
 * On STATUS_OK *out stays valid until registry_release(). */
int registry_acquire(registry *r, const char *id, model **out, struct status_err *err);
void registry_release(model *m);

/* Remove 'id': it disappears from lookups at once and is freed after its last reference
 * is released; when 'wait' this call blocks until then. STATUS_NOT_FOUND if unknown. */
int registry_remove(registry *r, const char *id, int wait, struct status_err *err);

/* Call fn for every model (in insertion order) under the registry lock: fn must not call
 * back into the registry. The model pointer is valid only during the call. */
void registry_each(registry *r, void (*fn)(const model *m, void *ud), void *ud);
/* Number of models, and how many are in each state (array of 4, by enum model_state). */
size_t registry_count(registry *r, size_t by_state[4]);
/* Block until no model is LOADING (startup tests, --wait). */
void registry_wait_loaded(registry *r);

const char *model_id(const model *m);
const char *model_type(const model *m);
const char *model_path(const model *m);
const struct model_ops *model_ops_of(const model *m);
void *model_impl(const model *m); /* valid only while a reference is held */
enum model_state model_state_of(const model *m);
const char *model_state_name(enum model_state s);
const char *model_error(const model *m); /* "" unless FAILED */
int64_t model_created(const model *m);   /* unix seconds */
size_t model_bytes(const model *m);
const struct model_options *model_options_of(const model *m);
/* New reference: the details of a READY model, or NULL. */
json_t *model_describe(const model *m);

#endif
