/* test_server.c: the foundation over a real socket: generic checks, errors, CORS, request
 * ids, health/ready/metrics, the admin model routes, overload, and graceful drain. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

#define ADMIN_KEY "s3cret-key"
#define AUTH_OK "Authorization: Bearer " ADMIN_KEY

Test(server, health_and_request_id)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/health", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    char id[80];
    cr_assert(http_header(&r, "X-Request-Id", id, sizeof id), "no X-Request-Id");
    cr_assert_gt(strlen(id), 8);
    http_res_free(&r);
    const char *hdr[] = {"X-Request-Id: my-trace.42", NULL};
    cr_assert_eq(http_do(&s, "GET", "/health", NULL, NULL, hdr, &r), 0);
    cr_assert_str_eq(http_header(&r, "X-Request-Id", id, sizeof id), "my-trace.42");
    http_res_free(&r);
    /* An id with control characters or too long is replaced, not echoed. */
    const char *bad[] = {"X-Request-Id: a b\"c", NULL};
    cr_assert_eq(http_do(&s, "GET", "/health", NULL, NULL, bad, &r), 0);
    cr_assert_str_neq(http_header(&r, "X-Request-Id", id, sizeof id), "a b\"c");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, unknown_route_and_method)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    http_get(&s, "/v2/nothing", &r);
    expect_error(&r, 404, NULL);
    http_res_free(&r);
    http_do(&s, "PUT", "/health", NULL, NULL, NULL, &r);
    expect_error(&r, 405, NULL);
    char allow[64];
    cr_assert_str_eq(http_header(&r, "Allow", allow, sizeof allow), "GET, HEAD, OPTIONS");
    http_res_free(&r);
    http_do(&s, "DELETE", "/v1/models", NULL, NULL, NULL, &r);
    expect_error(&r, 405, NULL);
    cr_assert_str_eq(http_header(&r, "Allow", allow, sizeof allow), "GET, HEAD, POST, OPTIONS");
    http_res_free(&r);
    srv_stop(&s);
}

Test(server, body_checks)
{
    struct srv s;
    const char *args[] = {"--max-body", "1000", NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    /* Wrong content type: 415. */
    http_do(&s, "POST", "/v1/score", "{}", "text/plain", NULL, &r);
    expect_error(&r, 415, NULL);
    http_res_free(&r);
    /* Malformed JSON: 400 with line and column. */
    http_post(&s, "/v1/score", "{\"model\": \n  [1, 2,", &r);
    expect_error(&r, 400, NULL);
    const char *msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
    cr_assert(strstr(msg, "line 2") && strstr(msg, "column"), "message: %s", msg);
    http_res_free(&r);
    /* Not an object, empty body. */
    http_post(&s, "/v1/score", "[1,2]", &r);
    expect_error(&r, 400, NULL);
    http_res_free(&r);
    http_do(&s, "POST", "/v1/score", "", "application/json", NULL, &r);
    expect_error(&r, 400, NULL);
    http_res_free(&r);
    /* Invalid UTF-8 inside a string. */
    http_post(&s, "/v1/score", "{\"model\":\"a\xff\xfe\"}", &r);
    expect_error(&r, 400, NULL);
    http_res_free(&r);
    /* Deep nesting. */
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    http_post(&s, "/v1/score", deep, &r);
    expect_error(&r, 400, NULL);
    cr_assert(strstr(r.body, "nesting"), "%s", r.body);
    http_res_free(&r);
    /* Too large, with Content-Length. */
    char *big = malloc(5000);
    memset(big, ' ', 4999);
    big[0] = '{';
    big[4997] = '}';
    big[4998] = '\0';
    http_post(&s, "/v1/score", big, &r);
    expect_error(&r, 413, NULL);
    http_res_free(&r);
    /* Too large, chunked (no Content-Length). */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    http_do(&s, "POST", "/v1/score", big, "application/json", chunked, &r);
    expect_error(&r, 413, NULL);
    http_res_free(&r);
    free(big);
    /* The server is still fine. */
    http_get(&s, "/health", &r);
    cr_assert_eq(r.status, 200);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, cors_preflight)
{
    struct srv s;
    const char *args[] = {"--cors-origin", "http://good.example", "--admin-key", ADMIN_KEY, NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    const char *pre[] = {"Origin: http://good.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type", NULL};
    /* Preflight of an admin route: answered before any auth check. */
    http_do(&s, "OPTIONS", "/v1/models", NULL, NULL, pre, &r);
    cr_assert_eq(r.status, 204, "%ld %s", r.status, r.body);
    char v[128];
    cr_assert_str_eq(http_header(&r, "Access-Control-Allow-Origin", v, sizeof v), "http://good.example");
    cr_assert(strstr(http_header(&r, "Access-Control-Allow-Methods", v, sizeof v), "POST"));
    http_res_free(&r);
    const char *evil[] = {"Origin: http://evil.example", "Access-Control-Request-Method: POST", NULL};
    http_do(&s, "OPTIONS", "/v1/score", NULL, NULL, evil, &r);
    cr_assert_eq(r.status, 204);
    cr_assert_null(http_header(&r, "Access-Control-Allow-Origin", v, sizeof v));
    http_res_free(&r);
    const char *simple[] = {"Origin: http://good.example", NULL};
    http_do(&s, "GET", "/health", NULL, NULL, simple, &r);
    cr_assert_str_eq(http_header(&r, "Access-Control-Allow-Origin", v, sizeof v), "http://good.example");
    http_res_free(&r);
    srv_stop(&s);
}

Test(server, ready_tracks_loading_and_failures)
{
    const char *root = harness_test_root("root");
    char m1[400], m2[400];
    snprintf(m1, sizeof m1, "slow=test:%s/tiny.test,load_delay_ms=1500", root);
    snprintf(m2, sizeof m2, "broken=test:%s/bad.test", root);
    struct srv s;
    const char *args[] = {"--model", m1, NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    http_get(&s, "/ready", &r);
    cr_assert_eq(r.status, 503, "ready while loading: %s", r.body);
    cr_assert(strstr(r.body, "\"loading\""), "%s", r.body);
    http_res_free(&r);
    http_get(&s, "/health", &r);
    cr_assert_eq(r.status, 200);
    http_res_free(&r);
    for (int i = 0; i < 100; i++) {
        http_get(&s, "/ready", &r);
        long st = r.status;
        http_res_free(&r);
        if (st == 200)
            break;
        usleep(50000);
    }
    http_get(&s, "/ready", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);

    /* --keep-going: without it a model that fails at start stops the server (issue 10). */
    const char *args2[] = {"--model", m2, "--keep-going", NULL};
    srv_start(&s, args2, 0);
    for (int i = 0; i < 100; i++) {
        http_get(&s, "/v1/models/broken", &r);
        int failed = r.json && strcmp(json_string_value(json_object_get(r.json, "state")), "failed") == 0;
        if (failed)
            break;
        http_res_free(&r);
        usleep(20000);
    }
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "failed", "%s", r.body);
    cr_assert(strstr(json_string_value(json_object_get(r.json, "error")), "not a test model"), "%s", r.body);
    http_res_free(&r);
    http_get(&s, "/ready", &r);
    cr_assert_eq(r.status, 503);
    cr_assert(strstr(r.body, "\"failed\""), "%s", r.body);
    http_res_free(&r);
    /* Using a failed model is a clear error, and the server keeps serving. */
    http_post(&s, "/v1/score", "{\"model\":\"broken\",\"input\":\"a\"}", &r);
    cr_assert(r.status == 422 || r.status == 404, "%ld %s", r.status, r.body);
    http_res_free(&r);
    http_get(&s, "/health", &r);
    cr_assert_eq(r.status, 200);
    http_res_free(&r);
    srv_stop(&s);
}

Test(server, admin_models)
{
    const char *root = harness_test_root("root");
    struct srv s;
    const char *args[] = {"--models-root", root, "--admin-key", ADMIN_KEY, NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    const char *body = "{\"id\":\"t1\",\"type\":\"test\",\"path\":\"tiny.test\"}";
    http_post(&s, "/v1/models", body, &r);
    expect_error(&r, 401, NULL);
    http_res_free(&r);
    const char *wrong[] = {"Authorization: Bearer nope", NULL};
    http_do(&s, "POST", "/v1/models", body, NULL, wrong, &r);
    expect_error(&r, 403, NULL);
    http_res_free(&r);
    const char *ok[] = {AUTH_OK, NULL};
    http_do(&s, "POST", "/v1/models", body, NULL, ok, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "ready");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "object")), "model");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", body, NULL, ok, &r);
    expect_error(&r, 409, "id");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"nope\",\"path\":\"tiny.test\"}", NULL, ok, &r);
    expect_error(&r, 400, "type");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"test\",\"path\":\"../../etc/passwd\"}", NULL, ok, &r);
    expect_error(&r, 403, "path");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"test\",\"path\":\"/etc/passwd\"}", NULL, ok, &r);
    expect_error(&r, 403, "path");
    http_res_free(&r);
    /* A symlink inside the root to a valid model outside it is still refused. The target is
     * the test's own file (not e.g. /etc/hostname, which a minimal image may lack). */
    char link[400], outside[400];
    snprintf(outside, sizeof outside, "%s/outside-%d.test", harness_tmpdir(), (int)getpid());
    FILE *of = fopen(outside, "w");
    cr_assert(of);
    fputs("lmserve-test-model\n", of);
    fclose(of);
    snprintf(link, sizeof link, "%s/escape.test", root);
    cr_assert_eq(symlink(outside, link), 0);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"test\",\"path\":\"escape.test\"}", NULL, ok, &r);
    expect_error(&r, 403, "path");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"test\",\"path\":\"missing.test\"}", NULL, ok, &r);
    expect_error(&r, 404, "path");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t2\",\"type\":\"test\",\"path\":\"bad.test\"}", NULL, ok, &r);
    expect_error(&r, 422, "path");
    cr_assert(strstr(r.body, "bad.test:1:"), "loader message with file:line: %s", r.body);
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":7,\"type\":\"test\",\"path\":\"tiny.test\"}", NULL, ok, &r);
    expect_error(&r, 400, "id");
    http_res_free(&r);
    http_get(&s, "/v1/models", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "object")), "list");
    cr_assert_eq(json_array_size(json_object_get(r.json, "data")), 1, "%s", r.body);
    http_res_free(&r);
    http_get(&s, "/v1/models/t1", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "type")), "test");
    http_res_free(&r);
    http_do(&s, "DELETE", "/v1/models/t1", NULL, NULL, ok, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    http_get(&s, "/v1/models/t1", &r);
    expect_error(&r, 404, "id");
    http_res_free(&r);
    http_do(&s, "DELETE", "/v1/models/t1", NULL, NULL, ok, &r);
    expect_error(&r, 404, "id");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Issue 10: ids "." and ".." were accepted, unknown options ignored, and a missing path outside
 * the root answered 404 where an existing one answered 403 (a probe of the file system). */
Test(server, admin_load_dot_ids_unknown_options_and_outside_paths)
{
    const char *root = harness_test_root("root");
    struct srv s;
    const char *args[] = {"--models-root", root, "--admin-key", ADMIN_KEY, NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    const char *ok[] = {AUTH_OK, NULL};
    static const char *const DOT_IDS[] = {".", ".."};
    for (size_t i = 0; i < 2; i++) {
        char body[128];
        snprintf(body, sizeof body, "{\"id\":\"%s\",\"type\":\"test\",\"path\":\"tiny.test\"}", DOT_IDS[i]);
        http_do(&s, "POST", "/v1/models", body, NULL, ok, &r);
        expect_error(&r, 400, "id");
        http_res_free(&r);
    }
    http_do(&s, "POST", "/v1/models",
            "{\"id\":\"t\",\"type\":\"test\",\"path\":\"tiny.test\",\"options\":{\"lowercas\":true}}", NULL, ok,
            &r);
    expect_error(&r, 400, "options.lowercas");
    cr_expect(strstr(r.body, "load_delay_ms"), "the message lists the known options: %s", r.body);
    http_res_free(&r);
    /* the same answer for an existing and a missing file outside the root */
    char *answers[2];
    static const char *const OUTSIDE[] = {"/etc/passwd", "/etc/no-such-file-lmserve"};
    for (size_t i = 0; i < 2; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"id\":\"o\",\"type\":\"test\",\"path\":\"%s\"}", OUTSIDE[i]);
        http_do(&s, "POST", "/v1/models", body, NULL, ok, &r);
        expect_error(&r, 403, "path");
        answers[i] = json_dumps(json_object_get(r.json, "error"), JSON_SORT_KEYS);
        http_res_free(&r);
    }
    cr_expect_str_eq(answers[0], answers[1]);
    free(answers[0]);
    free(answers[1]);
    /* known options and ordinary ids still load */
    http_do(&s, "POST", "/v1/models",
            "{\"id\":\"a.b\",\"type\":\"test\",\"path\":\"tiny.test\",\"options\":{\"score_delay_ms\":0}}",
            NULL, ok, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, admin_disabled_without_key)
{
    const char *root = harness_test_root("root");
    struct srv s;
    const char *args[] = {"--models-root", root, NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    const char *hdr[] = {"Authorization: Bearer anything", NULL};
    http_do(&s, "POST", "/v1/models", "{\"id\":\"x\",\"type\":\"test\",\"path\":\"tiny.test\"}", NULL, hdr, &r);
    expect_error(&r, 403, NULL);
    http_res_free(&r);
    srv_stop(&s);
}

Test(server, metrics_pass_promtool)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    http_get(&s, "/health", &r);
    http_res_free(&r);
    http_get(&s, "/nope", &r);
    http_res_free(&r);
    http_get(&s, "/metrics", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "lmserve_requests_total{route=\"GET /health\",status=\"200\"}"), "%s", r.body);
    cr_assert(strstr(r.body, "lmserve_request_duration_seconds_bucket"));
    cr_assert(strstr(r.body, "lmserve_queue_depth"));
    cr_assert(strstr(r.body, "lmserve_models{state=\"ready\"}"));
    char path[300];
    snprintf(path, sizeof path, "%s/metrics-%d.txt", harness_tmpdir(), (int)getpid());
    FILE *f = fopen(path, "w");
    fwrite(r.body, 1, r.len, f);
    fclose(f);
    http_res_free(&r);
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        srv_stop(&s);
        cr_skip_test("promtool not installed (Debian package prometheus)");
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    cr_assert_eq(system(cmd), 0, "promtool check metrics failed on %s", path);
    srv_stop(&s);
}

Test(server, bad_flags_exit_2)
{
    const char *bin = getenv("LMSERVE_BIN") ? getenv("LMSERVE_BIN") : "build/bin/lmserve";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s --port nope 2>/dev/null", bin);
    int st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    snprintf(cmd, sizeof cmd, "%s --frobnicate 2>/dev/null", bin);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    snprintf(cmd, sizeof cmd, "%s --model nonsense 2>/dev/null", bin);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    snprintf(cmd, sizeof cmd, "%s --help >/dev/null", bin);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    snprintf(cmd, sizeof cmd, "%s --version | grep -q lmserve", bin);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

Test(server, config_file_and_env)
{
    const char *root = harness_test_root("root");
    char cfg[400];
    snprintf(cfg, sizeof cfg, "%s/config.json", root);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "{\"max_batch\": 3, \"admin_key\": \"filekey\", \"models\": [{\"id\":\"m\",\"type\":\"test\","
               "\"path\":\"tiny.test\",\"options\":{\"score_delay_ms\":0}}]}");
    fclose(f);
    struct srv s;
    const char *args[] = {"--config", cfg, "--admin-key", "flagkey", NULL};
    srv_start(&s, args, 1);
    struct http_res r;
    http_get(&s, "/v1/models/m", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "ready");
    http_res_free(&r);
    /* The flag's admin key wins over the file's. */
    const char *filekey[] = {"Authorization: Bearer filekey", NULL};
    http_do(&s, "DELETE", "/v1/models/m", NULL, NULL, filekey, &r);
    expect_error(&r, 403, NULL);
    http_res_free(&r);
    const char *flagkey[] = {"Authorization: Bearer flagkey", NULL};
    http_do(&s, "DELETE", "/v1/models/m", NULL, NULL, flagkey, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
    /* A broken config file: exit status 2 with file:line:column. */
    f = fopen(cfg, "w");
    fputs("{\"models\": [\n  oops]}", f);
    fclose(f);
    const char *bin = getenv("LMSERVE_BIN") ? getenv("LMSERVE_BIN") : "build/bin/lmserve";
    char cmd[900];
    snprintf(cmd, sizeof cmd, "%s --config %s 2>&1 | grep -q 'config.json:2:'", bin, cfg);
    cr_assert_eq(system(cmd), 0, "config error should name file:line");
}

/* ---- concurrency: overload and drain ---- */

struct bg {
    const struct srv *s;
    const char *method, *path, *body;
    const char *const *hdrs;
    struct http_res r;
    int rc;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->rc = http_do(b->s, b->method, b->path, b->body, NULL, b->hdrs, &b->r);
    return NULL;
}

Test(server, overload_gives_503_with_retry_after)
{
    const char *root = harness_test_root("root");
    struct srv s;
    const char *args[] = {"--models-root", root, "--admin-key", ADMIN_KEY, "--threads", "1",
                          "--queue", "1", NULL};
    srv_start(&s, args, 0);
    static const char *const ok[] = {AUTH_OK, NULL};
    enum { N = 5 };
    struct bg b[N];
    pthread_t t[N];
    char bodies[N][200];
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof bodies[i],
                 "{\"id\":\"slow%d\",\"type\":\"test\",\"path\":\"tiny.test\",\"options\":{\"load_delay_ms\":800}}", i);
        b[i] = (struct bg){.s = &s, .method = "POST", .path = "/v1/models", .body = bodies[i], .hdrs = ok};
        pthread_create(&t[i], NULL, bg_main, &b[i]);
    }
    int n201 = 0, n503 = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(b[i].rc, 0);
        if (b[i].r.status == 201)
            n201++;
        if (b[i].r.status == 503) {
            n503++;
            char ra[16];
            cr_assert(http_header(&b[i].r, "Retry-After", ra, sizeof ra), "503 without Retry-After");
            expect_error(&b[i].r, 503, NULL);
        }
        http_res_free(&b[i].r);
    }
    /* At least the first job runs; whether a second one found the queue slot free depends
     * on when the worker took the first, so only >= 1 is certain. */
    cr_assert_geq(n201, 1, "accepted jobs must succeed (201: %d)", n201);
    cr_assert_geq(n503, 1, "a full queue must answer 503 (503: %d)", n503);
    cr_assert_eq(n201 + n503, N);
    srv_stop(&s);
}

Test(server, sigterm_drains_in_flight_request)
{
    const char *root = harness_test_root("root");
    struct srv s;
    const char *args[] = {"--models-root", root, "--admin-key", ADMIN_KEY, NULL};
    srv_start(&s, args, 0);
    static const char *const ok[] = {AUTH_OK, NULL};
    struct bg b = {.s = &s, .method = "POST", .path = "/v1/models", .hdrs = ok,
                   .body = "{\"id\":\"slow\",\"type\":\"test\",\"path\":\"tiny.test\",\"options\":{\"load_delay_ms\":1200}}"};
    pthread_t t;
    pthread_create(&t, NULL, bg_main, &b);
    usleep(300000); /* the request is in flight */
    kill(s.pid, SIGTERM);
    pthread_join(t, NULL);
    cr_assert_eq(b.rc, 0, "the in-flight request must complete");
    cr_assert_eq(b.r.status, 201, "%ld %s", b.r.status, b.r.body);
    http_res_free(&b.r);
    cr_assert_eq(srv_stop(&s), 0, "exit status 0 after drain");
}

Test(server, unload_while_requests_run)
{
    const char *root = harness_test_root("root");
    char m[400];
    snprintf(m, sizeof m, "slow=test:%s/tiny.test,score_delay_ms=1500", root);
    struct srv s;
    const char *args[] = {"--model", m, "--admin-key", ADMIN_KEY, "--threads", "4", NULL};
    srv_start(&s, args, 1);
    enum { N = 4 };
    struct bg b[N];
    pthread_t t[N];
    /* Bodies over the inline limit (ROUTER_INLINE_BODY_MAX): each request is a worker job. */
    static char body[2048];
    char words[1600] = "";
    for (int i = 0; i < 700; i++)
        strcat(words, "a ");
    snprintf(body, sizeof body, "{\"model\":\"slow\",\"input\":[\"%s\",\"c\"]}", words);
    for (int i = 0; i < N; i++) {
        b[i] = (struct bg){.s = &s, .method = "POST", .path = "/v1/score", .body = body};
        pthread_create(&t[i], NULL, bg_main, &b[i]);
    }
    /* Wait until all N jobs hold the model (the machine may be slow to start them). */
    struct http_res r;
    int busy = 0;
    for (int i = 0; i < 250 && !busy; i++) {
        http_get(&s, "/metrics", &r);
        busy = strstr(r.body, "lmserve_workers_busy 4\n") != NULL;
        http_res_free(&r);
        if (!busy)
            usleep(20000);
    }
    cr_assert(busy, "the %d score jobs did not all start", N);
    static const char *const ok[] = {AUTH_OK, NULL};
    http_do(&s, "DELETE", "/v1/models/slow", NULL, NULL, ok, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(b[i].rc, 0);
        cr_assert_eq(b[i].r.status, 200, "request %d: %ld %s", i, b[i].r.status, b[i].r.body);
        http_res_free(&b[i].r);
    }
    http_post(&s, "/v1/score", "{\"model\":\"slow\",\"input\":\"a\"}", &r);
    expect_error(&r, 404, "model");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(server, sigterm_during_slow_score)
{
    const char *root = harness_test_root("root");
    char m[400];
    snprintf(m, sizeof m, "slow=test:%s/tiny.test,score_delay_ms=1000", root);
    struct srv s;
    const char *args[] = {"--model", m, NULL};
    srv_start(&s, args, 1);
    struct bg b = {.s = &s, .method = "POST", .path = "/v1/score",
                   .body = "{\"model\":\"slow\",\"input\":\"a b c\"}"};
    pthread_t t;
    pthread_create(&t, NULL, bg_main, &b);
    usleep(300000);
    kill(s.pid, SIGTERM);
    pthread_join(t, NULL);
    cr_assert_eq(b.rc, 0);
    cr_assert_eq(b.r.status, 200, "%ld %s", b.r.status, b.r.body);
    http_res_free(&b.r);
    cr_assert_eq(srv_stop(&s), 0);
}

/* Bug: SO_REUSEPORT let a second server bind the same port and split the traffic. */
Test(server, second_server_on_same_port_fails)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    const char *bin = getenv("LMSERVE_BIN") ? getenv("LMSERVE_BIN") : "build/bin/lmserve";
    char cmd[600];
    snprintf(cmd, sizeof cmd, "%s --port %d 2>&1 | grep -q 'Address already in use'", bin, s.port);
    cr_assert_eq(system(cmd), 0, "a second lmserve must refuse to share port %d", s.port);
    srv_stop(&s);
}

/* Bug: a relative tokenizer path in a config file was joined to the checkpoint's directory
 * a second time. Paths in a config file are made absolute against the file's directory. */
Test(server, config_relative_paths_are_absolute)
{
    const char *root = harness_test_root("root");
    char sub[400], cfg[480];
    snprintf(sub, sizeof sub, "%s/conf", root);
    mkdir(sub, 0755);
    snprintf(cfg, sizeof cfg, "%s/c.json", sub);
    FILE *f = fopen(cfg, "w");
    fputs("{\"models\":[{\"id\":\"m\",\"type\":\"test\",\"path\":\"../tiny.test\"}]}", f);
    fclose(f);
    struct srv s;
    const char *args[] = {"--config", cfg, NULL};
    srv_start(&s, args, 1);
    struct http_res r;
    http_get(&s, "/v1/models/m", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "ready", "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}

static int log_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[2048];
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

Test(server, access_log_lines)
{
    struct srv s;
    const char *args[] = {"--log-format", "json", NULL};
    srv_start(&s, args, 0);
    struct http_res r;
    const char *hdr[] = {"X-Request-Id: logtest-1", NULL};
    http_do(&s, "GET", "/v1/models/nope", NULL, NULL, hdr, &r);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0); /* stopping flushes the batched log */
    cr_assert(log_contains(s.log_path, "\"method\":\"GET\",\"path\":\"/v1/models/nope\",\"status\":404"),
              "no JSON access line in %s", s.log_path);
    cr_assert(log_contains(s.log_path, "\"request_id\":\"logtest-1\""), "request id not logged");

    srv_start(&s, NULL, 0);
    const char *hdr2[] = {"X-Request-Id: logtest-2", NULL};
    http_do(&s, "GET", "/health", NULL, NULL, hdr2, &r);
    http_res_free(&r);
    usleep(300000); /* lines appear within ACCESSLOG_FLUSH_MS while the server runs */
    cr_assert(log_contains(s.log_path, "GET /health 200 "), "no text access line");
    cr_assert(log_contains(s.log_path, "rid=logtest-2"), "request id not logged");
    srv_stop(&s);
}

/* Zero models is not ready (issue 17: a container whose default command was replaced by
 * flags served nothing yet passed its readiness probe), unless asked for. */
Test(server, ready_needs_models)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    http_get(&s, "/ready", &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "not_ready");
    cr_assert(strstr(json_string_value(json_object_get(r.json, "reason")), "no models"), "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);

    const char *args[] = {"--ready-without-models", "yes", NULL};
    srv_start(&s, args, 1);
    http_get(&s, "/ready", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}

/* Run `lmserve --healthcheck ARGS...` (with 'env' set when not NULL); its exit status. */
static int run_healthcheck(const char *const *args, const char *env)
{
    const char *bin = getenv("LMSERVE_BIN");
    cr_assert(bin, "LMSERVE_BIN is not set");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        const char *argv[16] = {bin, "--healthcheck"};
        int n = 2;
        for (size_t i = 0; args && args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        unsetenv("LMSERVE_PORT");
        if (env)
            putenv((char *)env);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The container healthcheck needs no shell: `lmserve --healthcheck` with the server's
 * flags or environment probes /health on that port. */
Test(server, healthcheck_flag)
{
    struct srv s;
    srv_start(&s, NULL, 0);
    char port[16], env[40];
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(env, sizeof env, "LMSERVE_PORT=%d", s.port);
    const char *by_flag[] = {"--port", port, NULL};
    cr_assert_eq(run_healthcheck(by_flag, NULL), 0, "healthy server on --port %s", port);
    const char *wild[] = {"--host", "0.0.0.0", "--port", port, NULL};
    cr_assert_eq(run_healthcheck(wild, NULL), 0, "0.0.0.0 is probed on loopback");
    cr_assert_eq(run_healthcheck(NULL, env), 0, "healthy server by %s", env);
    const char *bad[] = {"--port", "nope", NULL};
    cr_assert_eq(run_healthcheck(bad, NULL), 2, "a bad flag is exit 2");
    srv_stop(&s);
    /* Nothing listens there any more. */
    cr_assert_eq(run_healthcheck(by_flag, NULL), 1, "stopped server is unhealthy");
}

/* A loader's code and field reach the answer (issue 11): a bad option is 400 naming
 * options.KEY, a file of the wrong format 422 on path; before, every failed load was 422
 * bad_format on path. */
Test(server, load_errors_keep_their_code_and_field)
{
    const char *root = harness_test_root("root");
    char p[320];
    snprintf(p, sizeof p, "%s/tiny.vec", root);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fputs("2 2\na 0.1 0.2\nb 0.3 0.4\n", f);
    fclose(f);
    struct srv s;
    const char *args[] = {"--models-root", root, "--admin-key", ADMIN_KEY, NULL};
    srv_start(&s, args, 0);
    const char *ok[] = {AUTH_OK, NULL};
    struct http_res r;
    http_do(&s, "POST", "/v1/models",
            "{\"id\":\"v1\",\"type\":\"embedding\",\"path\":\"tiny.vec\","
            "\"options\":{\"lowercase\":\"maybe\"}}",
            NULL, ok, &r);
    expect_error(&r, 400, "options.lowercase");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"t3\",\"type\":\"test\",\"path\":\"bad.test\"}",
            NULL, ok, &r);
    expect_error(&r, 422, "path");
    http_res_free(&r);
    http_do(&s, "POST", "/v1/models", "{\"id\":\"v2\",\"type\":\"embedding\",\"path\":\"tiny.vec\"}",
            NULL, ok, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    http_res_free(&r);
    srv_stop(&s);
}
