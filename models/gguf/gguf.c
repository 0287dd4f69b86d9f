/* gguf.c: parsing GGUF v2/v3 over a read-only map. A cursor checks every read against
 * the bytes left; counts are bounded by what the remaining bytes could hold before any
 * allocation; tensor data must lie inside the file after the aligned header. */
#include "gguf.h"
#include "../util/alloc.h"
#include "../util/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN_MAX 65535u     /* llama.cpp's own writer bound is far below */
#define NAME_LEN_MAX 4096u
#define ALIGNMENT_MAX (1u << 20)

struct gguf {
    const unsigned char *base;
    size_t len;
    int mapped;         /* base is ours: base[0..len) is freed at close */
    int resident;       /* ... with util_huge_free (read in), else munmap (the file mapped) */
    char *name;
    uint32_t version;
    size_t alignment;
    size_t n_kv, n_tensors;
    struct gguf_kv *kv;
    struct gguf_tensor *tensors;
    size_t data_off; /* start of the tensor data section */
};

struct cursor {
    const unsigned char *p;
    size_t off, len;
    const char *name;
    struct status_err *err;
};

static const struct {
    const char *name;
    unsigned short block, size;
} TTYPES[GGUF_T_COUNT] = {
    [0] = {"F32", 1, 4},        [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},     [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},     [9] = {"Q8_1", 32, 40},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},  [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},  [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},  [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},       [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},       [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},  [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},
};

static const char *const VTYPE_NAMES[] = {"u8",  "i8",   "u16",    "i16",   "u32",
                                          "i32", "f32",  "bool",   "string", "array",
                                          "u64", "i64",  "f64"};
static const unsigned char VTYPE_SIZE[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
#define N_VTYPES (sizeof VTYPE_SIZE / sizeof VTYPE_SIZE[0])

const char *gguf_vtype_name(enum gguf_vtype t)
{
    return (unsigned)t < N_VTYPES ? VTYPE_NAMES[t] : "?";
}
const char *gguf_ttype_name(enum gguf_ttype t)
{
    return (unsigned)t < GGUF_T_COUNT && TTYPES[t].name ? TTYPES[t].name : "?";
}
size_t gguf_ttype_block(enum gguf_ttype t)
{
    return (unsigned)t < GGUF_T_COUNT ? TTYPES[t].block : 0;
}
size_t gguf_ttype_size(enum gguf_ttype t)
{
    return (unsigned)t < GGUF_T_COUNT ? TTYPES[t].size : 0;
}

int gguf_is_gguf(const void *head, size_t len)
{
    return len >= 4 && memcmp(head, GGUF_MAGIC, 4) == 0;
}

/* ---- the cursor ---- */

static int need(struct cursor *c, size_t bytes, const char *what)
{
    if (bytes > c->len - c->off)
        return status_set(c->err, STATUS_BAD_FORMAT, what,
                          "%s: truncated GGUF: %s needs %zu bytes at offset %zu, file has %zu",
                          c->name, what, bytes, c->off, c->len);
    return STATUS_OK;
}

static int rd_u32(struct cursor *c, uint32_t *v, const char *what)
{
    int rc = need(c, 4, what);
    if (rc == STATUS_OK) {
        memcpy(v, c->p + c->off, 4);
        c->off += 4;
    }
    return rc;
}

static int rd_u64(struct cursor *c, uint64_t *v, const char *what)
{
    int rc = need(c, 8, what);
    if (rc == STATUS_OK) {
        memcpy(v, c->p + c->off, 8);
        c->off += 8;
    }
    return rc;
}

static int rd_str(struct cursor *c, struct gguf_str *s, uint64_t max, const char *what)
{
    uint64_t n;
    int rc = rd_u64(c, &n, what);
    if (rc != STATUS_OK)
        return rc;
    if (n > max)
        return status_set(c->err, STATUS_BAD_FORMAT, what,
                          "%s: %s at offset %zu claims %llu bytes (bound %llu)", c->name, what,
                          c->off - 8, (unsigned long long)n, (unsigned long long)max);
    if ((rc = need(c, (size_t)n, what)) != STATUS_OK)
        return rc;
    s->s = (const char *)c->p + c->off;
    s->len = (size_t)n;
    c->off += (size_t)n;
    return STATUS_OK;
}

int gguf_str_eq(struct gguf_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.s, lit, n) == 0;
}

/* A float element read as an integer: truncated, saturated, NaN as 0 (a file's floats are
 * arbitrary bits; converting an out-of-range double is undefined behaviour). */
static int64_t float_to_int(double v)
{
    if (!(v == v))
        return 0;
    if (v >= 9223372036854775807.0)
        return INT64_MAX;
    if (v <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)v;
}

static int64_t scalar_int(enum gguf_vtype t, const unsigned char *p)
{
    switch (t) {
    case GGUF_U8: case GGUF_BOOL: return p[0];
    case GGUF_I8: return (int8_t)p[0];
    case GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case GGUF_U64: { uint64_t v; memcpy(&v, p, 8); return (int64_t)v; }
    case GGUF_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    case GGUF_F32: { float v; memcpy(&v, p, 4); return float_to_int(v); }
    case GGUF_F64: { double v; memcpy(&v, p, 8); return float_to_int(v); }
    default: return 0;
    }
}

static double scalar_float(enum gguf_vtype t, const unsigned char *p)
{
    switch (t) {
    case GGUF_F32: { float v; memcpy(&v, p, 4); return v; }
    case GGUF_F64: { double v; memcpy(&v, p, 8); return v; }
    case GGUF_U64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    default: return (double)scalar_int(t, p);
    }
}

static int is_int_type(enum gguf_vtype t)
{
    return t == GGUF_U8 || t == GGUF_I8 || t == GGUF_U16 || t == GGUF_I16 || t == GGUF_U32 ||
           t == GGUF_I32 || t == GGUF_U64 || t == GGUF_I64 || t == GGUF_BOOL;
}

static int is_num_type(enum gguf_vtype t)
{
    return is_int_type(t) || t == GGUF_F32 || t == GGUF_F64;
}

/* The value of kv (its key and type already read); string arrays get their index. */
static int rd_value(struct cursor *c, struct gguf_kv *kv, const char *what)
{
    if ((unsigned)kv->type >= N_VTYPES)
        return status_set(c->err, STATUS_BAD_FORMAT, what, "%s: key '%.*s' has unknown type %u",
                          c->name, (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.s,
                          (unsigned)kv->type);
    if (kv->type == GGUF_STRING)
        return rd_str(c, &kv->v.str, c->len, what);
    if (kv->type != GGUF_ARRAY) {
        const size_t sz = VTYPE_SIZE[kv->type];
        int rc = need(c, sz, what);
        if (rc != STATUS_OK)
            return rc;
        const unsigned char *p = c->p + c->off;
        c->off += sz;
        if (kv->type == GGUF_F32 || kv->type == GGUF_F64)
            kv->v.f = scalar_float(kv->type, p);
        else if (kv->type == GGUF_I8 || kv->type == GGUF_I16 || kv->type == GGUF_I32 ||
                 kv->type == GGUF_I64)
            kv->v.i = scalar_int(kv->type, p);
        else if (kv->type == GGUF_U64)
            memcpy(&kv->v.u, p, 8);
        else
            kv->v.u = (uint64_t)scalar_int(kv->type, p);
        if (kv->type == GGUF_BOOL && kv->v.u > 1)
            return status_set(c->err, STATUS_BAD_FORMAT, what,
                              "%s: key '%.*s': bool value %u is not 0 or 1", c->name,
                              (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.s,
                              (unsigned)kv->v.u);
        return STATUS_OK;
    }
    uint32_t et;
    uint64_t n;
    int rc = rd_u32(c, &et, what);
    if (rc == STATUS_OK)
        rc = rd_u64(c, &n, what);
    if (rc != STATUS_OK)
        return rc;
    if (et >= N_VTYPES || et == GGUF_ARRAY)
        return status_set(c->err, STATUS_BAD_FORMAT, what,
                          "%s: key '%.*s': array element type %u is not supported", c->name,
                          (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.s, et);
    kv->v.arr.type = (enum gguf_vtype)et;
    const size_t left = c->len - c->off;
    /* a string element takes at least its 8-byte length */
    const size_t elem = et == GGUF_STRING ? 8 : VTYPE_SIZE[et];
    if (n > left / elem)
        return status_set(c->err, STATUS_BAD_FORMAT, what,
                          "%s: key '%.*s': array of %llu %s elements does not fit in the %zu "
                          "bytes left",
                          c->name, (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.s,
                          (unsigned long long)n, gguf_vtype_name(et), left);
    kv->v.arr.n = (size_t)n;
    kv->v.arr.data = c->p + c->off;
    if (et != GGUF_STRING) {
        c->off += (size_t)n * elem;
        return STATUS_OK;
    }
    struct gguf_str *strs = util_malloc((n ? (size_t)n : 1) * sizeof *strs);
    if (!strs)
        return status_set(c->err, STATUS_NO_MEMORY, NULL, "out of memory");
    kv->v.arr.strs = strs; /* owned by the gguf from here: freed with the kv */
    for (size_t i = 0; i < (size_t)n; i++)
        if ((rc = rd_str(c, &strs[i], c->len, what)) != STATUS_OK)
            return rc;
    return STATUS_OK;
}

static int parse(struct gguf *g, struct status_err *err)
{
    struct cursor c = {.p = g->base, .off = 0, .len = g->len, .name = g->name, .err = err};
    int rc = need(&c, 4, "magic");
    if (rc != STATUS_OK)
        return rc;
    if (!gguf_is_gguf(g->base, g->len))
        return status_set(err, STATUS_BAD_FORMAT, "magic", "%s: not a GGUF file (bad magic)",
                          g->name);
    c.off = 4;
    if ((rc = rd_u32(&c, &g->version, "version")) != STATUS_OK)
        return rc;
    if (g->version != 2 && g->version != 3)
        return status_set(err, STATUS_BAD_FORMAT, "version",
                          "%s: GGUF version %u is not supported (2 and 3 are)%s", g->name,
                          g->version,
                          g->version >= (1u << 16) ? "; a big-endian file?" : "");
    uint64_t n_tensors, n_kv;
    if ((rc = rd_u64(&c, &n_tensors, "tensor_count")) != STATUS_OK ||
        (rc = rd_u64(&c, &n_kv, "metadata_kv_count")) != STATUS_OK)
        return rc;
    /* a key/value takes >= 8 (key length) + 4 (type) + 1 bytes; a tensor info >= 8 + 4 +
     * 8 + 4 + 8 */
    const size_t left = c.len - c.off;
    if (n_kv > left / 13)
        return status_set(err, STATUS_BAD_FORMAT, "metadata_kv_count",
                          "%s: metadata_kv_count %llu cannot fit in the file", g->name,
                          (unsigned long long)n_kv);
    if (n_tensors > left / 32)
        return status_set(err, STATUS_BAD_FORMAT, "tensor_count",
                          "%s: tensor_count %llu cannot fit in the file", g->name,
                          (unsigned long long)n_tensors);
    g->kv = util_calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    g->tensors = util_calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    for (size_t i = 0; i < (size_t)n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        uint32_t t;
        if ((rc = rd_str(&c, &kv->key, KEY_LEN_MAX, "metadata key")) != STATUS_OK ||
            (rc = rd_u32(&c, &t, "metadata value type")) != STATUS_OK)
            return rc;
        g->n_kv = i + 1; /* from here the kv is freed by gguf_close */
        kv->type = (enum gguf_vtype)t;
        if ((rc = rd_value(&c, kv, "metadata value")) != STATUS_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (g->kv[j].key.len == kv->key.len &&
                memcmp(g->kv[j].key.s, kv->key.s, kv->key.len) == 0)
                return status_set(err, STATUS_BAD_FORMAT, "metadata key",
                                  "%s: duplicate metadata key '%.*s'", g->name,
                                  (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.s);
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *al = gguf_find(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32 || al->v.u == 0 || al->v.u > ALIGNMENT_MAX ||
            (al->v.u & (al->v.u - 1)) != 0)
            return status_set(err, STATUS_BAD_FORMAT, "general.alignment",
                              "%s: general.alignment must be a u32 power of two <= %u", g->name,
                              ALIGNMENT_MAX);
        g->alignment = (size_t)al->v.u;
    }
    for (size_t i = 0; i < (size_t)n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        uint32_t type;
        if ((rc = rd_str(&c, &t->name, NAME_LEN_MAX, "tensor name")) != STATUS_OK ||
            (rc = rd_u32(&c, &t->n_dims, "tensor n_dims")) != STATUS_OK)
            return rc;
        g->n_tensors = i + 1;
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        if (t->n_dims == 0 || t->n_dims > GGUF_DIMS_MAX)
            return status_set(err, STATUS_BAD_FORMAT, "tensor n_dims",
                              "%s: tensor '%.*s' has %u dimensions (1..%d allowed)", g->name, nl,
                              t->name.s, t->n_dims, GGUF_DIMS_MAX);
        uint64_t total = 1;
        for (uint32_t d = 0; d < GGUF_DIMS_MAX; d++) {
            t->ne[d] = 1;
            if (d >= t->n_dims)
                continue;
            if ((rc = rd_u64(&c, &t->ne[d], "tensor dimension")) != STATUS_OK)
                return rc;
            /* every dimension and the product stay below the file size in elements, with
             * room: a bigger tensor cannot fit anyway (>= 1 bit per element) */
            if (t->ne[d] == 0 || t->ne[d] > (uint64_t)g->len * 8 ||
                total > (uint64_t)g->len * 8 / t->ne[d])
                return status_set(err, STATUS_BAD_FORMAT, "tensor dimension",
                                  "%s: tensor '%.*s' dimension %u = %llu is out of range",
                                  g->name, nl, t->name.s, d, (unsigned long long)t->ne[d]);
            total *= t->ne[d];
        }
        t->n_elems = total;
        if ((rc = rd_u32(&c, &type, "tensor type")) != STATUS_OK)
            return rc;
        t->type = (enum gguf_ttype)type;
        const size_t blk = gguf_ttype_block(t->type), bsz = gguf_ttype_size(t->type);
        if (blk == 0)
            return status_set(err, STATUS_BAD_FORMAT, "tensor type",
                              "%s: tensor '%.*s' has unknown type %u", g->name, nl, t->name.s,
                              type);
        if (t->ne[0] % blk != 0)
            return status_set(err, STATUS_BAD_FORMAT, "tensor dimension",
                              "%s: tensor '%.*s' of type %s has rows of %llu, not a multiple "
                              "of its block of %zu",
                              g->name, nl, t->name.s, gguf_ttype_name(t->type),
                              (unsigned long long)t->ne[0], blk);
        t->bytes = (size_t)(total / blk) * bsz;
        if ((rc = rd_u64(&c, &t->offset, "tensor offset")) != STATUS_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (g->tensors[j].name.len == t->name.len &&
                memcmp(g->tensors[j].name.s, t->name.s, t->name.len) == 0)
                return status_set(err, STATUS_BAD_FORMAT, "tensor name",
                                  "%s: duplicate tensor '%.*s'", g->name, nl, t->name.s);
    }
    /* the data section starts at the next multiple of the alignment */
    size_t data = c.off + (g->alignment - c.off % g->alignment) % g->alignment;
    if (data > g->len) {
        if (n_tensors == 0)
            data = g->len; /* a vocabulary-only file may end right after its metadata */
        else
            return status_set(err, STATUS_BAD_FORMAT, "tensor data",
                              "%s: truncated GGUF: the tensor data would start at %zu, file "
                              "has %zu bytes",
                              g->name, data, g->len);
    }
    g->data_off = data;
    for (size_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        const size_t room = g->len - data;
        if (t->offset % g->alignment != 0)
            return status_set(err, STATUS_BAD_FORMAT, "tensor offset",
                              "%s: tensor '%.*s' offset %llu is not a multiple of the "
                              "alignment %zu",
                              g->name, nl, t->name.s, (unsigned long long)t->offset,
                              g->alignment);
        if (t->offset > room || t->bytes > room - (size_t)t->offset)
            return status_set(err, STATUS_BAD_FORMAT, "tensor offset",
                              "%s: truncated GGUF: tensor '%.*s' (%zu bytes at data offset "
                              "%llu) ends past the end of the file (%zu bytes of data)",
                              g->name, nl, t->name.s, t->bytes, (unsigned long long)t->offset,
                              room);
        t->offset += data;
        t->data = g->base + t->offset;
    }
    return STATUS_OK;
}

static int open_common(struct gguf *g, const char *name, gguf **out, struct status_err *err)
{
    const char *nm = name ? name : "(memory)";
    const size_t nl = strlen(nm) + 1;
    if ((g->name = util_malloc(nl)))
        memcpy(g->name, nm, nl);
    int rc = g->name ? parse(g, err) : status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    if (rc != STATUS_OK) {
        gguf_close(g);
        return rc;
    }
    *out = g;
    return STATUS_OK;
}

int gguf_open_mem(const void *data, size_t len, const char *name, gguf **out,
                  struct status_err *err)
{
    struct gguf *g = util_calloc(1, sizeof *g);
    if (!g)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    g->base = data;
    g->len = len;
    return open_common(g, name, out, err);
}

/* len bytes of fd in anonymous memory on transparent huge pages (util_huge_alloc): free with
 * util_huge_free(p, len). NULL on failure: *rc says why (errno kept for STATUS_IO). */
static void *read_resident(int fd, size_t len, int *rc)
{
    unsigned char *a = util_huge_alloc(len);
    if (!a) {
        *rc = STATUS_NO_MEMORY;
        return NULL;
    }
    for (size_t got = 0; got < len;) {
        const ssize_t r = pread(fd, a + got, len - got, (off_t)got);
        if (r <= 0) {
            const int e = r < 0 ? errno : EIO;
            util_huge_free(a, len);
            errno = e;
            *rc = STATUS_IO;
            return NULL;
        }
        got += (size_t)r;
    }
    return a;
}

static void unmap(void *p, size_t len, int resident)
{
    if (resident)
        util_huge_free(p, len);
    else
        munmap(p, len);
}

static int open_file(const char *path, int resident, gguf **out, struct status_err *err)
{
    /* models/util/mapfile: regular files only, opened without blocking (a FIFO never hangs) */
    int fd;
    size_t len;
    int rc = mapfile_open_fd(path, &fd, &len, err);
    if (rc != STATUS_OK)
        return rc;
    if (len < 4) {
        close(fd);
        return status_set(err, STATUS_BAD_FORMAT, "magic",
                          "%s: truncated GGUF: %zu bytes, not even the magic", path, len);
    }
    void *map;
    const char *how = "mmap";
    resident = resident && len >= UTIL_HUGE_PAGE_BYTES && !getenv("LMSERVE_GGUF_MMAP");
    if (resident) {
        how = "read";
        if (!(map = read_resident(fd, len, &rc)))
            map = MAP_FAILED;
    } else {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        rc = STATUS_IO;
    }
    close(fd);
    if (map == MAP_FAILED && rc == STATUS_NO_MEMORY)
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", path);
    if (map == MAP_FAILED)
        return status_set(err, STATUS_IO, NULL, "%s: %s failed: %s", path, how, strerror(errno));
    struct gguf *g = util_calloc(1, sizeof *g);
    if (!g) {
        unmap(map, len, resident);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    g->base = map;
    g->len = len;
    g->mapped = 1;
    g->resident = resident;
    return open_common(g, path, out, err);
}

int gguf_open(const char *path, gguf **out, struct status_err *err)
{
    return open_file(path, 0, out, err);
}

int gguf_open_resident(const char *path, gguf **out, struct status_err *err)
{
    return open_file(path, 1, out, err);
}

void gguf_close(gguf *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].type == GGUF_ARRAY)
            free((void *)g->kv[i].v.arr.strs);
    free(g->kv);
    free(g->tensors);
    if (g->mapped)
        unmap((void *)g->base, g->len, g->resident);
    free(g->name);
    free(g);
}

void gguf_release(gguf *g, const void *p, size_t len)
{
    if (!g || !g->mapped)
        return;
    const uintptr_t lo = (uintptr_t)g->base, hi = lo + g->len, a = (uintptr_t)p;
    if (a < lo || a > hi || len > hi - a)
        return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t b = (a + page - 1) / page * page, e = (a + len) / page * page;
    if (e > b)
        madvise((void *)b, e - b, MADV_DONTNEED);
}

uint32_t gguf_version(const gguf *g) { return g->version; }
size_t gguf_file_size(const gguf *g) { return g->len; }
const char *gguf_name(const gguf *g) { return g->name; }
size_t gguf_alignment(const gguf *g) { return g->alignment; }
size_t gguf_n_kv(const gguf *g) { return g->n_kv; }
const struct gguf_kv *gguf_kv_at(const gguf *g, size_t i) { return i < g->n_kv ? &g->kv[i] : NULL; }
size_t gguf_n_tensors(const gguf *g) { return g->n_tensors; }
const struct gguf_tensor *gguf_tensor_at(const gguf *g, size_t i)
{
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct gguf_kv *gguf_find(const gguf *g, const char *key)
{
    for (size_t i = 0; i < g->n_kv; i++)
        if (gguf_str_eq(g->kv[i].key, key))
            return &g->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const gguf *g, const char *name)
{
    for (size_t i = 0; i < g->n_tensors; i++)
        if (gguf_str_eq(g->tensors[i].name, name))
            return &g->tensors[i];
    return NULL;
}

static int wrong_type(const gguf *g, const char *key, const struct gguf_kv *kv, const char *want,
                      struct status_err *err)
{
    return status_set(err, STATUS_BAD_FORMAT, key, "%s: metadata key '%s' is %s, expected %s",
                      g->name, key, gguf_vtype_name(kv->type), want);
}

int gguf_get_int(const gguf *g, const char *key, int64_t *out, struct status_err *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return STATUS_NOT_FOUND;
    if (!is_int_type(kv->type))
        return wrong_type(g, key, kv, "an integer", err);
    if (kv->type == GGUF_U64 && kv->v.u > (uint64_t)INT64_MAX)
        return status_set(err, STATUS_BAD_FORMAT, key, "%s: metadata key '%s' is out of range",
                          g->name, key);
    *out = kv->type == GGUF_I8 || kv->type == GGUF_I16 || kv->type == GGUF_I32 ||
                   kv->type == GGUF_I64
               ? kv->v.i
               : (int64_t)kv->v.u;
    return STATUS_OK;
}

int gguf_get_float(const gguf *g, const char *key, double *out, struct status_err *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return STATUS_NOT_FOUND;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64) {
        *out = kv->v.f;
        return STATUS_OK;
    }
    int64_t i;
    if (!is_int_type(kv->type))
        return wrong_type(g, key, kv, "a number", err);
    int rc = gguf_get_int(g, key, &i, err);
    if (rc == STATUS_OK)
        *out = (double)i;
    return rc;
}

int gguf_get_bool(const gguf *g, const char *key, int *out, struct status_err *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return STATUS_NOT_FOUND;
    if (kv->type != GGUF_BOOL)
        return wrong_type(g, key, kv, "a bool", err);
    *out = kv->v.u != 0;
    return STATUS_OK;
}

int gguf_get_str(const gguf *g, const char *key, struct gguf_str *out, struct status_err *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return STATUS_NOT_FOUND;
    if (kv->type != GGUF_STRING)
        return wrong_type(g, key, kv, "a string", err);
    *out = kv->v.str;
    return STATUS_OK;
}

int gguf_get_arr(const gguf *g, const char *key, enum gguf_vtype elem,
                 const struct gguf_kv **out, struct status_err *err)
{
    const struct gguf_kv *kv = gguf_find(g, key);
    if (!kv)
        return STATUS_NOT_FOUND;
    if (kv->type != GGUF_ARRAY)
        return wrong_type(g, key, kv, "an array", err);
    const int ok = elem == GGUF_ARRAY ? is_num_type(kv->v.arr.type) : kv->v.arr.type == elem;
    if (!ok)
        return status_set(err, STATUS_BAD_FORMAT, key,
                          "%s: metadata key '%s' is an array of %s, expected %s", g->name, key,
                          gguf_vtype_name(kv->v.arr.type),
                          elem == GGUF_ARRAY ? "numbers" : gguf_vtype_name(elem));
    *out = kv;
    return STATUS_OK;
}

int64_t gguf_arr_int(const struct gguf_kv *kv, size_t i)
{
    const enum gguf_vtype t = kv->v.arr.type;
    return scalar_int(t, (const unsigned char *)kv->v.arr.data + i * VTYPE_SIZE[t]);
}

double gguf_arr_float(const struct gguf_kv *kv, size_t i)
{
    const enum gguf_vtype t = kv->v.arr.type;
    return scalar_float(t, (const unsigned char *)kv->v.arr.data + i * VTYPE_SIZE[t]);
}
