/* embed.c: the word-vector model: building it from parsed rows (normalise, hash, optional
 * compact copy), lookup, original vectors and mean-pooled text. Not the parsers (vecfile.c),
 * not the file format (lmv.c), not the search (knn.c). */
#include "embed_internal.h"
#include "../util/mapfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BUILDER_ROWS_MIN 1024       /* first allocation when the file gives no count */
#define BUILDER_ROWS_MIN_BYTES (4u << 20) /* ... but no more bytes than this beyond the hint */
#define BUILDER_WORDS_MIN (1u << 16) /* first allocation of the word bytes */
#define EMBED_THREADS_DEFAULT 2     /* the target machine has 2 cores */

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* The row matrix: cache-line aligned, and on transparent huge pages where the kernel allows
 * (fewer page faults while parsing, fewer TLB misses while scanning). */
static float *rows_alloc(size_t bytes)
{
    bytes = round_up(bytes, EMBED_ALIGN_BYTES);
    float *p = embed_aligned_alloc(bytes);
    if (p)
        util_advise_huge(p, bytes);
    return p;
}

size_t embed_hash_size_for(size_t n)
{
    size_t s = 16;
    while (s < 2 * n)
        s <<= 1;
    return s;
}

int embed_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c == 0)
                return 0;
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        uint32_t cp;
        if ((c & 0xe0) == 0xc0) {
            n = 1, min = 0x80, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, min = 0x800, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len) /* the sequence runs past the end */
            return 0;
        for (size_t j = 1; j <= n; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

/* ---- builder ---- */

int embed_builder_init(struct embed_builder *b, size_t dim, size_t n_hint, struct status_err *err)
{
    memset(b, 0, sizeof *b);
    b->dim = dim;
    b->stride = round_up(dim, EMBED_F32_PAD);
    /* At least BUILDER_ROWS_MIN rows (it grows by doubling), unless they are wide: a 7-byte
     * file "3 30333" (fuzzing, w2v) took 1024 rows of 30,336 floats, 124 MB. */
    size_t floor_rows = BUILDER_ROWS_MIN_BYTES / (b->stride * sizeof(float));
    if (floor_rows > BUILDER_ROWS_MIN)
        floor_rows = BUILDER_ROWS_MIN;
    if (floor_rows == 0)
        floor_rows = 1;
    b->cap = n_hint > floor_rows ? n_hint : floor_rows;
    b->rows = rows_alloc(b->cap * b->stride * sizeof(float));
    b->word_off = util_malloc((b->cap + 1) * sizeof *b->word_off);
    b->norms = util_malloc(b->cap * sizeof *b->norms);
    b->words_cap = BUILDER_WORDS_MIN;
    b->words = util_malloc(b->words_cap);
    b->hash_size = embed_hash_size_for(b->cap);
    b->hash = util_calloc(b->hash_size, sizeof *b->hash);
    if (!b->rows || !b->word_off || !b->norms || !b->words || !b->hash) {
        embed_builder_free(b);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for %zu vectors", n_hint);
    }
    b->word_off[0] = 0;
    return STATUS_OK;
}

void embed_builder_free(struct embed_builder *b)
{
    if (!b)
        return;
    free(b->rows);
    free(b->words);
    free(b->word_off);
    free(b->norms);
    free(b->hash);
    memset(b, 0, sizeof *b);
}

float *embed_builder_row(struct embed_builder *b)
{
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        float *rows = rows_alloc(cap * b->stride * sizeof(float));
        uint64_t *off = util_realloc(b->word_off, (cap + 1) * sizeof *off);
        if (off)
            b->word_off = off;
        float *norms = util_realloc(b->norms, cap * sizeof *norms);
        if (norms)
            b->norms = norms;
        if (!rows || !off || !norms) {
            free(rows);
            return NULL;
        }
        memcpy(rows, b->rows, b->n * b->stride * sizeof(float));
        free(b->rows);
        b->rows = rows;
        b->cap = cap;
    }
    float *row = b->rows + b->n * b->stride;
    for (size_t i = b->dim; i < b->stride; i++)
        row[i] = 0.0f;
    return row;
}

static long hash_find(const uint32_t *hash, size_t hash_size, const uint64_t *off,
                      const char *words, const char *w, size_t len, size_t *slot)
{
    size_t mask = hash_size - 1;
    size_t i = (size_t)embed_hash(w, len) & mask;
    for (size_t probe = 0; probe < hash_size; probe++, i = (i + 1) & mask) {
        uint32_t v = hash[i];
        if (v == EMBED_HASH_EMPTY) {
            if (slot)
                *slot = i;
            return -1;
        }
        size_t r = v - 1;
        const char *c = words + off[r];
        if (off[r + 1] - off[r] == len + 1 && memcmp(c, w, len) == 0)
            return (long)r;
    }
    if (slot)
        *slot = (size_t)-1;
    return -1;
}

static int hash_grow(struct embed_builder *b)
{
    size_t size = b->hash_size * 2;
    uint32_t *h = util_calloc(size, sizeof *h);
    if (!h)
        return -1;
    for (size_t r = 0; r < b->n; r++) {
        const char *w = b->words + b->word_off[r];
        size_t len = b->word_off[r + 1] - b->word_off[r] - 1;
        size_t i = (size_t)embed_hash(w, len) & (size - 1);
        while (h[i] != EMBED_HASH_EMPTY)
            i = (i + 1) & (size - 1);
        h[i] = (uint32_t)(r + 1);
    }
    free(b->hash);
    b->hash = h;
    b->hash_size = size;
    return 0;
}

int embed_builder_commit(struct embed_builder *b, const char *word, size_t len,
                         struct status_err *err)
{
    float *x = b->rows + b->n * b->stride;
    double s = 0.0;
    for (size_t i = 0; i < b->dim; i++)
        s += (double)x[i] * x[i];
    double nrm = sqrt(s);
    if (nrm > 0.0) {
        double inv = 1.0 / nrm;
        for (size_t i = 0; i < b->dim; i++)
            x[i] = (float)(x[i] * inv);
    }
    return embed_builder_commit_unit(b, word, len, (float)nrm, err);
}

int embed_builder_commit_unit(struct embed_builder *b, const char *word, size_t len, float norm,
                              struct status_err *err)
{
    size_t slot;
    if (hash_find(b->hash, b->hash_size, b->word_off, b->words, word, len, &slot) >= 0) {
        b->n_dup++;
        return 0;
    }
    if (b->words_len + len + 1 > b->words_cap) {
        size_t cap = b->words_cap * 2;
        while (cap < b->words_len + len + 1)
            cap *= 2;
        char *w = util_realloc(b->words, cap);
        if (!w)
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for the vocabulary");
        b->words = w;
        b->words_cap = cap;
    }
    memcpy(b->words + b->words_len, word, len);
    b->words[b->words_len + len] = '\0';
    b->words_len += len + 1;
    b->hash[slot] = (uint32_t)(b->n + 1);
    b->norms[b->n] = norm;
    b->n++;
    b->word_off[b->n] = b->words_len;
    if (2 * b->n > b->hash_size && hash_grow(b) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for the vocabulary");
    return 1;
}

/* ---- compact copies ---- */

size_t embed_compact_elem(enum embed_storage s)
{
    return s == EMBED_STORAGE_F16 ? sizeof(uint16_t) : s == EMBED_STORAGE_I8 ? 1 : sizeof(float);
}

void embed_quantize(const embed *e, enum embed_storage s, size_t cstride, void *compact,
                    float *scales, float *resid, float *resid_max)
{
    float rmax = 0.0f;
    for (size_t r = 0; r < e->n; r++) {
        const float *x = e->unit + r * e->stride;
        double err2 = 0.0;
        if (s == EMBED_STORAGE_F16) {
            uint16_t *c = (uint16_t *)compact + r * cstride;
            for (size_t i = 0; i < cstride; i++) {
                float v = i < e->dim ? x[i] : 0.0f;
                c[i] = kernels_float_to_half(v);
                double d = (double)v - kernels_half_to_float(c[i]);
                err2 += d * d;
            }
        } else {
            int8_t *c = (int8_t *)compact + r * cstride;
            float amax = 0.0f;
            for (size_t i = 0; i < e->dim; i++)
                amax = fmaxf(amax, fabsf(x[i]));
            float scale = amax > 0.0f ? amax / EMBED_I8_MAX : 0.0f;
            scales[r] = scale;
            for (size_t i = 0; i < cstride; i++) {
                float v = i < e->dim ? x[i] : 0.0f;
                long q = scale > 0.0f ? lrintf(v / scale) : 0;
                if (q > (long)EMBED_I8_MAX)
                    q = (long)EMBED_I8_MAX;
                if (q < -(long)EMBED_I8_MAX)
                    q = -(long)EMBED_I8_MAX;
                c[i] = (int8_t)q;
                double d = (double)v - (double)scale * (double)q;
                err2 += d * d;
            }
        }
        /* rounded up a little: the bound must hold for the float value too */
        resid[r] = (float)(sqrt(err2) * (1.0 + 1e-6)) + 1e-12f;
        if (resid[r] > rmax)
            rmax = resid[r];
    }
    *resid_max = rmax;
}

/* ---- finishing a build ---- */

static void *own(embed *e, void *p)
{
    e->own[e->n_own++] = p;
    return p;
}

/* The options every model keeps: lowercase, scan threads (at most the kernel team's: knn.c),
 * the kernel table. */
static void embed_apply_opts(embed *e, const struct embed_opts *o)
{
    e->lowercase = o ? o->lowercase : 0;
    e->threads = o && o->threads > 0 ? o->threads : EMBED_THREADS_DEFAULT;
    if (e->threads > EMBED_THREADS_MAX)
        e->threads = EMBED_THREADS_MAX;
    e->k = kernels_select();
    atomic_init(&e->fallbacks, 0);
}

int embed_build_take(struct embed_builder *b, const struct embed_opts *o, embed **out,
                     struct status_err *err)
{
    embed *e = util_calloc(1, sizeof *e);
    if (!e) {
        embed_builder_free(b);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    e->n = b->n;
    e->dim = b->dim;
    e->stride = b->stride;
    e->n_dup = b->n_dup;
    e->unit = own(e, b->rows);
    e->norms = own(e, b->norms); /* rows were normalised as they were committed */
    e->words = own(e, b->words);
    e->words_len = b->words_len;
    e->word_off = own(e, b->word_off);
    e->hash = own(e, b->hash);
    e->hash_size = b->hash_size;
    memset(b, 0, sizeof *b);

    enum embed_storage s = o ? o->storage : EMBED_STORAGE_F32;
    if (s != EMBED_STORAGE_F32) {
        e->cstride = round_up(e->dim, EMBED_COMPACT_PAD);
        size_t cbytes = round_up(e->n * e->cstride * embed_compact_elem(s) + 1, EMBED_ALIGN_BYTES);
        void *c = embed_aligned_alloc(cbytes);
        float *sc = util_malloc((e->n + 1) * sizeof(float));
        float *rs = util_malloc((e->n + 1) * sizeof(float));
        if (!c || !sc || !rs) {
            free(c);
            free(sc);
            free(rs);
            embed_close(e);
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory for compact rows");
        }
        e->compact = own(e, c);
        e->scales = own(e, sc);
        e->resid = own(e, rs);
        embed_quantize(e, s, e->cstride, c, sc, rs, &e->resid_max);
        if (s == EMBED_STORAGE_F16)
            e->scales = NULL;
        e->storage = s;
    }
    embed_apply_opts(e, o);
    *out = e;
    return STATUS_OK;
}

/* Used by lmv.c after it filled the pointers of a mapped model. */
int embed_finish_mapped(embed *e, const struct embed_opts *o, struct status_err *err);
int embed_finish_mapped(embed *e, const struct embed_opts *o, struct status_err *err)
{
    (void)err; /* nothing here fails any more (the scan threads are the kernel team's) */
    embed_apply_opts(e, o);
    return STATUS_OK;
}

/* ---- lifecycle ---- */


void embed_close(embed *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_own; i++)
        free(e->own[i]);
    if (e->map)
        munmap(e->map, e->map_len);
    free(e);
}


/* ---- accessors ---- */

size_t embed_size(const embed *e) { return e->n; }
size_t embed_dim(const embed *e) { return e->dim; }
enum embed_storage embed_storage_of(const embed *e) { return e->storage; }
size_t embed_duplicates(const embed *e) { return e->n_dup; }
int embed_lowercase(const embed *e) { return e->lowercase; }
size_t embed_fallbacks(const embed *e) { return atomic_load(&((embed *)e)->fallbacks); }

size_t embed_bytes(const embed *e)
{
    if (e->map)
        return e->map_len;
    size_t b = e->n * e->stride * sizeof(float) + e->n * sizeof(float) + e->words_len +
               (e->n + 1) * sizeof(uint64_t) + e->hash_size * sizeof(uint32_t);
    if (e->compact)
        b += e->n * e->cstride * embed_compact_elem(e->storage) + 2 * e->n * sizeof(float);
    return b;
}

const char *embed_storage_name(enum embed_storage s)
{
    switch (s) {
    case EMBED_STORAGE_F32: return "float32";
    case EMBED_STORAGE_F16: return "float16";
    case EMBED_STORAGE_I8: return "int8";
    }
    return "unknown";
}

int embed_storage_parse(const char *name, enum embed_storage *out)
{
    static const enum embed_storage all[] = {EMBED_STORAGE_F32, EMBED_STORAGE_F16,
                                             EMBED_STORAGE_I8};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, embed_storage_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return -1;
}

const char *embed_word(const embed *e, size_t i) { return e->words + e->word_off[i]; }

#define LOOKUP_STACK_BYTES 256 /* words longer than this are lower-cased on the heap */

long embed_lookup(const embed *e, const char *word, size_t len)
{
    if (len == 0)
        return -1;
    if (!e->lowercase)
        return hash_find(e->hash, e->hash_size, e->word_off, e->words, word, len, NULL);
    char stack[LOOKUP_STACK_BYTES];
    char *buf = len <= sizeof stack ? stack : malloc(len);
    if (!buf)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = word[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    long r = hash_find(e->hash, e->hash_size, e->word_off, e->words, buf, len, NULL);
    if (buf != stack)
        free(buf);
    return r;
}

void embed_vector(const embed *e, size_t i, float *out)
{
    const float *x = e->unit + i * e->stride;
    for (size_t j = 0; j < e->dim; j++)
        out[j] = x[j] * e->norms[i];
}

/* ---- text ---- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

int embed_text(const embed *e, const char *text, size_t len, int normalize, float *out,
               size_t *n_tokens, struct embed_span **oov, size_t *n_oov, struct status_err *err)
{
    double *acc = calloc(e->dim, sizeof *acc);
    if (!acc)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    size_t known = 0, tokens = 0, n_bad = 0, cap_bad = 0;
    struct embed_span *bad = NULL;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(text[i]))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        while (i < len && !is_space(text[i]))
            i++;
        tokens++;
        long r = embed_lookup(e, text + s, i - s);
        if (r < 0) {
            if (n_bad == cap_bad) {
                size_t c = cap_bad ? 2 * cap_bad : 8;
                struct embed_span *nb = realloc(bad, c * sizeof *nb);
                if (!nb) {
                    free(bad);
                    free(acc);
                    return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
                }
                bad = nb;
                cap_bad = c;
            }
            bad[n_bad].off = s;
            bad[n_bad].len = i - s;
            n_bad++;
            continue;
        }
        known++;
        const float *x = e->unit + (size_t)r * e->stride;
        for (size_t j = 0; j < e->dim; j++)
            acc[j] += (double)x[j] * e->norms[r];
    }
    *n_tokens = tokens;
    *oov = bad;
    *n_oov = n_bad;
    if (known == 0) {
        for (size_t j = 0; j < e->dim; j++)
            out[j] = 0.0f;
        free(acc);
        return status_set(err, STATUS_UNPROCESSABLE, NULL, "no word of the text is in the vocabulary");
    }
    double nrm = 0.0;
    for (size_t j = 0; j < e->dim; j++) {
        acc[j] /= (double)known;
        nrm += acc[j] * acc[j];
    }
    nrm = sqrt(nrm);
    for (size_t j = 0; j < e->dim; j++)
        out[j] = (float)(normalize && nrm > 0.0 ? acc[j] / nrm : acc[j]);
    free(acc);
    return STATUS_OK;
}
