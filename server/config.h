/* config.h: the server's configuration: defaults < config file < environment < flags.
 * (The issue says flags win over the file and the file over defaults; environment
 * variables sit between the file and the flags.) */
#ifndef LMSERVE_CONFIG_H
#define LMSERVE_CONFIG_H

#include <stddef.h>

#include "../models/registry.h"

#define CONFIG_MODELS_MAX 64        /* models from flags + file */
#define CONFIG_CORS_MAX 16          /* --cors-origin entries */
#define CONFIG_PORT_DEFAULT 8080
#define CONFIG_MAX_BODY_DEFAULT (1u << 20) /* 1 MiB; api.yaml documents it */
#define CONFIG_MAX_BATCH_DEFAULT 256       /* inputs per request */
#define CONFIG_TIMEOUT_DEFAULT_S 60        /* per request, and the drain bound at shutdown */
#define CONFIG_QUEUE_DEFAULT 64            /* jobs waiting for a worker before 503 */
#define CONFIG_IO_THREADS_DEFAULT 2        /* event loops; each drives its own MHD daemon */
#define CONFIG_HEADER_TIMEOUT_DEFAULT_S 10 /* whole request head within this, from accept */
#define CONFIG_IDLE_TIMEOUT_DEFAULT_S 30   /* keep-alive wait for the next request; also the
                                              longest stall of a body upload or a slow reader */
#define CONFIG_MAX_CONNS_DEFAULT 16384     /* open connections in total: 10k attackers leave room */
#define CONFIG_MAX_RESPONSE_DEFAULT (8u << 20) /* 8 MiB: largest answer text held for a client */
#define CONFIG_MAX_UNREAD_DEFAULT (64u << 20)  /* 64 MiB: answer text held for all clients that
                                                  have not read it yet; 100 stalled readers stay
                                                  under 100 MB in total (issue 10) */
#define CONFIG_JSON_DEPTH_MAX 32           /* nesting bound of request bodies */
#define CONFIG_GENERATIONS_DEFAULT 8       /* --parallel: generation slots per Transformer */
#define CONFIG_GEN_QUEUE_DEFAULT 56        /* generations waiting for a slot before 503 */
#define CONFIG_KV_MB_DEFAULT 1024          /* KV cache budget per Transformer (MiB) */
#define CONFIG_PREFIX_TTL_DEFAULT 300      /* s a cached prefix may go unused (OpenAI, Anthropic: 5 min) */

struct config_model {
    char *id, *type, *path;
    struct model_options opts;
};

enum log_format { LOG_TEXT, LOG_JSON };

struct api_config {
    char *host;
    int port;
    char *config_path;
    char *models_root;
    char *web_root;
    int web_root_given; /* set by flag, env or file: no fallback to the installed copy */
    int threads;         /* workers */
    int io_threads;
    size_t max_body;
    size_t max_batch;
    int timeout_s;
    int header_timeout_s;
    int idle_timeout_s;
    int max_conns;
    int max_conns_per_ip; /* 0: no per-address cap */
    size_t max_response;
    size_t max_unread;
    int keep_going;       /* --keep-going: a start-up model that fails to load is not fatal */
    int queue_max;
    int max_generations; /* --parallel (alias --max-generations): slots per Transformer */
    int gen_queue;       /* generations waiting for a slot beyond those */
    int kv_cache_mb;
    int prefix_cache_ttl_s; /* --prefix-cache-ttl: idle prefix-cache entries are dropped; 0 never */
    char *kv_type; /* --kv-type: f16, q8_0 or f32 for GGUF Transformers; NULL: f16 */
    char *cors[CONFIG_CORS_MAX];
    size_t n_cors;
    char *admin_key;
    enum log_format log_format;
    int ready_without_models; /* /ready is 200 with zero models (models come by the admin API) */
    struct config_model models[CONFIG_MODELS_MAX];
    size_t n_models;
};

/* Fill 'c' from defaults, the config file (--config / LMSERVE_CONFIG), the environment and
 * argv. Returns 0 to run, 1 when --help/--version was printed (exit 0), 2 on a bad flag or
 * file (one line already printed to stderr; exit 2). */
int config_load(struct api_config *c, int argc, char **argv);
void config_free(struct api_config *c);

/* Parse "ID=TYPE:PATH[,KEY=VALUE...]" into m (owned; free with config_model_free). */
int config_parse_model(const char *spec, struct config_model *m, char *msg, size_t msg_size);
void config_model_free(struct config_model *m);

/* 1 when 'origin' may make cross-origin calls. */
int config_cors_allowed(const struct api_config *c, const char *origin);

#endif
