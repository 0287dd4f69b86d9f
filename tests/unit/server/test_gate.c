/* test_gate.c: the strict request-head check (server/gate.c), case by case. */
#include "../../../server/gate.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

static enum gate_verdict check(const char *head, size_t *len, char *msg)
{
    return gate_check_head(head, strlen(head), len, msg, 160);
}

Test(gate, sound_heads_pass)
{
    static const char *const OK[] = {
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health HTTP/1.1\nHost: x\n\n",                 /* bare LF */
        "GET /health HTTP/1.0\r\n\r\n",                      /* 1.0 without Host */
        "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",             /* leading empty line */
        "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        "POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
        "GET /a%20b HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof OK / sizeof OK[0]; i++) {
        size_t len = 0;
        char msg[160] = "";
        cr_assert_eq(check(OK[i], &len, msg), GATE_OK, "case %zu: %s", i, msg);
        const char *end = strstr(OK[i], "\r\n\r\n");
        size_t want = end ? (size_t)(end - OK[i]) + 4 : (size_t)(strstr(OK[i], "\n\n") - OK[i]) + 2;
        cr_assert_eq(len, want, "case %zu: head length", i);
    }
}

Test(gate, ambiguous_heads_are_400)
{
    static const char *const BAD[] = {
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n",
        "GET /v1/models%00x HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET /\r\n\r\n",
        "\rGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        size_t len = 0;
        char msg[160] = "";
        cr_assert_eq(check(BAD[i], &len, msg), GATE_BAD, "case %zu must be 400", i);
        cr_assert_gt(strlen(msg), 5, "case %zu: a message", i);
    }
}

Test(gate, incomplete_then_too_large)
{
    size_t len;
    char msg[160];
    cr_assert_eq(check("GET /health HTTP/1.1\r\nHost: x\r\n", &len, msg), GATE_INCOMPLETE);
    cr_assert_eq(check("GET /hea", &len, msg), GATE_INCOMPLETE);
    /* an error in a complete line is found before the head ends */
    cr_assert_eq(check("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n", &len, msg), GATE_BAD);
    static char big[GATE_HEAD_MAX + 100];
    int n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', sizeof big - (size_t)n - 1);
    cr_assert_eq(gate_check_head(big, sizeof big - 1, &len, msg, sizeof msg), GATE_TOO_LARGE);
    cr_assert_eq(check("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456789\r\n\r\n",
                       &len, msg),
                 GATE_BODY_LARGE);
}

/* Bug: many small fields under GATE_HEAD_MAX overflowed libmicrohttpd's pool (its HTML 431). */
Test(gate, header_field_count_and_cost)
{
    size_t len;
    char msg[160];
    static char head[GATE_HEAD_MAX];
    int n = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (unsigned i = 1; i < GATE_FIELDS_MAX; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "X-%u: y\r\n", i);
    snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    cr_assert_eq(gate_check_head(head, strlen(head), &len, msg, sizeof msg), GATE_OK, "%s", msg);
    snprintf(head + n, sizeof head - (size_t)n, "X-Last: y\r\n\r\n"); /* field 101 */
    cr_assert_eq(gate_check_head(head, strlen(head), &len, msg, sizeof msg), GATE_TOO_LARGE);
    cr_assert(strstr(msg, "header fields"), "%s", msg);
    /* 50 fields in 14,000 bytes: under GATE_HEAD_MAX, over it with 64 bytes per field */
    n = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (unsigned i = 1; i < 49; i++)
        n += snprintf(head + n, sizeof head - (size_t)n, "X-%u: y\r\n", i);
    n += snprintf(head + n, sizeof head - (size_t)n, "X-Fill: ");
    memset(head + n, 'a', 14000 - (size_t)n);
    snprintf(head + 14000, sizeof head - 14000, "\r\n\r\n");
    cr_assert_eq(gate_check_head(head, strlen(head), &len, msg, sizeof msg), GATE_TOO_LARGE);
    cr_assert(strstr(msg, "each field counting"), "%s", msg);
}

Test(gate, per_address_counts)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000002)};
    const struct sockaddr *pa = (const struct sockaddr *)&a, *pb = (const struct sockaddr *)&b;
    cr_assert_eq(gate_ip_acquire(pa, 2), 0);
    cr_assert_eq(gate_ip_acquire(pa, 2), 0);
    cr_assert_eq(gate_ip_acquire(pa, 2), -1, "third from one address");
    cr_assert_eq(gate_ip_acquire(pb, 2), 0, "another address has its own count");
    gate_ip_release(pa);
    cr_assert_eq(gate_ip_acquire(pa, 2), 0, "released slot is free again");
    gate_ip_release(pa);
    gate_ip_release(pa);
    gate_ip_release(pb);
    cr_assert_eq(gate_ip_acquire(pa, 0), 0, "limit 0: no cap");
}

/* The scan of a connection's later bytes (gate_stream_scan): request boundaries from
 * Content-Length, a head cut anywhere is held from its first byte, a bad head stops the scan
 * at its start; chunked bodies are followed by their framing. */
Test(gate, stream_scan_splits_requests)
{
    const char *stream = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                         "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /"
                         "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = strlen(stream);
    size_t second = strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    size_t third = (size_t)(strstr(stream, "GET /c") - stream);
    size_t body = third - 5;
    char msg[160];
    enum gate_verdict v;
    /* whole: everything passes, three heads (the body "GET /" is not a head) */
    struct gate_stream gs = {0};
    cr_assert_eq(gate_stream_scan(&gs, stream, n, &v, msg, sizeof msg), n);
    cr_assert_eq(v, GATE_OK);
    cr_assert_eq(gs.heads, 3);
    cr_assert_eq(gs.state, GATE_STREAM_HEAD);
    /* cut at every byte: the first call passes up to the start of the cut head (or all of a
     * cut body), the second, given the held bytes again, passes the rest */
    for (size_t cut = 1; cut < n; cut++) {
        struct gate_stream g = {0};
        size_t pass = gate_stream_scan(&g, stream, cut, &v, msg, sizeof msg);
        size_t want = cut < second ? 0 : cut < body ? second : cut <= third ? cut : third;
        cr_assert_eq(pass, want, "cut %zu", cut);
        cr_assert_eq(v, pass == cut ? GATE_OK : GATE_INCOMPLETE, "cut %zu", cut);
        size_t rest = gate_stream_scan(&g, stream + pass, n - pass, &v, msg, sizeof msg);
        cr_assert_eq(rest, n - pass, "cut %zu", cut);
        cr_assert_eq(g.heads, 3, "cut %zu", cut);
    }
}

Test(gate, stream_scan_stops_at_bad_or_large_heads)
{
    char msg[160];
    enum gate_verdict v;
    const char *bad = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n";
    struct gate_stream gs = {0};
    size_t pass = gate_stream_scan(&gs, bad, strlen(bad), &v, msg, sizeof msg);
    cr_assert_eq(pass, strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    cr_assert_eq(v, GATE_BAD);
    static char big[GATE_HEAD_MAX + 64];
    int k = snprintf(big, sizeof big, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nX: ");
    memset(big + k, 'a', sizeof big - (size_t)k);
    struct gate_stream g2 = {0};
    pass = gate_stream_scan(&g2, big, sizeof big, &v, msg, sizeof msg);
    cr_assert_eq(pass, strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    cr_assert_eq(v, GATE_TOO_LARGE);
    const char *chunked = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nX: a\rb\r\n\r\n";
    struct gate_stream g3 = {0};
    pass = gate_stream_scan(&g3, chunked, strlen(chunked), &v, msg, sizeof msg);
    /* the chunk framing is followed: the bad head after the chunked request is found */
    cr_assert_eq(pass, (size_t)(strstr(chunked, "GET /b") - chunked));
    cr_assert_eq(v, GATE_BAD);
    cr_assert_eq(g3.state, GATE_STREAM_HEAD);
    cr_assert_eq(g3.heads, 1);
}

/* Chunked bodies: sizes, extensions, data holding "heads", trailer fields; every cut point
 * holds a line from its first byte and passes data; the heads are counted right. */
Test(gate, stream_scan_follows_chunked_bodies)
{
    const char *stream = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "1C;n=v\r\nGET /x HTTP/1.1\r\nHost: y\r\n\r\n\r\n"
                         "a\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n"
                         "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "0\r\n\r\n"
                         "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t n = strlen(stream);
    char msg[160];
    enum gate_verdict v;
    struct gate_stream gs = {0};
    cr_assert_eq(gate_stream_scan(&gs, stream, n, &v, msg, sizeof msg), n, "%s", msg);
    cr_assert_eq(v, GATE_OK);
    cr_assert_eq(gs.heads, 3);
    cr_assert_eq(gs.state, GATE_STREAM_HEAD);
    for (size_t cut = 1; cut < n; cut++) {
        struct gate_stream g = {0};
        size_t pass = gate_stream_scan(&g, stream, cut, &v, msg, sizeof msg);
        cr_assert(v == GATE_OK || v == GATE_INCOMPLETE, "cut %zu: %d %s", cut, v, msg);
        cr_assert_eq(v == GATE_OK, pass == cut, "cut %zu", cut);
        size_t rest = gate_stream_scan(&g, stream + pass, n - pass, &v, msg, sizeof msg);
        cr_assert_eq(rest, n - pass, "cut %zu: %s", cut, msg);
        cr_assert_eq(g.heads, 3, "cut %zu", cut);
    }
    /* bad framing stops the scan where it starts, inside the request (state not HEAD) */
    static const struct {
        const char *body;
        size_t at;
        enum gate_verdict v;
    } bad[] = {
        {"3\r\nabcX\r\n", 6, GATE_BAD},
        {"3\nabc\r\n", 0, GATE_BAD},
        {"0\n\n", 0, GATE_BAD},
        {"zz\r\n", 0, GATE_BAD},
        {"1000000000000000\r\n", 0, GATE_BAD},
        {"3;a\001\r\n", 0, GATE_BAD},
        {"3 \r\n", 0, GATE_BAD},
        {"0\r\nX T: 1\r\n\r\n", 3, GATE_BAD},
    };
    const char *head = "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[256];
        int k = snprintf(buf, sizeof buf, "%s%s", head, bad[i].body);
        struct gate_stream g = {0};
        size_t pass = gate_stream_scan(&g, buf, (size_t)k, &v, msg, sizeof msg);
        cr_assert_eq(v, bad[i].v, "case %zu", i);
        cr_assert_eq(pass, strlen(head) + bad[i].at, "case %zu", i);
        cr_assert_neq(g.state, GATE_STREAM_HEAD, "case %zu", i);
    }
    /* a trailer shares the head's budget: too large for both is 431 */
    static char big[GATE_HEAD_MAX + 256];
    int k = snprintf(big, sizeof big, "%s0\r\nX-T: ", head);
    memset(big + k, 'a', GATE_HEAD_MAX);
    struct gate_stream g = {0};
    size_t pass = gate_stream_scan(&g, big, sizeof big, &v, msg, sizeof msg);
    cr_assert_eq(v, GATE_TOO_LARGE);
    cr_assert_eq(pass, strlen(head) + 3);
}
