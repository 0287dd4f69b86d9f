/* harness.h: API tests start the real lmserve binary (LMSERVE_BIN) on a free loopback port
 * and talk to it with libcurl. Every response is appended to LMSERVE_CONTRACT_LOG (JSON
 * lines) so tests/contract/validate.mjs can check it against api.yaml after the run. */
#ifndef LMSERVE_TEST_HARNESS_H
#define LMSERVE_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct srv {
    pid_t pid;
    int port;
    char url[64];      /* "http://127.0.0.1:PORT" */
    char log_path[256]; /* the server's stderr (access log) */
};

/* Start lmserve with 'args' (NULL-terminated, may be NULL) plus --host 127.0.0.1 --port P
 * on a free port; waits until GET /health answers (and, when wait_ready, until /ready is
 * 200). Aborts the test (cr_assert_fail) if it does not come up in HARNESS_START_TIMEOUT_MS. */
void srv_start(struct srv *s, const char *const *args, int wait_ready);
/* SIGTERM, wait; returns the exit status (or -1 if it had to be killed). */
int srv_stop(struct srv *s);

struct http_res {
    long status;
    char *body;      /* owned, NUL-terminated */
    size_t len;
    json_t *json;    /* owned: parsed body when it is JSON, else NULL */
    char *headers;   /* owned: raw response headers */
};

/* Send one request. 'path' starts with '/'. 'body' may be NULL; 'content_type' NULL means
 * application/json when body is set. 'extra_headers' NULL-terminated "Name: value" or NULL.
 * Returns 0 on a completed exchange (any status), -1 on transport failure. */
int http_do(const struct srv *s, const char *method, const char *path, const char *body,
            const char *content_type, const char *const *extra_headers, struct http_res *out);
/* Shorthands: GET, and POST of a JSON string. */
int http_get(const struct srv *s, const char *path, struct http_res *out);
int http_post(const struct srv *s, const char *path, const char *json, struct http_res *out);
/* A response header's value (case-insensitive name) copied into buf, or NULL. */
const char *http_header(const struct http_res *r, const char *name, char *buf, size_t size);
void http_res_free(struct http_res *r);

/* Assert that 'r' is the error object with 'status' and, when not NULL, 'param'. */
void expect_error(const struct http_res *r, long status, const char *param);
/* A request body that must fail with 'status' naming 'param' (NULL: no param checked). */
struct error_case {
    const char *body;
    long status;
    const char *param;
};
/* POST each body to 'path' and expect_error() on the answer. */
void expect_errors(const struct srv *s, const char *path, const struct error_case *cases, size_t n);

/* Directory of ../shared/models if present (with stories260K.bin), else NULL. */
const char *harness_shared_models(void);
/* A fresh temporary directory for this test (removed by the OS's tmp cleanup). */
const char *harness_tmpdir(void);

/* POST that must answer 200: the parsed JSON body (owned). */
json_t *http_post_ok(const struct srv *s, const char *path, const char *body);
/* The data: payloads of an SSE body, in order (owned array of strings). */
json_t *harness_sse_events(const char *body);
/* run.c's greedy continuations (stories260K_expected.json's cases, 'exp') through
 * /v1/completions on model "s": the same text, finish, token counts, plain and streamed. */
void harness_expect_run_c(const struct srv *s, json_t *exp);
/* A fresh models root (per test process) with "tiny.test" (a test-type model) and "bad.test"
 * (a file that is not one); 'tag' names it. */
const char *harness_test_root(const char *tag);
/* A random checkpoint from lmserve-ckpt-gen (LMSERVE_TOOLS; the test is skipped when it is not
 * built) at <tmpdir>/<name>.bin with its tokenizer <tmpdir>/<name>.tok; 'flags' are the
 * generator's size flags. 'ckpt' (TC_PATH) gets the checkpoint's full path. */
void harness_ckpt_gen(const char *name, const char *flags, char *ckpt, size_t ckpt_size);
/* A random-weight GGUF from `lmserve-gguf random FLAGS` (LMSERVE_TOOLS; the test is skipped when
 * it is not built) at <tmpdir>/<name>; 'path' gets its full path. */
void harness_gguf_random(const char *name, const char *flags, char *path, size_t path_size);
/* srv_start with 'base' then 'extra' arguments (both NULL-terminated, extra may be NULL). */
void srv_start_with(struct srv *s, const char *const *base, const char *const *extra);

/* head + n filler letters + tail, NUL-terminated (malloc'd): a body past a model's context. */
char *harness_filler_body(const char *head, size_t n, const char *tail);

#define HARNESS_START_TIMEOUT_MS 10000

#endif
