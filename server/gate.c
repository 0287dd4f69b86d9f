/* gate.c: the strict request-head check and the per-address connection count (gate.h).
 * It reads bytes someone else received; it never touches a socket. */
#include "gate.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GATE_CL_DIGITS_MAX 18 /* Content-Length digits we parse (< 2^63); more is 413 */
#define GATE_IP_BUCKETS 4096  /* per-address table: chains stay short at 10k addresses */

/* ---- request head ---- */

static int is_tchar(unsigned char c)
{
    /* RFC 9110 5.6.2 token characters */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct head_state {
    int version_minor;  /* HTTP/1.x */
    int n_cl, n_te, n_host;
    const char *cl;     /* first Content-Length value */
    size_t cl_len;
    size_t cost;        /* the head's bytes plus GATE_FIELD_COST per field */
};

static enum gate_verdict bad(char *msg, size_t size, const char *text)
{
    snprintf(msg, size, "%s", text);
    return GATE_BAD;
}

static enum gate_verdict request_line(const char *p, size_t n, struct head_state *st, char *msg,
                                      size_t size)
{
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return bad(msg, size, "malformed request line (expected METHOD SP target SP HTTP/1.x)");
    size_t t0 = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
        i++;
    if (i == t0 || i >= n || p[i] != ' ')
        return bad(msg, size,
                   "malformed request target (empty, or a space or control character in it)");
    for (size_t k = t0; k + 2 < i; k++)
        if (p[k] == '%' && p[k + 1] == '0' && p[k + 2] == '0')
            return bad(msg, size, "the request target contains an encoded NUL (%00)");
    i++;
    if (n - i != 8 || memcmp(p + i, "HTTP/1.", 7) != 0 || (p[i + 7] != '0' && p[i + 7] != '1'))
        return bad(msg, size, "unsupported protocol version (expected HTTP/1.0 or HTTP/1.1)");
    st->version_minor = p[i + 7] - '0';
    return GATE_OK;
}

static enum gate_verdict header_line(const char *p, size_t n, struct head_state *st, char *msg,
                                     size_t size)
{
    if (p[0] == ' ' || p[0] == '\t')
        return bad(msg, size, "obsolete line folding in a header is not accepted");
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ':')
        return bad(msg, size, "malformed header line (a name of token characters, then ':')");
    size_t name_len = i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    size_t v0 = i, v1 = n;
    while (v1 > v0 && (p[v1 - 1] == ' ' || p[v1 - 1] == '\t'))
        v1--;
    for (size_t k = v0; k < v1; k++) {
        unsigned char c = (unsigned char)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad(msg, size, "a control character in a header value");
    }
    const char *v = p + v0;
    size_t vn = v1 - v0;
    if (name_len == 14 && strncasecmp(p, "Content-Length", 14) == 0) {
        if (vn == 0)
            return bad(msg, size, "an empty Content-Length");
        for (size_t k = 0; k < vn; k++)
            if (v[k] < '0' || v[k] > '9')
                return bad(msg, size, "Content-Length must be digits only");
        if (st->n_cl++ == 0) {
            st->cl = v;
            st->cl_len = vn;
        } else if (vn != st->cl_len || memcmp(v, st->cl, vn) != 0) {
            return bad(msg, size, "two different Content-Length values");
        }
    } else if (name_len == 17 && strncasecmp(p, "Transfer-Encoding", 17) == 0) {
        if (st->n_te++)
            return bad(msg, size, "more than one Transfer-Encoding header");
        if (!(vn == 7 && strncasecmp(v, "chunked", 7) == 0))
            return bad(msg, size, "Transfer-Encoding other than 'chunked' is not supported");
    } else if (name_len == 4 && strncasecmp(p, "Host", 4) == 0) {
        if (st->n_host++)
            return bad(msg, size, "more than one Host header");
    }
    return GATE_OK;
}

/* gate_check_head with what the stream scan needs too: the body's framing (st). */
static enum gate_verdict check_head(const char *buf, size_t len, size_t *head_len,
                                    struct head_state *out, char *msg, size_t msg_size)
{
    struct head_state st = {0};
    size_t pos = 0;
    int line_no = 0;
    /* Empty lines before the request line are ignored (RFC 9112 2.2). */
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\n') {
            pos++;
            continue;
        }
        if (pos + 1 >= len)
            return GATE_INCOMPLETE;
        if (buf[pos + 1] != '\n')
            return bad(msg, msg_size, "a bare CR (not followed by LF)");
        pos += 2;
    }
    for (;;) {
        if (pos > GATE_HEAD_MAX)
            return GATE_TOO_LARGE;
        const char *nl = memchr(buf + pos, '\n', len - pos);
        if (!nl)
            return len >= GATE_HEAD_MAX ? GATE_TOO_LARGE : GATE_INCOMPLETE;
        size_t end = (size_t)(nl - buf);
        size_t line_end = end > pos && buf[end - 1] == '\r' ? end - 1 : end;
        if (memchr(buf + pos, '\r', line_end - pos))
            return bad(msg, msg_size, "a bare CR (not followed by LF)");
        if (end + 1 > GATE_HEAD_MAX)
            return GATE_TOO_LARGE;
        if (line_end == pos)
            break; /* the empty line: end of the head */
        enum gate_verdict v = line_no == 0
                                  ? request_line(buf + pos, line_end - pos, &st, msg, msg_size)
                                  : header_line(buf + pos, line_end - pos, &st, msg, msg_size);
        if (v != GATE_OK)
            return v;
        if (line_no > (int)GATE_FIELDS_MAX) {
            snprintf(msg, msg_size, "the request head has more than %u header fields",
                     GATE_FIELDS_MAX);
            return GATE_TOO_LARGE;
        }
        if (end + 1 + (size_t)line_no * GATE_FIELD_COST > GATE_HEAD_MAX) {
            snprintf(msg, msg_size,
                     "the request head is too large: %d header fields in %zu bytes (at most "
                     "%u bytes, each field counting %u more)",
                     line_no, end + 1, GATE_HEAD_MAX, GATE_FIELD_COST);
            return GATE_TOO_LARGE;
        }
        line_no++;
        pos = end + 1;
    }
    if (st.n_cl && st.n_te)
        return bad(msg, msg_size, "Content-Length together with Transfer-Encoding");
    if (st.n_te && st.version_minor == 0)
        return bad(msg, msg_size, "Transfer-Encoding in an HTTP/1.0 request");
    if (st.version_minor == 1 && st.n_host == 0)
        return bad(msg, msg_size, "an HTTP/1.1 request without a Host header");
    if (st.n_cl && st.cl_len > GATE_CL_DIGITS_MAX) {
        snprintf(msg, msg_size, "Content-Length has more than %d digits", GATE_CL_DIGITS_MAX);
        return GATE_BODY_LARGE;
    }
    const char *nl = memchr(buf + pos, '\n', len - pos);
    *head_len = (size_t)(nl - buf) + 1;
    st.cost = *head_len + (size_t)line_no * GATE_FIELD_COST;
    *out = st;
    return GATE_OK;
}

enum gate_verdict gate_check_head(const char *buf, size_t len, size_t *head_len, char *msg,
                                  size_t msg_size)
{
    struct head_state st;
    return check_head(buf, len, head_len, &st, msg, msg_size);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A chunk-size line at p[0..n): GATE_OK with its length and the size, GATE_INCOMPLETE, or
 * GATE_BAD. Strict CRLF: libmicrohttpd 0.9.75 reads one more CR or LF after a size line's
 * line end as part of it, so "0\n\n" would swallow the empty line that ends the message and
 * the next request would be read as trailer fields; nothing but CRLF keeps both readings
 * the same. */
static enum gate_verdict chunk_size_line(const char *p, size_t n, size_t *line_len,
                                         unsigned long long *size, char *msg, size_t msg_size)
{
    size_t i = 0;
    unsigned long long v = 0;
    while (i < n && hex_value(p[i]) >= 0) {
        if (i == GATE_CHUNK_DIGITS_MAX)
            return bad(msg, msg_size, "a chunk size of more than 15 hex digits");
        v = v * 16 + (unsigned long long)hex_value(p[i]);
        i++;
    }
    if (i == n)
        return GATE_INCOMPLETE;
    if (i == 0)
        return bad(msg, msg_size, "malformed chunked body: a chunk size must be hex digits");
    if (p[i] == ';') {
        /* chunk extensions: ignored, but no control characters and a bounded length */
        while (i < n && p[i] != '\r' && p[i] != '\n') {
            unsigned char c = (unsigned char)p[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return bad(msg, msg_size, "a control character in a chunk extension");
            if (++i > GATE_CHUNK_LINE_MAX)
                return bad(msg, msg_size, "a chunk extension longer than 1024 bytes");
        }
        if (i == n)
            return GATE_INCOMPLETE;
    }
    if (p[i] != '\r')
        return bad(msg, msg_size,
                   "malformed chunked body: a chunk size line must end in CRLF");
    if (i + 1 == n)
        return GATE_INCOMPLETE;
    if (p[i + 1] != '\n')
        return bad(msg, msg_size, "a bare CR (not followed by LF)");
    *line_len = i + 2;
    *size = v;
    return GATE_OK;
}

/* The trailer section at p[0..n) (fields, then an empty line), after a head that cost
 * 'head_cost': libmicrohttpd keeps both in its connection pool, so they share GATE_HEAD_MAX. */
static enum gate_verdict trailer(const char *p, size_t n, size_t head_cost, size_t *len,
                                 char *msg, size_t msg_size)
{
    size_t pos = 0, fields = 0;
    struct head_state st = {0};
    for (;;) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - p) : n;
        if (head_cost + end + fields * GATE_FIELD_COST > GATE_HEAD_MAX) {
            snprintf(msg, msg_size,
                     "the request head and trailer fields are larger than %u bytes",
                     GATE_HEAD_MAX);
            return GATE_TOO_LARGE;
        }
        if (!nl)
            return GATE_INCOMPLETE;
        size_t line_end = end > pos && p[end - 1] == '\r' ? end - 1 : end;
        if (memchr(p + pos, '\r', line_end - pos))
            return bad(msg, msg_size, "a bare CR (not followed by LF)");
        if (line_end == pos) {
            *len = end + 1;
            return GATE_OK;
        }
        enum gate_verdict v = header_line(p + pos, line_end - pos, &st, msg, msg_size);
        if (v != GATE_OK)
            return v;
        if (++fields > GATE_FIELDS_MAX) {
            snprintf(msg, msg_size, "more than %u trailer fields", GATE_FIELDS_MAX);
            return GATE_TOO_LARGE;
        }
        pos = end + 1;
    }
}

size_t gate_stream_scan(struct gate_stream *gs, const char *p, size_t n,
                        enum gate_verdict *verdict, char *msg, size_t msg_size)
{
    size_t i = 0;
    *verdict = GATE_OK;
    while (i < n) {
        enum gate_verdict v = GATE_OK;
        size_t len = 0;
        switch (gs->state) {
        case GATE_STREAM_BODY:
        case GATE_STREAM_CHUNK_DATA: {
            size_t take = n - i;
            if ((unsigned long long)take > gs->body_left)
                take = (size_t)gs->body_left;
            gs->body_left -= take;
            i += take;
            if (gs->body_left == 0)
                gs->state = gs->state == GATE_STREAM_BODY ? GATE_STREAM_HEAD
                                                          : GATE_STREAM_CHUNK_END;
            continue;
        }
        case GATE_STREAM_CHUNK_END:
            if (p[i] != '\r' || (i + 1 < n && p[i + 1] != '\n')) {
                v = bad(msg, msg_size, "malformed chunked body: chunk data must end in CRLF");
                break;
            }
            if (i + 1 == n) {
                v = GATE_INCOMPLETE;
                break;
            }
            i += 2;
            gs->state = GATE_STREAM_CHUNK_SIZE;
            continue;
        case GATE_STREAM_CHUNK_SIZE: {
            unsigned long long size = 0;
            v = chunk_size_line(p + i, n - i, &len, &size, msg, msg_size);
            if (v != GATE_OK)
                break;
            i += len;
            gs->body_left = size;
            gs->state = size ? GATE_STREAM_CHUNK_DATA : GATE_STREAM_TRAILER;
            continue;
        }
        case GATE_STREAM_TRAILER:
            v = trailer(p + i, n - i, gs->head_cost, &len, msg, msg_size);
            if (v != GATE_OK)
                break;
            i += len;
            gs->state = GATE_STREAM_HEAD;
            continue;
        case GATE_STREAM_HEAD: {
            struct head_state st;
            v = check_head(p + i, n - i, &len, &st, msg, msg_size);
            if (v != GATE_OK)
                break;
            gs->heads++;
            gs->head_cost = (unsigned)st.cost;
            i += len;
            if (st.n_te) {
                gs->state = GATE_STREAM_CHUNK_SIZE;
            } else if (st.n_cl) {
                unsigned long long cl = 0;
                for (size_t k = 0; k < st.cl_len; k++) /* digits only, at most 18 (check_head) */
                    cl = cl * 10 + (unsigned long long)(st.cl[k] - '0');
                gs->body_left = cl;
                gs->state = cl ? GATE_STREAM_BODY : GATE_STREAM_HEAD;
            }
            continue;
        }
        }
        *verdict = v;
        return i; /* p[i..n): a head or line to wait for or to refuse */
    }
    return n;
}

/* ---- per-address counts ---- */

struct ip_entry {
    unsigned char key[16];
    unsigned count;
    struct ip_entry *next;
};

static pthread_mutex_t g_ip_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ip_entry *g_ip[GATE_IP_BUCKETS];

/* The address as 16 bytes (IPv4 mapped into IPv6) and its bucket. */
static size_t ip_key(const struct sockaddr *addr, unsigned char key[16])
{
    memset(key, 0, 16);
    if (addr->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)(const void *)addr)->sin_addr, 4);
    } else if (addr->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr, 16);
    }
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 1099511628211ull;
    return (size_t)(h % GATE_IP_BUCKETS);
}

int gate_ip_acquire(const struct sockaddr *addr, unsigned limit)
{
    if (limit == 0)
        return 0;
    unsigned char key[16];
    size_t b = ip_key(addr, key);
    int rc = 0;
    pthread_mutex_lock(&g_ip_lock);
    struct ip_entry *e = g_ip[b];
    while (e && memcmp(e->key, key, 16) != 0)
        e = e->next;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (e) {
            memcpy(e->key, key, 16);
            e->next = g_ip[b];
            g_ip[b] = e;
        }
    }
    if (!e || e->count >= limit)
        rc = -1;
    else
        e->count++;
    pthread_mutex_unlock(&g_ip_lock);
    return rc;
}

void gate_ip_release(const struct sockaddr *addr)
{
    unsigned char key[16];
    size_t b = ip_key(addr, key);
    pthread_mutex_lock(&g_ip_lock);
    struct ip_entry **pp = &g_ip[b];
    while (*pp && memcmp((*pp)->key, key, 16) != 0)
        pp = &(*pp)->next;
    struct ip_entry *e = *pp;
    if (e && e->count && --e->count == 0) {
        *pp = e->next;
        free(e);
    }
    pthread_mutex_unlock(&g_ip_lock);
}
