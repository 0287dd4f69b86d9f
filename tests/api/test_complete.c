/* test_complete.c: /v1/completions, /v1/tokenize and /v1/detokenize over a real socket:
 * run.c's greedy text through the server, streaming (SSE chunks, usage, [DONE]), the same
 * seed giving the same text, cancellation when the client disconnects, the bound on
 * active generations (503 + Retry-After), and the errors api.yaml names. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define TC_PATH_MAX 1024
#define TC_SOCKET_TIMEOUT_S 20
#define TC_CANCEL_WAIT_MS 4000 /* a cancelled generation must free its slot well within this */
#define TC_POLL_MS 50

/* A random checkpoint + tokenizer from lmserve-ckpt-gen (LMSERVE_TOOLS), into the test's
 * temporary directory. 'slow' makes a model whose long generations take seconds. */
static void tc_model(const char *name, int slow, char *ckpt, char *tok)
{
    harness_ckpt_gen(name,
                     slow == 2 ? "--dim 256 --hidden 768 --layers 8 --heads 8 --kv-heads 4 --vocab 2048 "
                                 "--seq 4096 --seed 4" /* ~8x the work per token of 1 */
                     : slow ? "--dim 128 --hidden 384 --layers 4 --heads 4 --kv-heads 2 --vocab 2048 "
                              "--seq 4096 --seed 3"
                          : "--dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 --vocab 512 "
                            "--seq 256 --seed 2",
                     ckpt, TC_PATH_MAX);
    snprintf(tok, TC_PATH_MAX, "%s.tok", name);
}

/* Start a server with model "m" from tc_model (slow: 0 small, 1 slow, 2 slower) plus extra
 * flags (NULL-terminated). */
static void tc_start(struct srv *s, int slow, const char *const *extra)
{
    static char spec[3 * TC_PATH_MAX];
    char ckpt[TC_PATH_MAX], tok[TC_PATH_MAX];
    tc_model(slow == 2 ? "slower" : slow ? "slow" : "small", slow, ckpt, tok);
    snprintf(spec, sizeof spec, "m=transformer:%s,tokenizer=%s", ckpt, tok); /* relative tokenizer */
    const char *const base[] = {"--model", spec, NULL};
    srv_start_with(s, base, extra);
}

Test(completions, greedy_text_equals_run_c)
{
    const char *dir = harness_shared_models();
    if (!dir)
        cr_skip_test("../shared/models absent: run.c comparison through the server skipped");
    char spec[TC_PATH_MAX], js[TC_PATH_MAX];
    snprintf(spec, sizeof spec, "s=transformer:%s/stories260K.bin,tokenizer=tok512.bin", dir);
    snprintf(js, sizeof js, "%s/stories260K_expected.json", dir);
    json_t *exp = json_load_file(js, 0, NULL);
    cr_assert_not_null(exp);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    harness_expect_run_c(&s, exp);
    json_decref(exp);
    srv_stop(&s);
}

Test(completions, stream_usage_seed_stop_logprobs)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    char buf[512];
    struct http_res r;
    const char *req = "{\"model\":\"m\",\"prompt\":\"the\",\"max_tokens\":12,\"temperature\":0.9,"
                      "\"seed\":7,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"logprobs\":3}";
    cr_assert_eq(http_post(&s, "/v1/completions", req, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(http_header(&r, "Content-Type", buf, sizeof buf));
    cr_assert(strncmp(buf, "text/event-stream", 17) == 0, "content type %s", buf);
    json_t *ev = harness_sse_events(r.body);
    size_t ne = json_array_size(ev);
    cr_assert_geq(ne, 3);
    cr_assert_str_eq(json_string_value(json_array_get(ev, ne - 1)), "[DONE]");
    json_t *usage_chunk = json_loads(json_string_value(json_array_get(ev, ne - 2)), 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(usage_chunk, "choices")), 0);
    json_t *u = json_object_get(usage_chunk, "usage");
    cr_assert_eq(json_integer_value(json_object_get(u, "total_tokens")),
                 json_integer_value(json_object_get(u, "prompt_tokens")) +
                     json_integer_value(json_object_get(u, "completion_tokens")));
    json_t *first = json_loads(json_string_value(json_array_get(ev, 0)), 0, NULL);
    json_t *lp = json_object_get(json_array_get(json_object_get(first, "choices"), 0), "logprobs");
    cr_assert(json_is_object(lp));
    cr_assert_eq(json_object_size(json_array_get(json_object_get(lp, "top_logprobs"), 0)), 3);
    cr_assert(json_real_value(json_array_get(json_object_get(lp, "token_logprobs"), 0)) <= 0.0);
    json_decref(first);
    json_decref(usage_chunk);
    json_decref(ev);
    http_res_free(&r);
    /* same seed, same text; JSON answers */
    const char *a = "{\"model\":\"m\",\"prompt\":\"the\",\"max_tokens\":20,\"temperature\":1.0,\"top_k\":40,"
                    "\"top_p\":0.9,\"seed\":1234,\"repetition_penalty\":1.1,\"presence_penalty\":0.5}";
    json_t *r1 = http_post_ok(&s, "/v1/completions", a), *r2 = http_post_ok(&s, "/v1/completions", a);
    const char *t1 = json_string_value(json_object_get(json_array_get(json_object_get(r1, "choices"), 0), "text"));
    const char *t2 = json_string_value(json_object_get(json_array_get(json_object_get(r2, "choices"), 0), "text"));
    cr_assert_str_eq(t1, t2);
    /* a stop string taken from the middle of the greedy text ends it there, unseen */
    json_t *g = http_post_ok(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":30,\"temperature\":0}");
    const char *gt = json_string_value(json_object_get(json_array_get(json_object_get(g, "choices"), 0), "text"));
    size_t gl = strlen(gt);
    if (gl >= 8) {
        char stop[4] = {gt[gl / 2], gt[gl / 2 + 1], gt[gl / 2 + 2], 0};
        const char *at = strstr(gt, stop);
        json_t *sj = json_pack("{s:s, s:s, s:i, s:i, s:[s], s:b}", "model", "m", "prompt", "a", "max_tokens", 30,
                               "temperature", 0, "stop", stop, "echo", 0);
        char *sreq = json_dumps(sj, 0);
        json_t *sr = http_post_ok(&s, "/v1/completions", sreq);
        json_t *c0 = json_array_get(json_object_get(sr, "choices"), 0);
        const char *st = json_string_value(json_object_get(c0, "text"));
        cr_assert_eq(strlen(st), (size_t)(at - gt), "stop '%s' in '%s': got '%s'", stop, gt, st);
        cr_assert_eq(strncmp(st, gt, strlen(st)), 0);
        cr_assert_str_eq(json_string_value(json_object_get(c0, "finish_reason")), "stop");
        json_decref(sr);
        free(sreq);
        json_decref(sj);
    }
    /* echo puts the prompt first */
    json_t *e = http_post_ok(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"abc\",\"max_tokens\":2,\"echo\":true}");
    cr_assert_eq(strncmp(json_string_value(json_object_get(json_array_get(json_object_get(e, "choices"), 0), "text")), "abc", 3), 0);
    json_decref(e);
    json_decref(g);
    json_decref(r1);
    json_decref(r2);
    srv_stop(&s);
}

Test(completions, errors)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    struct http_res r;
    static const struct error_case cases[] = {
        {"{\"model\":\"m\"}", 400, "prompt"},
        {"{\"model\":\"m\",\"prompt\":7}", 400, "prompt"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"temperature\":3}", 400, "temperature"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"top_p\":0}", 400, "top_p"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":-1}", 400, "max_tokens"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stop\":5}", 400, "stop"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",1]}", 400, "stop[1]"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":21}", 400, "logprobs"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "stream"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"stream_options\":{\"include_usage\":1}}", 400, "stream_options.include_usage"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"repetition_penalty\":0}", 400, "repetition_penalty"},
        {"{\"model\":\"nope\",\"prompt\":\"x\"}", 404, NULL},
        {"{\"prompt\":\"x\"}", 400, "model"},
    };
    expect_errors(&s, "/v1/completions", cases, sizeof cases / sizeof cases[0]);
    /* a prompt longer than the 256-token context */
    char *big = harness_filler_body("{\"model\":\"m\",\"prompt\":\"", 3900, "\"}");
    cr_assert_eq(http_post(&s, "/v1/completions", big, &r), 0);
    expect_error(&r, 400, "prompt");
    http_res_free(&r);
    free(big);
    /* tokenize / detokenize */
    json_t *t = http_post_ok(&s, "/v1/tokenize", "{\"model\":\"m\",\"text\":\"the cat\",\"add_bos\":true,\"with_pieces\":true}");
    json_t *ids = json_object_get(t, "tokens");
    cr_assert_eq(json_integer_value(json_array_get(ids, 0)), 1);
    cr_assert_eq(json_array_size(json_object_get(t, "pieces")), json_array_size(ids));
    json_t *dq = json_pack("{s:s, s:O}", "model", "m", "tokens", ids);
    char *dreq = json_dumps(dq, 0);
    json_t *d = http_post_ok(&s, "/v1/detokenize", dreq);
    cr_assert_str_eq(json_string_value(json_object_get(d, "text")), "the cat");
    json_decref(d);
    free(dreq);
    json_decref(dq);
    json_decref(t);
    cr_assert_eq(http_post(&s, "/v1/detokenize", "{\"model\":\"m\",\"tokens\":[1,512]}", &r), 0);
    expect_error(&r, 400, "tokens[1]");
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/detokenize", "{\"model\":\"m\",\"tokens\":[1,-3]}", &r), 0);
    expect_error(&r, 400, "tokens[1]");
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/tokenize", "{\"model\":\"m\",\"text\":3}", &r), 0);
    expect_error(&r, 400, "text");
    http_res_free(&r);
    srv_stop(&s);
}

/* ---- raw sockets: a client that goes away ---- */

static int tc_connect(const struct srv *s)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = TC_SOCKET_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Send a long streamed generation and wait for its first token. */
static int tc_start_long_stream_with(const struct srv *s, const char *prompt)
{
    int fd = tc_connect(s);
    char body[512];
    snprintf(body, sizeof body,
             "{\"model\":\"m\",\"prompt\":\"%s\",\"max_tokens\":4000,\"temperature\":0,\"stream\":true}",
             prompt);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        ssize_t k = read(fd, buf + got, sizeof buf - 1 - got);
        cr_assert_gt(k, 0, "stream closed before its first token");
        got += (size_t)k;
        buf[got] = 0;
        if (strstr(buf, "data: "))
            break;
    }
    return fd;
}

static int tc_start_long_stream(const struct srv *s) { return tc_start_long_stream_with(s, "x"); }

/* The stream on fd is still going: what it has sent so far (read without waiting; only the
 * tail is kept) holds no [DONE]; fails with why otherwise. */
static void tc_assert_stream_running(int fd, const char *why)
{
    char buf[65536];
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + got, sizeof buf - 1 - got, MSG_DONTWAIT);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got >= sizeof buf - 1)
            got = 0; /* only the tail matters */
    }
    buf[got] = 0;
    cr_assert_null(strstr(buf, "[DONE]"), "%s", why);
}

static long tc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Issue 10: max_tokens past the context was clamped silently, and n / best_of were ignored. */
Test(completions, max_tokens_past_context_n_and_best_of_refused)
{
    struct srv s;
    tc_start(&s, 0, NULL); /* 256-token context; "x" is BOS + 1 or 2 tokens */
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":256}", &r), 0);
    expect_error(&r, 400, "max_tokens");
    const char *msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    cr_expect(strstr(msg, "256 tokens"), "the message names the context size: %s", msg);
    http_res_free(&r);
    static const struct {
        const char *body;
        const char *param;
    } bad[] = {
        {"{\"model\":\"m\",\"prompt\":\"x\",\"n\":2}", "n"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"n\":0}", "n"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"n\":\"1\"}", "n"},
        {"{\"model\":\"m\",\"prompt\":\"x\",\"best_of\":3}", "best_of"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(http_post(&s, "/v1/completions", bad[i].body, &r), 0);
        expect_error(&r, 400, bad[i].param);
        http_res_free(&r);
    }
    /* n = best_of = 1, llama-server's cache_prompt and other unknown fields are fine; the
     * default max_tokens and an explicit one that fits still answer */
    json_t *j = http_post_ok(&s, "/v1/completions",
                        "{\"model\":\"m\",\"prompt\":\"x\",\"n\":1,\"best_of\":1,\"cache_prompt\":true,"
                        "\"some_future_field\":{\"a\":1},\"max_tokens\":200,\"temperature\":0}");
    json_t *u = json_object_get(j, "usage");
    cr_expect_leq(json_integer_value(json_object_get(u, "total_tokens")), 256);
    json_decref(j);
    srv_stop(&s);
}

Test(completions, busy_then_disconnect_cancels)
{
    const char *extra[] = {"--max-generations", "1", "--gen-queue", "0", NULL};
    struct srv s;
    tc_start(&s, 1, extra);
    int fd = tc_start_long_stream(&s);
    /* the only slot is taken: 503 with Retry-After */
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"y\",\"max_tokens\":1}", &r), 0);
    expect_error(&r, 503, NULL);
    char ra[32];
    cr_assert_not_null(http_header(&r, "Retry-After", ra, sizeof ra), "503 without Retry-After");
    http_res_free(&r);
    /* the client goes away: its generation must stop and free the slot */
    long t0 = tc_now_ms();
    close(fd);
    long status = 0;
    while (tc_now_ms() - t0 < TC_CANCEL_WAIT_MS) {
        cr_assert_eq(http_post(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"y\",\"max_tokens\":1}", &r), 0);
        status = r.status;
        http_res_free(&r);
        if (status == 200)
            break;
        usleep(TC_POLL_MS * 1000);
    }
    cr_assert_eq(status, 200, "the disconnected generation still held its slot after %d ms", TC_CANCEL_WAIT_MS);
    cr_log_info("slot freed %ld ms after the disconnect", tc_now_ms() - t0);
    srv_stop(&s);
}

static long tc_metric(const struct srv *s, const char *name)
{
    struct http_res r;
    cr_assert_eq(http_get(s, "/metrics", &r), 0);
    const char *p = strstr(r.body, name);
    long v = p ? atol(p + strlen(name)) : -1;
    http_res_free(&r);
    return v;
}

struct tc_job {
    const struct srv *s;
    char body[256];
    char *text; /* the answer's text, malloc'd */
    long status;
};

static void *tc_job_run(void *arg)
{
    struct tc_job *j = arg;
    struct http_res r;
    if (http_post(j->s, "/v1/completions", j->body, &r) != 0)
        return NULL;
    j->status = r.status;
    json_t *c = json_array_get(json_object_get(r.json, "choices"), 0);
    const char *t = json_string_value(json_object_get(c, "text"));
    j->text = strdup(t ? t : "");
    http_res_free(&r);
    return NULL;
}

/* Backpressure (issue 14): past the slots, --gen-queue generations wait for one; beyond
 * those, an immediate 503 + Retry-After. A waiting request runs when the slot frees. */
Test(completions, full_slots_queue_then_503)
{
    const char *extra[] = {"--max-generations", "1", "--gen-queue", "1", NULL};
    struct srv s;
    tc_start(&s, 1, extra);
    int fd = tc_start_long_stream(&s);
    struct tc_job w = {.s = &s};
    snprintf(w.body, sizeof w.body, "{\"model\":\"m\",\"prompt\":\"y\",\"max_tokens\":2}");
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, tc_job_run, &w), 0);
    long t0 = tc_now_ms();
    while (tc_metric(&s, "\nlmserve_generations_waiting ") != 1) {
        cr_assert_lt(tc_now_ms() - t0, TC_CANCEL_WAIT_MS, "the second generation never waited");
        usleep(TC_POLL_MS * 1000);
    }
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/completions", "{\"model\":\"m\",\"prompt\":\"y\",\"max_tokens\":1}", &r), 0);
    expect_error(&r, 503, NULL);
    char ra[32];
    cr_assert_not_null(http_header(&r, "Retry-After", ra, sizeof ra), "503 without Retry-After");
    http_res_free(&r);
    close(fd); /* the slot frees: the waiting request runs */
    pthread_join(th, NULL);
    cr_expect_eq(w.status, 200, "the waiting request got %ld", w.status);
    free(w.text);
    srv_stop(&s);
}

/* Backpressure at the deadline (issue 14), timing-free: a generation waiting for a slot
 * whose deadline (--timeout from its first byte) passes gets 503 + Retry-After. Its request
 * starts (head received: counted in flight) before the slot holder's, so its deadline comes
 * first: the holder still holds the slot then (or lets go in the same watchdog pass, and the
 * waiter still answers 503: a passed deadline wins over a slot that just freed). */
Test(completions, slot_wait_past_deadline_gets_503)
{
    const char *extra[] = {"--max-generations", "1", "--gen-queue", "1", "--timeout", "1", NULL};
    struct srv s;
    tc_start(&s, 2, extra); /* 4,000 tokens of this model take far longer than the 1 s */
    const char *body = "{\"model\":\"m\",\"prompt\":\"y\",\"max_tokens\":2}";
    char head[256];
    const int hn = snprintf(head, sizeof head,
                            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            "Connection: close\r\nContent-Length: %zu\r\n\r\n", strlen(body));
    const int wfd = tc_connect(&s);
    const size_t blen = strlen(body);
    cr_assert_eq(write(wfd, head, (size_t)hn), hn);
    cr_assert_eq(write(wfd, body, blen - 1), (ssize_t)(blen - 1)); /* all but the last byte */
    long t0 = tc_now_ms();
    while (tc_metric(&s, "\nlmserve_requests_in_flight ") < 2) { /* it and this /metrics */
        cr_assert_lt(tc_now_ms() - t0, TC_CANCEL_WAIT_MS, "the server never saw the request's head");
        usleep(TC_POLL_MS * 1000);
    }
    const int hfd = tc_start_long_stream(&s); /* takes the only slot; its deadline is later */
    cr_assert_eq(write(wfd, body + blen - 1, 1), 1);
    char buf[4096];
    size_t got = 0;
    for (ssize_t k; got < sizeof buf - 1 && (k = read(wfd, buf + got, sizeof buf - 1 - got)) > 0;)
        got += (size_t)k;
    buf[got] = 0;
    cr_assert(strncmp(buf, "HTTP/1.1 503", 12) == 0, "the waiting request got: %.200s", buf);
    cr_expect(strcasestr(buf, "\r\nRetry-After: ") != NULL, "503 without Retry-After: %s", buf);
    cr_expect(strstr(buf, "deadline") != NULL, "not the slot-wait message: %s", buf);
    close(wfd);
    close(hfd);
    srv_stop(&s);
}

Test(completions, lm_routes_accept_transformers)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"m\",\"context\":\"the\",\"top_k\":5}", &r), 0);
    if (r.status == 404 && strstr(r.body, "not available in this build")) {
        http_res_free(&r);
        srv_stop(&s);
        cr_skip_test("/v1/next is not in this build yet (n-gram area)");
    }
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/score", "{\"model\":\"m\",\"input\":\"the cat sat\"}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}

Test(completions, time_limit_stops_generation)
{
    const char *extra[] = {"--timeout", "1", NULL};
    struct srv s;
    tc_start(&s, 1, extra);
    struct http_res r;
    long t0 = tc_now_ms();
    cr_assert_eq(http_post(&s, "/v1/completions",
                           "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":4000,\"temperature\":0}", &r), 0);
    long took = tc_now_ms() - t0;
    if (r.status == 200) { /* a fast machine finished 4000 tokens within the second */
        http_res_free(&r);
        srv_stop(&s);
        cr_skip_test("generation finished before the 1 s limit (%ld ms)", took);
    }
    expect_error(&r, 503, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "error"), "code")), "timeout");
    http_res_free(&r);
    srv_stop(&s);
}

/* Bug: past its deadline a streamed generation could not send its error event and [DONE]. */
Test(completions, time_limit_stream_sends_error_and_done)
{
    const char *extra[] = {"--timeout", "1", NULL};
    struct srv s;
    tc_start(&s, 1, extra);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/completions",
                           "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":4000,\"temperature\":0,\"stream\":true}",
                           &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    if (strstr(r.body, "\"finish_reason\":\"length\"")) {
        http_res_free(&r);
        srv_stop(&s);
        cr_skip_test("generation finished before the 1 s limit");
    }
    cr_assert(strstr(r.body, "\"code\":\"timeout\""), "no timeout event: ...%s",
              r.body + (r.len > 300 ? r.len - 300 : 0));
    size_t n = strlen(r.body);
    cr_assert(n >= 14 && strcmp(r.body + n - 14, "data: [DONE]\n\n") == 0, "stream does not end with [DONE]");
    http_res_free(&r);
    srv_stop(&s);
}

Test(completions, next_without_bos)
{
    struct srv s;
    tc_start(&s, 1, NULL);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"m\",\"context\":\"\",\"bos\":false}", &r), 0);
    expect_error(&r, 400, "context");
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/next", "{\"model\":\"m\",\"context\":\"the cat\",\"bos\":false,\"top_k\":3}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 3, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}

/* ---- continuous batching (issue 14; models/transformer/sched.c) ---- */

#define TC_BATCH_N 6

/* A seeded request gives the same text alone and while others share its forward steps. */
Test(completions, seeded_text_same_alone_and_batched)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    struct tc_job alone[TC_BATCH_N], together[TC_BATCH_N];
    pthread_t th[TC_BATCH_N];
    for (int i = 0; i < TC_BATCH_N; i++) {
        struct tc_job j = {.s = &s};
        snprintf(j.body, sizeof j.body,
                 "{\"model\":\"m\",\"prompt\":\"%.*s\",\"max_tokens\":%d,\"temperature\":0.9,"
                 "\"seed\":%d,\"frequency_penalty\":0.5}",
                 i + 1, "abcdefgh", 20 + 7 * i, i);
        alone[i] = together[i] = j;
        tc_job_run(&alone[i]);
        cr_assert_eq(alone[i].status, 200);
    }
    for (int i = 0; i < TC_BATCH_N; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, tc_job_run, &together[i]), 0);
    for (int i = 0; i < TC_BATCH_N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(together[i].status, 200, "request %d: %ld %s", i, together[i].status, together[i].text);
        cr_expect_str_eq(together[i].text, alone[i].text, "request %d differs in a batch", i);
        free(alone[i].text);
        free(together[i].text);
    }
    /* /metrics: the batching counters moved, and some step held more than one row */
    struct http_res r;
    cr_assert_eq(http_get(&s, "/metrics", &r), 0);
    cr_assert_eq(r.status, 200);
    /* "\nNAME ": the sample line, not its "# HELP NAME ..." line */
    const char *names[] = {"\nlmserve_tokens_generated_total ", "\nlmserve_prompt_tokens_processed_total ",
                           "\nlmserve_batch_steps_total ", "\nlmserve_time_to_first_token_seconds_count ",
                           "\nlmserve_inter_token_latency_seconds_count ", "\nlmserve_batch_size_count "};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = strstr(r.body, names[i]);
        cr_assert_not_null(p, "/metrics lacks %s", names[i]);
        cr_expect_gt(atol(p + strlen(names[i])), 0, "%s is 0", names[i]);
    }
    const char *one = strstr(r.body, "lmserve_batch_size_bucket{le=\"1\"} ");
    const char *all = strstr(r.body, "lmserve_batch_size_count ");
    cr_assert(one && all);
    cr_expect_lt(atol(one + strlen("lmserve_batch_size_bucket{le=\"1\"} ")),
                 atol(all + strlen("lmserve_batch_size_count ")), "no step ever batched two rows");
    cr_assert_not_null(strstr(r.body, "lmserve_slots 8\n"), "default --parallel is 8");
    http_res_free(&r);
    srv_stop(&s);
}

static json_int_t tc_cached(const json_t *answer)
{
    json_t *d = json_object_get(json_object_get(answer, "usage"), "prompt_tokens_details");
    cr_assert_not_null(d, "usage without prompt_tokens_details");
    return json_integer_value(json_object_get(d, "cached_tokens"));
}

/* Prefix cache (issue 14): a prompt that begins like a finished generation's reuses its keys
 * and values; usage.prompt_tokens_details.cached_tokens says how many, and the answer is the
 * one computed from scratch. */
Test(completions, prefix_cache_reuses_leading_tokens)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    const char *body = "{\"model\":\"m\",\"prompt\":\"the quick brown fox jumps over the lazy dog\","
                       "\"max_tokens\":8,\"temperature\":0}";
    json_t *a = http_post_ok(&s, "/v1/completions", body);
    json_t *b = http_post_ok(&s, "/v1/completions", body);
    const json_int_t np = json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens"));
    cr_expect_eq(tc_cached(a), 0);
    cr_expect_eq(tc_cached(b), np - 1, "the same prompt again: all but its last token cached");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(b, "choices"), 0), "text")),
                     json_string_value(json_object_get(json_array_get(json_object_get(a, "choices"), 0), "text")));
    json_t *c = http_post_ok(&s, "/v1/completions",
                        "{\"model\":\"m\",\"prompt\":\"the quick brown fox sat\",\"max_tokens\":2}");
    cr_expect_gt(tc_cached(c), 0, "a shared beginning is reused");
    cr_expect_lt(tc_cached(c), np - 1);
    cr_expect_geq(tc_metric(&s, "\nlmserve_prefix_cache_hits_total "), 2);
    cr_expect_gt(tc_metric(&s, "\nlmserve_prefix_cache_bytes "), 0);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    srv_stop(&s);
}

/* Prefix cache from a running generation (issue 14): a prompt that begins like a stream still
 * generating copies the keys and values that stream has computed so far (no finished entry
 * exists yet: the cache holds 0 bytes); with cache_prompt false nothing is reused, and both
 * give the same text. Timing-free: the stream has 4,000 tokens to go and is checked to be
 * still running afterwards. */
Test(completions, prefix_cache_reuses_running_generation)
{
    struct srv s;
    tc_start(&s, 1, NULL);
    int fd = tc_start_long_stream_with(&s, "the quick brown fox jumps over the lazy dog");
    cr_assert_eq(tc_metric(&s, "\nlmserve_prefix_cache_bytes "), 0, "a finished entry already");
    const char *body = "{\"model\":\"m\",\"prompt\":\"the quick brown fox jumps over the lazy dog, "
                       "said the cat\",\"max_tokens\":6,\"temperature\":0}";
    json_t *a = http_post_ok(&s, "/v1/completions", body);
    const json_int_t np = json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens"));
    cr_expect_geq(tc_cached(a), 8, "the running stream's prompt is reused (%" JSON_INTEGER_FORMAT
                  " of %" JSON_INTEGER_FORMAT " prompt tokens cached)", tc_cached(a), np);
    cr_expect_lt(tc_cached(a), np);
    char off[512];
    snprintf(off, sizeof off, "%.*s,\"cache_prompt\":false}", (int)strlen(body) - 1, body);
    json_t *b = http_post_ok(&s, "/v1/completions", off);
    cr_expect_eq(tc_cached(b), 0, "cache_prompt false reuses nothing");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(b, "choices"), 0), "text")),
                     json_string_value(json_object_get(json_array_get(json_object_get(a, "choices"), 0), "text")));
    json_decref(a);
    json_decref(b);
    /* the long stream is still going: what it sent so far has no [DONE] */
    tc_assert_stream_running(fd, "the 4,000-token stream finished first: nothing was running");
    close(fd);
    srv_stop(&s);
}

/* /v1/score and /v1/next on a Transformer go through its scheduler (issue 14): a list's
 * texts are scored at once, each exactly as alone; a context asked again reuses its keys and
 * values and gives the same candidates. */
Test(completions, score_list_and_next_through_the_batch)
{
    struct srv s;
    tc_start(&s, 0, NULL);
    const char *texts[] = {"the cat sat on the mat", "a dog", "once upon a time there was a girl",
                           "hello world", "the quick brown fox", "x y z"};
    const size_t nt = sizeof texts / sizeof texts[0];
    double alone[sizeof texts / sizeof texts[0]];
    char body[1024];
    for (size_t i = 0; i < nt; i++) {
        snprintf(body, sizeof body, "{\"model\":\"m\",\"input\":\"%s\"}", texts[i]);
        json_t *j = http_post_ok(&s, "/v1/score", body);
        alone[i] = json_real_value(json_object_get(json_array_get(json_object_get(j, "data"), 0), "logprob"));
        json_decref(j);
    }
    size_t off = (size_t)snprintf(body, sizeof body, "{\"model\":\"m\",\"input\":[");
    for (size_t i = 0; i < nt; i++)
        off += (size_t)snprintf(body + off, sizeof body - off, "%s\"%s\"", i ? "," : "", texts[i]);
    snprintf(body + off, sizeof body - off, "]}");
    json_t *j = http_post_ok(&s, "/v1/score", body);
    json_t *data = json_object_get(j, "data");
    cr_assert_eq(json_array_size(data), nt, "%s", body);
    for (size_t i = 0; i < nt; i++) {
        json_t *o = json_array_get(data, i);
        cr_expect_eq(json_integer_value(json_object_get(o, "index")), (json_int_t)i);
        const double lp = json_real_value(json_object_get(o, "logprob"));
        cr_expect_leq(fabs(lp - alone[i]), 1e-4 * fabs(alone[i]) + 1e-6,
                      "text %zu: %.9g in the list, %.9g alone", i, lp, alone[i]);
    }
    json_decref(j);
    const char *nb = "{\"model\":\"m\",\"context\":\"once upon a time there\",\"top_k\":5}";
    json_t *n1 = http_post_ok(&s, "/v1/next", nb);
    json_t *n2 = http_post_ok(&s, "/v1/next", nb);
    /* the same candidates; logprobs to float rounding (the last token ran as one row now) */
    json_t *c1 = json_object_get(n1, "data"), *c2 = json_object_get(n2, "data");
    cr_assert_eq(json_array_size(c2), json_array_size(c1));
    for (size_t i = 0; i < json_array_size(c1); i++) {
        json_t *a = json_array_get(c1, i), *b = json_array_get(c2, i);
        cr_expect_eq(json_integer_value(json_object_get(a, "id")), json_integer_value(json_object_get(b, "id")),
                     "candidate %zu differs with the prefix cache", i);
        const double la = json_real_value(json_object_get(a, "logprob")),
                     lb = json_real_value(json_object_get(b, "logprob"));
        cr_expect_leq(fabs(la - lb), 1e-4 * fabs(la) + 1e-5, "candidate %zu: %.9g vs %.9g", i, la, lb);
    }
    json_decref(n1);
    json_decref(n2);
    cr_expect_gt(tc_metric(&s, "\nlmserve_prefix_cache_hits_total "), 0);
    srv_stop(&s);
}

/* Fairness, timing-free: a short request sent while a 4,000-token stream runs gets its whole
 * answer before that stream ends (a new request joins between steps). */
Test(completions, short_request_not_starved_by_long_stream)
{
    struct srv s;
    tc_start(&s, 1, NULL);
    int fd = tc_start_long_stream(&s);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/completions",
                           "{\"model\":\"m\",\"prompt\":\"a b c d e f g h i j k l m n o p q r s t u v w x y z\","
                           "\"max_tokens\":8}", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    /* the long stream is still going */
    tc_assert_stream_running(fd, "the 4,000-token stream finished before the short request");
    close(fd);
    srv_stop(&s);
}
