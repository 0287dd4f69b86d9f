/* test_static.c: the playground over a real socket: GET / and /web/... from --web-root,
 * percent-encoded traversal refused, and the repository's own web/ served by default. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

/* A web root with two files, next to a file that must stay unreachable. */
static const char *make_web_root(void)
{
    static char root[300];
    char top[256];
    snprintf(top, sizeof top, "%s/static-%d", harness_tmpdir(), (int)getpid());
    mkdir(top, 0755);
    snprintf(root, sizeof root, "%s/web", top);
    mkdir(root, 0755);
    const char *files[][2] = {
        {"web/index.html", "<!doctype html><title>playground</title>"},
        {"web/app.js", "export const x = 1;"},
        {"secret.txt", "do not serve"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[320];
        snprintf(p, sizeof p, "%s/%s", top, files[i][0]);
        FILE *f = fopen(p, "w");
        cr_assert(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    return root;
}

static void expect_status(const struct srv *s, const char *path, long status, const char *type)
{
    struct http_res r;
    cr_assert_eq(http_get(s, path, &r), 0);
    cr_assert_eq(r.status, status, "%s: %ld, want %ld", path, r.status, status);
    char ct[128];
    cr_assert(http_header(&r, "Content-Type", ct, sizeof ct), "%s: no Content-Type", path);
    cr_assert_str_eq(ct, type, "%s: %s", path, ct);
    if (status == 404)
        expect_error(&r, 404, NULL);
    http_res_free(&r);
}

Test(static_api, web_root_flag_and_traversal)
{
    const char *root = make_web_root();
    const char *args[] = {"--web-root", root, NULL};
    struct srv s;
    srv_start(&s, args, 0);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "<title>playground</title>"));
    http_res_free(&r);
    expect_status(&s, "/web/app.js", 200, "text/javascript; charset=utf-8");
    expect_status(&s, "/web/index.html", 200, "text/html; charset=utf-8");
    expect_status(&s, "/web/..%2fsecret.txt", 404, "application/json");
    expect_status(&s, "/web/%2e%2e/secret.txt", 404, "application/json");
    expect_status(&s, "/web/%2E%2E%2Fsecret.txt", 404, "application/json");
    expect_status(&s, "/web/missing.css", 404, "application/json");
    /* Only GET (and HEAD): the router answers 405 for the rest. */
    cr_assert_eq(http_do(&s, "POST", "/web/app.js", "{}", NULL, NULL, &r), 0);
    cr_assert_eq(r.status, 405);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(static_api, default_root_serves_the_repository_playground)
{
    struct stat st;
    if (stat("web/index.html", &st) != 0)
        cr_skip_test("run from the repository root (web/index.html not found)");
    struct srv s;
    srv_start(&s, NULL, 0);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "lmserve playground"), "GET / is not the playground");
    http_res_free(&r);
    expect_status(&s, "/web/style.css", 200, "text/css; charset=utf-8");
    expect_status(&s, "/web/app.js", 200, "text/javascript; charset=utf-8");
    cr_assert_eq(srv_stop(&s), 0);
}
