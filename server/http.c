/* http.c: the HTTP side: event loops that accept sockets and check each request head
 * before libmicrohttpd sees it (header deadline, connection caps, strict framing), one MHD
 * daemon per loop driven from that loop (external epoll mode: no 128-event stall), one
 * context per request, body accumulation with limits, generic checks
 * (404/405/413/415/400/401/403), CORS, inline answers or worker jobs with suspend/resume,
 * streamed responses (stream.c), access log, metrics, drain. Handlers never see MHD. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../models/lm.h"
#include "../models/util/ident.h"
#include "accesslog.h"
#include "errors.h"
#include "gate.h"
#include "metrics.h"
#include "pool.h"
#include "router.h"
#include "stream.h"

#define HTTP_WATCHDOG_PERIOD_MS 100   /* how often deadlines are checked */
#define HTTP_CANCEL_GRACE_MS 500      /* after drain timeout: wait this long for cancelled jobs */
#define HTTP_BODY_INITIAL_BYTES 4096
#define HTTP_JSON_PRECISION 9         /* significant digits: round-trips float32 exactly */
#define HTTP_STREAM_BLOCK_BYTES 16384 /* MHD's buffer for streamed responses */
#define HTTP_PREFLIGHT_MAX_AGE "600"
#define HTTP_RETRY_AFTER_S 1
#define HTTP_LOG_LINE_MAX 1024
#define HTTP_LOOP_EVENTS 256          /* epoll events per wait of one loop */
#define HTTP_LOOP_TICK_MS 1000        /* longest sleep of a loop */
#define HTTP_MHD_RUNS_MAX 4           /* MHD_run calls per wake-up while MHD has ready work */
#define HTTP_ACCEPT_BATCH 64          /* accepts per wake-up of one loop (fairness) */
#define HTTP_ACCEPT_PAUSE_MS 100      /* out of descriptors: stop accepting this long */
#define HTTP_LINGER_MS 5000           /* lingering close: read and drop for at most this long */
#define HTTP_LINGER_BODY_FACTOR 8     /* ... and at most this many times --max-body */
#define HTTP_LINGER_READ_BYTES 65536
#define HTTP_FD_RESERVE 256           /* descriptors beyond --max-conns: models, logs, epoll */
#define HTTP_TRIM_BYTES (1u << 20)    /* answers this large give their memory back (malloc_trim) */
#define HTTP_UNREAD_FREE_BYTES 65536  /* answers this small never count against --max-unread */
/* Allocations from this size on are mmap'd and go back to the OS when freed. glibc raises
 * its threshold after each such free (up to 32 MiB), after which a big answer's text comes
 * from the heap and stays in RSS when the client leaves: fixing the threshold stops that. */
#define HTTP_MMAP_THRESHOLD_BYTES (256u * 1024u)
/* Per-connection pool for headers and the read/write buffers. MHD zeroes it on every
 * request, so its default 32 KiB cost ~10% of /health's CPU in memset (perf). Every head MHD
 * sees now arrives whole and within the gate's limits (gate.h; later heads through
 * stream_recv), so 16 KiB takes them all: hardening/big_heads_get_json_431_on_every_request
 * (8-20 KB x 2-101 fields, first and second request) passes. (Before stream_recv, 16 KiB gave
 * MHD's HTML 431 to a 12 KB/100-field second request arriving in pieces, hence 24 KiB.)
 * Bodies stream through it in pieces. */
#ifndef HTTP_CONN_MEMORY_BYTES
#define HTTP_CONN_MEMORY_BYTES (16u * 1024u)
#endif
#define HTTP_FDTAB_MAX (1 << 20)   /* descriptors stream_recv can follow */
#define HTTP_STASH_MIN_BYTES 1024u /* first size of a connection's held-back bytes (stream_recv) */

enum phase {
    PH_BODY,         /* headers seen, body arriving */
    PH_JOB,          /* suspended while a worker runs the handler */
    PH_READY,        /* response in c->rs, to queue at the next call */
    PH_STREAM_START, /* the handler began a stream: queue the callback response */
    PH_SENT,         /* a response is queued */
};

/* A connection's place: with the gate (head not complete yet), inside MHD (a request in
 * progress, or idle between keep-alive requests), or lingering after MHD closed it. */
enum conn_state { CONN_GATE, CONN_ACTIVE, CONN_IDLE, CONN_LINGER };

struct conn {
    int fd;
    enum conn_state state;
    int64_t deadline_us; /* for GATE, IDLE, LINGER */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int ip_counted;
    int mhd_owned;  /* MHD took the socket (MHD_add_connection) */
    int linger;     /* an answer was sent before the request was read: close lingering */
    unsigned n_requests;
    size_t discarded; /* bytes dropped while lingering */
    /* The heads after the first (stream_recv): the scan of the bytes MHD reads, bytes held
     * back from it (a head not complete yet: held; bytes cleared to pass but not yet taken
     * by MHD: ready, before held), and a head refused while MHD still had requests to
     * answer (sent once they are: refuse). */
    struct loop *lp;
    struct gate_stream gs;
    unsigned completed; /* requests MHD has finished on this connection */
    char *stash;
    size_t stash_cap, ready_off, ready_len, held_len;
    enum gate_verdict refuse; /* GATE_INCOMPLETE (zero): none */
    int refused;              /* the refusal was sent: MHD reads end-of-stream */
    char refuse_msg[160];
    struct conn *prev, *next; /* in the loop's list for 'state' */
};

struct conn_list {
    struct conn *head, *tail;
};

struct loop {
    http_server *srv;
    struct MHD_Daemon *d;
    int epfd, wakefd;
    pthread_t thread;
    int started;
    struct conn_list gate, idle, linger;
    struct conn *handing;    /* the socket MHD_add_connection is adding (notify callback) */
    int listening;           /* the listen socket is in epfd */
    int drained;             /* drain handled (listen socket removed, idle closed) */
    int64_t accept_pause_us; /* out of descriptors until then */
    /* The loop's requests in progress (watchdog, drain). Per loop, not per server: one lock
     * shared by the loops cost a contended lock/unlock pair twice per request (perf). */
    pthread_mutex_t active_lock;
    struct reqctx *active;
    atomic_int inflight; /* written by this loop only (a shared count bounced between cores) */
};

struct http_server {
    const struct api_config *cfg;
    registry *reg;
    pool *pool;
    pool *gen_pool; /* streaming generations: they wait on their model's scheduler */
    int port;
    int listen_fd;
    struct loop *loops;
    int n_loops;
    atomic_size_t unread; /* answer bytes queued and not yet fully sent (--max-unread) */
    atomic_int n_conns;
    atomic_int loops_drained;
    pthread_mutex_t lock; /* with 'idle': wait_idle's wait */
    pthread_cond_t idle;
    atomic_int draining;
    atomic_int stopping;
    atomic_int stop_watchdog;
    pthread_t watchdog;
    int watchdog_started;
    const char *labels[METRICS_ROUTES_MAX];
    char label_buf[METRICS_ROUTES_MAX][64];
};

struct reqctx {
    atomic_int refs; /* MHD's, plus one while a job runs, plus one for a stream response */
    http_server *srv;
    struct MHD_Connection *conn;
    struct conn *sock; /* the connection's record (loop-thread only) */
    struct loop *lp;   /* the loop (and MHD daemon) that owns the connection */
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
    int cl_over; /* Content-Length says more than --max-body (ctx_new's header pass) */
    int bad_framing; /* answered 400: close after it */
    int64_t t0_us;
    json_t *json;
    model *body_model; /* body.model's reference taken by the inline/job choice, handed to the
                        * handler through rq.held_model (one registry lookup per request) */
    struct api_req rq;
    struct api_resp rs;
    volatile int cancelled;
    struct api_stream *stream;
    int status; /* sent, for log and metrics */
    size_t held; /* this answer's bytes counted in srv->unread */
    int rendered; /* c->out holds the answer (resp_render) */
    char *out;    /* owned until handed to MHD */
    size_t out_len;
    int out_status;
    struct reqctx *prev, *next;
};

static http_server *g_server; /* for the /metrics gauges */
/* Connections whose socket MHD reads, by descriptor, for stream_recv (set and cleared by the
 * descriptor's loop thread; other threads only find NULL for their own descriptors). */
static _Atomic(struct conn *) *g_fdtab;
static int g_fdtab_n;

static void fdtab_free(void)
{
    _Atomic(struct conn *) *t = g_fdtab;
    g_fdtab_n = 0;
    g_fdtab = NULL;
    free((void *)t);
}

static void fdtab_set(int fd, struct conn *k)
{
    if (g_fdtab && fd >= 0 && fd < g_fdtab_n)
        atomic_store_explicit(&g_fdtab[fd], k, memory_order_relaxed);
}
static char URI_HAS_NUL;      /* marker returned by the URI callback for '%00' targets */

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
    registry_release(c->body_model);
    json_decref(c->rs.body);
    free(c->rs.raw);
    free(c->rs.location);
    free(c->out);
    stream_free(c->stream);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* The request's own memory once its answer exists: the body text and both JSON trees.
 * A client that reads slowly then holds only the answer's text (issue 10). */
static void ctx_shed(struct reqctx *c)
{
    free(c->body);
    c->body = NULL;
    c->len = c->cap = 0;
    c->rq.body = NULL;
    json_decref(c->json);
    c->json = NULL;
    json_decref(c->rs.body);
    c->rs.body = NULL;
    registry_release(c->body_model); /* the handler did not take it */
    c->body_model = NULL;
}

/* The request headers the context keeps, in one pass over MHD's list (five lookups walked it
 * five times per request); the first of repeated fields wins, as MHD_lookup_connection_value. */
struct ctx_headers {
    struct reqctx *c;
    const char *rid;
    const char *content_length;
    int failed;
};

static void header_keep(char **slot, const char *value, int *failed)
{
    if (*slot || !value)
        return;
    *slot = strdup(value);
    if (!*slot)
        *failed = 1;
}

static enum MHD_Result header_row(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct ctx_headers *h = cls;
    struct reqctx *c = h->c;
    switch (key[0] | 0x20) {
    case 'o':
        if (strcasecmp(key, "Origin") == 0)
            header_keep(&c->origin, value, &h->failed);
        break;
    case 'a':
        if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
            header_keep(&c->auth, value, &h->failed);
        else if (strcasecmp(key, "Access-Control-Request-Method") == 0)
            header_keep(&c->acr_method, value, &h->failed);
        break;
    case 'c':
        if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
            header_keep(&c->ctype, value, &h->failed);
        else if (!h->content_length && strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
            h->content_length = value;
        break;
    case 'x':
        if (!h->rid && strcasecmp(key, "X-Request-Id") == 0)
            h->rid = value;
        break;
    default:
        break;
    }
    return MHD_YES;
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
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, x >>= 4) /* "%016llx", without printf on every request */
        out[i] = hex[x & 15];
    out[16] = '\0';
}

static struct loop *loop_of(http_server *s, struct MHD_Connection *conn);
static void loop_wake(struct loop *lp);

/* Resume a suspended connection from any thread. In external-loop mode MHD does not wake
 * its loop itself (no ITC), so the owning loop is woken here. */
static void ctx_resume(struct reqctx *c)
{
    MHD_resume_connection(c->conn);
    loop_wake(c->lp);
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
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
    c->sock = conn_of(conn);
    c->lp = loop_of(s, conn);
    c->t0_us = now_us();
    pthread_mutex_init(&c->lock, NULL);
    size_t ml = strnlen(method, sizeof c->method - 1); /* a token the gate checked */
    memcpy(c->method, method, ml);
    c->method[ml] = '\0';
    c->path = strdup(url);
    struct ctx_headers h = {c, NULL, NULL, 0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, header_row, &h);
    const char *rid = h.rid;
    c->cl_over = h.content_length && strtoull(h.content_length, NULL, 10) > s->cfg->max_body;
    if (rid && ident_valid(rid, HTTP_REQUEST_ID_MAX))
        memcpy(c->rid, rid, strlen(rid) + 1); /* at most HTTP_REQUEST_ID_MAX (ident_valid) */
    else
        rid_make(c->rid);
    if (!c->path || h.failed) {
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
    struct loop *lp = c->lp;
    pthread_mutex_lock(&lp->active_lock);
    c->next = lp->active;
    if (lp->active)
        lp->active->prev = c;
    lp->active = c;
    pthread_mutex_unlock(&lp->active_lock);
    atomic_fetch_add_explicit(&lp->inflight, 1, memory_order_relaxed);
    metrics_inflight_add(1);
    return c;
}

/* ---- responses ---- */

/* The error object for 'code' in 'rs' (errors.c decides status and type). */
static void resp_fail(struct api_resp *rs, enum status code, const char *param, const char *msg)
{
    int http = errors_http_status(code);
    json_decref(rs->body);
    rs->status = http;
    rs->body = errors_body(http, msg, param, status_name(code));
    if (http == 503 && !rs->retry_after)
        rs->retry_after = HTTP_RETRY_AFTER_S;
}

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
    if (atomic_load(&c->srv->draining) || c->bad_framing)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
}

/* Turn c->rs into the answer's bytes (c->out): serialise, apply --max-response and
 * --max-unread, then drop the request and both JSON trees. Jobs call it on their worker, so
 * the event loop never serialises a big tree and at most one tree per worker exists. */
static void resp_render(struct reqctx *c)
{
    if (c->rendered)
        return;
    struct api_resp *rs = &c->rs;
    for (;;) {
        int status = rs->status ? rs->status : 200;
        char *data = NULL;
        size_t len = 0;
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
        char msg[STATUS_MSG_MAX] = "";
        size_t max_resp = c->srv->cfg->max_response;
        if (len > max_resp && status < 300) {
            snprintf(msg, sizeof msg,
                     "the answer would be %zu bytes, more than --max-response (%zu): ask for "
                     "less (fewer inputs, no per-token detail)",
                     len, max_resp);
            resp_fail(rs, STATUS_UNPROCESSABLE, NULL, msg);
        } else if (len >= HTTP_UNREAD_FREE_BYTES && status < 300) {
            /* Bytes waiting for clients are bounded in total: a crowd of clients that never
             * read cannot pin the memory (issue 10). */
            size_t cur = atomic_fetch_add(&c->srv->unread, len);
            if (cur + len > c->srv->cfg->max_unread) {
                atomic_fetch_sub(&c->srv->unread, len);
                snprintf(msg, sizeof msg,
                         "the server holds %zu bytes of answers that clients have not read yet "
                         "(--max-unread %zu); retry later",
                         cur, c->srv->cfg->max_unread);
                resp_fail(rs, STATUS_BUSY, NULL, msg);
            } else {
                c->held = len;
            }
        }
        if (msg[0]) {
            free(data); /* refused: render the error object instead */
            continue;
        }
        c->out = data;
        c->out_len = len;
        c->out_status = status;
        break;
    }
    /* The answer is text now: drop the request and both trees before the client reads. */
    int big = c->out_len >= HTTP_TRIM_BYTES || c->len >= HTTP_TRIM_BYTES;
    ctx_shed(c);
    if (big)
        malloc_trim(0);
    c->rendered = 1;
}

/* Queue the answer (rendering it first if no worker did). Returns MHD's verdict. */
static enum MHD_Result send_resp(struct reqctx *c)
{
    resp_render(c);
    struct api_resp *rs = &c->rs;
    int status = c->out_status;
    size_t len = c->out_len;
    const char *ctype = rs->content_type ? rs->content_type : "application/json";
    /* MUST_FREE: c->out is malloc'd (jansson's default allocator or the handler's raw). */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, c->out, MHD_RESPMEM_MUST_FREE);
    if (!r)
        return MHD_NO; /* c->out is freed with the context */
    c->out = NULL;
    if (len || rs->raw_len || status >= 400)
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
    resp_fail(&c->rs, code, param, msg);
    return send_resp(c);
}

/* An answer queued before the body was read: MHD closes the connection after it, and the
 * close lingers (reads and drops what the client still sends) so the client's kernel does
 * not answer our close with a reset that wipes the answer (nginx's lingering_close). */
static enum MHD_Result send_error_closing(struct reqctx *c, enum status code, const char *fmt,
                                          ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error_closing(struct reqctx *c, enum status code, const char *fmt,
                                          ...)
{
    char msg[STATUS_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->bad_framing = 1;
    if (c->sock)
        c->sock->linger = 1;
    resp_fail(&c->rs, code, NULL, msg);
    return send_resp(c);
}

/* ---- streams (stream.c holds the buffer; these are its hooks, called under c->lock) ---- */

static void stream_hook_begin(void *ctx)
{
    struct reqctx *c = ctx;
    c->phase = PH_STREAM_START;
    if (!c->mhd_done)
        ctx_resume(c);
}

static void stream_hook_resume(void *ctx)
{
    struct reqctx *c = ctx;
    if (!c->mhd_done)
        ctx_resume(c);
}

static void stream_hook_suspend(void *ctx)
{
    struct reqctx *c = ctx;
    MHD_suspend_connection(c->conn);
}

static const struct stream_hooks STREAM_HOOKS = {
    .begin = stream_hook_begin,
    .resume = stream_hook_resume,
    .suspend = stream_hook_suspend,
};

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct reqctx *c = cls;
    ssize_t n = stream_read(c->stream, buf, max);
    if (n == STREAM_READ_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n; /* 0 only after suspending (returning 0 otherwise busy-loops; docs/ARCHITECTURE.md, request path) */
}

static void stream_free_cb(void *cls)
{
    struct reqctx *c = cls;
    stream_close(c->stream);
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
    /* The job still reads its request (rq.body): nothing is shed here. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, stream_content_type(c->stream));
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

/* The answer is in c->rs: serialise it here (on the worker, not on the event loop) and hand
 * it to MHD, which may have finished with the connection meanwhile. */
static void job_ready(struct reqctx *c)
{
    resp_render(c);
    pthread_mutex_lock(&c->lock);
    c->phase = PH_READY;
    if (!c->mhd_done)
        ctx_resume(c);
    pthread_mutex_unlock(&c->lock);
}

static void job_run(void *arg)
{
    struct reqctx *c = arg;
    c->route->handler(&c->rq, &c->rs);
    if (c->stream && stream_begun(c->stream)) {
        stream_end(c->stream);
    } else {
        job_ready(c);
    }
    ctx_unref(c);
}

/* A job still queued at its deadline: answered 503 without running (pool_expire). */
static void job_expire(void *arg)
{
    struct reqctx *c = arg;
    char msg[STATUS_MSG_MAX];
    snprintf(msg, sizeof msg,
             "the request waited %d s for a worker (--timeout) without starting: the server is "
             "busy; retry later",
             c->srv->cfg->timeout_s);
    resp_fail(&c->rs, STATUS_TIMEOUT, NULL, msg);
    job_ready(c);
    ctx_unref(c);
}

/* Does the body's "model" name a model whose type is heavy (never inline)? The reference
 * taken here is kept for the handler (api_model_or_reply takes it over), so a request looks
 * its model up once. */
static int model_is_heavy(struct reqctx *c)
{
    const char *id = json_string_value(json_object_get(c->json, "model"));
    model *m = NULL;
    if (!id || registry_acquire(c->srv->reg, id, &m, NULL) != STATUS_OK)
        return 0; /* the handler reports the error, cheaply, inline */
    c->body_model = m;
    c->rq.held_model = &c->body_model;
    return model_ops_of(m)->heavy;
}

static size_t json_depth(json_t *j)
{
    if (!json_is_object(j) && !json_is_array(j))
        return 0;
    size_t best = 0, d;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if ((d = json_depth(json_array_get(j, i))) > best)
                best = d;
    } else {
        for (void *it = json_object_iter(j); it; it = json_object_iter_next(j, it))
            if ((d = json_depth(json_object_iter_value(it))) > best)
                best = d;
    }
    return best + 1;
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
        /* The tree holds everything the handler needs: the text goes now. */
        size_t body_len = c->len;
        free(c->body);
        c->body = NULL;
        c->cap = 0;
        c->len = body_len; /* kept for the inline/job choice below */
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
                     !model_is_heavy(c));
    if (inline_ok) {
        rt->handler(&c->rq, &c->rs);
        return send_resp(c);
    }
    if (rt->cost == COST_STREAM) {
        c->stream = stream_new(&c->lock, &c->cancelled, &STREAM_HOOKS, c);
        if (!c->stream)
            return send_error(c, STATUS_NO_MEMORY, NULL, "out of memory");
        c->rq.stream = c->stream;
    }
    c->phase = PH_JOB;
    atomic_fetch_add(&c->refs, 1); /* the job's reference */
    pthread_mutex_lock(&c->lock);
    MHD_suspend_connection(c->conn);
    pthread_mutex_unlock(&c->lock);
    /* A generation gets a worker of its own at once or a 503: it waits for a slot in its
     * model's scheduler (bounded by --gen-queue, until its deadline), never in a ring. */
    const int gen = rt->cost == COST_STREAM && s->gen_pool;
    if (gen ? pool_submit_idle(s->gen_pool, job_run, c) != 0
            : pool_submit_until(s->pool, job_run, job_expire, c, c->rq.deadline_us) != 0) {
        ctx_unref(c);
        char msg[STATUS_MSG_MAX];
        if (gen)
            snprintf(msg, sizeof msg,
                     "the server is busy: %d generations are running or waiting for a slot "
                     "(--parallel + --gen-queue); retry later",
                     cfg->max_generations + cfg->gen_queue);
        else
            snprintf(msg, sizeof msg, "the server is busy: %zu jobs are queued; retry later",
                     pool_capacity(s->pool));
        resp_fail(&c->rs, STATUS_BUSY, NULL, msg);
        c->rs.retry_after = HTTP_RETRY_AFTER_S;
        pthread_mutex_lock(&c->lock);
        c->phase = PH_READY;
        ctx_resume(c);
        pthread_mutex_unlock(&c->lock);
    }
    return MHD_YES;
}

static void list_append(struct conn_list *l, struct conn *k);
static void list_remove(struct conn_list *l, struct conn *k);

/* How many of a connection's requests MHD must have finished before its refusal is sent:
 * all heads passed when the refused bytes are a head; all but the last when they are inside
 * the last one's body (bad chunk framing, a trailer too large): MHD then reads end-of-stream
 * in the middle of that body and closes without an answer of its own. */
static unsigned refuse_after(const struct conn *k)
{
    return k->gs.heads - (k->gs.state != GATE_STREAM_HEAD);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    http_server *s = cls;
    struct reqctx *c = *con_cls;
    if (!c || c == (void *)&URI_HAS_NUL) {
        int has_nul = c == (void *)&URI_HAS_NUL;
        *con_cls = NULL;
        c = ctx_new(s, conn, url, method);
        if (!c)
            return MHD_NO;
        *con_cls = c;
        struct conn *k = c->sock;
        if (k) {
            if (k->state == CONN_IDLE)
                list_remove(&c->lp->idle, k);
            k->state = CONN_ACTIVE;
            k->n_requests++;
        }
        if (has_nul)
            return send_error_closing(c, STATUS_BAD_INPUT,
                                      "the request target contains an encoded NUL (%%00)");
        /* Framing and size: every head MHD parses passed gate_check_head, the first at the
         * gate (gate_read) and each later one in stream_recv's scan, which follows
         * Content-Length and chunked bodies, so nothing is checked again here. */
        if (c->cl_over) {
            /* Answer before reading the body; the close lingers so the client reads it. */
            c->too_large = 1;
            return send_error_closing(c, STATUS_TOO_LARGE, "request body is larger than %zu bytes",
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
            if (now_us() > c->t0_us + (int64_t)s->cfg->timeout_s * 1000000)
                return MHD_NO; /* a body still trickling in past --timeout: close */
            if (c->too_large) {
                c->len += n; /* counted, not kept */
                return c->len > HTTP_LINGER_BODY_FACTOR * s->cfg->max_body ? MHD_NO : MHD_YES;
            }
            if (c->len + n > s->cfg->max_body) {
                c->too_large = 1; /* keep reading, answer 413 at the end (chunked bodies) */
                free(c->body);
                c->body = NULL;
                c->len += n;
                c->cap = 0;
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

/* Appends for log_line (no printf on every request: it was ~2% of the server's CPU under
 * keep-alive /health load). Each keeps room for the line's end ('\n', NUL). */
struct logbuf {
    char *p;
    size_t n, cap;
};

static void lb_str(struct logbuf *b, const char *t)
{
    while (*t && b->n + 2 < b->cap)
        b->p[b->n++] = *t++;
}

static void lb_num(struct logbuf *b, long long v)
{
    char d[24];
    int k = 0;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) && k < (int)sizeof d);
    if (v < 0 && b->n + 2 < b->cap)
        b->p[b->n++] = '-';
    while (k && b->n + 2 < b->cap)
        b->p[b->n++] = d[--k];
}

/* A loop's access-log lines gather here and go to accesslog_write once per loop turn (before
 * the loop sleeps): the writer's lock, shared by the loops, was taken per request (perf).
 * Other threads (stop) write their lines at once. */
#define HTTP_LOG_BATCH_BYTES 16384
static _Thread_local struct {
    int on; /* this thread is a loop */
    size_t n;
    char buf[HTTP_LOG_BATCH_BYTES];
} tl_log;

static void log_flush(void)
{
    if (tl_log.n)
        accesslog_write(tl_log.buf, tl_log.n);
    tl_log.n = 0;
}

static void log_put(const char *line, size_t n)
{
    if (!tl_log.on) {
        accesslog_write(line, n);
        return;
    }
    if (tl_log.n + n > sizeof tl_log.buf)
        log_flush();
    memcpy(tl_log.buf + tl_log.n, line, n); /* n <= HTTP_LOG_LINE_MAX < the batch */
    tl_log.n += n;
}

static void log_line(const http_server *s, const char *method, const char *raw_path, int status,
                     int64_t us, const char *rid)
{
    char line[HTTP_LOG_LINE_MAX];
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
    for (const char *p = raw_path; *p && j + 1 < sizeof path; p++)
        path[j++] = ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\') ? '?' : *p;
    path[j] = '\0';
    struct logbuf b = {line, 0, sizeof line};
    if (s->cfg->log_format == LOG_JSON) {
        /* {"ts":"..","method":"..","path":"..","status":N,"us":N,"request_id":".."} */
        lb_str(&b, "{\"ts\":\"");
        lb_str(&b, ts);
        lb_str(&b, "\",\"method\":\"");
        lb_str(&b, method);
        lb_str(&b, "\",\"path\":\"");
        lb_str(&b, path);
        lb_str(&b, "\",\"status\":");
        lb_num(&b, status);
        lb_str(&b, ",\"us\":");
        lb_num(&b, (long long)us);
        lb_str(&b, ",\"request_id\":\"");
        lb_str(&b, rid);
        lb_str(&b, "\"}");
    } else {
        /* TS METHOD PATH STATUS USus rid=RID */
        lb_str(&b, ts);
        lb_str(&b, " ");
        lb_str(&b, method);
        lb_str(&b, " ");
        lb_str(&b, path);
        lb_str(&b, " ");
        lb_num(&b, status);
        lb_str(&b, " ");
        lb_num(&b, (long long)us);
        lb_str(&b, "us rid=");
        lb_str(&b, rid);
    }
    line[b.n++] = '\n';
    line[b.n] = '\0';
    log_put(line, b.n);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    http_server *s = cls;
    struct reqctx *c = *con_cls;
    *con_cls = NULL;
    if (!c || c == (void *)&URI_HAS_NUL)
        return;
    int64_t now = now_us();
    int64_t us = now - c->t0_us;
    if (c->status == 0)
        c->status = 499; /* the client left before an answer */
    else if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
             toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN && c->stream &&
             stream_begun(c->stream))
        c->status = 499; /* the client left in the middle of a stream (nginx logs 499 too) */
    log_line(s, c->method, c->path, c->status, us, c->rid);
    if (c->held) {
        atomic_fetch_sub(&s->unread, c->held);
        c->held = 0;
    }
    size_t idx = c->route ? router_index(c->route) : router_count();
    metrics_observe(idx, c->status, us);
    metrics_inflight_add(-1);
    pthread_mutex_lock(&c->lock);
    c->mhd_done = 1;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        c->cancelled = 1;
    pthread_mutex_unlock(&c->lock);
    if (c->stream)
        stream_close(c->stream);
    struct conn *k = c->sock;
    if (k) {
        k->completed++;
        /* A later head was refused while this request was being answered: now that MHD has
         * answered all before it, wake its read (end-of-stream) so stream_recv refuses it. */
        if (k->refuse != GATE_INCOMPLETE && !k->refused && k->completed == refuse_after(k))
            shutdown(k->fd, SHUT_RD);
    }
    if (k && k->state == CONN_ACTIVE && !atomic_load(&s->stopping)) {
        /* Between requests: the next head must be complete within --idle-timeout. */
        k->state = CONN_IDLE;
        k->deadline_us = now + (int64_t)s->cfg->idle_timeout_s * 1000000;
        list_append(&c->lp->idle, k);
    }
    struct loop *lp = c->lp;
    pthread_mutex_lock(&lp->active_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        lp->active = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&lp->active_lock);
    atomic_fetch_sub(&lp->inflight, 1);
    if (atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->lock); /* the last one during a drain: wake wait_idle */
        pthread_cond_broadcast(&s->idle);
        pthread_mutex_unlock(&s->lock);
    }
    ctx_unref(c);
}

/* ---- deadlines of requests ---- */

static void cancel_expired(http_server *s, int all)
{
    int64_t now = now_us();
    for (int i = 0; i < s->n_loops; i++) {
        struct loop *lp = &s->loops[i];
        pthread_mutex_lock(&lp->active_lock);
        for (struct reqctx *c = lp->active; c; c = c->next) {
            if (all || (c->rq.deadline_us && now > c->rq.deadline_us)) {
                pthread_mutex_lock(&c->lock);
                c->cancelled = 1;
                pthread_mutex_unlock(&c->lock);
                if (c->stream)
                    stream_wake(c->stream);
            }
        }
        pthread_mutex_unlock(&lp->active_lock);
    }
}

static void *watchdog_main(void *arg)
{
    http_server *s = arg;
    while (!atomic_load(&s->stop_watchdog)) {
        struct timespec ts = {0, HTTP_WATCHDOG_PERIOD_MS * 1000000L};
        nanosleep(&ts, NULL);
        cancel_expired(s, 0);
        pool_expire(s->pool, now_us());
        if (s->gen_pool)
            pool_expire(s->gen_pool, now_us());
    }
    return NULL;
}

/* ---- connections: the gate, lingering close, idle keep-alive ---- */

/* Marks for epoll's data.ptr besides struct conn pointers. */
static char EV_LISTEN, EV_WAKE, EV_MHD;

static void list_append(struct conn_list *l, struct conn *k)
{
    k->next = NULL;
    k->prev = l->tail;
    if (l->tail)
        l->tail->next = k;
    else
        l->head = k;
    l->tail = k;
}

static void list_remove(struct conn_list *l, struct conn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        l->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        l->tail = k->prev;
    k->prev = k->next = NULL;
}

static struct loop *loop_of(http_server *s, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
    for (int i = 0; ci && i < s->n_loops; i++)
        if (s->loops[i].d == ci->daemon)
            return &s->loops[i];
    return &s->loops[0];
}

/* Forget a connection: the caps' counts and the record. The socket is closed by whoever
 * owns it (the caller when 'close_fd'). */
static void conn_free(http_server *s, struct conn *k, int close_fd)
{
    if (close_fd && k->fd >= 0)
        close(k->fd);
    if (k->ip_counted)
        gate_ip_release((const struct sockaddr *)&k->addr);
    atomic_fetch_sub(&s->n_conns, 1);
    free(k->stash);
    free(k);
}

/* Write a complete error answer straight to a socket we own (the gate's errors, the caps).
 * Small enough for any socket buffer; a short write is the client's loss. */
static void raw_error(http_server *s, int fd, int status, const char *reason, const char *code,
                      const char *msg)
{
    char rid[HTTP_REQUEST_ID_MAX + 1];
    rid_make(rid);
    json_t *body = errors_body(status, msg, NULL, code);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\nX-Request-Id: %s\r\n%s\r\n%s\n",
                     status, reason, text ? strlen(text) + 1 : 1, rid,
                     status == 503 ? "Retry-After: 1\r\n" : "", text ? text : "");
    free(text);
    if (n > 0 && (size_t)n < sizeof buf) {
        ssize_t w = send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
    }
    log_line(s, "-", "-", status, 0, rid);
    metrics_observe(router_count(), status, 0);
}

/* Start a lingering close of k (socket open, our epoll or none): no more writes; read and
 * drop until the client closes, HTTP_LINGER_MS pass or too many bytes came. */
static void linger_start(struct loop *lp, struct conn *k, int in_epoll)
{
    shutdown(k->fd, SHUT_WR);
    k->state = CONN_LINGER;
    k->deadline_us = now_us() + HTTP_LINGER_MS * 1000;
    k->discarded = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = k};
    if (!in_epoll && epoll_ctl(lp->epfd, EPOLL_CTL_ADD, k->fd, &ev) != 0) {
        conn_free(lp->srv, k, 1);
        return;
    }
    list_append(&lp->linger, k);
}

static void linger_read(struct loop *lp, struct conn *k)
{
    char buf[HTTP_LINGER_READ_BYTES];
    size_t cap = HTTP_LINGER_BODY_FACTOR * lp->srv->cfg->max_body;
    for (;;) {
        ssize_t n = recv(k->fd, buf, sizeof buf, 0);
        if (n > 0) {
            k->discarded += (size_t)n;
            if (k->discarded <= cap)
                continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        list_remove(&lp->linger, k);
        conn_free(lp->srv, k, 1); /* EOF, error, or past the bound */
        return;
    }
}

/* ---- the heads after the first: libmicrohttpd's reads of a connection ----
 *
 * The first head is checked at the gate before MHD takes the socket (gate_read). After that
 * MHD reads the socket itself, and a later head too large for its buffer got its own HTML
 * 431 before any callback of ours ran. So MHD's reads go through stream_recv (by the recv
 * below, which libmicrohttpd's calls resolve to): the bytes pass the same gate_stream_scan
 * as they arrive, a head is handed over only once it is complete and sound (MHD never holds
 * part of one, so never overflows), and a refused head gets our JSON error. Bytes go to MHD
 * in order, as much as it asks for; a read returns short only when the socket is drained,
 * so MHD's edge-triggered wait misses nothing. */

static int stash_reserve(struct conn *k, size_t need)
{
    if (need <= k->stash_cap)
        return 0;
    size_t cap = k->stash_cap ? k->stash_cap : HTTP_STASH_MIN_BYTES;
    while (cap < need)
        cap *= 2;
    char *p = realloc(k->stash, cap);
    if (!p)
        return -1;
    k->stash = p;
    k->stash_cap = cap;
    return 0;
}

/* All of a refused head's requests before it are answered: send the refusal, then let MHD
 * read end-of-stream and close; the close lingers (on_connection). */
static ssize_t refuse_now(struct conn *k)
{
    http_server *s = k->lp->srv;
    switch (k->refuse) {
    case GATE_BAD:
        raw_error(s, k->fd, 400, "Bad Request", status_name(STATUS_BAD_INPUT), k->refuse_msg);
        break;
    case GATE_BODY_LARGE:
        raw_error(s, k->fd, 413, "Content Too Large", status_name(STATUS_TOO_LARGE),
                  k->refuse_msg);
        break;
    default:
        if (!k->refuse_msg[0])
            snprintf(k->refuse_msg, sizeof k->refuse_msg,
                     "the request head is larger than %u bytes", GATE_HEAD_MAX);
        raw_error(s, k->fd, 431, "Request Header Fields Too Large", "header_too_large",
                  k->refuse_msg);
        break;
    }
    k->refused = 1;
    k->linger = 1;
    free(k->stash);
    k->stash = NULL;
    k->stash_cap = k->ready_len = k->held_len = k->ready_off = 0;
    return 0;
}

static ssize_t stream_recv(struct conn *k, char *buf, size_t len)
{
    size_t got = 0;
    if (k->refused)
        return 0;
    for (;;) {
        if (k->ready_len) {
            size_t m = len - got < k->ready_len ? len - got : k->ready_len;
            memcpy(buf + got, k->stash + k->ready_off, m);
            got += m;
            k->ready_off += m;
            k->ready_len -= m;
            if (!k->ready_len) {
                memmove(k->stash, k->stash + k->ready_off, k->held_len);
                k->ready_off = 0;
            }
            if (got == len)
                return (ssize_t)got;
        }
        if (k->refuse != GATE_INCOMPLETE) {
            if (got)
                return (ssize_t)got;
            if (k->completed == refuse_after(k))
                return refuse_now(k);
            errno = EAGAIN; /* on_completed wakes MHD's read once the others are answered */
            return -1;
        }
        enum gate_verdict v;
        if (k->held_len) {
            /* More of a held head: read it after what is held. */
            if (k->held_len >= k->stash_cap && stash_reserve(k, k->held_len + 1) != 0)
                return got ? (ssize_t)got : (errno = ENOMEM, -1);
            size_t room = k->stash_cap - k->held_len;
            if (room > GATE_HEAD_MAX + 1 - k->held_len)
                room = GATE_HEAD_MAX + 1 - k->held_len;
            ssize_t r = recvfrom(k->fd, k->stash + k->held_len, room, 0, NULL, NULL);
            if (r <= 0)
                return got ? (ssize_t)got : r; /* drained (EAGAIN), closed, or an error */
            k->held_len += (size_t)r;
            size_t pass = gate_stream_scan(&k->gs, k->stash, k->held_len, &v, k->refuse_msg,
                                           sizeof k->refuse_msg);
            k->ready_off = 0;
            k->ready_len = pass;
            k->held_len -= pass;
        } else {
            ssize_t r = recvfrom(k->fd, buf + got, len - got, 0, NULL, NULL);
            if (r <= 0)
                return got ? (ssize_t)got : r;
            size_t pass = gate_stream_scan(&k->gs, buf + got, (size_t)r, &v, k->refuse_msg,
                                           sizeof k->refuse_msg);
            if (v == GATE_INCOMPLETE) {
                /* Hold the head's start (under GATE_HEAD_MAX, else it would be refused). */
                if (stash_reserve(k, (size_t)r - pass) != 0)
                    return got ? (ssize_t)got : (errno = ENOMEM, -1);
                memcpy(k->stash, buf + got + pass, (size_t)r - pass);
                k->held_len = (size_t)r - pass;
            }
            got += pass;
            if (v == GATE_OK)
                return (ssize_t)got; /* short only if the socket had no more */
        }
        if (v != GATE_OK && v != GATE_INCOMPLETE) {
            k->refuse = v;
            k->held_len = 0;
            /* Refused inside a body whose earlier requests are all answered: MHD takes the
             * bytes before the refusal, then may wait for a readiness edge that the client
             * will never cause; end-of-stream gives it one. */
            if (got && k->completed == refuse_after(k))
                shutdown(k->fd, SHUT_RD);
        }
    }
}

/* libmicrohttpd's reads (its recv calls resolve to this definition in the executable):
 * the sockets it took from the gate go through stream_recv; every other call is a plain
 * recv. */
ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    struct conn *k = NULL;
    if (g_fdtab && fd >= 0 && fd < g_fdtab_n && flags == 0)
        k = atomic_load_explicit(&g_fdtab[fd], memory_order_relaxed);
    if (!k)
        return recvfrom(fd, buf, len, flags, NULL, NULL);
    return stream_recv(k, buf, len);
}

static void gate_fail(struct loop *lp, struct conn *k, int status, const char *reason,
                      const char *code, const char *msg)
{
    list_remove(&lp->gate, k);
    raw_error(lp->srv, k->fd, status, reason, code, msg);
    linger_start(lp, k, 1);
}

/* New bytes on a socket at the gate: once its head is complete and sound, MHD takes it.
 * The head is only peeked at, so a peer's close shows as EPOLLRDHUP in events, not as a
 * read of 0 while its partial head is still queued. */
static void gate_read(struct loop *lp, struct conn *k, uint32_t events)
{
    static _Thread_local char buf[GATE_HEAD_MAX + 1];
    ssize_t n = recv(k->fd, buf, GATE_HEAD_MAX, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) { /* closed before a complete request: nothing to answer */
        list_remove(&lp->gate, k);
        conn_free(lp->srv, k, 1);
        return;
    }
    char msg[160];
    msg[0] = '\0';
    size_t head_len = 0;
    switch (gate_check_head(buf, (size_t)n, &head_len, msg, sizeof msg)) {
    case GATE_INCOMPLETE:
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) { /* it can never complete */
            list_remove(&lp->gate, k);
            conn_free(lp->srv, k, 1);
        }
        return;
    case GATE_BAD:
        gate_fail(lp, k, 400, "Bad Request", status_name(STATUS_BAD_INPUT), msg);
        return;
    case GATE_TOO_LARGE:
        if (!msg[0])
            snprintf(msg, sizeof msg, "the request head is larger than %u bytes", GATE_HEAD_MAX);
        gate_fail(lp, k, 431, "Request Header Fields Too Large", "header_too_large", msg);
        return;
    case GATE_BODY_LARGE:
        gate_fail(lp, k, 413, "Content Too Large", status_name(STATUS_TOO_LARGE), msg);
        return;
    case GATE_OK:
        break;
    }
    list_remove(&lp->gate, k);
    epoll_ctl(lp->epfd, EPOLL_CTL_DEL, k->fd, NULL);
    k->state = CONN_ACTIVE;
    k->lp = lp;
    fdtab_set(k->fd, k); /* MHD's reads of it go through stream_recv */
    lp->handing = k;
    if (MHD_add_connection(lp->d, k->fd, (const struct sockaddr *)&k->addr, k->addr_len) !=
        MHD_YES) {
        /* MHD closed the socket. */
        if (!k->mhd_owned) {
            fdtab_set(k->fd, NULL);
            conn_free(lp->srv, k, 0);
        }
    }
    lp->handing = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)conn;
    struct loop *lp = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *k = lp->handing;
        if (k)
            k->mhd_owned = 1;
        *socket_context = k;
        return;
    }
    struct conn *k = *socket_context;
    *socket_context = NULL;
    if (!k)
        return;
    fdtab_set(k->fd, NULL); /* MHD closes it after this call */
    if (k->state == CONN_IDLE)
        list_remove(&lp->idle, k);
    if (k->linger && !atomic_load(&lp->srv->stopping)) {
        /* MHD closes its descriptor after this call; ours keeps the socket for the linger. */
        int fd = dup(k->fd);
        if (fd >= 0) {
            k->fd = fd;
            linger_start(lp, k, 0);
            return;
        }
    }
    conn_free(lp->srv, k, 0);
}

/* The raw target as received: '%00' would be decoded into a NUL that cuts the path short
 * ("/v1/models%00x" served as "/v1/models"), so such requests are marked for a 400. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    for (const char *p = strchr(uri, '%'); p; p = strchr(p + 1, '%'))
        if (p[1] == '0' && p[2] == '0')
            return &URI_HAS_NUL;
    return NULL;
}

static void accept_some(struct loop *lp)
{
    http_server *s = lp->srv;
    const struct api_config *cfg = s->cfg;
    for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(s->listen_fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting a moment instead of spinning. */
                epoll_ctl(lp->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                lp->listening = 0;
                lp->accept_pause_us = now_us() + HTTP_ACCEPT_PAUSE_MS * 1000;
            }
            return;
        }
        if (atomic_fetch_add(&s->n_conns, 1) >= cfg->max_conns) {
            atomic_fetch_sub(&s->n_conns, 1);
            raw_error(s, fd, 503, "Service Unavailable", status_name(STATUS_BUSY),
                      "too many open connections (--max-conns); retry later");
            close(fd);
            continue;
        }
        int counted = 0;
        if (cfg->max_conns_per_ip > 0) {
            if (gate_ip_acquire((const struct sockaddr *)&sa, (unsigned)cfg->max_conns_per_ip)) {
                atomic_fetch_sub(&s->n_conns, 1);
                raw_error(s, fd, 503, "Service Unavailable", status_name(STATUS_BUSY),
                          "too many open connections from this address (--max-conns-per-ip)");
                close(fd);
                continue;
            }
            counted = 1;
        }
        struct conn *k = calloc(1, sizeof *k);
        if (!k) {
            if (counted)
                gate_ip_release((const struct sockaddr *)&sa);
            atomic_fetch_sub(&s->n_conns, 1);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        k->fd = fd;
        k->addr = sa;
        k->addr_len = sl;
        k->ip_counted = counted;
        k->state = CONN_GATE;
        k->deadline_us = now_us() + (int64_t)cfg->header_timeout_s * 1000000;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = k};
        if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            conn_free(s, k, 1);
            continue;
        }
        list_append(&lp->gate, k);
    }
}

/* Close what has passed its deadline: heads not complete in time, idle keep-alive
 * connections, lingering closes. Each list is in deadline order (one timeout per list). */
static void expire_conns(struct loop *lp, int64_t now, int all)
{
    struct conn *k;
    while ((k = lp->gate.head) && (all || k->deadline_us <= now)) {
        list_remove(&lp->gate, k);
        conn_free(lp->srv, k, 1); /* closed silently, as nginx does at client_header_timeout */
    }
    while ((k = lp->idle.head) && (all || k->deadline_us <= now)) {
        list_remove(&lp->idle, k);
        k->state = CONN_ACTIVE; /* MHD sees the shutdown, closes and notifies */
        shutdown(k->fd, SHUT_RDWR);
    }
    while ((k = lp->linger.head) && (all || k->deadline_us <= now)) {
        list_remove(&lp->linger, k);
        conn_free(lp->srv, k, 1);
    }
}

static int loop_timeout_ms(struct loop *lp, int64_t now)
{
    int64_t next = now + HTTP_LOOP_TICK_MS * 1000;
    const struct conn_list *lists[] = {&lp->gate, &lp->idle, &lp->linger};
    for (size_t i = 0; i < 3; i++)
        if (lists[i]->head && lists[i]->head->deadline_us < next)
            next = lists[i]->head->deadline_us;
    if (lp->accept_pause_us && lp->accept_pause_us < next)
        next = lp->accept_pause_us;
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout(lp->d, &mhd_ms) == MHD_YES && now + (int64_t)mhd_ms * 1000 < next)
        next = now + (int64_t)mhd_ms * 1000;
    int64_t ms = (next - now + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

static void *loop_main(void *arg)
{
    struct loop *lp = arg;
    http_server *s = lp->srv;
    struct epoll_event ev[HTTP_LOOP_EVENTS];
    tl_log.on = 1;
    while (!atomic_load(&s->stopping)) {
        log_flush(); /* the last turn's lines, before sleeping */
        int n = epoll_wait(lp->epfd, ev, HTTP_LOOP_EVENTS, loop_timeout_ms(lp, now_us()));
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &EV_MHD)
                continue; /* MHD_run below */
            if (p == &EV_WAKE) {
                uint64_t v;
                ssize_t r = read(lp->wakefd, &v, sizeof v);
                (void)r;
                continue;
            }
            if (p == &EV_LISTEN) {
                if (!atomic_load(&s->draining))
                    accept_some(lp);
                continue;
            }
            struct conn *k = p;
            if (k->state == CONN_GATE)
                gate_read(lp, k, ev[i].events);
            else if (k->state == CONN_LINGER)
                linger_read(lp, k);
        }
        int64_t now = now_us();
        if (atomic_load(&s->draining) && !lp->drained) {
            /* Drain: no new connections; close those without a request in progress. */
            if (lp->listening)
                epoll_ctl(lp->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
            lp->listening = 0;
            lp->drained = 1;
            struct conn *k;
            while ((k = lp->gate.head)) {
                list_remove(&lp->gate, k);
                conn_free(s, k, 1);
            }
            while ((k = lp->idle.head)) {
                list_remove(&lp->idle, k);
                k->state = CONN_ACTIVE;
                shutdown(k->fd, SHUT_RDWR);
            }
            atomic_fetch_add(&s->loops_drained, 1);
        }
        if (lp->accept_pause_us && now >= lp->accept_pause_us) {
            lp->accept_pause_us = 0;
            struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &EV_LISTEN};
            if (!lp->drained && epoll_ctl(lp->epfd, EPOLL_CTL_ADD, s->listen_fd, &le) == 0)
                lp->listening = 1;
        }
        expire_conns(lp, now, 0);
        /* While MHD still has work it can do without waiting (its timeout is 0: connections
         * it knows to be ready), run it again instead of one more epoll_wait first. */
        for (int r = 0; r < HTTP_MHD_RUNS_MAX; r++) {
            MHD_run(lp->d);
            MHD_UNSIGNED_LONG_LONG mhd_ms;
            if (MHD_get_timeout(lp->d, &mhd_ms) != MHD_YES || mhd_ms != 0)
                break;
        }
    }
    log_flush();
    tl_log.on = 0;
    return NULL;
}

static void loop_wake(struct loop *lp)
{
    uint64_t one = 1;
    ssize_t w = write(lp->wakefd, &one, sizeof one);
    (void)w;
}

/* ---- daemon ---- */

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "lmserve: http: %s", msg);
}

/* Room for --max-conns sockets: raise the soft descriptor limit (up to the hard one). */
static int fit_fd_limit(int want_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return want_conns;
    rlim_t want = (rlim_t)want_conns * 2 + HTTP_FD_RESERVE; /* x2: lingering dup()s */
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < (rlim_t)want_conns + HTTP_FD_RESERVE) {
        int fit = rl.rlim_cur > HTTP_FD_RESERVE * 2 ? (int)(rl.rlim_cur - HTTP_FD_RESERVE) : 64;
        fprintf(stderr,
                "lmserve: --max-conns %d needs %d file descriptors; the limit is %llu: serving "
                "at most %d connections\n",
                want_conns, want_conns + HTTP_FD_RESERVE, (unsigned long long)rl.rlim_cur, fit);
        return fit;
    }
    return want_conns;
}

static int listen_on(const struct api_config *cfg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(cfg->host, port, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "lmserve: cannot resolve --host '%s': %s\n", cfg->host, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        fprintf(stderr, "lmserve: cannot listen on %s:%d: %s\n", cfg->host, cfg->port,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        return 0;
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    return ntohs(((struct sockaddr_in *)&sa)->sin_port);
}

static int loop_init(http_server *s, struct loop *lp, int max_conns)
{
    const struct api_config *cfg = s->cfg;
    lp->srv = s;
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    lp->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lp->epfd < 0 || lp->wakefd < 0)
        return -1;
    /* External epoll mode: our loop calls MHD_run(), which never blocks, so MHD 0.9.75's
     * "exactly 128 events, wait again with the full timeout" stall cannot happen. */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    lp->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)max_conns, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, lp, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
        NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY_BYTES,
        MHD_OPTION_END);
    if (!lp->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(lp->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!info)
        return -1;
    struct epoll_event me = {.events = EPOLLIN, .data.ptr = &EV_MHD};
    struct epoll_event we = {.events = EPOLLIN, .data.ptr = &EV_WAKE};
    /* EPOLLEXCLUSIVE: one loop wakes per new connection, not all of them. */
    struct epoll_event le = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &EV_LISTEN};
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, info->epoll_fd, &me) != 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->wakefd, &we) != 0 ||
        epoll_ctl(lp->epfd, EPOLL_CTL_ADD, s->listen_fd, &le) != 0)
        return -1;
    lp->listening = 1;
    return 0;
}

static void loop_destroy(struct loop *lp)
{
    if (lp->d)
        MHD_stop_daemon(lp->d); /* closes MHD's connections (on_connection frees them) */
    lp->d = NULL;
    expire_conns(lp, 0, 1);
    if (lp->epfd >= 0)
        close(lp->epfd);
    if (lp->wakefd >= 0)
        close(lp->wakefd);
    pthread_mutex_destroy(&lp->active_lock);
}

http_server *http_start(const struct api_config *cfg, registry *reg)
{
    http_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->reg = reg;
    s->listen_fd = -1;
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
    mallopt(M_MMAP_THRESHOLD, (int)HTTP_MMAP_THRESHOLD_BYTES);
    accesslog_start(STDERR_FILENO);
    g_server = s;

    s->pool = pool_new(cfg->threads, (size_t)cfg->queue_max);
    /* Streaming generations wait on their model's scheduler (models/transformer/sched.c, its
     * own thread computes): a worker each for --parallel running and --gen-queue waiting. */
    s->gen_pool = pool_new(cfg->max_generations + cfg->gen_queue,
                           (size_t)(cfg->max_generations + cfg->gen_queue));
    if (!s->pool || !s->gen_pool) {
        fprintf(stderr, "lmserve: cannot start %d worker threads\n", cfg->threads);
        goto fail;
    }
    int max_conns = fit_fd_limit(cfg->max_conns);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        int n_fd = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > INT_MAX / 2 ? INT_MAX / 2
                                                                            : (int)rl.rlim_cur;
        if (n_fd > HTTP_FDTAB_MAX)
            n_fd = HTTP_FDTAB_MAX;
        g_fdtab = calloc((size_t)n_fd, sizeof *g_fdtab);
        g_fdtab_n = g_fdtab ? n_fd : 0;
    }
    s->listen_fd = listen_on(cfg);
    if (s->listen_fd < 0)
        goto fail;
    s->port = bound_port(s->listen_fd);
    s->n_loops = cfg->io_threads;
    s->loops = calloc((size_t)s->n_loops, sizeof *s->loops);
    if (!s->loops)
        goto fail;
    for (int i = 0; i < s->n_loops; i++) {
        s->loops[i].epfd = s->loops[i].wakefd = -1;
        pthread_mutex_init(&s->loops[i].active_lock, NULL);
    }
    for (int i = 0; i < s->n_loops; i++) {
        if (loop_init(s, &s->loops[i], max_conns) != 0) {
            fprintf(stderr, "lmserve: cannot start the HTTP event loop: %s\n", strerror(errno));
            goto fail;
        }
    }
    /* The loops share the descriptor count through s->n_conns; --max-conns is checked at
     * accept, so a fit-reduced limit goes through the config copy the loops read. */
    ((struct api_config *)cfg)->max_conns = max_conns;
    for (int i = 0; i < s->n_loops; i++) {
        if (pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) != 0) {
            fprintf(stderr, "lmserve: cannot start the HTTP event loop threads\n");
            goto fail;
        }
        s->loops[i].started = 1;
    }
    if (pthread_create(&s->watchdog, NULL, watchdog_main, s) != 0) {
        fprintf(stderr, "lmserve: cannot start the watchdog thread\n");
        goto fail;
    }
    s->watchdog_started = 1;
    return s;
fail:
    atomic_store(&s->stopping, 1);
    for (int i = 0; s->loops && i < s->n_loops; i++) {
        if (s->loops[i].started) {
            loop_wake(&s->loops[i]);
            pthread_join(s->loops[i].thread, NULL);
        }
    }
    for (int i = 0; s->loops && i < s->n_loops; i++)
        loop_destroy(&s->loops[i]);
    free(s->loops);
    fdtab_free();
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    pool_free(s->pool);
    pool_free(s->gen_pool);
    accesslog_stop();
    g_server = NULL;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

int http_port(const http_server *s) { return s->port; }

static int inflight_total(http_server *s)
{
    int n = 0;
    for (int i = 0; i < s->n_loops; i++)
        n += atomic_load(&s->loops[i].inflight);
    return n;
}

/* Wait until nothing is in flight or 'until_us' passes. Returns what is left. */
static int wait_idle(http_server *s, int64_t until_us)
{
    pthread_mutex_lock(&s->lock);
    while (inflight_total(s) > 0 && now_us() < until_us) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->idle, &s->lock, &ts);
    }
    int left = inflight_total(s);
    pthread_mutex_unlock(&s->lock);
    return left;
}

void http_drain(http_server *s, int timeout_s)
{
    int64_t until = now_us() + (int64_t)timeout_s * 1000000;
    atomic_store(&s->draining, 1);
    for (int i = 0; i < s->n_loops; i++)
        loop_wake(&s->loops[i]);
    /* The listening socket closes once no loop polls it: new clients are refused. */
    while (atomic_load(&s->loops_drained) < s->n_loops && now_us() < until) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (s->listen_fd >= 0 && atomic_load(&s->loops_drained) == s->n_loops) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    int left = wait_idle(s, until);
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
    if (s->watchdog_started)
        pthread_join(s->watchdog, NULL);
    cancel_expired(s, 1);
    /* Jobs still running would resume connections of a stopped daemon: finish them first. */
    pool_free(s->pool);
    s->pool = NULL;
    pool_free(s->gen_pool);
    s->gen_pool = NULL;
    atomic_store(&s->stopping, 1);
    for (int i = 0; i < s->n_loops; i++) {
        loop_wake(&s->loops[i]);
        pthread_join(s->loops[i].thread, NULL);
    }
    for (int i = 0; i < s->n_loops; i++)
        loop_destroy(&s->loops[i]);
    free(s->loops);
    fdtab_free();
    if (s->listen_fd >= 0)
        close(s->listen_fd);
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
