/* test_static.c: api_static called directly: index, content types, nested paths, and every
 * way out of the web root (dot segments, hidden files, symlinks, directories) refused. */
#include "../../../server/api/api.h"

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../../server/config.h"

static char top[256];        /* a temp dir holding the root and a file outside it */
static char root[PATH_MAX]; /* the web root */

static void put(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
}

static void make_root(void)
{
    snprintf(top, sizeof top, "/tmp/lmserve-static-XXXXXX");
    cr_assert(mkdtemp(top));
    snprintf(root, sizeof root, "%s/web", top);
    cr_assert_eq(mkdir(root, 0755), 0);
    char sub[PATH_MAX + 8];
    snprintf(sub, sizeof sub, "%s/sub", root);
    cr_assert_eq(mkdir(sub, 0755), 0);
    put(root, "index.html", "<!doctype html><title>t</title>");
    put(root, "style.css", "body{}");
    put(root, "app.js", "export {};");
    put(root, "data.bin", "\x01\x02");
    put(root, ".secret", "hidden");
    put(sub, "deep.JS", "1;");
    put(top, "outside.txt", "outside the root");
    char link[PATH_MAX + 16], target[PATH_MAX + 16];
    snprintf(link, sizeof link, "%s/escape.txt", root);
    snprintf(target, sizeof target, "%s/outside.txt", top);
    cr_assert_eq(symlink(target, link), 0);
    snprintf(link, sizeof link, "%s/inside.css", root);
    cr_assert_eq(symlink("style.css", link), 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Remove the tree without a shell: no child process inside Criterion's workers. */
static void drop_root(void)
{
    cr_assert_eq(nftw(top, rm_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
}

TestSuite(static_files, .init = make_root, .fini = drop_root);

/* GET /web/<rel> (rel NULL: GET /) against 'web_root'; the response is the caller's. */
static void get(const char *web_root, const char *rel, struct api_resp *rs)
{
    struct api_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.web_root = (char *)web_root;
    char path[PATH_MAX];
    snprintf(path, sizeof path, rel ? "/web/%s" : "/", rel);
    struct api_req rq = {.method = "GET", .path = path, .cfg = &cfg};
    if (rel) {
        rq.params[0] = rel;
        rq.n_params = 1;
    }
    memset(rs, 0, sizeof *rs);
    api_static(&rq, rs);
}

static void resp_free(struct api_resp *rs)
{
    free(rs->raw);
    json_decref(rs->body);
    free(rs->location);
}

static void expect_file(const char *rel, const char *body, const char *type)
{
    struct api_resp rs;
    get(root, rel, &rs);
    cr_assert(rs.status == 0 || rs.status == 200, "%s: status %d", rel ? rel : "/", rs.status);
    cr_assert(rs.raw, "%s: no body", rel ? rel : "/");
    cr_assert_eq(rs.raw_len, strlen(body));
    cr_assert_eq(memcmp(rs.raw, body, rs.raw_len), 0);
    cr_assert_str_eq(rs.content_type, type, "%s: type %s", rel ? rel : "/", rs.content_type);
    resp_free(&rs);
}

static void expect_404(const char *web_root, const char *rel)
{
    struct api_resp rs;
    get(web_root, rel, &rs);
    cr_assert_eq(rs.status, 404, "%s: status %d, want 404", rel, rs.status);
    cr_assert_null(rs.raw, "%s: served bytes", rel);
    json_t *e = json_object_get(rs.body, "error");
    cr_assert(json_is_string(json_object_get(e, "message")), "%s: no error object", rel);
    resp_free(&rs);
}

Test(static_files, index_types_and_nested_paths)
{
    expect_file(NULL, "<!doctype html><title>t</title>", "text/html; charset=utf-8");
    expect_file("index.html", "<!doctype html><title>t</title>", "text/html; charset=utf-8");
    expect_file("style.css", "body{}", "text/css; charset=utf-8");
    expect_file("app.js", "export {};", "text/javascript; charset=utf-8");
    expect_file("sub/deep.JS", "1;", "text/javascript; charset=utf-8");
    expect_file("data.bin", "\x01\x02", "application/octet-stream");
    expect_file("inside.css", "body{}", "text/css; charset=utf-8"); /* a link that stays inside */
}

Test(static_files, traversal_and_non_files_are_404)
{
    static const char *const BAD[] = {
        "../outside.txt", "sub/../../outside.txt", "sub/../style.css", "./style.css",
        "escape.txt", /* symlink out of the root */
        ".secret", "sub/.x", "sub", "sub/", "/etc/passwd", "sub//deep.JS", "missing.js",
        "a\\..\\outside.txt", "style.css\x01",
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++)
        expect_404(root, BAD[i]);
    char long_rel[600];
    memset(long_rel, 'a', sizeof long_rel - 1);
    long_rel[sizeof long_rel - 1] = '\0';
    expect_404(root, long_rel);
}

Test(static_files, missing_root_is_404_not_a_crash)
{
    expect_404("/nonexistent/lmserve-web-root", "index.html");
    struct api_resp rs;
    get("/nonexistent/lmserve-web-root", NULL, &rs);
    cr_assert_eq(rs.status, 404);
    resp_free(&rs);
}
