/* binary.c: lmserve's own n-gram file: a checksummed header followed by the tables of
 * ngram_internal.h exactly as they sit in memory, so opening is one mmap plus validation.
 * Little-endian only (the header says so; a big-endian reader would refuse it).
 *
 *   header (struct bin_header, BIN_HEADER_BYTES) | string pool | vocabulary slots |
 *   table of order 2 | ... | table of order N      (each section BIN_ALIGN-aligned) */
#include "ngram_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the n-gram binary format is little-endian; add byte swapping for this target"
#endif

#define BIN_VERSION 1u /* bump on any change to the layout or to the hashing */
#define BIN_ALIGN 64u  /* sections start on cache lines */
#define BIN_ENDIAN_MARK 0x01020304u
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

struct bin_header {
    char magic[NGRAM_BIN_MAGIC_LEN]; /* NGRAM_BIN_MAGIC */
    uint32_t version;                /* BIN_VERSION */
    uint32_t endian;                 /* BIN_ENDIAN_MARK as written */
    uint32_t order;
    uint32_t has_unk;
    uint32_t unk, bos, eos;
    uint32_t disp_max[NGRAM_ORDER_MAX];
    uint32_t reserved;
    uint64_t counts[NGRAM_ORDER_MAX];
    uint64_t blanks[NGRAM_ORDER_MAX];
    uint64_t slots[NGRAM_ORDER_MAX];
    uint64_t vocab;
    uint64_t pool_off, pool_len;
    uint64_t uni_off;
    uint64_t tab_off[NGRAM_ORDER_MAX]; /* [n-1] for order n >= 2 */
    uint64_t file_size;
    uint64_t checksum; /* FNV-1a 64 of every header byte before this field */
};
#define BIN_HEADER_BYTES 512u
_Static_assert(sizeof(struct bin_header) <= BIN_HEADER_BYTES, "header fits its block");
_Static_assert(sizeof(struct ngram_uni) == 16 && sizeof(struct ngram_mid) == 12 &&
                   sizeof(struct ngram_top) == 8,
               "slot layouts are part of the file format");

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

static size_t stride_of(int n, int order)
{
    return n < order ? sizeof(struct ngram_mid) : sizeof(struct ngram_top);
}

static uint64_t align_up(uint64_t x)
{
    return (x + BIN_ALIGN - 1) / BIN_ALIGN * BIN_ALIGN;
}

/* ---- writing ---- */

static int write_all(FILE *f, const void *p, size_t n)
{
    return fwrite(p, 1, n, f) == n ? 0 : -1;
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t to)
{
    static const char zeros[BIN_ALIGN];
    while (*pos < to) {
        size_t k = (size_t)(to - *pos < BIN_ALIGN ? to - *pos : BIN_ALIGN);
        if (write_all(f, zeros, k) != 0)
            return -1;
        *pos += k;
    }
    return 0;
}

int ngram_write_binary(const ngram_lm *lm, const char *path, struct status_err *err)
{
    struct bin_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, NGRAM_BIN_MAGIC, NGRAM_BIN_MAGIC_LEN);
    h.version = BIN_VERSION;
    h.endian = BIN_ENDIAN_MARK;
    h.order = (uint32_t)lm->order;
    h.has_unk = (uint32_t)lm->has_unk;
    h.unk = lm->unk;
    h.bos = lm->bos;
    h.eos = lm->eos;
    for (int i = 0; i < NGRAM_ORDER_MAX; i++) {
        h.disp_max[i] = lm->disp_max[i];
        h.counts[i] = lm->counts[i];
        h.blanks[i] = lm->blanks[i];
        h.slots[i] = lm->slots[i];
    }
    h.vocab = lm->vocab;
    uint64_t pos = BIN_HEADER_BYTES;
    h.pool_off = pos;
    h.pool_len = lm->pool_len;
    pos = align_up(pos + lm->pool_len);
    h.uni_off = pos;
    pos = align_up(pos + lm->slots[0] * sizeof(struct ngram_uni));
    for (int n = 2; n <= lm->order; n++) {
        h.tab_off[n - 1] = pos;
        pos = align_up(pos + lm->slots[n - 1] * stride_of(n, lm->order));
    }
    h.file_size = pos;
    h.checksum = fnv1a(&h, offsetof(struct bin_header, checksum));

    FILE *f = fopen(path, "wb");
    if (!f)
        return status_set(err, STATUS_IO, NULL, "%s: cannot create: %s", path, strerror(errno));
    char block[BIN_HEADER_BYTES];
    memset(block, 0, sizeof block);
    memcpy(block, &h, sizeof h);
    uint64_t at = 0;
    int bad = write_all(f, block, sizeof block);
    at = BIN_HEADER_BYTES;
    bad = bad || write_all(f, lm->pool, lm->pool_len);
    at += lm->pool_len;
    bad = bad || pad_to(f, &at, h.uni_off);
    bad = bad || write_all(f, lm->uni, lm->slots[0] * sizeof(struct ngram_uni));
    at += lm->slots[0] * sizeof(struct ngram_uni);
    for (int n = 2; n <= lm->order && !bad; n++) {
        bad = pad_to(f, &at, h.tab_off[n - 1]);
        const void *tab = n < lm->order ? (const void *)lm->mid[n - 1] : (const void *)lm->top;
        size_t bytes = lm->slots[n - 1] * stride_of(n, lm->order);
        bad = bad || write_all(f, tab, bytes);
        at += bytes;
    }
    bad = bad || pad_to(f, &at, h.file_size);
    if (fclose(f) != 0)
        bad = 1;
    if (bad) {
        int e = errno;
        unlink(path);
        return status_set(err, STATUS_IO, NULL, "%s: write failed: %s", path, strerror(e));
    }
    return STATUS_OK;
}

/* ---- mapping ---- */

/* [off, off + bytes) inside a file of 'size' bytes, without overflow. */
static int in_file(uint64_t off, uint64_t bytes, uint64_t size)
{
    return off <= size && bytes <= size - off && off % sizeof(uint32_t) == 0;
}

#define BAD(...) (status_set(err, STATUS_BAD_FORMAT, NULL, __VA_ARGS__), STATUS_BAD_FORMAT)

static int validate(const char *path, const struct bin_header *h, uint64_t size,
                    const unsigned char *base, struct status_err *err)
{
    if (h->version != BIN_VERSION)
        return BAD("%s: binary format version %u, this lmserve reads version %u", path, h->version,
                   BIN_VERSION);
    if (h->endian != BIN_ENDIAN_MARK)
        return BAD("%s: written on a machine of another byte order", path);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* mk/fuzz.mk: let mutations past it */
    if (h->checksum != fnv1a(h, offsetof(struct bin_header, checksum)))
        return BAD("%s: header checksum mismatch (corrupt file)", path);
#endif
    if (h->file_size != size)
        return BAD("%s: file is %llu bytes, its header says %llu (truncated or padded)", path,
                   (unsigned long long)size, (unsigned long long)h->file_size);
    if (h->order < 1 || h->order > NGRAM_ORDER_MAX)
        return BAD("%s: order %u out of range", path, h->order);
    if (h->slots[0] == 0 || h->slots[0] > NGRAM_SLOTS_MAX)
        return BAD("%s: bad vocabulary size", path);
    if (h->pool_len < 1 || !in_file(h->pool_off, h->pool_len, size) || base[h->pool_off] != '\0' ||
        base[h->pool_off + h->pool_len - 1] != '\0')
        return BAD("%s: bad string pool", path);
    if (h->slots[0] > UINT64_MAX / sizeof(struct ngram_uni) ||
        !in_file(h->uni_off, h->slots[0] * sizeof(struct ngram_uni), size))
        return BAD("%s: vocabulary table outside the file", path);
    for (int n = 2; n <= (int)h->order; n++) {
        uint64_t slots = h->slots[n - 1];
        uint64_t floor_slots = n < (int)h->order ? h->slots[n - 2] : (h->slots[n - 2] + 1) / 2;
        if (slots == 0 || slots > NGRAM_TABLE_SLOTS_MAX || slots < floor_slots ||
            h->disp_max[n - 1] > NGRAM_DISP_MAX ||
            !in_file(h->tab_off[n - 1], slots * stride_of(n, (int)h->order), size))
            return BAD("%s: %d-gram table is malformed or outside the file", path, n);
    }
    if (h->unk >= h->slots[0] || h->bos >= h->slots[0] || h->eos >= h->slots[0])
        return BAD("%s: special word ids out of range", path);
    /* every word string must lie inside the pool (the pool ends with NUL, so it stops there) */
    const struct ngram_uni *uni = (const void *)(base + h->uni_off);
    for (uint64_t i = 0; i < h->slots[0]; i++)
        if (uni[i].str >= h->pool_len)
            return BAD("%s: vocabulary slot %llu points outside the string pool", path,
                       (unsigned long long)i);
    if (uni[h->unk].str == 0 || uni[h->bos].str == 0 || uni[h->eos].str == 0)
        return BAD("%s: special words missing", path);
    return STATUS_OK;
}

int ngram_binary_map(const char *path, void *map, size_t size, struct ngram_lm *lm,
                     struct status_err *err)
{
    if (size < BIN_HEADER_BYTES)
        return BAD("%s: truncated binary model (%zu bytes, header alone is %u)", path, size,
                   BIN_HEADER_BYTES);
    struct bin_header h;
    memcpy(&h, map, sizeof h);
    int rc = validate(path, &h, size, map, err);
    if (rc != STATUS_OK)
        return rc;
    const unsigned char *base = map;
    lm->map = map;
    lm->map_len = size;
    lm->is_binary = 1;
    lm->order = (int)h.order;
    lm->has_unk = (int)h.has_unk;
    lm->unk = h.unk;
    lm->bos = h.bos;
    lm->eos = h.eos;
    for (int i = 0; i < NGRAM_ORDER_MAX; i++) {
        lm->counts[i] = h.counts[i];
        lm->blanks[i] = h.blanks[i];
        lm->slots[i] = h.slots[i];
        lm->disp_max[i] = h.disp_max[i];
    }
    for (int n = 2; n <= lm->order; n++)
        lm->mult[n - 1] = (uint32_t)(lm->slots[n - 1] / lm->slots[n - 2]);
    lm->vocab = h.vocab;
    lm->pool = (const char *)(base + h.pool_off);
    lm->pool_len = h.pool_len;
    lm->uni = (const struct ngram_uni *)(const void *)(base + h.uni_off);
    for (int n = 2; n <= lm->order; n++) {
        const void *tab = base + h.tab_off[n - 1];
        if (n < lm->order)
            lm->mid[n - 1] = tab;
        else
            lm->top = tab;
    }
    lm->bytes = size;
    return STATUS_OK;
}
