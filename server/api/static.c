/* static.c: GET / and GET /web/{path*}: the playground's files from the web root
 * (--web-root / LMSERVE_WEB_ROOT, default ./web, else the installed share directory next to
 * the binary). Read-only, no directory listings, no file outside the root (404 for both). */
#include "api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../config.h"

#define STATIC_INDEX "index.html"
#define STATIC_REL_MAX 256                /* bytes of a requested path below the root */
#define STATIC_FILE_MAX_BYTES (8u << 20)  /* the playground is tens of KiB; bound the read */
#define STATIC_SHARE_FROM_BIN "/../share/lmserve/web" /* `make install` layout: bin/ + share/ */
#define STATIC_DEFAULT_ROOT "web"

struct content_type {
    const char *ext;
    const char *type;
};

/* By extension; anything else is served as bytes. */
static const struct content_type TYPES[] = {
    { .ext = ".html", .type = "text/html; charset=utf-8" },
    { .ext = ".css", .type = "text/css; charset=utf-8" },
    { .ext = ".js", .type = "text/javascript; charset=utf-8" },
    { .ext = ".mjs", .type = "text/javascript; charset=utf-8" },
    { .ext = ".json", .type = "application/json" },
    { .ext = ".map", .type = "application/json" },
    { .ext = ".webmanifest", .type = "application/manifest+json" },
    { .ext = ".svg", .type = "image/svg+xml" },
    { .ext = ".png", .type = "image/png" },
    { .ext = ".ico", .type = "image/x-icon" },
    { .ext = ".woff2", .type = "font/woff2" },
    { .ext = ".txt", .type = "text/plain; charset=utf-8" },
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])

static const char *static_content_type(const char *rel)
{
    const char *dot = strrchr(rel, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < N_TYPES; i++)
            if (strcasecmp(dot, TYPES[i].ext) == 0)
                return TYPES[i].type;
    return "application/octet-stream";
}

/* 1 when 'rel' is a plain relative path: segments of printable bytes, none empty, none
 * starting with '.' (no "..", no hidden files), no backslash. The router's {path*} is
 * already percent-decoded by MHD, so "%2e%2e" arrives here as "..". */
static int static_rel_ok(const char *rel)
{
    size_t len = strlen(rel);
    if (len == 0 || len > STATIC_REL_MAX)
        return 0;
    const char *seg = rel;
    for (const char *p = rel;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == seg || *seg == '.')
                return 0;
            if (*p == '\0')
                return 1;
            seg = p + 1;
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\') {
            return 0;
        }
    }
}

/* The web root's real path into 'out' (PATH_MAX): the configured one, or when that is the
 * relative default and missing, the installed share directory beside the binary. */
static int static_root(const struct api_config *cfg, char *out)
{
    const char *root = cfg && cfg->web_root ? cfg->web_root : STATIC_DEFAULT_ROOT;
    struct stat st;
    if (realpath(root, out) && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    if (root[0] == '/')
        return -1;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    char share[PATH_MAX];
    int w = snprintf(share, sizeof share, "%.*s%s", (int)(slash - exe), exe, STATIC_SHARE_FROM_BIN);
    if (w < 0 || (size_t)w >= sizeof share)
        return -1;
    if (realpath(share, out) && stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return -1;
}

/* Read the regular file 'path' of at most STATIC_FILE_MAX_BYTES. On 0, *data (malloc'd,
 * owned by the caller) holds *len bytes. */
static int static_read(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (unsigned long long)st.st_size > STATIC_FILE_MAX_BYTES)
        goto fail;
    size_t size = (size_t)st.st_size;
    buf = malloc(size ? size : 1);
    if (!buf || fread(buf, 1, size, f) != size)
        goto fail;
    fclose(f);
    *data = buf;
    *len = size;
    return 0;
fail:
    free(buf);
    fclose(f);
    return -1;
}

void api_static(const struct api_req *rq, struct api_resp *rs)
{
    const char *rel = rq->n_params > 0 && rq->params[0] ? rq->params[0] : STATIC_INDEX;
    const char *shown = rq->path ? rq->path : rel;
    if (!static_rel_ok(rel)) {
        api_fail(rs, STATUS_NOT_FOUND, NULL, "no such file: %s", shown);
        return;
    }
    char root[PATH_MAX];
    if (static_root(rq->cfg, root) != 0) {
        api_fail(rs, STATUS_NOT_FOUND, NULL,
                 "the playground is not installed (no web root; see --web-root)");
        return;
    }
    char want[PATH_MAX], real[PATH_MAX];
    int w = snprintf(want, sizeof want, "%s/%s", root, rel);
    /* realpath resolves symlinks: a link inside the root that points outside it is refused. */
    size_t root_len = strlen(root);
    if (w < 0 || (size_t)w >= sizeof want || !realpath(want, real) ||
        strncmp(real, root, root_len) != 0 || real[root_len] != '/') {
        api_fail(rs, STATUS_NOT_FOUND, NULL, "no such file: %s", shown);
        return;
    }
    char *data = NULL;
    size_t len = 0;
    if (static_read(real, &data, &len) != 0) {
        api_fail(rs, STATUS_NOT_FOUND, NULL, "no such file: %s", shown);
        return;
    }
    rs->status = 200;
    rs->raw = data; /* owned by rs: http.c frees it with the response */
    rs->raw_len = len;
    rs->content_type = static_content_type(rel);
}
