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

/* Caching and compression (issue 17): ETag / Last-Modified with 304 on revalidation,
 * Cache-Control, gzip when accepted (a different ETag), plain when not. */
Test(static_api, etag_304_and_gzip)
{
    const char *root = make_web_root();
    /* A text file big enough to be compressed. */
    char big[400];
    snprintf(big, sizeof big, "%s/big.js", root);
    FILE *f = fopen(big, "w");
    cr_assert(f);
    for (int i = 0; i < 200; i++)
        fprintf(f, "export const v%d = %d;\n", i, i);
    fclose(f);
    const char *args[] = {"--web-root", root, NULL};
    struct srv s;
    srv_start(&s, args, 0);
    struct http_res r;
    char etag[96], lm[64], cc[64], hv[64];
    cr_assert_eq(http_get(&s, "/web/big.js", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(http_header(&r, "ETag", etag, sizeof etag), "no ETag");
    cr_assert(http_header(&r, "Last-Modified", lm, sizeof lm), "no Last-Modified");
    cr_assert(http_header(&r, "Cache-Control", cc, sizeof cc) && strstr(cc, "max-age"), "%s", cc);
    cr_assert_null(http_header(&r, "Content-Encoding", hv, sizeof hv), "gzip without Accept-Encoding");
    size_t plain_len = r.len;
    http_res_free(&r);

    char h1[160], h2[160];
    snprintf(h1, sizeof h1, "If-None-Match: %s", etag);
    const char *inm[] = {h1, NULL};
    cr_assert_eq(http_do(&s, "GET", "/web/big.js", NULL, NULL, inm, &r), 0);
    cr_assert_eq(r.status, 304, "If-None-Match: %ld", r.status);
    cr_assert_eq(r.len, 0, "a 304 has no body");
    cr_assert(http_header(&r, "ETag", hv, sizeof hv) && strcmp(hv, etag) == 0);
    http_res_free(&r);
    snprintf(h2, sizeof h2, "If-Modified-Since: %s", lm);
    const char *ims[] = {h2, NULL};
    cr_assert_eq(http_do(&s, "GET", "/web/big.js", NULL, NULL, ims, &r), 0);
    cr_assert_eq(r.status, 304, "If-Modified-Since: %ld", r.status);
    http_res_free(&r);
    const char *stale[] = {"If-None-Match: \"0-0\"", NULL};
    cr_assert_eq(http_do(&s, "GET", "/web/big.js", NULL, NULL, stale, &r), 0);
    cr_assert_eq(r.status, 200, "a stale ETag gets the file");
    http_res_free(&r);

    /* gzip when accepted: smaller, its own ETag; q=0 refuses it. */
    const char *gz[] = {"Accept-Encoding: br, gzip;q=0.8", NULL};
    cr_assert_eq(http_do(&s, "GET", "/web/big.js", NULL, NULL, gz, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert(http_header(&r, "Content-Encoding", hv, sizeof hv) && strcmp(hv, "gzip") == 0, "no gzip");
    cr_assert(r.len < plain_len / 2, "gzip %zu vs plain %zu", r.len, plain_len);
    cr_assert(r.len >= 2 && (unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b, "not gzip data");
    cr_assert(http_header(&r, "Vary", hv, sizeof hv) && strstr(hv, "Accept-Encoding"));
    char gz_etag[96];
    cr_assert(http_header(&r, "ETag", gz_etag, sizeof gz_etag) && strcmp(gz_etag, etag) != 0);
    http_res_free(&r);
    const char *nogz[] = {"Accept-Encoding: gzip;q=0", NULL};
    cr_assert_eq(http_do(&s, "GET", "/web/big.js", NULL, NULL, nogz, &r), 0);
    cr_assert_null(http_header(&r, "Content-Encoding", hv, sizeof hv), "gzip;q=0 is a refusal");
    http_res_free(&r);

    /* HTML is always revalidated. */
    cr_assert_eq(http_get(&s, "/", &r), 0);
    cr_assert(http_header(&r, "Cache-Control", cc, sizeof cc) && strcmp(cc, "no-cache") == 0, "%s", cc);
    http_res_free(&r);
    srv_stop(&s);
}
