/* http.c: the libmicrohttpd side: one context per request, body accumulation with limits,
 * generic checks (404/405/413/415/400/401/403), CORS, inline answers or worker jobs with
 * suspend/resume, streamed responses, access log, metrics, drain. Handlers never see MHD. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../models/lm.h"
#include "../models/util/ident.h"
#include "accesslog.h"
#include "errors.h"
#include "metrics.h"
#include "pool.h"
#include "router.h"
#include "stream.h"

#define HTTP_WATCHDOG_PERIOD_MS 100   /* how often deadlines are checked */
#define HTTP_CANCEL_GRACE_MS 3000     /* after drain timeout: wait this long for cancelled jobs */
#define HTTP_BODY_INITIAL_BYTES 4096
#define HTTP_JSON_PRECISION 9         /* significant digits: round-trips float32 exactly */
#define HTTP_STREAM_BLOCK_BYTES 16384 /* MHD's buffer for streamed responses */
#define HTTP_PREFLIGHT_MAX_AGE "600"
#define HTTP_RETRY_AFTER_S 1
#define HTTP_LOG_LINE_MAX 1024
/* Per-connection pool for headers and the read/write buffers. MHD zeroes it on every
 * request, so its default 32 KiB cost ~10% of /health's CPU in memset (perf). 16 KiB still
 * takes headers of ~8 KiB; bodies stream through it in pieces. */
#ifndef HTTP_CONN_MEMORY_BYTES
#define HTTP_CONN_MEMORY_BYTES (16u * 1024u)
#endif

enum phase {
    PH_BODY,         /* headers seen, body arriving */
    PH_JOB,          /* suspended while a worker runs the handler */
    PH_READY,        /* response in c->rs, to queue at the next call */
    PH_STREAM_START, /* the handler began a stream: queue the callback response */
    PH_SENT,         /* a response is queued */
};

struct http_server {
    struct MHD_Daemon *d;
    const struct api_config *cfg;
    registry *reg;
    pool *pool;
    int port;
    pthread_mutex_t lock; /* active list, inflight */
    pthread_cond_t idle;
    struct reqctx *active;
    int inflight;
    atomic_int draining;
    atomic_int stop_watchdog;
    pthread_t watchdog;
    const char *labels[METRICS_ROUTES_MAX];
    char label_buf[METRICS_ROUTES_MAX][64];
};

struct api_stream {
    struct reqctx *c;
    pthread_cond_t space; /* signalled when the reader consumed bytes or the client left */
    char *buf;
    size_t len, off, cap;
    const char *content_type;
    int begun, done, closed, waiting;
};

struct reqctx {
    atomic_int refs; /* MHD's, plus one while a job runs */
    http_server *srv;
    struct MHD_Connection *conn;
    pthread_mutex_t lock; /* phase, mhd_done, stream */
    enum phase phase;
    int mhd_done;
    enum router_result match;
    const struct route *route;
    char *params[API_PARAMS_MAX];
    size_t n_params;
    char allow[96];
    char method[16];
    char *path;
    char rid[HTTP_REQUEST_ID_MAX + 1];
    char *origin, *auth, *ctype, *acr_method;
    char *body;
    size_t len, cap;
    int too_large;
    int64_t t0_us;
    json_t *json;
    struct api_req rq;
    struct api_resp rs;
    volatile int cancelled;
    struct api_stream stream;
    int status; /* sent, for log and metrics */
    struct reqctx *prev, *next;
};

static http_server *g_server; /* for the /metrics gauges */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- context lifetime ---- */

static void ctx_unref(struct reqctx *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    router_params_free(c->params, c->n_params);
    free(c->path);
    free(c->origin);
    free(c->auth);
    free(c->ctype);
    free(c->acr_method);
    free(c->body);
    json_decref(c->json);
    json_decref(c->rs.body);
    free(c->rs.raw);
    free(c->rs.location);
    free(c->stream.buf);
    pthread_cond_destroy(&c->stream.space);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static char *header_dup(struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
    return v ? strdup(v) : NULL;
}

static void rid_make(char *out)
{
    static atomic_ullong counter;
    static uint64_t seed;
    if (!seed)
        seed = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)now_us();
    uint64_t x = seed + atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    snprintf(out, HTTP_REQUEST_ID_MAX + 1, "%016llx", (unsigned long long)x);
}

static struct reqctx *ctx_new(http_server *s, struct MHD_Connection *conn, const char *url,
                              const char *method)
{
    struct reqctx *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    atomic_init(&c->refs, 1);
    c->srv = s;
    c->conn = conn;
    c->t0_us = now_us();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->stream.space, NULL);
    c->stream.c = c;
    snprintf(c->method, sizeof c->method, "%s", method);
    c->path = strdup(url);
    c->origin = header_dup(conn, "Origin");
    c->auth = header_dup(conn, MHD_HTTP_HEADER_AUTHORIZATION);
    c->ctype = header_dup(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    c->acr_method = header_dup(conn, "Access-Control-Request-Method");
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (rid && ident_valid(rid, HTTP_REQUEST_ID_MAX))
        snprintf(c->rid, sizeof c->rid, "%s", rid);
    else
        rid_make(c->rid);
    if (!c->path) {
        ctx_unref(c);
        return NULL;
    }
    const char *match_method = strcmp(method, "OPTIONS") == 0 && c->acr_method ? c->acr_method
                                                                               : method;
    c->match = router_match(match_method, c->path, &c->route, c->params, &c->n_params, c->allow,
                            sizeof c->allow);
    if (strcmp(method, "OPTIONS") == 0 && c->match == ROUTER_OK) {
        /* Preflight for an allowed method: compute the full Allow list for the path. */
        router_params_free(c->params, c->n_params);
        c->n_params = 0;
        const struct route *dummy;
        char *tmp[API_PARAMS_MAX] = {0};
        size_t nt = 0;
        router_match("OPTIONS", c->path, &dummy, tmp, &nt, c->allow, sizeof c->allow);
        c->match = ROUTER_OK;
        c->route = NULL;
    }
    pthread_mutex_lock(&s->lock);
    c->next = s->active;
    if (s->active)
        s->active->prev = c;
    s->active = c;
    s->inflight++;
    pthread_mutex_unlock(&s->lock);
    metrics_inflight_add(1);
    return c;
}

/* ---- responses ---- */

static void add_common_headers(struct reqctx *c, struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Request-Id", c->rid);
    const struct api_config *cfg = c->srv->cfg;
    if (c->origin && config_cors_allowed(cfg, c->origin)) {
        int any = cfg->n_cors == 1 && strcmp(cfg->cors[0], "*") == 0;
        MHD_add_response_header(r, "Access-Control-Allow-Origin", any ? "*" : c->origin);
        if (!any)
            MHD_add_response_header(r, "Vary", "Origin");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
    }
    if (atomic_load(&c->srv->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Queue c->rs. Takes the body; returns MHD's verdict. */
static enum MHD_Result send_resp(struct reqctx *c)
{
    struct api_resp *rs = &c->rs;
    int status = rs->status ? rs->status : 200;
    char *data = NULL;
    size_t len = 0;
    const char *ctype = rs->content_type ? rs->content_type : "application/json";
    /* KServe V2 routes answer errors in that protocol's {"error": "..."} (api/kserve.c). */
    if (rs->body && status >= 400 && c->route && strncmp(c->route->path, "/v2", 3) == 0)
        rs->body = api_kserve_error_body(rs->body);
    if (rs->body) {
        data = json_dumps(rs->body, JSON_COMPACT | JSON_REAL_PRECISION(HTTP_JSON_PRECISION));
        if (data) {
            len = strlen(data);
            /* A trailing newline makes curl output readable; bodies stay valid JSON. */
            char *nl = realloc(data, len + 2);
            if (nl) {
                data = nl;
                data[len++] = '\n';
                data[len] = '\0';
            }
        }
        if (!data)
            status = 503;
    } else if (rs->raw) {
        data = rs->raw;
        len = rs->raw_len;
        rs->raw = NULL;
    }
    /* MUST_FREE: data is malloc'd (jansson's default allocator or the handler's raw). */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    if (len || rs->body || rs->raw_len)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    add_common_headers(c, r);
    if (rs->retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", rs->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (rs->location)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, rs->location);
    for (size_t i = 0; i < rs->n_headers; i++)
        MHD_add_response_header(r, rs->headers[i].name, rs->headers[i].value);
    if (status == 405 || (strcmp(c->method, "OPTIONS") == 0 && c->allow[0]))
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    c->status = status;
    c->phase = PH_SENT;
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct reqctx *c, enum status code, const char *param,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(struct reqctx *c, enum status code, const char *param,
                                  const char *fmt, ...)
{
    char msg[STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_fail(&c->rs, code, param, "%s", msg);
    return send_resp(c);
}

/* ---- streams (stream.h) ---- */

int stream_begin(struct api_stream *s, const char *content_type)
{
    struct reqctx *c = s->c;
    pthread_mutex_lock(&c->lock);
    if (c->mhd_done || s->closed) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    s->begun = 1;
    s->content_type = content_type;
    c->phase = PH_STREAM_START;
    MHD_resume_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int stream_write(struct api_stream *s, const void *data, size_t len)
{
    struct reqctx *c = s->c;
    pthread_mutex_lock(&c->lock);
    while (!s->closed && !c->mhd_done && !c->cancelled && s->len - s->off > STREAM_BUFFER_MAX)
        pthread_cond_wait(&s->space, &c->lock);
    /* A request past its deadline (cancelled, client still there) may still write its final
     * error event and [DONE]; only a client that is gone refuses writes. */
    if (s->closed || c->mhd_done || !s->begun) {
        pthread_mutex_unlock(&c->lock);
        return -1;
    }
    if (s->off && s->off == s->len)
        s->off = s->len = 0;
    if (s->len + len > s->cap) {
        size_t cap = (s->len + len) * 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            pthread_mutex_unlock(&c->lock);
            return -1;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    if (s->waiting) {
        s->waiting = 0;
        MHD_resume_connection(c->conn);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

int stream_cancelled(const struct api_stream *s) { return s->closed || s->c->cancelled; }

static void stream_end(struct api_stream *s)
{
    struct reqctx *c = s->c;
    pthread_mutex_lock(&c->lock);
    s->done = 1;
    if (s->waiting && !s->closed && !c->mhd_done) {
        s->waiting = 0;
        MHD_resume_connection(c->conn);
    }
    pthread_mutex_unlock(&c->lock);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct reqctx *c = cls;
    struct api_stream *s = &c->stream;
    pthread_mutex_lock(&c->lock);
    if (s->off < s->len) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        pthread_cond_broadcast(&s->space);
        pthread_mutex_unlock(&c->lock);
        return (ssize_t)n;
    }
    if (s->done) {
        pthread_mutex_unlock(&c->lock);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    /* Nothing yet: suspend (returning 0 without suspending would busy-loop; docs/ARCHITECTURE.md, request path). */
    s->waiting = 1;
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void stream_free_cb(void *cls)
{
    struct reqctx *c = cls;
    pthread_mutex_lock(&c->lock);
    c->stream.closed = 1;
    pthread_cond_broadcast(&c->stream.space);
    pthread_mutex_unlock(&c->lock);
    ctx_unref(c);
}

static enum MHD_Result send_stream(struct reqctx *c)
{
    atomic_fetch_add(&c->refs, 1); /* the response's reference, dropped in stream_free_cb */
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK_BYTES, stream_reader, c, stream_free_cb);
    if (!r) {
        ctx_unref(c);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, c->stream.content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    add_common_headers(c, r);
    c->status = 200;
    c->phase = PH_SENT;
    enum MHD_Result ok = MHD_queue_response(c->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- jobs ---- */

static void job_run(void *arg)
{
    struct reqctx *c = arg;
    c->route->handler(&c->rq, &c->rs);
    if (c->stream.begun) {
        stream_end(&c->stream);
    } else {
        pthread_mutex_lock(&c->lock);
        c->phase = PH_READY;
        if (!c->mhd_done)
            MHD_resume_connection(c->conn);
        pthread_mutex_unlock(&c->lock);
    }
    ctx_unref(c);
}

/* Does the body's "model" name a model whose type is heavy (never inline)? */
static int model_is_heavy(registry *reg, json_t *body)
{
    const char *id = json_string_value(json_object_get(body, "model"));
    model *m = NULL;
    if (!id || registry_acquire(reg, id, &m, NULL) != STATUS_OK)
        return 0; /* the handler reports the error, cheaply, inline */
    int heavy = model_ops_of(m)->heavy;
    registry_release(m);
    return heavy;
}

static size_t json_depth(json_t *j)
{
    size_t best = 0;
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            size_t d = json_depth(v);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
        {
            size_t d = json_depth(v);
            if (d > best)
                best = d;
        }
        return best + 1;
    }
    return 0;
}

static int key_equal(const char *a, const char *b)
{
    /* Constant-time for equal lengths: the admin key should not leak through timing. */
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static enum MHD_Result preflight(struct reqctx *c)
{
    if (c->match == ROUTER_NOT_FOUND)
        return send_error(c, STATUS_NOT_FOUND, NULL, "no route for %s", c->path);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    add_common_headers(c, r);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, c->allow);
    if (c->origin && config_cors_allowed(c->srv->cfg, c->origin)) {
        MHD_add_response_header(r, "Access-Control-Allow-Methods", c->allow);
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                "Content-Type, Authorization, X-Request-Id");
        MHD_add_response_header(r, "Access-Control-Max-Age", HTTP_PREFLIGHT_MAX_AGE);
    }
    c->status = 204;
    c->phase = PH_SENT;
    enum MHD_Result ok = MHD_queue_response(c->conn, MHD_HTTP_NO_CONTENT, r);
    MHD_destroy_response(r);
    return ok;
}

static const char *req_header(const struct api_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result dispatch(struct reqctx *c)
{
    http_server *s = c->srv;
    const struct api_config *cfg = s->cfg;
    if (strcmp(c->method, "OPTIONS") == 0)
        return preflight(c);
    if (c->match == ROUTER_NOT_FOUND)
        return send_error(c, STATUS_NOT_FOUND, NULL, "no route for %s %s", c->method, c->path);
    if (c->match == ROUTER_METHOD_NOT_ALLOWED) {
        c->rs.status = 405;
        c->rs.body = errors_body(405, "method not allowed", NULL, "method_not_allowed");
        char msg[160];
        snprintf(msg, sizeof msg, "%s is not allowed on %s (allowed: %s)", c->method, c->path,
                 c->allow);
        json_object_set_new(json_object_get(c->rs.body, "error"), "message", json_string(msg));
        return send_resp(c);
    }
    if (c->too_large)
        return send_error(c, STATUS_TOO_LARGE, NULL, "request body is larger than %zu bytes",
                          cfg->max_body);
    const struct route *rt = c->route;
    if (rt->admin) {
        if (!cfg->admin_key)
            return send_error(c, STATUS_FORBIDDEN, NULL,
                              "admin routes are disabled: the server has no --admin-key");
        if (!c->auth || strncasecmp(c->auth, "Bearer ", 7) != 0)
            return send_error(c, STATUS_UNAUTHORIZED, NULL,
                              "this route needs 'Authorization: Bearer <admin key>'");
        if (!key_equal(c->auth + 7, cfg->admin_key))
            return send_error(c, STATUS_FORBIDDEN, NULL, "the admin key is wrong");
    }
    if (rt->json_body) {
        const char *ct = c->ctype ? c->ctype : "";
        size_t n = strcspn(ct, ";");
        while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
            n--;
        if (!(n == 16 && strncasecmp(ct, "application/json", 16) == 0))
            return send_error(c, STATUS_MEDIA_TYPE, NULL,
                              "Content-Type must be application/json (got '%s')",
                              c->ctype ? c->ctype : "none");
        if (c->len == 0)
            return send_error(c, STATUS_BAD_INPUT, NULL, "the request body is empty");
        json_error_t je;
        c->json = json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, &je);
        if (!c->json)
            return send_error(c, STATUS_BAD_INPUT, NULL, "malformed JSON at line %d column %d: %s",
                              je.line, je.column, je.text);
        if (!json_is_object(c->json))
            return send_error(c, STATUS_BAD_INPUT, NULL, "the request body must be a JSON object");
        if (json_depth(c->json) > CONFIG_JSON_DEPTH_MAX)
            return send_error(c, STATUS_BAD_INPUT, NULL, "JSON nesting is deeper than %d levels",
                              CONFIG_JSON_DEPTH_MAX);
    }
    c->rq.method = c->method;
    c->rq.path = c->path;
    for (size_t i = 0; i < c->n_params; i++)
        c->rq.params[i] = c->params[i];
    c->rq.n_params = c->n_params;
    c->rq.body = c->json;
    c->rq.authorization = c->auth;
    c->rq.request_id = c->rid;
    c->rq.reg = s->reg;
    c->rq.cfg = cfg;
    c->rq.cancelled = &c->cancelled;
    c->rq.header = req_header;
    c->rq.conn = c->conn;
    c->rq.deadline_us = c->t0_us + (int64_t)cfg->timeout_s * 1000000;

    int inline_ok = rt->cost == COST_INLINE ||
                    (rt->cost == COST_AUTO && c->len <= ROUTER_INLINE_BODY_MAX &&
                     !model_is_heavy(s->reg, c->json));
    if (inline_ok) {
        rt->handler(&c->rq, &c->rs);
        return send_resp(c);
    }
    if (rt->cost == COST_STREAM)
        c->rq.stream = &c->stream;
    c->phase = PH_JOB;
    atomic_fetch_add(&c->refs, 1); /* the job's reference */
    pthread_mutex_lock(&c->lock);
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    if (pool_submit(s->pool, job_run, c) != 0) {
        ctx_unref(c);
        api_fail(&c->rs, STATUS_BUSY, NULL, "the server is busy: %zu jobs are queued; retry later",
                 pool_capacity(s->pool));
        c->rs.retry_after = HTTP_RETRY_AFTER_S;
        pthread_mutex_lock(&c->lock);
        c->phase = PH_READY;
        MHD_resume_connection(c->conn);
        pthread_mutex_unlock(&c->lock);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    http_server *s = cls;
    struct reqctx *c = *con_cls;
    if (!c) {
        c = ctx_new(s, conn, url, method);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->cfg->max_body) {
            /* Answer before reading the body (MHD then closes the connection). */
            c->too_large = 1;
            return send_error(c, STATUS_TOO_LARGE, NULL, "request body is larger than %zu bytes",
                              s->cfg->max_body);
        }
        /* Keep-alive trap (docs/ARCHITECTURE.md, request path): never queue a normal response on the first call. */
        return MHD_YES;
    }
    switch (c->phase) {
    case PH_BODY:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (c->too_large)
                return MHD_YES;
            if (c->len + n > s->cfg->max_body) {
                c->too_large = 1; /* keep reading, answer 413 at the end (chunked bodies) */
                free(c->body);
                c->body = NULL;
                c->len = c->cap = 0;
                return MHD_YES;
            }
            if (c->len + n + 1 > c->cap) {
                size_t cap = c->cap ? c->cap : HTTP_BODY_INITIAL_BYTES;
                while (cap < c->len + n + 1)
                    cap *= 2;
                char *b = realloc(c->body, cap);
                if (!b)
                    return MHD_NO;
                c->body = b;
                c->cap = cap;
            }
            memcpy(c->body + c->len, upload_data, n);
            c->len += n;
            c->body[c->len] = '\0';
            return MHD_YES;
        }
        return dispatch(c);
    case PH_READY:
        return send_resp(c);
    case PH_STREAM_START:
        return send_stream(c);
    case PH_JOB:
    case PH_SENT:
        break;
    }
    return MHD_YES;
}

/* ---- completion: log, metrics, cancellation ---- */

static void log_line(struct reqctx *c, int64_t us)
{
    char line[HTTP_LOG_LINE_MAX];
    int n;
    /* The timestamp changes once a second: format it once a second per thread. */
    static _Thread_local time_t ts_for;
    static _Thread_local char ts[32];
    time_t t = time(NULL);
    if (t != ts_for) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ts_for = t;
    }
    /* The path is client data: keep it printable and short in the log. */
    char path[256];
    size_t j = 0;
    for (const char *p = c->path; *p && j + 1 < sizeof path; p++)
        path[j++] = ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') ? '?' : *p;
    path[j] = '\0';
    if (c->srv->cfg->log_format == LOG_JSON)
        n = snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"us\":%lld,"
                     "\"request_id\":\"%s\"}\n",
                     ts, c->method, path, c->status, (long long)us, c->rid);
    else
        n = snprintf(line, sizeof line, "%s %s %s %d %lldus rid=%s\n", ts, c->method, path,
                     c->status, (long long)us, c->rid);
    if (n > 0)
        accesslog_write(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    http_server *s = cls;
    struct reqctx *c = *con_cls;
    if (!c)
        return;
    *con_cls = NULL;
    int64_t us = now_us() - c->t0_us;
    if (c->status == 0)
        c->status = 499; /* the client left before an answer */
    log_line(c, us);
    size_t idx = c->route ? router_index(c->route) : router_count();
    metrics_observe(idx, c->status, us);
    metrics_inflight_add(-1);
    pthread_mutex_lock(&c->lock);
    c->mhd_done = 1;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        c->cancelled = 1;
    pthread_cond_broadcast(&c->stream.space);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&s->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->active = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->inflight--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
    ctx_unref(c);
}

/* ---- deadlines ---- */

static void cancel_expired(http_server *s, int all)
{
    int64_t now = now_us();
    pthread_mutex_lock(&s->lock);
    for (struct reqctx *c = s->active; c; c = c->next) {
        if (all || (c->rq.deadline_us && now > c->rq.deadline_us)) {
            pthread_mutex_lock(&c->lock);
            c->cancelled = 1;
            pthread_cond_broadcast(&c->stream.space);
            pthread_mutex_unlock(&c->lock);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

static void *watchdog_main(void *arg)
{
    http_server *s = arg;
    while (!atomic_load(&s->stop_watchdog)) {
        struct timespec ts = {0, HTTP_WATCHDOG_PERIOD_MS * 1000000L};
        nanosleep(&ts, NULL);
        cancel_expired(s, 0);
    }
    return NULL;
}

/* ---- daemon ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "lmserve: http: %s", msg);
}

http_server *http_start(const struct api_config *cfg, registry *reg)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->reg = reg;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    size_t n = router_count();
    for (size_t i = 0; i < n && i + 1 < METRICS_ROUTES_MAX; i++) {
        snprintf(s->label_buf[i], sizeof s->label_buf[i], "%s %s", router_row(i)->method,
                 router_row(i)->path);
        s->labels[i] = s->label_buf[i];
    }
    s->labels[n] = "unmatched";
    metrics_init(s->labels, n + 1);

    s->pool = pool_new(cfg->threads, (size_t)cfg->queue_max);
    if (!s->pool) {
        fprintf(stderr, "lmserve: cannot start %d worker threads\n", cfg->threads);
        goto fail;
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "lmserve: cannot resolve --host '%s': %s\n", cfg->host, gai_strerror(gai));
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->io_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->io_threads * CONFIG_CONN_PER_IO_THREAD), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY_BYTES,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        fprintf(stderr, "lmserve: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                strerror(errno));
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : cfg->port;
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        fprintf(stderr, "lmserve: cannot start the watchdog thread\n");
        goto fail;
    }
    accesslog_start(STDERR_FILENO);
    g_server = s;
    return s;
fail:
    if (s->d)
        MHD_stop_daemon(s->d);
    pool_free(s->pool);
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

int http_port(const http_server *s) { return s->port; }

/* Wait until nothing is in flight or 'until_us' passes. Returns what is left. */
static int wait_idle(http_server *s, int64_t until_us)
{
    pthread_mutex_lock(&s->lock);
    while (s->inflight > 0 && now_us() < until_us) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->idle, &s->lock, &ts);
    }
    int left = s->inflight;
    pthread_mutex_unlock(&s->lock);
    return left;
}

void http_drain(http_server *s, int timeout_s)
{
    atomic_store(&s->draining, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    int left = wait_idle(s, now_us() + (int64_t)timeout_s * 1000000);
    if (left > 0) {
        fprintf(stderr, "lmserve: %d requests still running after %d s: cancelling them\n", left,
                timeout_s);
        cancel_expired(s, 1);
        wait_idle(s, now_us() + HTTP_CANCEL_GRACE_MS * 1000);
    }
}

void http_stop(http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stop_watchdog, 1);
    pthread_join(s->watchdog, NULL);
    /* Jobs still running would resume connections of a stopped daemon: finish them first. */
    pool_free(s->pool);
    s->pool = NULL;
    MHD_stop_daemon(s->d);
    accesslog_stop();
    g_server = NULL;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

size_t http_queue_depth(void) { return g_server && g_server->pool ? pool_depth(g_server->pool) : 0; }
size_t http_queue_capacity(void)
{
    return g_server && g_server->pool ? pool_capacity(g_server->pool) : 0;
}
size_t http_workers_busy(void) { return g_server && g_server->pool ? pool_busy(g_server->pool) : 0; }
