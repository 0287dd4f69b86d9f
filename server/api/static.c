/* static.c: GET / and GET /web/{path*}: the playground's files from the web root
 * (--web-root / LMSERVE_WEB_ROOT, default ./web, else the installed share directory next to
 * the binary). Read-only, no directory listings, no file outside the root (404 for both).
 * Caching: ETag (size and modification time) and Last-Modified, 304 on If-None-Match /
 * If-Modified-Since; Cache-Control no-cache for HTML (always revalidated, so a new
 * playground shows at once) and a short max-age for the rest; gzip when the client accepts
 * it and the type is text. */
#include "api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "../config.h"

#define STATIC_INDEX "index.html"
#define STATIC_REL_MAX 256                /* bytes of a requested path below the root */
#define STATIC_FILE_MAX_BYTES (8u << 20)  /* the playground is tens of KiB; bound the read */
#define STATIC_SHARE_FROM_BIN "/../share/lmserve/web" /* `make install` layout: bin/ + share/ */
#define STATIC_DEFAULT_ROOT "web"
#define STATIC_GZIP_MIN_BYTES 512         /* smaller bodies gain less than the header costs */
#define STATIC_GZIP_LEVEL 6
#define STATIC_CACHE_HTML "no-cache"       /* revalidate every time (a 304 is cheap) */
#define STATIC_CACHE_ASSET "public, max-age=300" /* unversioned file names: minutes, not days */
#define STATIC_HTTP_DATE "%a, %d %b %Y %H:%M:%S GMT"

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
 * owned by the caller) holds *len bytes and *st the file's status. */
static int static_read(const char *path, char **data, size_t *len, struct stat *st_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
        (unsigned long long)st.st_size > STATIC_FILE_MAX_BYTES)
        goto fail;
    *st_out = st;
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

/* 1 when the comma-separated header 'list' names 'token' (case-insensitive) without q=0. */
static int static_accepts(const char *list, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t name = strcspn(p, ";, \t");
        if (name == tl && strncasecmp(p, token, tl) == 0) {
            const char *q = strstr(p, "q=");
            int zero = q && q < p + n && strtod(q + 2, NULL) == 0.0;
            return !zero;
        }
        p += n;
    }
    return 0;
}

/* 1 when If-None-Match lists 'etag' (or is "*"); weak comparison, as for GET. */
static int static_etag_match(const char *inm, const char *etag)
{
    const char *bare = etag[0] == 'W' ? etag + 2 : etag;
    for (const char *p = inm; p && *p;) {
        p += strspn(p, " \t,");
        if (*p == '*')
            return 1;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        size_t n = strcspn(p, ", \t");
        if (n == strlen(bare) && strncmp(p, bare, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static int static_compressible(const char *type)
{
    return strncmp(type, "text/", 5) == 0 || strncmp(type, "application/json", 16) == 0 ||
           strncmp(type, "application/manifest+json", 25) == 0 || strcmp(type, "image/svg+xml") == 0;
}

/* gzip 'in' into a new buffer (*out, malloc'd). 0 on success. */
static int static_gzip(const char *in, size_t len, char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, STATIC_GZIP_LEVEL, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong cap = deflateBound(&z, (uLong)len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
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
    struct stat st;
    if (static_read(real, &data, &len, &st) != 0) {
        api_fail(rs, STATUS_NOT_FOUND, NULL, "no such file: %s", shown);
        return;
    }
    const char *type = static_content_type(rel);
    const char *ae = api_req_header(rq, "Accept-Encoding");
    int gz = static_compressible(type) && len >= STATIC_GZIP_MIN_BYTES && ae &&
             static_accepts(ae, "gzip");
    /* The validators: one ETag per representation (the gzip'd one differs). */
    char etag[80], modified[40];
    snprintf(etag, sizeof etag, "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec,
             gz ? "-gz" : "");
    struct tm tm;
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(modified, sizeof modified, STATIC_HTTP_DATE, &tm);
    api_resp_header(rs, "ETag", "%s", etag);
    api_resp_header(rs, "Last-Modified", "%s", modified);
    api_resp_header(rs, "Cache-Control", "%s",
                    strncmp(type, "text/html", 9) == 0 ? STATIC_CACHE_HTML : STATIC_CACHE_ASSET);
    if (static_compressible(type))
        api_resp_header(rs, "Vary", "Accept-Encoding");
    const char *inm = api_req_header(rq, "If-None-Match");
    const char *ims = api_req_header(rq, "If-Modified-Since");
    int fresh = 0;
    if (inm) {
        fresh = static_etag_match(inm, etag);
    } else if (ims) {
        struct tm t;
        memset(&t, 0, sizeof t);
        const char *end = strptime(ims, STATIC_HTTP_DATE, &t);
        fresh = end && *end == '\0' && timegm(&t) >= st.st_mtim.tv_sec;
    }
    if (fresh) { /* 304: the headers, no body */
        free(data);
        rs->status = 304;
        return;
    }
    if (gz) {
        char *z = NULL;
        size_t zlen = 0;
        if (static_gzip(data, len, &z, &zlen) == 0) {
            free(data);
            data = z;
            len = zlen;
            api_resp_header(rs, "Content-Encoding", "gzip");
        } else { /* serve it plain; the ETag named the gzip'd form */
            snprintf(etag + strlen(etag) - 4, 5, "\"");
            snprintf(rs->headers[0].value, sizeof rs->headers[0].value, "%s", etag);
        }
    }
    rs->status = 200;
    rs->raw = data; /* owned by rs: http.c frees it with the response */
    rs->raw_len = len;
    rs->content_type = type;
}
