/* config.c: flags (getopt_long), LMSERVE_* environment variables and the JSON config file,
 * merged into one struct api_config. Knows nothing of HTTP. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#ifndef LMSERVE_WEB_DIR
#define LMSERVE_WEB_DIR "/usr/local/share/lmserve/web" /* make install's default */
#endif

#ifndef LMSERVE_VERSION
#define LMSERVE_VERSION "0.1.0"
#endif

#define CONFIG_THREADS_MAX 256
#define CONFIG_BATCH_MAX 100000
#define CONFIG_BODY_MAX ((size_t)1 << 30) /* 1 GiB: beyond this a body is a mistake */
#define CONFIG_CONNS_MAX 1000000          /* --max-conns bound (file descriptors) */

static const char USAGE[] =
    "usage: lmserve [options]\n"
    "  --host ADDR            listen address (LMSERVE_HOST, default 127.0.0.1)\n"
    "  --port N               listen port (LMSERVE_PORT, default 8080; 0 = any free port)\n"
    "  --config FILE          JSON config file (LMSERVE_CONFIG)\n"
    "  --model ID=TYPE:PATH[,KEY=VALUE...]  load a model (repeatable; LMSERVE_MODELS, ';'-separated)\n"
    "  --models-root DIR      directory API loads are confined to (LMSERVE_MODELS_ROOT)\n"
    "  --web-root DIR         playground files (LMSERVE_WEB_ROOT, default ./web)\n"
    "  --threads N            worker threads (LMSERVE_THREADS, default: cores)\n"
    "  --io-threads N         HTTP I/O threads (LMSERVE_IO_THREADS, default 4)\n"
    "  --max-body BYTES       largest request body (LMSERVE_MAX_BODY, default 1048576)\n"
    "  --max-batch N          inputs per request (LMSERVE_MAX_BATCH, default 256)\n"
    "  --timeout SECONDS      per-request time limit and shutdown drain (LMSERVE_TIMEOUT, default 60)\n"
    "  --header-timeout S     the request head must arrive within S s of accept (LMSERVE_HEADER_TIMEOUT, default 10)\n"
    "  --idle-timeout S       keep-alive and stalled-transfer timeout (LMSERVE_IDLE_TIMEOUT, default 30)\n"
    "  --max-conns N          open connections in total (LMSERVE_MAX_CONNS, default 16384)\n"
    "  --max-conns-per-ip N   open connections per client address, 0 = no cap (LMSERVE_MAX_CONNS_PER_IP, default 0)\n"
    "  --max-response BYTES   largest answer body (LMSERVE_MAX_RESPONSE, default 8388608)\n"
    "  --max-unread BYTES     answer bytes held for clients not reading them, in total (LMSERVE_MAX_UNREAD, default 67108864)\n"
    "  --keep-going           keep serving when a model given at start fails to load (LMSERVE_KEEP_GOING=1)\n"
    "  --queue N              jobs waiting for a worker before 503 (LMSERVE_QUEUE, default 64)\n"
    "  --parallel N           generation slots per Transformer, one batched step for all (LMSERVE_PARALLEL, default 8)\n"
    "  --max-generations N    alias of --parallel (LMSERVE_MAX_GENERATIONS)\n"
    "  --gen-queue N          generations waiting for a slot before 503 (LMSERVE_GEN_QUEUE, default 56)\n"
    "  --kv-cache-mb N        KV cache budget per Transformer in MiB (LMSERVE_KV_CACHE_MB, default 1024)\n"
    "  --prefix-cache-ttl S   drop a cached prompt prefix unused for S s, 0 = never (LMSERVE_PREFIX_CACHE_TTL, default 300)\n"
    "  --kv-type f16|q8_0|f32 KV cache storage of GGUF Transformers without a kv_type option (LMSERVE_KV_TYPE, default f16)\n"
    "  --cors-origin ORIGIN   allowed CORS origin, '*' for any (repeatable; LMSERVE_CORS_ORIGIN, ',')\n"
    "  --admin-key KEY        bearer key for admin routes (LMSERVE_ADMIN_KEY)\n"
    "  --log-format text|json access log format (LMSERVE_LOG_FORMAT, default text)\n"
    "  --ready-without-models yes|no  /ready is 200 with no models configured (LMSERVE_READY_WITHOUT_MODELS, default no)\n"
    "  --help, --version\n";

enum opt_id {
    OPT_HOST = 1000, OPT_PORT, OPT_CONFIG, OPT_MODEL, OPT_MODELS_ROOT, OPT_WEB_ROOT, OPT_THREADS,
    OPT_IO_THREADS, OPT_MAX_BODY, OPT_MAX_BATCH, OPT_TIMEOUT, OPT_QUEUE, OPT_GENERATIONS,
    OPT_CORS, OPT_ADMIN_KEY, OPT_LOG_FORMAT, OPT_HEADER_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_MAX_CONNS,
    OPT_MAX_CONNS_PER_IP, OPT_MAX_RESPONSE, OPT_MAX_UNREAD, OPT_KEEP_GOING, OPT_READY_EMPTY,
    OPT_PARALLEL, OPT_GEN_QUEUE, OPT_KV_MB, OPT_PREFIX_TTL, OPT_KV_TYPE, OPT_HELP, OPT_VERSION,
};

static const struct option LONG_OPTS[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"model", required_argument, NULL, OPT_MODEL},
    {"models-root", required_argument, NULL, OPT_MODELS_ROOT},
    {"web-root", required_argument, NULL, OPT_WEB_ROOT},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"io-threads", required_argument, NULL, OPT_IO_THREADS},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-batch", required_argument, NULL, OPT_MAX_BATCH},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"max-generations", required_argument, NULL, OPT_GENERATIONS},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"gen-queue", required_argument, NULL, OPT_GEN_QUEUE},
    {"kv-cache-mb", required_argument, NULL, OPT_KV_MB},
    {"prefix-cache-ttl", required_argument, NULL, OPT_PREFIX_TTL},
    {"kv-type", required_argument, NULL, OPT_KV_TYPE},
    {"cors-origin", required_argument, NULL, OPT_CORS},
    {"admin-key", required_argument, NULL, OPT_ADMIN_KEY},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"max-conns-per-ip", required_argument, NULL, OPT_MAX_CONNS_PER_IP},
    {"max-response", required_argument, NULL, OPT_MAX_RESPONSE},
    {"max-unread", required_argument, NULL, OPT_MAX_UNREAD},
    {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
    {"ready-without-models", required_argument, NULL, OPT_READY_EMPTY},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? strdup(v) : NULL;
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    if (!v || !*v)
        return -1;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

void config_model_free(struct config_model *m)
{
    if (!m)
        return;
    free(m->id);
    free(m->type);
    free(m->path);
    model_options_clear(&m->opts);
    memset(m, 0, sizeof *m);
}

int config_parse_model(const char *spec, struct config_model *m, char *msg, size_t msg_size)
{
    memset(m, 0, sizeof *m);
    const char *eq = strchr(spec, '=');
    const char *colon = eq ? strchr(eq + 1, ':') : NULL;
    if (!eq || !colon || eq == spec || colon == eq + 1 || !colon[1]) {
        snprintf(msg, msg_size, "--model '%s': expected ID=TYPE:PATH[,KEY=VALUE...]", spec);
        return -1;
    }
    m->id = strndup(spec, (size_t)(eq - spec));
    m->type = strndup(eq + 1, (size_t)(colon - eq - 1));
    const char *path = colon + 1;
    const char *comma = strchr(path, ',');
    m->path = comma ? strndup(path, (size_t)(comma - path)) : strdup(path);
    if (!m->id || !m->type || !m->path)
        goto nomem;
    while (comma) {
        const char *kv = comma + 1;
        comma = strchr(kv, ',');
        size_t len = comma ? (size_t)(comma - kv) : strlen(kv);
        const char *keq = memchr(kv, '=', len);
        if (!keq || keq == kv) {
            snprintf(msg, msg_size, "--model '%s': option '%.*s' is not KEY=VALUE", spec,
                     (int)len, kv);
            config_model_free(m);
            return -1;
        }
        char *k = strndup(kv, (size_t)(keq - kv));
        char *v = strndup(keq + 1, len - (size_t)(keq - kv) - 1);
        struct status_err err;
        status_clear(&err);
        int rc = k && v ? model_options_add(&m->opts, k, v, &err) : STATUS_NO_MEMORY;
        free(k);
        free(v);
        if (rc != STATUS_OK) {
            snprintf(msg, msg_size, "--model '%s': %s", spec, err.msg[0] ? err.msg : "out of memory");
            config_model_free(m);
            return -1;
        }
    }
    return 0;
nomem:
    snprintf(msg, msg_size, "out of memory");
    config_model_free(m);
    return -1;
}

static int add_model(struct api_config *c, struct config_model *m, char *msg, size_t msg_size)
{
    for (size_t i = 0; i < c->n_models; i++) {
        if (strcmp(c->models[i].id, m->id) == 0) { /* a later definition (flag) wins */
            config_model_free(&c->models[i]);
            c->models[i] = *m;
            return 0;
        }
    }
    if (c->n_models >= CONFIG_MODELS_MAX) {
        snprintf(msg, msg_size, "more than %d models", CONFIG_MODELS_MAX);
        config_model_free(m);
        return -1;
    }
    c->models[c->n_models++] = *m;
    return 0;
}

static int add_cors(struct api_config *c, const char *origin, char *msg, size_t msg_size)
{
    if (c->n_cors >= CONFIG_CORS_MAX) {
        snprintf(msg, msg_size, "more than %d CORS origins", CONFIG_CORS_MAX);
        return -1;
    }
    c->cors[c->n_cors++] = strdup(origin);
    return 0;
}

/* Apply one setting by its long-option name. Shared by flags, environment and file. */
static int apply(struct api_config *c, int id, const char *v, char *msg, size_t msg_size)
{
    long x;
    switch (id) {
    case OPT_HOST: set_str(&c->host, v); return 0;
    case OPT_PORT:
        if (parse_long(v, 0, 65535, &x))
            goto bad;
        c->port = (int)x;
        return 0;
    case OPT_CONFIG: set_str(&c->config_path, v); return 0;
    case OPT_MODEL: {
        struct config_model m;
        if (config_parse_model(v, &m, msg, msg_size))
            return -1;
        return add_model(c, &m, msg, msg_size);
    }
    case OPT_MODELS_ROOT: set_str(&c->models_root, v); return 0;
    case OPT_WEB_ROOT:
        set_str(&c->web_root, v);
        c->web_root_given = 1;
        return 0;
    case OPT_THREADS:
        if (parse_long(v, 1, CONFIG_THREADS_MAX, &x))
            goto bad;
        c->threads = (int)x;
        return 0;
    case OPT_IO_THREADS:
        if (parse_long(v, 1, CONFIG_THREADS_MAX, &x))
            goto bad;
        c->io_threads = (int)x;
        return 0;
    case OPT_MAX_BODY:
        if (parse_long(v, 1, (long)CONFIG_BODY_MAX, &x))
            goto bad;
        c->max_body = (size_t)x;
        return 0;
    case OPT_MAX_BATCH:
        if (parse_long(v, 1, CONFIG_BATCH_MAX, &x))
            goto bad;
        c->max_batch = (size_t)x;
        return 0;
    case OPT_TIMEOUT:
        if (parse_long(v, 1, 86400, &x))
            goto bad;
        c->timeout_s = (int)x;
        return 0;
    case OPT_QUEUE:
        if (parse_long(v, 1, 1000000, &x))
            goto bad;
        c->queue_max = (int)x;
        return 0;
    case OPT_GENERATIONS:
    case OPT_PARALLEL:
        if (parse_long(v, 1, 10000, &x))
            goto bad;
        c->max_generations = (int)x;
        return 0;
    case OPT_GEN_QUEUE:
        if (parse_long(v, 0, 1000000, &x))
            goto bad;
        c->gen_queue = (int)x;
        return 0;
    case OPT_KV_MB:
        if (parse_long(v, 1, 1 << 24, &x))
            goto bad;
        c->kv_cache_mb = (int)x;
        return 0;
    case OPT_PREFIX_TTL:
        if (parse_long(v, 0, 1 << 24, &x))
            goto bad;
        c->prefix_cache_ttl_s = (int)x;
        return 0;
    case OPT_KV_TYPE:
        if (strcmp(v, "f16") != 0 && strcmp(v, "q8_0") != 0 && strcmp(v, "f32") != 0)
            goto bad;
        set_str(&c->kv_type, v);
        return 0;
    case OPT_HEADER_TIMEOUT:
        if (parse_long(v, 1, 3600, &x))
            goto bad;
        c->header_timeout_s = (int)x;
        return 0;
    case OPT_IDLE_TIMEOUT:
        if (parse_long(v, 1, 86400, &x))
            goto bad;
        c->idle_timeout_s = (int)x;
        return 0;
    case OPT_MAX_CONNS:
        if (parse_long(v, 1, CONFIG_CONNS_MAX, &x))
            goto bad;
        c->max_conns = (int)x;
        return 0;
    case OPT_MAX_CONNS_PER_IP:
        if (parse_long(v, 0, CONFIG_CONNS_MAX, &x))
            goto bad;
        c->max_conns_per_ip = (int)x;
        return 0;
    case OPT_MAX_RESPONSE:
        if (parse_long(v, 1024, (long)CONFIG_BODY_MAX, &x))
            goto bad;
        c->max_response = (size_t)x;
        return 0;
    case OPT_MAX_UNREAD:
        if (parse_long(v, 1024, LONG_MAX, &x))
            goto bad;
        c->max_unread = (size_t)x;
        return 0;
    case OPT_KEEP_GOING:
        /* a flag (no value) or, from the environment/file, a boolean */
        if (!v || strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
            c->keep_going = 1;
        else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
            c->keep_going = 0;
        else
            goto bad;
        return 0;
    case OPT_CORS: return add_cors(c, v, msg, msg_size);
    case OPT_ADMIN_KEY: set_str(&c->admin_key, v); return 0;
    case OPT_LOG_FORMAT:
        if (strcmp(v, "text") == 0)
            c->log_format = LOG_TEXT;
        else if (strcmp(v, "json") == 0)
            c->log_format = LOG_JSON;
        else
            goto bad;
        return 0;
    case OPT_READY_EMPTY:
        if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            c->ready_without_models = 1;
        else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            c->ready_without_models = 0;
        else
            goto bad;
        return 0;
    }
bad:
    for (const struct option *o = LONG_OPTS; o->name; o++)
        if (o->val == id)
            snprintf(msg, msg_size, "--%s: invalid value '%s'", o->name, v ? v : "");
    return -1;
}

static int option_id(const char *name)
{
    for (const struct option *o = LONG_OPTS; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->val;
    return -1;
}

/* ---- config file ---- */

/* 'rel' resolved against 'dir' (kept as is when absolute). -1 when it does not fit. */
static int path_join(char *out, size_t size, const char *dir, const char *rel)
{
    int n = rel[0] == '/' ? snprintf(out, size, "%s", rel) : snprintf(out, size, "%s/%s", dir, rel);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int load_file(struct api_config *c, const char *path, char *msg, size_t msg_size)
{
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(msg, msg_size, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(msg, msg_size, "%s: the config must be a JSON object", path);
        goto out;
    }
    /* Paths in the file are relative to the file's directory. */
    /* Absolute, so a loader that resolves its own relative options (a tokenizer next to the
     * checkpoint) never joins a second directory onto a relative one. */
    char dir[PATH_MAX], *real = realpath(path, NULL);
    if (!real) {
        snprintf(msg, msg_size, "%s: %s", path, strerror(errno));
        goto out;
    }
    snprintf(dir, sizeof dir, "%s", real);
    free(real);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';

    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (strcmp(key, "models") == 0) {
            if (!json_is_array(val)) {
                snprintf(msg, msg_size, "%s: \"models\" must be an array", path);
                goto out;
            }
            size_t i;
            json_t *jm;
            json_array_foreach(val, i, jm)
            {
                const char *id = json_string_value(json_object_get(jm, "id"));
                const char *type = json_string_value(json_object_get(jm, "type"));
                const char *mpath = json_string_value(json_object_get(jm, "path"));
                json_t *opts = json_object_get(jm, "options");
                if (!id || !type || !mpath || (opts && !json_is_object(opts))) {
                    snprintf(msg, msg_size,
                             "%s: models[%zu] needs string \"id\", \"type\", \"path\" and an "
                             "optional object \"options\"",
                             path, i);
                    goto out;
                }
                struct config_model m = {0};
                char full[PATH_MAX];
                if (path_join(full, sizeof full, dir, mpath)) {
                    snprintf(msg, msg_size, "%s: models[%zu].path is too long", path, i);
                    goto out;
                }
                m.id = strdup(id);
                m.type = strdup(type);
                m.path = strdup(full);
                const char *ok;
                json_t *ov;
                struct status_err err;
                status_clear(&err);
                json_object_foreach(opts, ok, ov)
                {
                    char buf[64];
                    const char *sv = json_string_value(ov);
                    if (json_is_true(ov))
                        sv = "true";
                    else if (json_is_false(ov))
                        sv = "false";
                    else if (json_is_integer(ov)) {
                        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(ov));
                        sv = buf;
                    } else if (json_is_real(ov)) {
                        snprintf(buf, sizeof buf, "%g", json_real_value(ov));
                        sv = buf;
                    }
                    if (!sv) {
                        snprintf(msg, msg_size, "%s: models[%zu].options.%s must be a scalar",
                                 path, i, ok);
                        config_model_free(&m);
                        goto out;
                    }
                    /* A relative tokenizer/option path is relative to the config file too. */
                    char optfull[PATH_MAX];
                    if (strcmp(ok, "tokenizer") == 0) {
                        if (path_join(optfull, sizeof optfull, dir, sv)) {
                            snprintf(msg, msg_size, "%s: models[%zu].options.%s is too long",
                                     path, i, ok);
                            config_model_free(&m);
                            goto out;
                        }
                        sv = optfull;
                    }
                    if (model_options_add(&m.opts, ok, sv, &err) != STATUS_OK) {
                        snprintf(msg, msg_size, "%s: models[%zu]: %.200s", path, i, err.msg);
                        config_model_free(&m);
                        goto out;
                    }
                }
                if (add_model(c, &m, msg, msg_size))
                    goto out;
            }
            continue;
        }
        int id = option_id(key);
        /* Keys are the flag names, with '-' or '_' (e.g. "max_body" or "max-body"). */
        if (id < 0) {
            char alt[64];
            snprintf(alt, sizeof alt, "%s", key);
            for (char *p = alt; *p; p++)
                if (*p == '_')
                    *p = '-';
            id = option_id(alt);
        }
        if (id < 0 || id == OPT_CONFIG || id == OPT_HELP || id == OPT_VERSION || id == OPT_MODEL) {
            snprintf(msg, msg_size, "%s: unknown key \"%s\"", path, key);
            goto out;
        }
        if (json_is_array(val) && id == OPT_CORS) {
            size_t i;
            json_t *o;
            json_array_foreach(val, i, o)
            {
                if (!json_is_string(o) || add_cors(c, json_string_value(o), msg, msg_size)) {
                    if (!json_is_string(o))
                        snprintf(msg, msg_size, "%s: cors_origin[%zu] must be a string", path, i);
                    goto out;
                }
            }
            continue;
        }
        char buf[64];
        const char *sv = json_string_value(val);
        if (json_is_integer(val)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(val));
            sv = buf;
        } else if (json_is_boolean(val)) {
            sv = json_is_true(val) ? "true" : "false";
        }
        if (!sv) {
            snprintf(msg, msg_size, "%s: \"%s\" must be a string, an integer or a boolean", path,
                     key);
            goto out;
        }
        if (apply(c, id, sv, msg, msg_size)) {
            char inner[256];
            snprintf(inner, sizeof inner, "%.200s", msg);
            snprintf(msg, msg_size, "%s: %s", path, inner);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- environment ---- */

static int load_env(struct api_config *c, char *msg, size_t msg_size)
{
    for (const struct option *o = LONG_OPTS; o->name; o++) {
        if (o->val == OPT_HELP || o->val == OPT_VERSION || o->val == OPT_CONFIG)
            continue;
        char name[64] = "LMSERVE_";
        size_t n = strlen(name);
        for (const char *p = o->name; *p && n + 1 < sizeof name; p++)
            name[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        name[n] = '\0';
        if (o->val == OPT_MODEL)
            snprintf(name, sizeof name, "LMSERVE_MODELS");
        const char *v = getenv(name);
        if (!v || !*v)
            continue;
        if (o->val == OPT_MODEL || o->val == OPT_CORS) {
            char *copy = strdup(v), *save = NULL;
            const char *sep = o->val == OPT_MODEL ? ";" : ",";
            for (char *t = strtok_r(copy, sep, &save); t; t = strtok_r(NULL, sep, &save)) {
                if (apply(c, o->val, t, msg, msg_size)) {
                    free(copy);
                    return -1;
                }
            }
            free(copy);
            continue;
        }
        if (apply(c, o->val, v, msg, msg_size)) {
            char inner[256];
            snprintf(inner, sizeof inner, "%.200s", msg);
            snprintf(msg, msg_size, "%s: %s", name, inner);
            return -1;
        }
    }
    return 0;
}

int config_load(struct api_config *c, int argc, char **argv)
{
    memset(c, 0, sizeof *c);
    c->host = strdup("127.0.0.1");
    c->port = CONFIG_PORT_DEFAULT;
    c->web_root = strdup("web");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = cores > 0 ? (int)cores : 1;
    c->io_threads = CONFIG_IO_THREADS_DEFAULT;
    c->max_body = CONFIG_MAX_BODY_DEFAULT;
    c->max_batch = CONFIG_MAX_BATCH_DEFAULT;
    c->timeout_s = CONFIG_TIMEOUT_DEFAULT_S;
    c->queue_max = CONFIG_QUEUE_DEFAULT;
    c->header_timeout_s = CONFIG_HEADER_TIMEOUT_DEFAULT_S;
    c->idle_timeout_s = CONFIG_IDLE_TIMEOUT_DEFAULT_S;
    c->max_conns = CONFIG_MAX_CONNS_DEFAULT;
    c->max_response = CONFIG_MAX_RESPONSE_DEFAULT;
    c->max_unread = CONFIG_MAX_UNREAD_DEFAULT;
    c->max_generations = CONFIG_GENERATIONS_DEFAULT;
    c->gen_queue = CONFIG_GEN_QUEUE_DEFAULT;
    c->kv_cache_mb = CONFIG_KV_MB_DEFAULT;
    c->prefix_cache_ttl_s = CONFIG_PREFIX_TTL_DEFAULT;
    c->log_format = LOG_TEXT;

    char msg[512] = "";
    /* Pass 1: find --config/--help/--version and reject unknown flags. */
    const char *cfg = getenv("LMSERVE_CONFIG");
    opterr = 0;
    optind = 1;
    int id;
    while ((id = getopt_long(argc, argv, "", LONG_OPTS, NULL)) != -1) {
        if (id == OPT_HELP) {
            fputs(USAGE, stdout);
            return 1;
        }
        if (id == OPT_VERSION) {
            printf("lmserve %s\n", LMSERVE_VERSION);
            return 1;
        }
        if (id == OPT_CONFIG)
            cfg = optarg;
        if (id == '?') {
            if (optopt)
                fprintf(stderr, "lmserve: option '%s' needs a value (see --help)\n",
                        argv[optind - 1]);
            else
                fprintf(stderr, "lmserve: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "lmserve: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (cfg) {
        set_str(&c->config_path, cfg);
        if (load_file(c, cfg, msg, sizeof msg)) {
            fprintf(stderr, "lmserve: %s\n", msg);
            return 2;
        }
    }
    if (load_env(c, msg, sizeof msg)) {
        fprintf(stderr, "lmserve: %s\n", msg);
        return 2;
    }
    /* Pass 2: flags win. CORS origins from flags replace the file's/env's. */

    int cors_from_flags = 0;
    optind = 1;
    while ((id = getopt_long(argc, argv, "", LONG_OPTS, NULL)) != -1) {
        if (id == OPT_CONFIG)
            continue;
        if (id == OPT_CORS && !cors_from_flags) {
            for (size_t i = 0; i < c->n_cors; i++)
                free(c->cors[i]);
            c->n_cors = 0;
            cors_from_flags = 1;
        }
        if (apply(c, id, optarg, msg, sizeof msg)) {
            fprintf(stderr, "lmserve: %s\n", msg);
            return 2;
        }
    }
    /* An installed binary run outside the source tree finds the playground where `make
     * install` put it, unless a web root was given. */
    if (!c->web_root_given &&
        access("web/index.html", R_OK) != 0 && access(LMSERVE_WEB_DIR "/index.html", R_OK) == 0)
        set_str(&c->web_root, LMSERVE_WEB_DIR);
    return 0;
}

void config_free(struct api_config *c)
{
    if (!c)
        return;
    free(c->host);
    free(c->config_path);
    free(c->models_root);
    free(c->web_root);
    for (size_t i = 0; i < c->n_cors; i++)
        free(c->cors[i]);
    free(c->admin_key);
    free(c->kv_type);
    for (size_t i = 0; i < c->n_models; i++)
        config_model_free(&c->models[i]);
    memset(c, 0, sizeof *c);
}

int config_cors_allowed(const struct api_config *c, const char *origin)
{
    if (!origin)
        return 0;
    for (size_t i = 0; i < c->n_cors; i++)
        if (strcmp(c->cors[i], "*") == 0 || strcmp(c->cors[i], origin) == 0)
            return 1;
    return 0;
}
