/* gate.h: the front door's pure parts: the strict check of a raw request head (framing
 * rules that keep request smuggling out) and the per-client-address connection count.
 * The sockets themselves are handled in http.c; nothing here does I/O. */
#ifndef LMSERVE_GATE_H
#define LMSERVE_GATE_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest request head (request line + headers) we take: a 12 KB header line fits (nginx's
 * large_client_header_buffers take it too). It stays under what libmicrohttpd's 16 KiB
 * connection pool parses (measured: a 15 KB header passes, 16 KB gets MHD's own HTML 431),
 * so an oversized head gets our JSON 431 instead. */
#define GATE_HEAD_MAX (15u * 1024u)
/* libmicrohttpd keeps one record per header field in the same 16 KiB connection pool as the
 * head's bytes, so a head under GATE_HEAD_MAX made of many small fields overflowed the pool
 * and got MHD's own HTML 431. The gate therefore counts each field GATE_FIELD_COST bytes
 * more against GATE_HEAD_MAX and takes at most GATE_FIELDS_MAX fields (Apache's
 * LimitRequestFields default): every head it passes fits the pool (tested over a grid of
 * sizes and field counts in tests/api/test_hardening.c). */
#define GATE_FIELDS_MAX 100u
#define GATE_FIELD_COST 64u

enum gate_verdict {
    GATE_INCOMPLETE, /* no empty line yet: wait for more bytes */
    GATE_OK,         /* a well-framed head of head_len bytes */
    GATE_BAD,        /* 400: the message says why */
    GATE_TOO_LARGE,  /* 431: no end of head within GATE_HEAD_MAX bytes, or more than
                      * GATE_FIELDS_MAX header fields ('msg' says which) */
    GATE_BODY_LARGE, /* 413: a Content-Length beyond any number we accept */
};

/* Check the bytes of a request as they arrived (buf[0..len)). Rules, as nginx applies them:
 * lines end in CRLF or bare LF; a bare CR anywhere, folded (obsolete line-continuation)
 * headers, a header name with spaces, control characters in values, '%00' or control
 * characters in the target, two Content-Length values that differ or are not digits,
 * Content-Length with Transfer-Encoding, a Transfer-Encoding other than "chunked",
 * Transfer-Encoding in HTTP/1.0, an HTTP/1.1 request without Host, and two Host headers
 * are all GATE_BAD. 'msg' gets one sentence. */
enum gate_verdict gate_check_head(const char *buf, size_t len, size_t *head_len, char *msg,
                                  size_t msg_size);

/* A connection's bytes as a sequence of requests, for the heads after the first one: the
 * server reads the socket and libmicrohttpd parses what this scan lets through, so every
 * later head gets the same check (and our JSON errors) as the first, and never reaches
 * libmicrohttpd when it is too large for its buffer. Bodies are followed by their framing:
 * Content-Length, or chunked (RFC 9112 7.1: hex size lines ending in CRLF, chunk data, CRLF,
 * a last chunk "0", trailer fields and an empty line). Zero-initialised: at a head. */
enum gate_stream_state {
    GATE_STREAM_HEAD,       /* the next byte starts a request head */
    GATE_STREAM_BODY,       /* body_left bytes of a Content-Length body come first */
    GATE_STREAM_CHUNK_SIZE, /* a chunk-size line (hex digits, extensions, CRLF) */
    GATE_STREAM_CHUNK_DATA, /* body_left bytes of chunk data */
    GATE_STREAM_CHUNK_END,  /* the CRLF after a chunk's data */
    GATE_STREAM_TRAILER,    /* trailer fields after the last chunk, up to an empty line */
};
struct gate_stream {
    enum gate_stream_state state;
    unsigned long long body_left;
    unsigned heads;     /* heads passed so far */
    unsigned head_cost; /* the current request's head as counted against GATE_HEAD_MAX */
};

/* Longest chunk-size line (digits and extensions) taken; libmicrohttpd reads at most 15 hex
 * digits of a size. */
#define GATE_CHUNK_LINE_MAX 1024u
#define GATE_CHUNK_DIGITS_MAX 15u

/* Scan p[0..n), the next bytes of the stream; when gs is at a line (a head, a chunk-size
 * line, a chunk's CRLF, the trailer), p starts with it (bytes held back by an earlier call
 * come first again). Returns how many bytes may go on: all n (*verdict GATE_OK), or fewer
 * when p[ret..n) is a head or line that is not complete yet (GATE_INCOMPLETE: hold it, call
 * again with more bytes after it) or one to refuse (GATE_BAD, GATE_TOO_LARGE,
 * GATE_BODY_LARGE, as gate_check_head; 'msg' says why). A refusal with gs->state other than
 * GATE_STREAM_HEAD is inside the body of the gs->heads-th request (bad chunk framing, or a
 * trailer too large for libmicrohttpd's buffer next to its head). */
size_t gate_stream_scan(struct gate_stream *gs, const char *p, size_t n,
                        enum gate_verdict *verdict, char *msg, size_t msg_size);

/* Per-address connection counting (for --max-conns-per-ip). Thread-safe. gate_ip_acquire
 * returns 0 and counts the connection, or -1 when 'addr' already has 'limit' connections
 * (limit 0: no limit, always 0). Every successful acquire is paired with a release. */
int gate_ip_acquire(const struct sockaddr *addr, unsigned limit);
void gate_ip_release(const struct sockaddr *addr);

#endif
