/* vecfile.c: readers of the interchange formats: word2vec / fastText text (.vec, "N D"
 * header), GloVe text (no header: detected), both optionally gzip'd, and word2vec binary.
 * Values go through a hand-written decimal parser (not strtof per value): files load at
 * disk-parse speed. Not the .lmv format (lmv.c). */
#include "embed_internal.h"
#include "../util/decimal.h"
#include "../util/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_SHOW_MAX 32           /* bytes of a bad token quoted in an error */
#define FLOAT_FAST_DIGITS DECIMAL_DIGITS_MAX
#define BINARY_FLOAT_BYTES 4
#define PARSE_THREADS_MAX 4          /* slices of a big text file parsed in parallel */
#define PARSE_PARALLEL_MIN_BYTES (8u << 20) /* below this one thread is faster */
#define GLOVE_ROW_BYTES_GUESS 8    /* bytes per value to size the first allocation */        /* word2vec binary: little-endian float32 */

struct src {
    const char *p, *end;
    const char *path;
    size_t line;
};

static inline int is_digit(char c) { return (unsigned)(c - '0') < 10u; }
static inline int is_blank(char c) { return c == ' ' || c == '\t'; }
static inline int is_sep(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* One number at p (ending at a separator or 'end') into *out: models/util/decimal.h (exactly
 * what strtof gives). Returns the end of the token, or NULL when it is not a number. */
static const char *parse_float(const char *p, const char *end, float *out)
{
    return decimal_parse_float(p, end, out);
}

/* ---- SWAR fast path: eight digits per step (the technique of fast_float / simdjson) ---- */

#define SWAR_ONES_30 0x3030303030303030ull
#define SWAR_SIX 0x0606060606060606ull
#define SWAR_HIGH_NIBBLES 0xF0F0F0F0F0F0F0F0ull
#define FAST_FLOAT_LOOKAHEAD 64 /* bytes that must remain for the unchecked 8-byte loads */

static const uint64_t POW10_U64[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

static inline uint64_t load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian: p[0] is the low byte */
    return v;
}

/* Number of leading ASCII digits among the 8 bytes of v (a carry out of a byte happens only
 * for a non-digit byte, so the first non-digit is found correctly). */
static inline unsigned digit_run(uint64_t v)
{
    uint64_t x = v ^ SWAR_ONES_30;
    uint64_t bad = ((x + SWAR_SIX) | x) & SWAR_HIGH_NIBBLES;
    return bad ? (unsigned)__builtin_ctzll(bad) / 8 : 8;
}

/* Value of the first k (0..8) digits of v. */
static inline uint64_t digits_value(uint64_t v, unsigned k)
{
    if (k == 0)
        return 0;
    uint64_t d = v ^ SWAR_ONES_30;
    if (k < 8)
        d = (d & ((1ull << (8 * k)) - 1)) << (8 * (8 - k)); /* leading zeros in front */
    d = d * 10 + (d >> 8);
    d = (((d & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((d >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >>
        32;
    return d;
}

/* The common shapes ("-0.123456", "12.5", "1.5e-05") without a per-character loop; NULL
 * means "use parse_float" (which also produces the errors). Needs FAST_FLOAT_LOOKAHEAD bytes. */
static inline const char *parse_float_fast(const char *p, float *out)
{
    int neg = *p == '-';
    p += neg || *p == '+';
    uint64_t v = load8(p);
    unsigned k = digit_run(v), nd = k;
    if (k == 8)
        return NULL;
    uint64_t m = digits_value(v, k);
    p += k;
    int exp10 = 0;
    if (*p == '.') {
        p++;
        v = load8(p);
        unsigned f = digit_run(v);
        if (f == 8) {
            m = m * POW10_U64[8] + digits_value(v, 8);
            p += 8;
            nd += 8;
            exp10 -= 8;
            v = load8(p);
            f = digit_run(v);
            if (f == 8)
                return NULL;
        }
        m = m * POW10_U64[f] + digits_value(v, f);
        p += f;
        nd += f;
        exp10 -= (int)f;
    }
    if (nd == 0)
        return NULL;
    if (*p == 'e' || *p == 'E') {
        p++;
        int eneg = *p == '-';
        p += eneg || *p == '+';
        unsigned ek = digit_run(load8(p));
        if (ek == 0 || ek > 3)
            return NULL;
        int e = (int)digits_value(load8(p), ek);
        p += ek;
        exp10 += eneg ? -e : e;
    }
    if (!is_sep(*p) || nd > FLOAT_FAST_DIGITS || !decimal_to_float(m, exp10, neg, out))
        return NULL;
    return p;
}

static const char *token_end(const char *p, const char *end)
{
    while (p < end && !is_sep(*p))
        p++;
    return p;
}

static int fail(struct status_err *err, const struct src *s, const char *fmt, const char *a,
                size_t x, size_t y)
{
    char msg[STATUS_MSG_MAX / 2];
    snprintf(msg, sizeof msg, fmt, a, x, y);
    return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%zu: %s", s->path, s->line, msg);
}

/* The error for a token that is not a usable number. */
static int bad_value(struct status_err *err, const struct src *s, const char *tok, size_t col)
{
    const char *te = token_end(tok, s->end);
    size_t n = (size_t)(te - tok);
    char show[TOKEN_SHOW_MAX + 1];
    size_t k = n < TOKEN_SHOW_MAX ? n : TOKEN_SHOW_MAX;
    for (size_t i = 0; i < k; i++) /* quote safely: no control bytes in messages */
        show[i] = (tok[i] >= 0x20 && tok[i] < 0x7f) ? tok[i] : '?';
    show[k] = '\0';
    const char *t = tok;
    if (t < te && (*t == '-' || *t == '+'))
        t++;
    float v;
    int inf = ((size_t)(te - t) >= 3 &&
               (strncasecmp(t, "nan", 3) == 0 || strncasecmp(t, "inf", 3) == 0)) ||
              parse_float(tok, s->end, &v) != NULL; /* a number, but not a finite float */
    return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%zu: value %zu ('%s') is %s", s->path,
                      s->line, col + 1, show, inf ? "not finite" : "not a number");
}

/* ---- reading the bytes ---- */

/* The file's bytes: mapped and faulted in at once (the parser reads every page), or a gzip
 * file inflated (models/util/mapfile). */
static int buf_read(const char *path, struct mapfile *b, struct status_err *err)
{
    int rc = mapfile_open(path, MAPFILE_GUNZIP | MAPFILE_POPULATE | MAPFILE_SEQUENTIAL, 0, NULL,
                          b, err);
    if (rc == STATUS_OK && b->len == 0 && !b->inflated)
        rc = status_set(err, STATUS_BAD_FORMAT, NULL, "%s:1: empty file", path);
    return rc;
}

/* ---- text ---- */

/* The word at s->p (up to a blank): validated; *len set; s->p moved past it. */
static int read_word(struct src *s, const char **w, size_t *len, struct status_err *err)
{
    const char *p = s->p;
    int ascii = 1;
    while (p < s->end && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
        ascii &= (unsigned char)*p < 0x80 && *p != 0;
        p++;
    }
    *w = s->p;
    *len = (size_t)(p - s->p);
    s->p = p;
    if (*len > EMBED_WORD_MAX_BYTES)
        return fail(err, s, "word longer than %s%zu bytes", "", (size_t)EMBED_WORD_MAX_BYTES, 0);
    if (!ascii && !embed_utf8_valid(*w, *len))
        return fail(err, s, "word is not valid UTF-8%s", "", 0, 0);
    return STATUS_OK;
}

/* Parse dim values of the current line into row; leaves s->p after the newline. */
static int read_values(struct src *s, float *row, size_t dim, const char *why,
                       struct status_err *err)
{
    const char *p = s->p;
    for (size_t j = 0; j < dim; j++) {
        while (p < s->end && is_blank(*p))
            p++;
        if (p >= s->end || *p == '\n' || *p == '\r')
            return fail(err, s, "expected %s%zu values, found %zu", why, dim, j);
        float f;
        const char *q = (size_t)(s->end - p) >= FAST_FLOAT_LOOKAHEAD ? parse_float_fast(p, &f) : NULL;
        if (!q)
            q = parse_float(p, s->end, &f);
        if (!q || !isfinite(f))
            return bad_value(err, s, p, j);
        row[j] = f;
        p = q;
    }
    while (p < s->end && (is_blank(*p) || *p == '\r'))
        p++;
    if (p < s->end && *p != '\n') {
        size_t extra = 0;
        while (p < s->end && *p != '\n') {
            while (p < s->end && (is_blank(*p) || *p == '\r'))
                p++;
            if (p < s->end && *p != '\n') {
                extra++;
                p = token_end(p, s->end);
            }
        }
        return fail(err, s, "expected %s%zu values, found %zu", why, dim, dim + extra);
    }
    s->p = p < s->end ? p + 1 : p;
    return STATUS_OK;
}

static int blank_line(const struct src *s)
{
    const char *p = s->p;
    while (p < s->end && (is_blank(*p) || *p == '\r'))
        p++;
    return p >= s->end || *p == '\n';
}

static void skip_line(struct src *s)
{
    const char *nl = memchr(s->p, '\n', (size_t)(s->end - s->p));
    s->p = nl ? nl + 1 : s->end;
}

/* One slice of a text file, parsed on its own thread into its own builder. Slices start at
 * line boundaries; a slice other than the first counts lines from 1 and its error line is
 * rebased once the line counts of the slices before it are known. */
struct part {
    struct src s;
    struct embed_builder b;
    size_t dim, rows, first_line, last_row_line;
    const char *why;
    int rc;
    struct status_err err;
};

static int parse_rows(struct part *pt)
{
    struct src *s = &pt->s;
    pt->first_line = s->line;
    pt->last_row_line = s->line;
    while (s->p < s->end) {
        if (blank_line(s)) {
            skip_line(s);
            s->line++;
            continue;
        }
        const char *w;
        size_t len;
        int rc = read_word(s, &w, &len, &pt->err);
        if (rc != STATUS_OK)
            return rc;
        if (len == 0)
            return fail(&pt->err, s, "row starts with a blank: no word%s", "", 0, 0);
        float *row = embed_builder_row(&pt->b);
        if (!row)
            return status_set(&pt->err, STATUS_NO_MEMORY, NULL, "%s: out of memory", s->path);
        rc = read_values(s, row, pt->dim, pt->why, &pt->err);
        if (rc != STATUS_OK)
            return rc;
        rc = embed_builder_commit(&pt->b, w, len, &pt->err);
        if (rc < 0)
            return rc;
        pt->rows++;
        pt->last_row_line = s->line;
        s->line++;
    }
    return STATUS_OK;
}

static void *part_main(void *arg)
{
    struct part *pt = arg;
    pt->rc = parse_rows(pt);
    return NULL;
}

/* Re-issue a slice's "path:REL: msg" error as "path:ABS: msg". */
static int rebase_error(const struct part *pt, size_t base, struct status_err *err)
{
    const char *m = pt->err.msg;
    size_t pl = strlen(pt->s.path);
    if (pt->err.code == STATUS_BAD_FORMAT && strncmp(m, pt->s.path, pl) == 0 && m[pl] == ':') {
        char *rest;
        unsigned long rel = strtoul(m + pl + 1, &rest, 10);
        if (rest[0] == ':' && rest[1] == ' ')
            return status_set(err, pt->err.code, NULL, "%s:%zu: %s", pt->s.path,
                              base + (size_t)rel - 1, rest + 2);
    }
    return status_set(err, pt->err.code, NULL, "%s", m);
}

static int read_text(struct src *s, size_t n_header, int has_header, size_t dim,
                     struct embed_builder *b, struct status_err *err)
{
    size_t size = (size_t)(s->end - s->p);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n_parts = size >= PARSE_PARALLEL_MIN_BYTES && ncpu > 1
                         ? (ncpu < PARSE_THREADS_MAX ? (size_t)ncpu : PARSE_THREADS_MAX)
                         : 1;
    struct part parts[PARSE_THREADS_MAX];
    pthread_t th[PARSE_THREADS_MAX];
    int started[PARSE_THREADS_MAX] = {0};
    memset(parts, 0, sizeof parts);
    const char *cut = s->p;
    int rc = STATUS_OK;
    for (size_t t = 0; t < n_parts; t++) {
        struct part *pt = &parts[t];
        const char *stop = s->end;
        if (t + 1 < n_parts) {
            const char *mid = s->p + size / n_parts * (t + 1);
            if (mid < cut)
                mid = cut;
            const char *nl = memchr(mid, '\n', (size_t)(s->end - mid));
            stop = nl ? nl + 1 : s->end;
        }
        pt->s = (struct src){.p = cut, .end = stop, .path = s->path, .line = t ? 1 : s->line};
        pt->dim = dim;
        pt->why = has_header ? "(from the header) " : "";
        cut = stop;
        if (t == 0) {
            pt->b = *b; /* the first slice fills the caller's builder directly */
            continue;
        }
        if (embed_builder_init(&pt->b, dim, b->cap / n_parts, &pt->err) != STATUS_OK) {
            rc = pt->err.code;
            status_set(err, pt->err.code, NULL, "%s", pt->err.msg);
            break;
        }
        started[t] = pthread_create(&th[t], NULL, part_main, pt) == 0;
        if (!started[t])
            pt->rc = parse_rows(pt);
    }
    if (rc == STATUS_OK)
        parts[0].rc = parse_rows(&parts[0]);
    for (size_t t = 1; t < n_parts; t++)
        if (started[t])
            pthread_join(th[t], NULL);
    *b = parts[0].b;
    /* first error in file order, with its absolute line */
    size_t base = s->line, rows = 0, last_line = s->line;
    for (size_t t = 0; t < n_parts && rc == STATUS_OK; t++) {
        struct part *pt = &parts[t];
        if (pt->rc != STATUS_OK) {
            rc = t ? rebase_error(pt, base, err)
                   : status_set(err, pt->err.code, NULL, "%s", pt->err.msg);
            break;
        }
        if (pt->rows) {
            rows += pt->rows;
            last_line = t ? base + pt->last_row_line - 1 : pt->last_row_line;
        }
        base = t ? base + pt->s.line - 1 : pt->s.line;
    }
    /* merge the later slices in order: duplicates across slices are dropped here */
    for (size_t t = 1; t < n_parts && rc == STATUS_OK; t++) {
        struct embed_builder *pb = &parts[t].b;
        b->n_dup += pb->n_dup;
        for (size_t r = 0; r < pb->n && rc == STATUS_OK; r++) {
            float *row = embed_builder_row(b);
            if (!row) {
                rc = status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", s->path);
                break;
            }
            memcpy(row, pb->rows + r * pb->stride, pb->stride * sizeof(float));
            int c = embed_builder_commit_unit(b, pb->words + pb->word_off[r],
                                              pb->word_off[r + 1] - pb->word_off[r] - 1,
                                              pb->norms[r], err);
            if (c < 0)
                rc = c;
        }
    }
    for (size_t t = 1; t < n_parts; t++)
        embed_builder_free(&parts[t].b);
    if (rc != STATUS_OK)
        return rc;
    s->line = last_line;
    if (has_header && rows != n_header)
        return fail(err, s, "header says %s%zu words but the file has %zu", "", n_header, rows);
    if (rows == 0)
        return fail(err, s, "no vectors in the file%s", "", 0, 0);
    return STATUS_OK;
}

/* ---- word2vec binary ---- */

static int read_binary(struct src *s, size_t n, size_t dim, struct embed_builder *b,
                       struct status_err *err)
{
    size_t row_bytes = dim * BINARY_FLOAT_BYTES;
    for (size_t r = 0; r < n; r++) {
        s->line = r + 2; /* the header is line 1; word r is reported as line r + 2 */
        while (s->p < s->end && (*s->p == '\n' || *s->p == '\r'))
            s->p++;
        if (s->p >= s->end)
            return fail(err, s, "truncated: header says %s%zu words, file ends after %zu", "", n,
                        r);
        const char *w = s->p;
        const char *sp = memchr(w, ' ', (size_t)(s->end - w) < EMBED_WORD_MAX_BYTES + 1
                                            ? (size_t)(s->end - w)
                                            : EMBED_WORD_MAX_BYTES + 1);
        if (!sp)
            return fail(err, s, "truncated or corrupt: no space after word %s%zu of %zu", "",
                        r + 1, n);
        size_t len = (size_t)(sp - w);
        if (len == 0 || !embed_utf8_valid(w, len))
            return fail(err, s, "word is not valid UTF-8%s", "", 0, 0);
        const char *v = sp + 1;
        if ((size_t)(s->end - v) < row_bytes)
            return fail(err, s, "truncated: %s%zu bytes of vector needed, %zu remain", "",
                        row_bytes, (size_t)(s->end - v));
        float *row = embed_builder_row(b);
        if (!row)
            return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", s->path);
        memcpy(row, v, row_bytes); /* little-endian host assumed (x86-64) */
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(row[j]))
                return fail(err, s, "value %s%zu is not finite", "", j + 1, 0);
        int rc = embed_builder_commit(b, w, len, err);
        if (rc < 0)
            return rc;
        s->p = v + row_bytes;
    }
    while (s->p < s->end && is_sep(*s->p))
        s->p++;
    if (s->p < s->end) {
        s->line = n + 2;
        return fail(err, s, "header says %s%zu words but more data follows", "", n, 0);
    }
    return STATUS_OK;
}

/* ---- header and format detection ---- */

static int parse_size(const char *p, const char *e, size_t *out)
{
    if (p == e)
        return -1;
    size_t v = 0;
    for (; p < e; p++) {
        if (!is_digit(*p) || v > (SIZE_MAX - 9) / 10)
            return -1;
        v = v * 10 + (size_t)(*p - '0');
    }
    *out = v;
    return 0;
}

/* 1 when the bytes after the first word look like binary floats, not text. */
static int looks_binary(const char *p, const char *end, size_t dim)
{
    while (p < end && *p != ' ' && *p != '\n')
        p++;
    if (p < end)
        p++;
    size_t want = dim * BINARY_FLOAT_BYTES;
    for (size_t i = 0; i < want && p + i < end; i++) {
        char c = p[i];
        if (!(is_digit(c) || is_sep(c) || c == '.' || c == '-' || c == '+' || c == 'e' ||
              c == 'E' || c == 'n' || c == 'a' || c == 'i' || c == 'f' || c == 'N' ||
              c == 'A' || c == 'I' || c == 'F'))
            return 1;
        if (c == '\n')
            return 0;
    }
    return 0;
}

int vecfile_read(const char *path, struct embed_builder *b, struct status_err *err)
{
    struct mapfile data;
    int rc = buf_read(path, &data, err);
    if (rc != STATUS_OK)
        return rc;
    const char *bytes = data.data ? data.data : "";
    struct src s = {.p = bytes, .end = bytes + data.len, .path = path, .line = 1};
    if (data.len == 0) {
        mapfile_close(&data);
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:1: empty file", path);
    }
    /* first line: "N D" header, or a GloVe row */
    const char *nl = memchr(s.p, '\n', data.len);
    const char *le = nl ? nl : s.end;
    const char *t[3] = {0}, *te[3] = {0};
    size_t nt = 0;
    for (const char *p = s.p; p < le && nt < 3;) {
        while (p < le && (is_blank(*p) || *p == '\r'))
            p++;
        if (p >= le)
            break;
        t[nt] = p;
        while (p < le && !is_sep(*p))
            p++;
        te[nt++] = p;
    }
    size_t n = 0, dim = 0;
    int header = nt == 2 && parse_size(t[0], te[0], &n) == 0 && parse_size(t[1], te[1], &dim) == 0;
    if (header) {
        if (dim == 0 || dim > EMBED_DIM_MAX) {
            mapfile_close(&data);
            return fail(err, &s, "header dimension %s%zu is not in 1..%zu", "", dim,
                        (size_t)EMBED_DIM_MAX);
        }
        s.p = nl ? nl + 1 : s.end;
        s.line = 2;
        int binary = looks_binary(s.p, s.end, dim);
        size_t min_row = binary ? dim * BINARY_FLOAT_BYTES + 2 : 2 * dim + 2;
        size_t hint = n < data.len / min_row + 1 ? n : data.len / min_row + 1;
        rc = embed_builder_init(b, dim, hint, err);
        if (rc == STATUS_OK)
            rc = binary ? read_binary(&s, n, dim, b, err) : read_text(&s, n, 1, dim, b, err);
    } else {
        /* GloVe: the dimension is the number of values on the first line */
        size_t count = 0;
        const char *p = s.p;
        while (p < le && !is_sep(*p))
            p++;
        while (p < le) {
            while (p < le && (is_blank(*p) || *p == '\r'))
                p++;
            if (p < le) {
                count++;
                p = token_end(p, le);
            }
        }
        if (count == 0 || count > EMBED_DIM_MAX) {
            mapfile_close(&data);
            return fail(err, &s, "not a vector file: first line has %s%zu values", "", count, 0);
        }
        dim = count;
        rc = embed_builder_init(b, dim, data.len / (GLOVE_ROW_BYTES_GUESS * dim) + 1, err);
        if (rc == STATUS_OK)
            rc = read_text(&s, 0, 0, dim, b, err);
    }
    mapfile_close(&data);
    return rc;
}
