/* test_gguf.c: the GGUF reader: every metadata type read back from a file our writer made,
 * tensor views at the right offsets, a cut at every byte refused with a message naming
 * the field, hostile counts/lengths/offsets/types refused, and llama.cpp's own files. */
#include "../../../../models/gguf/gguf.h"
#include "../../../../models/gguf/gguf_write.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char p[256];
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/lmserve-gguf-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
    }
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static float w_f32[8 * 4];        /* 4 rows of 8: 128 bytes, a multiple of 32 */
static unsigned char w_q8[2 * 34]; /* one row of 64 as two Q8_0 blocks */

/* A file with one key of every type and two tensors; returns its path. */
static const char *make_sample(int with_tensors)
{
    gguf_writer *w = gguf_writer_new();
    cr_assert_not_null(w);
    const uint8_t u8 = 200;
    const int8_t i8 = -5;
    const uint16_t u16 = 60000;
    const int16_t i16 = -30000;
    const uint64_t u64 = 1ull << 40;
    const int64_t i64 = -(1ll << 40);
    const double f64 = 0.125;
    cr_assert_eq(gguf_writer_str(w, "general.architecture", "llama"), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.u8", GGUF_U8, &u8, 1), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.i8", GGUF_I8, &i8, 1), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.u16", GGUF_U16, &u16, 2), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.i16", GGUF_I16, &i16, 2), 0);
    cr_assert_eq(gguf_writer_u32(w, "t.u32", 4000000000u), 0);
    cr_assert_eq(gguf_writer_i32(w, "t.i32", -7), 0);
    cr_assert_eq(gguf_writer_f32(w, "t.f32", 1.5f), 0);
    cr_assert_eq(gguf_writer_bool(w, "t.bool", 1), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.u64", GGUF_U64, &u64, 8), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.i64", GGUF_I64, &i64, 8), 0);
    cr_assert_eq(gguf_writer_raw(w, "t.f64", GGUF_F64, &f64, 8), 0);
    const char *strs[] = {"<unk>", "", "h\xC3\xA9llo"};
    cr_assert_eq(gguf_writer_arr_str(w, "t.strs", strs, 3), 0);
    const float fs[] = {0.5f, -2.0f};
    cr_assert_eq(gguf_writer_arr_f32(w, "t.floats", fs, 2), 0);
    const int32_t is[] = {3, -4, 5};
    cr_assert_eq(gguf_writer_arr_i32(w, "t.ints", is, 3), 0);
    if (with_tensors) {
        for (int i = 0; i < 32; i++)
            w_f32[i] = (float)i * 0.5f;
        for (size_t i = 0; i < sizeof w_q8; i++)
            w_q8[i] = (unsigned char)(i * 7);
        const uint64_t ne1[2] = {8, 4}, ne2[2] = {64, 1};
        cr_assert_eq(gguf_writer_tensor(w, "a.weight", GGUF_T_F32, 2, ne1, w_f32), 0);
        cr_assert_eq(gguf_writer_tensor(w, "b.weight", GGUF_T_Q8_0, 2, ne2, w_q8), 0);
    }
    const char *path = tmp_path(with_tensors ? "sample.gguf" : "vocab.gguf");
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, path, &err), 0, "%s", err.msg);
    gguf_writer_free(w);
    return path;
}

Test(gguf, every_type_reads_back)
{
    const char *path = make_sample(1);
    gguf *g;
    struct status_err err = {0};
    cr_assert_eq(gguf_open(path, &g, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(gguf_version(g), 3);
    cr_assert_eq(gguf_alignment(g), 32);
    cr_assert_eq(gguf_n_kv(g), 15);
    struct gguf_str s;
    cr_assert_eq(gguf_get_str(g, "general.architecture", &s, &err), STATUS_OK);
    cr_assert(gguf_str_eq(s, "llama"));
    int64_t i;
    const struct { const char *key; int64_t want; } ints[] = {
        {"t.u8", 200}, {"t.i8", -5}, {"t.u16", 60000}, {"t.i16", -30000},
        {"t.u32", 4000000000ll}, {"t.i32", -7}, {"t.u64", 1ll << 40}, {"t.i64", -(1ll << 40)},
        {"t.bool", 1}};
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        cr_assert_eq(gguf_get_int(g, ints[k].key, &i, &err), STATUS_OK, "%s", ints[k].key);
        cr_assert_eq(i, ints[k].want, "%s: %lld", ints[k].key, (long long)i);
    }
    double d;
    cr_assert_eq(gguf_get_float(g, "t.f32", &d, &err), STATUS_OK);
    cr_assert_float_eq(d, 1.5, 0);
    cr_assert_eq(gguf_get_float(g, "t.f64", &d, &err), STATUS_OK);
    cr_assert_float_eq(d, 0.125, 0);
    cr_assert_eq(gguf_get_float(g, "t.i32", &d, &err), STATUS_OK);
    cr_assert_float_eq(d, -7.0, 0);
    int b;
    cr_assert_eq(gguf_get_bool(g, "t.bool", &b, &err), STATUS_OK);
    cr_assert_eq(b, 1);
    cr_assert_eq(gguf_get_int(g, "missing", &i, &err), STATUS_NOT_FOUND);
    cr_assert_eq(err.code, STATUS_OK, "absence is not an error");
    const struct gguf_kv *kv;
    cr_assert_eq(gguf_get_arr(g, "t.strs", GGUF_STRING, &kv, &err), STATUS_OK);
    cr_assert_eq(kv->v.arr.n, 3);
    cr_assert(gguf_str_eq(kv->v.arr.strs[0], "<unk>"));
    cr_assert_eq(kv->v.arr.strs[1].len, 0);
    cr_assert(gguf_str_eq(kv->v.arr.strs[2], "h\xC3\xA9llo"));
    cr_assert_eq(gguf_get_arr(g, "t.floats", GGUF_F32, &kv, &err), STATUS_OK);
    cr_assert_float_eq(gguf_arr_float(kv, 1), -2.0, 0);
    cr_assert_eq(gguf_get_arr(g, "t.ints", GGUF_ARRAY, &kv, &err), STATUS_OK);
    cr_assert_eq(gguf_arr_int(kv, 1), -4);
    /* wrong types name the file and the key */
    cr_assert_eq(gguf_get_str(g, "t.u8", &s, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "t.u8") && strstr(err.msg, "sample.gguf"), "%s", err.msg);
    status_clear(&err);
    cr_assert_eq(gguf_get_arr(g, "t.ints", GGUF_STRING, &kv, &err), STATUS_BAD_FORMAT);
    status_clear(&err);
    cr_assert_eq(gguf_n_tensors(g), 2);
    const struct gguf_tensor *t = gguf_find_tensor(g, "a.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->type, GGUF_T_F32);
    cr_assert_eq(t->n_dims, 2);
    cr_assert_eq(t->ne[0], 8);
    cr_assert_eq(t->ne[1], 4);
    cr_assert_eq(t->bytes, 128);
    cr_assert_eq(t->offset % 32, 0);
    cr_assert_eq(memcmp(t->data, w_f32, 128), 0);
    t = gguf_find_tensor(g, "b.weight");
    cr_assert_not_null(t);
    cr_assert_eq(t->bytes, 68);
    cr_assert_eq(memcmp(t->data, w_q8, 68), 0);
    cr_assert_null(gguf_find_tensor(g, "c.weight"));
    cr_assert_str_eq(gguf_ttype_name(GGUF_T_Q4_K), "Q4_K");
    gguf_close(g);
}

/* Every prefix of the file is refused with a message (the last tensor ends the file
 * save for padding, so cuts stop at its last byte). */
static void cut_everywhere(const char *path, size_t end)
{
    size_t len;
    unsigned char *b = slurp(path, &len);
    if (end == 0)
        end = len;
    for (size_t cut = 0; cut < end; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1); /* exact size: ASan sees any overread */
        if (cut)
            memcpy(copy, b, cut);
        gguf *g = NULL;
        struct status_err err = {0};
        int rc = gguf_open_mem(copy, cut, "cut.gguf", &g, &err);
        cr_assert_eq(rc, STATUS_BAD_FORMAT, "cut at %zu of %zu accepted (rc %d)", cut, len, rc);
        cr_assert(strstr(err.msg, "cut.gguf"), "cut at %zu: %s", cut, err.msg);
        cr_assert(err.param[0], "cut at %zu names no field: %s", cut, err.msg);
        free(copy);
    }
    free(b);
}

Test(gguf, truncated_at_every_byte)
{
    const char *p = make_sample(1);
    gguf *g;
    struct status_err err = {0};
    cr_assert_eq(gguf_open(p, &g, &err), STATUS_OK, "%s", err.msg);
    const struct gguf_tensor *t = gguf_tensor_at(g, 1);
    const size_t end = (size_t)t->offset + t->bytes;
    gguf_close(g);
    cut_everywhere(p, end);
    cut_everywhere(make_sample(0), 0);
}

/* Patch helpers over a minimal file: header, one kv, one tensor. */
static unsigned char *minimal(size_t *len)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_str(w, "general.architecture", "llama");
    static float data[8];
    const uint64_t ne[1] = {8};
    gguf_writer_tensor(w, "x", GGUF_T_F32, 1, ne, data);
    const char *p = tmp_path("min.gguf");
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, p, &err), 0);
    gguf_writer_free(w);
    return slurp(p, len);
}

static void expect_bad(unsigned char *b, size_t len, const char *needle)
{
    gguf *g = NULL;
    struct status_err err = {0};
    int rc = gguf_open_mem(b, len, "bad.gguf", &g, &err);
    if (rc == STATUS_OK)
        gguf_close(g);
    cr_assert_eq(rc, STATUS_BAD_FORMAT, "accepted; wanted an error with '%s'", needle);
    cr_assert(strstr(err.msg, needle), "'%s' not in: %s", needle, err.msg);
}

/* offsets in the minimal file */
#define O_VERSION 4
#define O_NT 8
#define O_NKV 16
#define O_KEYLEN 24
#define O_KEY 32                         /* "general.architecture", 20 bytes */
#define O_VTYPE (O_KEY + 20)
#define O_SLEN (O_VTYPE + 4)
#define O_TNAMELEN (O_SLEN + 8 + 5)
#define O_NDIMS (O_TNAMELEN + 8 + 1)
#define O_NE0 (O_NDIMS + 4)
#define O_TTYPE (O_NE0 + 8)
#define O_TOFF (O_TTYPE + 4)

static void patch64(unsigned char *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }
static void patch32(unsigned char *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }

Test(gguf, hostile_fields)
{
    size_t len;
    unsigned char *orig = minimal(&len), *b = malloc(len);
    gguf *g;
    struct status_err err = {0};
    cr_assert_eq(gguf_open_mem(orig, len, "ok", &g, &err), STATUS_OK, "%s", err.msg);
    gguf_close(g);
#define CASE(stmt, needle)                                                                        \
    do {                                                                                          \
        memcpy(b, orig, len);                                                                     \
        stmt;                                                                                     \
        expect_bad(b, len, needle);                                                               \
    } while (0)
    CASE(b[0] = 'X', "magic");
    CASE(patch32(b, O_VERSION, 1), "version 1");
    CASE(patch32(b, O_VERSION, 0x03000000), "big-endian");
    CASE(patch64(b, O_NT, 1ull << 60), "tensor_count");
    CASE(patch64(b, O_NKV, UINT64_MAX), "metadata_kv_count");
    CASE(patch64(b, O_KEYLEN, UINT64_MAX), "metadata key");
    CASE(patch32(b, O_VTYPE, 13), "unknown type 13");
    CASE(patch64(b, O_SLEN, 1ull << 62), "metadata value");
    CASE(patch64(b, O_TNAMELEN, 1ull << 40), "tensor name");
    CASE(patch32(b, O_NDIMS, 5), "5 dimensions");
    CASE(patch64(b, O_NE0, 0), "dimension 0");
    CASE(patch64(b, O_NE0, UINT64_MAX / 2), "dimension 0");
    CASE(patch64(b, O_NE0, 16), "ends past the end");
    CASE(patch32(b, O_TTYPE, 4), "unknown type 4");
    CASE(patch32(b, O_TTYPE, GGUF_T_Q8_0), "not a multiple of its block");
    CASE(patch64(b, O_TOFF, 32), "ends past the end");
    CASE(patch64(b, O_TOFF, 3), "alignment");
    CASE(patch64(b, O_TOFF, UINT64_MAX - 31), "ends past the end");
    /* the value type of the only key made an array of arrays / a huge array */
    CASE((patch32(b, O_VTYPE, GGUF_ARRAY), patch32(b, O_SLEN, GGUF_ARRAY)), "not supported");
    CASE((patch32(b, O_VTYPE, GGUF_ARRAY), patch32(b, O_SLEN, GGUF_U64),
          patch64(b, O_SLEN + 4, 1ull << 61)),
         "does not fit");
#undef CASE
    free(b);
    free(orig);
}

Test(gguf, duplicate_keys_and_bad_alignment)
{
    gguf_writer *w = gguf_writer_new();
    gguf_writer_u32(w, "a", 1);
    gguf_writer_u32(w, "a", 2);
    const char *p = tmp_path("dup.gguf");
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, p, &err), 0);
    gguf_writer_free(w);
    gguf *g;
    cr_assert_eq(gguf_open(p, &g, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "duplicate"), "%s", err.msg);
    w = gguf_writer_new();
    gguf_writer_u32(w, "general.alignment", 24);
    cr_assert_eq(gguf_writer_write(w, p, &err), 0);
    gguf_writer_free(w);
    status_clear(&err);
    cr_assert_eq(gguf_open(p, &g, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "general.alignment"), "%s", err.msg);
    status_clear(&err);
    cr_assert_eq(gguf_open("/nonexistent/x.gguf", &g, &err), STATUS_NOT_FOUND);
}

static const char *shared_gguf(const char *name)
{
    static char p[512];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    const char *cands[] = {env, "../shared/models", "/work/shared/models"};
    for (size_t i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        snprintf(p, sizeof p, "%s/gguf/%s", cands[i], name);
        if (access(p, R_OK) == 0)
            return p;
    }
    return NULL;
}

Test(gguf, llamacpp_files)
{
    const char *names[] = {"stories260K.gguf", "stories15M-random-Q8_0.gguf",
                           "stories15M-random-Q4_0.gguf", "stories15M-random-Q4_K_M.gguf"};
    for (size_t f = 0; f < 4; f++) {
        const char *p = shared_gguf(names[f]);
        if (!p)
            cr_skip_test("../shared/models/gguf absent: llama.cpp's files not checked");
        gguf *g;
        struct status_err err = {0};
        cr_assert_eq(gguf_open(p, &g, &err), STATUS_OK, "%s", err.msg);
        struct gguf_str arch;
        cr_assert_eq(gguf_get_str(g, "general.architecture", &arch, &err), STATUS_OK);
        cr_assert(gguf_str_eq(arch, "llama"));
        const struct gguf_kv *tok;
        cr_assert_eq(gguf_get_arr(g, "tokenizer.ggml.tokens", GGUF_STRING, &tok, &err), STATUS_OK);
        cr_assert_eq(tok->v.arr.n, f == 0 ? 512 : 32000);
        const struct gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
        cr_assert_not_null(t);
        cr_assert_eq(t->ne[1], f == 0 ? 512 : 32000);
        cr_assert_eq(gguf_n_tensors(g), f == 0 ? 48 : 57, "%s: %zu", names[f], gguf_n_tensors(g));
        gguf_close(g);
    }
}

/* Fuzz finding: a float array read as integers converted out-of-range doubles (UB). */
Test(gguf, float_array_as_int_saturates)
{
    gguf_writer *w = gguf_writer_new();
    const double vals[4] = {1e300, -1e300, 0.0 / 0.0, -2.75};
    unsigned char raw[4 + 8 + sizeof vals];
    const uint32_t et = GGUF_F64;
    const uint64_t n = 4;
    memcpy(raw, &et, 4);
    memcpy(raw + 4, &n, 8);
    memcpy(raw + 12, vals, sizeof vals);
    cr_assert_eq(gguf_writer_raw(w, "f", GGUF_ARRAY, raw, sizeof raw), 0);
    const char *p = tmp_path("f64.gguf");
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, p, &err), 0);
    gguf_writer_free(w);
    gguf *g;
    cr_assert_eq(gguf_open(p, &g, &err), STATUS_OK, "%s", err.msg);
    const struct gguf_kv *kv;
    cr_assert_eq(gguf_get_arr(g, "f", GGUF_ARRAY, &kv, &err), STATUS_OK);
    cr_assert_eq(gguf_arr_int(kv, 0), INT64_MAX);
    cr_assert_eq(gguf_arr_int(kv, 1), INT64_MIN);
    cr_assert_eq(gguf_arr_int(kv, 2), 0);
    cr_assert_eq(gguf_arr_int(kv, 3), -2);
    gguf_close(g);
}

/* The pages of the whole-page interior of [p, p + len) that are resident (mincore). */
static size_t resident_pages(const void *p, size_t len, size_t *whole)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p;
    const uintptr_t b = (a + page - 1) / page * page, e = (a + len) / page * page;
    *whole = e > b ? (size_t)((e - b) / page) : 0;
    unsigned char *v = malloc(*whole + 1);
    cr_assert_not_null(v);
    cr_assert_eq(mincore((void *)b, e - b, v), 0);
    size_t n = 0;
    for (size_t i = 0; i < *whole; i++)
        n += v[i] & 1;
    free(v);
    return n;
}

/* gguf_release (interleave.c gives back the file layout's pages once a matrix is copied):
 * a file read into memory gets the tensor's whole pages back to the system, the rest of the
 * file stays readable; a borrowed buffer (gguf_open_mem) and a range outside the file are
 * left as they were. */
Test(gguf, release_gives_back_owned_pages_only)
{
    enum { ROWS = 1024, COLS = 1024 }; /* 4 MiB of F32: read into memory, not mapped */
    float *w = malloc(sizeof(float) * ROWS * COLS);
    cr_assert_not_null(w);
    for (size_t i = 0; i < (size_t)ROWS * COLS; i++)
        w[i] = (float)(i % 1000) + 1.0f;
    gguf_writer *wr = gguf_writer_new();
    const uint64_t ne[2] = {COLS, ROWS}, ne_small[2] = {8, 4};
    cr_assert_eq(gguf_writer_str(wr, "general.architecture", "llama"), 0);
    cr_assert_eq(gguf_writer_tensor(wr, "big.weight", GGUF_T_F32, 2, ne, w), 0);
    cr_assert_eq(gguf_writer_tensor(wr, "small.weight", GGUF_T_F32, 2, ne_small, w), 0);
    const char *p = tmp_path("release.gguf");
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(wr, p, &err), 0, "%s", err.msg);
    gguf_writer_free(wr);

    gguf *g;
    cr_assert_eq(gguf_open_resident(p, &g, &err), STATUS_OK, "%s", err.msg);
    const struct gguf_tensor *big = gguf_find_tensor(g, "big.weight");
    const struct gguf_tensor *small = gguf_find_tensor(g, "small.weight");
    cr_assert(big && small);
    size_t whole;
    cr_assert_eq(resident_pages(big->data, big->bytes, &whole), whole, "read at open: all resident");
    cr_assert_gt(whole, 0);
    int outside = 0;
    gguf_release(g, &outside, sizeof outside); /* not the file's: ignored */
    gguf_release(g, big->data, big->bytes);
    cr_assert_eq(resident_pages(big->data, big->bytes, &whole), 0, "the tensor's pages given back");
    cr_assert_eq(memcmp(small->data, w, 32 * sizeof(float)), 0, "the next tensor is intact");
    gguf_close(g);

    size_t len;
    unsigned char *file = slurp(p, &len), *copy = malloc(len);
    memcpy(copy, file, len);
    cr_assert_eq(gguf_open_mem(copy, len, "mem", &g, &err), STATUS_OK, "%s", err.msg);
    big = gguf_find_tensor(g, "big.weight");
    gguf_release(g, big->data, big->bytes); /* borrowed: left alone */
    cr_assert_eq(memcmp(copy, file, len), 0, "a borrowed buffer is never released");
    gguf_close(g);
    free(copy);
    free(file);
    free(w);
}
