/* lmv.c: lmserve's own vector format (.lmv): a validated, versioned header, then 64-byte
 * aligned sections that are used in place from a read-only mapping, so a load costs a
 * header check, not a parse. Layout (all little-endian):
 *   header | word offsets (n+1 u64) | words (NUL-terminated) | hash (u32 row+1, FNV-1a,
 *   linear probing) | norms (n f32) | unit rows (n x stride f32) | compact rows (n x cstride
 *   f16 or i8; absent for float32) | scales (n f32, int8 only) | residual norms (n f32).
 * The float32 unit rows are always present: compact storage is a scan copy, and the top
 * candidates are rescored against the float32 rows (see knn.c). */
#include "embed_internal.h"
#include "../util/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LMV_MAGIC "LMSVEC\x1a\n" /* 8 bytes; \x1a stops `type`, \n catches text-mode mangling */
#define LMV_MAGIC_BYTES 8
#define LMV_VERSION 1u
#define LMV_HEADER_BYTES 256u

enum lmv_section {
    SEC_WORD_OFF,
    SEC_WORDS,
    SEC_HASH,
    SEC_NORMS,
    SEC_UNIT,
    SEC_COMPACT,
    SEC_SCALES,
    SEC_RESID,
    SEC_COUNT,
};

struct lmv_header {
    char magic[LMV_MAGIC_BYTES];
    uint32_t version;
    uint32_t header_bytes;
    uint64_t n, dim, stride, storage, cstride, n_dup, hash_size, file_bytes;
    float resid_max;
    uint32_t header_crc; /* crc32 of the header with this field zero */
    struct {
        uint64_t off, len;
    } sec[SEC_COUNT];
    uint8_t reserved[LMV_HEADER_BYTES - 8 - 8 - 8 * 8 - 8 - 16 * SEC_COUNT];
};
_Static_assert(sizeof(struct lmv_header) == LMV_HEADER_BYTES, "lmv header is 256 bytes");

int embed_finish_mapped(embed *e, const struct embed_opts *o, struct status_err *err);

int lmv_is(const void *head, size_t len)
{
    return len >= LMV_MAGIC_BYTES && memcmp(head, LMV_MAGIC, LMV_MAGIC_BYTES) == 0;
}

static uint64_t align_up(uint64_t x) { return (x + EMBED_ALIGN_BYTES - 1) / EMBED_ALIGN_BYTES * EMBED_ALIGN_BYTES; }

static uint32_t header_crc(const struct lmv_header *h)
{
    struct lmv_header c = *h;
    c.header_crc = 0;
    return (uint32_t)crc32(0L, (const Bytef *)&c, sizeof c);
}

/* ---- writing ---- */

static int write_all(FILE *f, const void *p, size_t len)
{
    return len == 0 || fwrite(p, 1, len, f) == len ? 0 : -1;
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t to)
{
    static const char zeros[EMBED_ALIGN_BYTES];
    while (*pos < to) {
        size_t k = to - *pos < sizeof zeros ? (size_t)(to - *pos) : sizeof zeros;
        if (write_all(f, zeros, k))
            return -1;
        *pos += k;
    }
    return 0;
}

int lmv_write(const embed *e, const char *path, enum embed_storage storage,
              struct status_err *err)
{
    struct lmv_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, LMV_MAGIC, LMV_MAGIC_BYTES);
    h.version = LMV_VERSION;
    h.header_bytes = LMV_HEADER_BYTES;
    h.n = e->n;
    h.dim = e->dim;
    h.stride = e->stride;
    h.storage = storage;
    h.cstride = storage == EMBED_STORAGE_F32 ? 0 : (e->dim + EMBED_COMPACT_PAD - 1) / EMBED_COMPACT_PAD * EMBED_COMPACT_PAD;
    h.n_dup = e->n_dup;
    h.hash_size = e->hash_size;

    void *compact = NULL;
    float *scales = NULL, *resid = NULL;
    if (storage != EMBED_STORAGE_F32) {
        if (e->storage == storage && e->compact) {
            compact = (void *)e->compact;
            scales = (float *)e->scales;
            resid = (float *)e->resid;
            h.resid_max = e->resid_max;
        } else {
            compact = malloc(e->n * h.cstride * embed_compact_elem(storage) + 1);
            scales = malloc((e->n + 1) * sizeof(float));
            resid = malloc((e->n + 1) * sizeof(float));
            if (!compact || !scales || !resid) {
                free(compact);
                free(scales);
                free(resid);
                return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
            }
            embed_quantize(e, storage, h.cstride, compact, scales, resid, &h.resid_max);
        }
    }
    const void *src[SEC_COUNT] = {e->word_off, e->words, e->hash, e->norms, e->unit,
                                  compact, scales, resid};
    uint64_t len[SEC_COUNT] = {
        (e->n + 1) * sizeof(uint64_t),
        e->words_len,
        e->hash_size * sizeof(uint32_t),
        e->n * sizeof(float),
        e->n * e->stride * sizeof(float),
        storage == EMBED_STORAGE_F32 ? 0 : e->n * h.cstride * embed_compact_elem(storage),
        storage == EMBED_STORAGE_I8 ? e->n * sizeof(float) : 0,
        storage == EMBED_STORAGE_F32 ? 0 : e->n * sizeof(float),
    };
    uint64_t pos = LMV_HEADER_BYTES;
    for (int i = 0; i < SEC_COUNT; i++) {
        pos = align_up(pos);
        h.sec[i].off = pos;
        h.sec[i].len = len[i];
        pos += len[i];
    }
    h.file_bytes = pos;
    h.header_crc = header_crc(&h);

    int rc = STATUS_OK;
    FILE *f = fopen(path, "wb");
    if (!f) {
        rc = status_set(err, STATUS_IO, NULL, "%s: cannot create: %s", path, strerror(errno));
        goto done;
    }
    pos = 0;
    if (write_all(f, &h, sizeof h))
        goto io;
    pos = sizeof h;
    for (int i = 0; i < SEC_COUNT; i++) {
        if (pad_to(f, &pos, h.sec[i].off) || write_all(f, src[i], len[i]))
            goto io;
        pos += len[i];
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto io;
    }
    f = NULL;
    goto done;
io:
    rc = status_set(err, STATUS_IO, NULL, "%s: write failed: %s", path, strerror(errno));
    if (f)
        fclose(f);
    remove(path);
done:
    if (compact && compact != e->compact) {
        free(compact);
        free(scales);
        free(resid);
    }
    return rc;
}

/* ---- opening ---- */

static int bad(struct status_err *err, const char *path, const char *why)
{
    return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:1: not a valid .lmv file: %s", path, why);
}

/* Check every number of the header against the file size before any pointer is formed. */
static int validate(const struct lmv_header *h, size_t size, const char *path,
                    struct status_err *err)
{
    if (h->version != LMV_VERSION)
        return status_set(err, STATUS_BAD_FORMAT, NULL,
                          "%s:1: .lmv version %u is not supported (this build reads %u)", path,
                          h->version, LMV_VERSION);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* mk/fuzz.mk: let mutations past the CRC */
    if (h->header_bytes != LMV_HEADER_BYTES)
#else
    if (h->header_bytes != LMV_HEADER_BYTES || header_crc(h) != h->header_crc)
#endif
        return bad(err, path, "header checksum mismatch");
    if (h->file_bytes != size)
        return bad(err, path, "file size differs from the header (truncated?)");
    if (h->n == 0 || h->n >= UINT32_MAX || h->dim == 0 || h->dim > EMBED_DIM_MAX)
        return bad(err, path, "vocabulary size or dimension out of range");
    if (h->stride != (h->dim + EMBED_F32_PAD - 1) / EMBED_F32_PAD * EMBED_F32_PAD)
        return bad(err, path, "row stride");
    if (h->storage > EMBED_STORAGE_I8)
        return bad(err, path, "unknown storage");
    uint64_t cstride = h->storage == EMBED_STORAGE_F32
                           ? 0
                           : (h->dim + EMBED_COMPACT_PAD - 1) / EMBED_COMPACT_PAD * EMBED_COMPACT_PAD;
    if (h->cstride != cstride)
        return bad(err, path, "compact row stride");
    if (h->hash_size < 2 * h->n || (h->hash_size & (h->hash_size - 1)) != 0)
        return bad(err, path, "hash size");
    if (!(h->resid_max >= 0.0f) || !isfinite(h->resid_max))
        return bad(err, path, "residual bound");
    uint64_t want[SEC_COUNT] = {
        (h->n + 1) * sizeof(uint64_t),
        0, /* words: checked through the offsets */
        h->hash_size * sizeof(uint32_t),
        h->n * sizeof(float),
        h->n * h->stride * sizeof(float),
        h->n * cstride * embed_compact_elem((enum embed_storage)h->storage),
        h->storage == EMBED_STORAGE_I8 ? h->n * sizeof(float) : 0,
        h->storage == EMBED_STORAGE_F32 ? 0 : h->n * sizeof(float),
    };
    uint64_t end = LMV_HEADER_BYTES;
    for (int i = 0; i < SEC_COUNT; i++) {
        if (i != SEC_WORDS && h->sec[i].len != want[i])
            return bad(err, path, "section length");
        if (h->sec[i].off % EMBED_ALIGN_BYTES || h->sec[i].off < end ||
            h->sec[i].off > size || h->sec[i].len > size - h->sec[i].off)
            return bad(err, path, "section offset");
        end = h->sec[i].off + h->sec[i].len;
    }
    return STATUS_OK;
}

int lmv_open(const char *path, const struct embed_opts *o, embed **out, struct status_err *err)
{
    struct mapfile mf;
    int rc = mapfile_open(path, MAPFILE_SHARED, 0, NULL, &mf, err);
    if (rc != STATUS_OK)
        return rc;
    const size_t size = mf.len;
    if (size < LMV_HEADER_BYTES) {
        mapfile_close(&mf);
        return bad(err, path, "shorter than its header");
    }
    void *m = (void *)mf.data;
    const char *base = m;
    struct lmv_header h;
    memcpy(&h, base, sizeof h);
    rc = lmv_is(h.magic, LMV_MAGIC_BYTES) ? validate(&h, size, path, err)
                                              : bad(err, path, "magic");
    if (rc != STATUS_OK) {
        munmap(m, size);
        return rc;
    }
    const uint64_t *off = (const uint64_t *)(base + h.sec[SEC_WORD_OFF].off);
    const char *words = base + h.sec[SEC_WORDS].off;
    uint64_t wlen = h.sec[SEC_WORDS].len;
    /* vocabulary: monotone offsets inside the words section, each word NUL-terminated UTF-8 */
    if (off[0] != 0 || off[h.n] != wlen)
        rc = bad(err, path, "word offsets");
    for (uint64_t i = 0; rc == STATUS_OK && i < h.n; i++) {
        if (off[i + 1] <= off[i] + 1 || off[i + 1] > wlen || words[off[i + 1] - 1] != '\0' ||
            !embed_utf8_valid(words + off[i], off[i + 1] - off[i] - 1))
            rc = bad(err, path, "word table");
    }
    const uint32_t *hash = (const uint32_t *)(base + h.sec[SEC_HASH].off);
    for (uint64_t i = 0; rc == STATUS_OK && i < h.hash_size; i++)
        if (hash[i] > h.n)
            rc = bad(err, path, "hash table");
    embed *e = rc == STATUS_OK ? util_calloc(1, sizeof *e) : NULL;
    if (rc == STATUS_OK && !e)
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (rc != STATUS_OK) {
        munmap(m, size);
        return rc;
    }
    e->n = h.n;
    e->dim = h.dim;
    e->stride = h.stride;
    e->storage = (enum embed_storage)h.storage;
    e->cstride = h.cstride;
    e->n_dup = h.n_dup;
    e->word_off = off;
    e->words = words;
    e->words_len = wlen;
    e->hash = hash;
    e->hash_size = h.hash_size;
    e->norms = (const float *)(base + h.sec[SEC_NORMS].off);
    e->unit = (const float *)(base + h.sec[SEC_UNIT].off);
    if (e->storage != EMBED_STORAGE_F32) {
        e->compact = base + h.sec[SEC_COMPACT].off;
        e->scales = e->storage == EMBED_STORAGE_I8 ? (const float *)(base + h.sec[SEC_SCALES].off)
                                                   : NULL;
        e->resid = (const float *)(base + h.sec[SEC_RESID].off);
        e->resid_max = h.resid_max;
    }
    e->map = m;
    e->map_len = size;
    /* The CRC covers the header only: a hash table that does not index the words (a flipped
     * byte) would answer lookups wrongly, so every word must be found at its own row. */
    for (uint64_t i = 0; rc == STATUS_OK && i < h.n; i++)
        if (embed_lookup(e, words + off[i], off[i + 1] - off[i] - 1) != (long)i)
            rc = bad(err, path, "hash table does not index the words");
    if (rc == STATUS_OK)
        rc = embed_finish_mapped(e, o, err);
    if (rc != STATUS_OK) {
        embed_close(e);
        return rc;
    }
    *out = e;
    return STATUS_OK;
}
