/* harness.c: start the real server and talk to it over loopback with libcurl; log every
 * response for the contract check (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#define HARNESS_POLL_MS 20
#define HARNESS_STOP_TIMEOUT_MS 15000
#define HARNESS_ARGS_MAX 64 /* arguments of one server (srv_start, srv_start_with) */
#define HARNESS_CURL_TIMEOUT_S 60

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

const char *harness_tmpdir(void)
{
    static char dir[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/lmserve-test-XXXXXX");
        if (!mkdtemp(dir))
            cr_assert_fail("mkdtemp: %s", strerror(errno));
    }
    return dir;
}

const char *harness_shared_models(void)
{
    static const char *const CANDIDATES[] = {"../shared/models", "../../shared/models"};
    static char found[512];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    if (env) {
        snprintf(found, sizeof found, "%s", env);
        return found;
    }
    for (size_t i = 0; i < sizeof CANDIDATES / sizeof CANDIDATES[0]; i++) {
        char probe[600];
        snprintf(probe, sizeof probe, "%s/stories260K.bin", CANDIDATES[i]);
        if (access(probe, R_OK) == 0) {
            if (!realpath(CANDIDATES[i], found))
                continue;
            return found;
        }
    }
    return NULL;
}

static int read_port(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return 0;
    char line[512];
    int port = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "listening on http://");
        if (p) {
            const char *colon = strrchr(p, ':');
            if (colon)
                port = atoi(colon + 1);
        }
    }
    fclose(f);
    return port;
}

void srv_start(struct srv *s, const char *const *args, int wait_ready)
{
    memset(s, 0, sizeof *s);
    const char *bin = getenv("LMSERVE_BIN");
    if (!bin)
        bin = "build/bin/lmserve";
    static int seq;
    snprintf(s->log_path, sizeof s->log_path, "%s/server-%d-%d.log", harness_tmpdir(),
             (int)getpid(), seq++);
    const char *argv[HARNESS_ARGS_MAX];
    size_t n = 0;
    argv[n++] = bin;
    argv[n++] = "--host";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--port";
    argv[n++] = "0";
    for (size_t i = 0; args && args[i] && n + 1 < HARNESS_ARGS_MAX; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        cr_assert_fail("fork: %s", strerror(errno));
    if (pid == 0) {
        /* If the test process dies on a failed assertion, the server goes with it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (int waited = 0; waited < HARNESS_START_TIMEOUT_MS; waited += HARNESS_POLL_MS) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            cr_assert_fail("lmserve exited during start-up (status %d); log: %s", st, s->log_path);
        }
        if (!s->port)
            s->port = read_port(s->log_path);
        if (s->port) {
            snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
            struct http_res r;
            if (http_get(s, wait_ready ? "/ready" : "/health", &r) == 0 && r.status == 200) {
                http_res_free(&r);
                return;
            }
            http_res_free(&r);
        }
        sleep_ms(HARNESS_POLL_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    s->pid = 0;
    cr_assert_fail("lmserve did not come up within %d ms; log: %s", HARNESS_START_TIMEOUT_MS,
             s->log_path);
}

int srv_stop(struct srv *s)
{
    if (!s->pid)
        return -1;
    kill(s->pid, SIGTERM);
    for (int waited = 0; waited < HARNESS_STOP_TIMEOUT_MS; waited += HARNESS_POLL_MS) {
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        sleep_ms(HARNESS_POLL_MS);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

/* ---- requests ---- */

struct grow {
    char *p;
    size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct grow *g = ud;
    size_t n = size * nmemb;
    char *p = realloc(g->p, g->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + g->len, ptr, n);
    g->p = p;
    g->len += n;
    g->p[g->len] = '\0';
    return n;
}

static void contract_log(const char *method, const char *path, long status, const char *ctype,
                         const char *body, const char *headers)
{
    const char *log = getenv("LMSERVE_CONTRACT_LOG");
    if (!log)
        return;
    char clean_path[512];
    snprintf(clean_path, sizeof clean_path, "%s", path);
    clean_path[strcspn(clean_path, "?")] = '\0';
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "method", method, "path", clean_path,
                          "status", (json_int_t)status, "content_type", ctype ? ctype : "",
                          "body", body ? body : "");
    /* Headers of the final response block, so the validator checks X-Request-Id etc. */
    json_t *h = json_object();
    const char *p = headers ? headers : "";
    const char *last = p;
    for (const char *q = p; (q = strstr(q, "HTTP/")) != NULL; q++)
        if (q == p || q[-1] == '\n')
            last = q;
    for (const char *line = last; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        const char *colon = memchr(line, ':', len);
        if (colon && colon > line) {
            char name[128], value[1024];
            size_t nl = (size_t)(colon - line), vstart = nl + 1;
            while (vstart < len && line[vstart] == ' ')
                vstart++;
            size_t vl = len - vstart;
            while (vl && (line[vstart + vl - 1] == '\r' || line[vstart + vl - 1] == ' '))
                vl--;
            if (nl < sizeof name && vl < sizeof value) {
                for (size_t i = 0; i < nl; i++)
                    name[i] = (char)((line[i] >= 'A' && line[i] <= 'Z') ? line[i] + 32 : line[i]);
                name[nl] = '\0';
                memcpy(value, line + vstart, vl);
                value[vl] = '\0';
                json_object_set_new(h, name, json_string(value));
            }
        }
        line = eol ? eol + 1 : NULL;
    }
    if (o)
        json_object_set_new(o, "headers", h);
    else
        json_decref(h);
    if (!o) /* a body that is not valid UTF-8: log it as an empty body, the test sees it */
        o = json_pack("{s:s,s:s,s:I,s:s,s:s}", "method", method, "path", clean_path, "status",
                      (json_int_t)status, "content_type", ctype ? ctype : "", "body", "");
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        size_t len = strlen(line);
        line[len] = '\n'; /* replace NUL: one write() keeps lines whole across processes */
        (void)!write(fd, line, len + 1);
        close(fd);
    }
    free(line);
}

int http_do(const struct srv *s, const char *method, const char *path, const char *body,
            const char *content_type, const char *const *extra_headers, struct http_res *out)
{
    memset(out, 0, sizeof *out);
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    char url[1024];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    struct grow b = {0}, hd = {0};
    struct curl_slist *hl = NULL;
    char ct[256];
    if (body || content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
        hl = curl_slist_append(hl, ct);
    }
    hl = curl_slist_append(hl, "Expect:");
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        hl = curl_slist_append(hl, extra_headers[i]);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)HARNESS_CURL_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    out->body = b.p ? b.p : strdup("");
    out->len = b.len;
    out->headers = hd.p ? hd.p : strdup("");
    if (rc != CURLE_OK)
        return -1;
    char ctype[128];
    const char *got = http_header(out, "Content-Type", ctype, sizeof ctype);
    if (got && strncasecmp(got, "application/json", 16) == 0)
        out->json = json_loadb(out->body, out->len, 0, NULL);
    contract_log(method, path, out->status, got, out->body, out->headers);
    return 0;
}

int http_get(const struct srv *s, const char *path, struct http_res *out)
{
    return http_do(s, "GET", path, NULL, NULL, NULL, out);
}

int http_post(const struct srv *s, const char *path, const char *json, struct http_res *out)
{
    return http_do(s, "POST", path, json, NULL, NULL, out);
}

const char *http_header(const struct http_res *r, const char *name, char *buf, size_t size)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    /* The last occurrence wins (a 100 Continue block may come first). */
    const char *found = NULL;
    while (p && *p) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            found = p + nl + 1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    if (!found)
        return NULL;
    while (*found == ' ')
        found++;
    size_t n = strcspn(found, "\r\n");
    if (n >= size)
        n = size - 1;
    memcpy(buf, found, n);
    buf[n] = '\0';
    return buf;
}

void http_res_free(struct http_res *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void expect_error(const struct http_res *r, long status, const char *param)
{
    cr_assert_eq(r->status, status, "expected status %ld, got %ld: %s", status, r->status, r->body);
    cr_assert(r->json, "error body is not JSON: %s", r->body);
    json_t *e = json_object_get(r->json, "error");
    cr_assert(json_is_object(e), "no error object: %s", r->body);
    cr_assert(json_is_string(json_object_get(e, "message")), "error.message: %s", r->body);
    cr_assert(json_is_string(json_object_get(e, "type")), "error.type: %s", r->body);
    json_t *p = json_object_get(e, "param");
    cr_assert(p && (json_is_null(p) || json_is_string(p)), "error.param: %s", r->body);
    json_t *c = json_object_get(e, "code");
    cr_assert(c && (json_is_null(c) || json_is_string(c)), "error.code: %s", r->body);
    cr_assert_eq(json_object_size(e), 4, "error has extra fields: %s", r->body);
    if (param)
        cr_assert(json_is_string(p) && strcmp(json_string_value(p), param) == 0,
                  "expected param '%s': %s", param, r->body);
}

/* ---- helpers the test files share ---- */

json_t *http_post_ok(const struct srv *s, const char *path, const char *body)
{
    struct http_res r;
    cr_assert_eq(http_post(s, path, body, &r), 0);
    cr_assert_eq(r.status, 200, "%s %s -> %ld %s", path, body, r.status, r.body);
    json_t *j = json_incref(r.json);
    http_res_free(&r);
    return j;
}

json_t *harness_sse_events(const char *body)
{
    json_t *out = json_array();
    for (const char *p = body; (p = strstr(p, "data: ")) != NULL;) {
        p += 6;
        const char *e = strstr(p, "\n\n");
        cr_assert_not_null(e, "unterminated SSE event");
        json_array_append_new(out, json_stringn(p, (size_t)(e - p)));
        p = e + 2;
    }
    return out;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

const char *harness_test_root(const char *tag)
{
    static char root[256];
    snprintf(root, sizeof root, "%s/%s-%d", harness_tmpdir(), tag, (int)getpid());
    mkdir(root, 0755);
    write_file(root, "tiny.test", "lmserve-test-model\n");
    write_file(root, "bad.test", "not a model\n");
    return root;
}

void harness_ckpt_gen(const char *name, const char *flags, char *ckpt, size_t ckpt_size)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    char gen[512], cmd[2048];
    snprintf(gen, sizeof gen, "%s/lmserve-ckpt-gen", tools ? tools : "build/bin");
    if (access(gen, X_OK) != 0)
        cr_skip_test("%s not built", gen);
    snprintf(ckpt, ckpt_size, "%s/%s.bin", harness_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "%s -o %s --tokenizer %s/%s.tok %s", gen, ckpt, harness_tmpdir(),
             name, flags);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void harness_gguf_random(const char *name, const char *flags, char *path, size_t path_size)
{
    const char *tools = getenv("LMSERVE_TOOLS");
    char tool[512], cmd[4096];
    snprintf(tool, sizeof tool, "%s/lmserve-gguf", tools && *tools ? tools : "build/bin");
    if (access(tool, X_OK) != 0)
        cr_skip_test("%s not built", tool);
    snprintf(path, path_size, "%s/%s", harness_tmpdir(), name);
    snprintf(cmd, sizeof cmd, "%s random -o %s %s > /dev/null", tool, path, flags);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void srv_start_with(struct srv *s, const char *const *base, const char *const *extra)
{
    const char *args[HARNESS_ARGS_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; base && base[i] && n < HARNESS_ARGS_MAX; i++)
        args[n++] = base[i];
    for (size_t i = 0; extra && extra[i] && n < HARNESS_ARGS_MAX; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    srv_start(s, args, 1);
}

char *harness_filler_body(const char *head, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *b = malloc(hl + n + tl + 1);
    cr_assert(b);
    memcpy(b, head, hl);
    for (size_t i = 0; i < n; i++)
        b[hl + i] = (char)('a' + (i * 7) % 26);
    memcpy(b + hl + n, tail, tl + 1);
    return b;
}

/* run.c's greedy continuations (../shared/models/stories260K_expected.json's cases) through
 * /v1/completions on model 's' of a running server: the same text, finish "length", the
 * prompt and completion token counts; and streamed, chunks that concatenate to the same text
 * with a finish_reason on the last chunk only. */
void harness_expect_run_c(const struct srv *srv, json_t *exp)
{
    json_t *cases = json_object_get(exp, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *prompt = json_string_value(json_object_get(c, "prompt"));
        const char *output = json_string_value(json_object_get(c, "output"));
        json_int_t steps = json_integer_value(json_object_get(c, "steps"));
        json_int_t np = json_integer_value(json_object_get(c, "num_prompt_tokens"));
        json_int_t gen = steps - np + 1; /* run.c's -n counts positions, BOS included */
        char *req = NULL;
        json_t *rj = json_pack("{s:s, s:s, s:I, s:i}", "model", "s", "prompt", prompt, "max_tokens",
                               gen, "temperature", 0);
        req = json_dumps(rj, 0);
        json_t *r = http_post_ok(srv, "/v1/completions", req);
        json_t *ch = json_array_get(json_object_get(r, "choices"), 0);
        const char *text = json_string_value(json_object_get(ch, "text"));
        size_t pl = strlen(prompt);
        cr_assert_eq(strlen(text), strlen(output) - pl - 1);
        cr_assert_eq(strncmp(text, output + pl, strlen(text)), 0, "server text differs from run.c:\n%s", text);
        cr_assert_str_eq(json_string_value(json_object_get(ch, "finish_reason")), "length");
        json_t *u = json_object_get(r, "usage");
        cr_assert_eq(json_integer_value(json_object_get(u, "prompt_tokens")), np);
        cr_assert_eq(json_integer_value(json_object_get(u, "completion_tokens")), gen);
        /* the same through the stream: chunks concatenate to the same text */
        json_object_set_new(rj, "stream", json_true());
        free(req);
        req = json_dumps(rj, 0);
        struct http_res sr;
        cr_assert_eq(http_post(srv, "/v1/completions", req, &sr), 0);
        cr_assert_eq(sr.status, 200);
        json_t *ev = harness_sse_events(sr.body);
        size_t ne = json_array_size(ev);
        cr_assert_str_eq(json_string_value(json_array_get(ev, ne - 1)), "[DONE]");
        char *joined = calloc(1, strlen(output) + 1);
        for (size_t k = 0; k + 1 < ne; k++) {
            json_t *chunk = json_loads(json_string_value(json_array_get(ev, k)), 0, NULL);
            cr_assert_not_null(chunk);
            json_t *c0 = json_array_get(json_object_get(chunk, "choices"), 0);
            strcat(joined, json_string_value(json_object_get(c0, "text")));
            json_t *fr = json_object_get(c0, "finish_reason");
            cr_assert(k + 2 == ne ? json_is_string(fr) : json_is_null(fr), "finish_reason of chunk %zu", k);
            json_decref(chunk);
        }
        cr_assert_str_eq(joined, text);
        free(joined);
        json_decref(ev);
        http_res_free(&sr);
        free(req);
        json_decref(rj);
        json_decref(r);
    }
}

void expect_errors(const struct srv *s, const char *path, const struct error_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct http_res r;
        cr_assert_eq(http_post(s, path, cases[i].body, &r), 0);
        expect_error(&r, cases[i].status, cases[i].param);
        http_res_free(&r);
    }
}
