/* test_vecfile.c: the vector readers (text, GloVe, gzip, word2vec binary) on files the test
 * writes, every rejected case with its "file:line: reason", and the .lmv round trip. */
#include "../../../../models/embed/embed.h"
#include "../../../../models/embed/embed_internal.h"
#include "../../../../models/util/alloc.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static char vf_dir[256];

static void vf_setup(void)
{
    snprintf(vf_dir, sizeof vf_dir, "/tmp/lmserve-embed-XXXXXX");
    cr_assert_not_null(mkdtemp(vf_dir));
}

static void vf_teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", vf_dir);
    cr_expect_eq(system(cmd), 0);
}

static const char *vf_path(const char *name)
{
    static char p[4][320];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", vf_dir, name);
    return p[i];
}

static const char *vf_write(const char *name, const void *data, size_t len)
{
    const char *p = vf_path(name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static const char *vf_text(const char *name, const char *s) { return vf_write(name, s, strlen(s)); }

static embed *vf_open_ok(const char *path, const struct embed_opts *o)
{
    struct status_err err;
    status_clear(&err);
    embed *e = NULL;
    int rc = embed_open(path, o, &e, &err);
    cr_assert_eq(rc, STATUS_OK, "open %s: %s", path, err.msg);
    return e;
}

/* Expect a load failure whose message is "<path>:<line>: ...<needle>...". */
static void vf_open_fails(const char *path, size_t line, const char *needle)
{
    struct status_err err;
    status_clear(&err);
    embed *e = NULL;
    int rc = embed_open(path, NULL, &e, &err);
    cr_assert_neq(rc, STATUS_OK, "%s loaded but should fail with '%s'", path, needle);
    cr_assert_null(e);
    char prefix[400];
    snprintf(prefix, sizeof prefix, "%s:%zu: ", path, line);
    cr_expect(strncmp(err.msg, prefix, strlen(prefix)) == 0, "message '%s' should start '%s'",
              err.msg, prefix);
    cr_expect(strstr(err.msg, needle) != NULL, "message '%s' should contain '%s'", err.msg, needle);
}

static void vf_expect_vec(const embed *e, const char *word, const float *want)
{
    long r = embed_lookup(e, word, strlen(word));
    cr_assert_geq(r, 0, "word %s missing", word);
    float v[16];
    embed_vector(e, (size_t)r, v);
    for (size_t i = 0; i < embed_dim(e); i++)
        cr_expect(fabsf(v[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])), "%s[%zu] %g vs %g", word, i,
                  v[i], want[i]);
}

TestSuite(embed_vecfile, .init = vf_setup, .fini = vf_teardown);

Test(embed_vecfile, word2vec_text_with_header)
{
    const char *p = vf_text("a.vec", "3 4\nthe 0.5 -1.25 3e-2 1.5E+1\nof 1 2 3 4\r\nüber -0 0.0 +7 .5\n");
    embed *e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_size(e), 3);
    cr_expect_eq(embed_dim(e), 4);
    vf_expect_vec(e, "the", (float[]){0.5f, -1.25f, 0.03f, 15.0f});
    vf_expect_vec(e, "of", (float[]){1, 2, 3, 4});
    vf_expect_vec(e, "über", (float[]){0, 0, 7, 0.5f});
    cr_expect_eq(embed_lookup(e, "absent", 6), -1);
    cr_expect_str_eq(embed_word(e, 1), "of");
    embed_close(e);
}

Test(embed_vecfile, glove_without_header_is_detected)
{
    const char *p = vf_text("g.txt", "the 0.1 0.2 0.3\n, 1 2 3\n\n2 4 5 6\n");
    embed *e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_size(e), 3);
    cr_expect_eq(embed_dim(e), 3);
    vf_expect_vec(e, ",", (float[]){1, 2, 3});
    vf_expect_vec(e, "2", (float[]){4, 5, 6});
    embed_close(e);
}

Test(embed_vecfile, gzip_text)
{
    const char *p = vf_path("z.vec.gz");
    gzFile gz = gzopen(p, "wb");
    cr_assert_not_null(gz);
    gzputs(gz, "2 2\nx 1 2\ny 3 4\n");
    gzclose(gz);
    embed *e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_size(e), 2);
    vf_expect_vec(e, "y", (float[]){3, 4});
    embed_close(e);
}

static const char *vf_binary(const char *name, const char *header, const char *const *words,
                             const float *vals, size_t n, size_t d, size_t cut)
{
    char buf[4096];
    size_t len = (size_t)sprintf(buf, "%s", header);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(buf + len, "%s ", words[i]);
        memcpy(buf + len, vals + i * d, d * sizeof(float));
        len += d * sizeof(float);
        buf[len++] = '\n';
    }
    return vf_write(name, buf, len - cut);
}

Test(embed_vecfile, word2vec_binary)
{
    const char *w[] = {"alpha", "beta", "alpha"};
    float v[] = {1.5f, -2, 0.25f, 3, 4, 5, 9, 9, 9};
    const char *p = vf_binary("b.bin", "3 3\n", w, v, 3, 3, 0);
    embed *e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_size(e), 2);
    cr_expect_eq(embed_duplicates(e), 1);
    vf_expect_vec(e, "alpha", v);
    vf_expect_vec(e, "beta", v + 3);
    embed_close(e);
}

Test(embed_vecfile, binary_truncated_and_non_finite)
{
    const char *w[] = {"alpha", "beta"};
    float v[] = {1, 2, 3, 4, 5, 6};
    vf_open_fails(vf_binary("t1.bin", "2 3\n", w, v, 2, 3, 6), 3, "truncated");
    vf_open_fails(vf_binary("t2.bin", "3 3\n", w, v, 2, 3, 0), 4, "truncated");
    float bad[] = {1, 2, 3, 4, NAN, 6};
    vf_open_fails(vf_binary("t3.bin", "2 3\n", w, bad, 2, 3, 0), 3, "not finite");
    const char *u[] = {"ok", "bad\xff"};
    vf_open_fails(vf_binary("t4.bin", "2 3\n", u, v, 2, 3, 0), 3, "UTF-8");
}

Test(embed_vecfile, duplicates_keep_the_first)
{
    const char *p = vf_text("d.vec", "4 2\na 1 1\nb 2 2\na 3 3\na 4 4\n");
    embed *e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_size(e), 2);
    cr_expect_eq(embed_duplicates(e), 2);
    vf_expect_vec(e, "a", (float[]){1, 1});
    embed_close(e);
}

Test(embed_vecfile, every_text_error_names_file_and_line)
{
    vf_open_fails(vf_text("e1.vec", "2 3\na 1 2 3\nb 1 2\n"), 3, "expected (from the header) 3 values, found 2");
    vf_open_fails(vf_text("e2.vec", "2 3\na 1 2 3\nb 1 2 3 4 5\n"), 3, "expected (from the header) 3 values, found 5");
    vf_open_fails(vf_text("e3.vec", "2 3\na 1 2 3\nb 1 x2 3\n"), 3, "value 2 ('x2') is not a number");
    vf_open_fails(vf_text("e4.vec", "2 3\na 1 2 nan\nb 1 2 3\n"), 2, "value 3 ('nan') is not finite");
    vf_open_fails(vf_text("e5.vec", "2 3\na 1 -inf 3\nb 1 2 3\n"), 2, "is not finite");
    vf_open_fails(vf_text("e6.vec", "2 3\na 1 2 3\nb 1 2 1e39\n"), 3, "is not finite");
    vf_open_fails(vf_text("e7.vec", "3 3\na 1 2 3\nb 1 2 3\n"), 3, "header says 3 words but the file has 2");
    vf_open_fails(vf_text("e8.vec", "1 3\na 1 2 3\nb 1 2 3\n"), 3, "header says 1 words but the file has 2");
    vf_open_fails(vf_text("e9.vec", "2 3\na 1 2 3\nb\xc3\x28 1 2 3\n"), 3, "not valid UTF-8");
    vf_open_fails(vf_text("e10.txt", "a 1 2 3\nb 1 2\n"), 2, "expected 3 values, found 2");
    vf_open_fails(vf_text("e11.vec", "2 3\na 1 2 3\nb 1.2.3 2 3\n"), 3, "not a number");
    vf_open_fails(vf_text("e12.vec", "2 0\n"), 1, "dimension");
    vf_open_fails(vf_text("e13.vec", "\n"), 1, "");
}

/* The decimal parser must give exactly what strtof gives, on the fast and slow paths. */
Test(embed_vecfile, values_are_correctly_rounded)
{
    enum { N = 4000, D = 8 };
    char *buf = malloc((size_t)N * D * 32 + 64);
    float *want = malloc(sizeof(float) * N * D);
    size_t len = (size_t)sprintf(buf, "%d %d\n", N, D);
    uint64_t s = 7;
    for (int i = 0; i < N; i++) {
        len += (size_t)sprintf(buf + len, "w%d", i);
        for (int j = 0; j < D; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double v = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * pow(10.0, (double)(int)((s >> 3) % 12) - 6);
            char tok[40];
            const char *fmt[] = {"%.6f", "%.9g", "%.17g", "%.3e", "%g"};
            snprintf(tok, sizeof tok, fmt[(i + j) % 5], v);
            want[i * D + j] = strtof(tok, NULL);
            len += (size_t)sprintf(buf + len, " %s", tok);
        }
        buf[len++] = '\n';
    }
    const char *p = vf_write("r.vec", buf, len);
    embed *e = vf_open_ok(p, NULL);
    float v[D];
    for (int i = 0; i < N; i++) {
        embed_vector(e, (size_t)i, v);
        for (int j = 0; j < D; j++) {
            float w = want[i * D + j];
            cr_assert(fabsf(v[j] - w) <= 2e-7f * fabsf(w) + 1e-30f, "row %d col %d: %.9g vs %.9g", i, j, v[j], w);
        }
    }
    embed_close(e);
    free(buf);
    free(want);
}

/* Big enough (> 8 MB) to be parsed in parallel slices: lines, duplicates and errors must
 * come out as if read in one pass. */
Test(embed_vecfile, parallel_slices_keep_order_lines_and_duplicates)
{
    enum { N = 24000, D = 48 };
    size_t cap = (size_t)N * (D * 10 + 16) + 64;
    char *buf = malloc(cap);
    size_t len = (size_t)sprintf(buf, "%d %d\n", N, D);
    for (int i = 0; i < N; i++) {
        len += (size_t)sprintf(buf + len, "w%d", i == N - 1 ? 5 : i); /* last row repeats w5 */
        for (int j = 0; j < D; j++)
            len += (size_t)sprintf(buf + len, " %d.%06d", (i + j) % 3, (i * 7 + j) % 1000000);
        buf[len++] = '\n';
    }
    embed *e = vf_open_ok(vf_write("big.vec", buf, len), NULL);
    cr_expect_eq(embed_size(e), N - 1);
    cr_expect_eq(embed_duplicates(e), 1);
    for (int i = 0; i < N - 1; i += 997) {
        char w[16];
        snprintf(w, sizeof w, "w%d", i);
        cr_expect_eq(embed_lookup(e, w, strlen(w)), i);
        float v[D];
        embed_vector(e, (size_t)i, v);
        cr_expect(fabsf(v[1] - (float)((i + 1) % 3 + ((i * 7 + 1) % 1000000) / 1e6)) < 1e-5f);
    }
    embed_close(e);
    /* an error three quarters in: the line is absolute */
    char *bad = strstr(buf, "\nw18000 ");
    cr_assert_not_null(bad);
    bad[8] = 'x';
    vf_open_fails(vf_write("bigbad.vec", buf, len), 18002, "is not a number");
    free(buf);
}

Test(embed_vecfile, lowercase_option)
{
    const char *p = vf_text("l.vec", "1 2\nparis 1 0\n");
    struct embed_opts o = {.lowercase = 1, .threads = 1};
    embed *e = vf_open_ok(p, &o);
    cr_expect_eq(embed_lookup(e, "Paris", 5), 0);
    cr_expect_eq(embed_lookup(e, "PARIS", 5), 0);
    embed_close(e);
    e = vf_open_ok(p, NULL);
    cr_expect_eq(embed_lookup(e, "Paris", 5), -1);
    embed_close(e);
}

/* ---- .lmv ---- */

static const char *vf_small_vec(void)
{
    return vf_text("s.vec", "5 3\nthe 1 2 3\nof -1 0.5 2\nand 0 0 0\nto 3 -2 1\nthe 9 9 9\n");
}

Test(embed_vecfile, lmv_round_trip_every_storage)
{
    embed *src = vf_open_ok(vf_small_vec(), NULL);
    const enum embed_storage all[] = {EMBED_STORAGE_F32, EMBED_STORAGE_F16, EMBED_STORAGE_I8};
    for (size_t s = 0; s < 3; s++) {
        struct status_err err;
        status_clear(&err);
        const char *out = vf_path("s.lmv");
        cr_assert_eq(embed_save(src, out, all[s], &err), STATUS_OK, "%s", err.msg);
        embed *e = vf_open_ok(out, NULL);
        cr_expect_eq(embed_size(e), 4);
        cr_expect_eq(embed_dim(e), 3);
        cr_expect_eq(embed_duplicates(e), 1);
        cr_expect_eq(embed_storage_of(e), all[s]);
        for (size_t i = 0; i < 4; i++) {
            cr_expect_str_eq(embed_word(e, i), embed_word(src, i));
            cr_expect_eq(embed_lookup(e, embed_word(src, i), strlen(embed_word(src, i))), (long)i);
        }
        vf_expect_vec(e, "of", (float[]){-1, 0.5f, 2});
        vf_expect_vec(e, "and", (float[]){0, 0, 0});
        cr_expect_eq(embed_lookup(e, "nope", 4), -1);
        embed_close(e);
    }
    embed_close(src);
}

static void vf_corrupt(const char *good, const char *name, long off, const void *bytes, size_t n,
                       long truncate_by, size_t line, const char *needle)
{
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    if (bytes)
        memcpy(buf + off, bytes, n);
    const char *p = vf_write(name, buf, (size_t)(size - truncate_by));
    free(buf);
    vf_open_fails(p, line, needle);
}

/* header layout (lmv.c): version at 8, crc at 84 */
#define VF_LMV_VERSION_OFF 8
#define VF_LMV_CRC_OFF 84
#define VF_LMV_HEADER_BYTES 256
#define VF_LMV_WORDS_OFF 104 /* sections are (off, len) pairs from 88; words are the second */

Test(embed_vecfile, lmv_rejects_corrupt_and_truncated_files)
{
    embed *src = vf_open_ok(vf_small_vec(), NULL);
    char good[400];
    snprintf(good, sizeof good, "%s", vf_path("g.lmv")); /* vf_path's buffers rotate */
    cr_assert_eq(embed_save(src, good, EMBED_STORAGE_I8, NULL), STATUS_OK);
    embed_close(src);
    vf_corrupt(good, "c1.lmv", 0, NULL, 0, 7, 1, "truncated");
    vf_corrupt(good, "c3.lmv", 20, "\x07", 1, 0, 1, "checksum");
    vf_corrupt(good, "c4.lmv", 0, NULL, 0, 4000, 1, "");
    /* a newer version with a valid checksum: named as unsupported */
    FILE *f = fopen(good, "rb");
    unsigned char h[VF_LMV_HEADER_BYTES];
    cr_assert_eq(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    h[VF_LMV_VERSION_OFF] = 99;
    memset(h + VF_LMV_CRC_OFF, 0, 4);
    uint32_t crc = (uint32_t)crc32(0L, h, sizeof h);
    memcpy(h + VF_LMV_CRC_OFF, &crc, 4);
    vf_corrupt(good, "c5.lmv", 0, h, sizeof h, 0, 1, "version 99");
    /* the word table: overwrite the NUL after "the" (first section after the header) */
    uint64_t offs;
    memcpy(&offs, h + VF_LMV_WORDS_OFF, 8);
    vf_corrupt(good, "c6.lmv", (long)offs + 3, "X", 1, 0, 1, "word table");
    vf_corrupt(good, "c7.lmv", 0, "LMSVEC\x1a\n", 8, 200, 1, "");
}

/* fuzz_lmv found it: the CRC covers the header only, so a changed byte in the words (or the
 * hash table) loaded, and lookups then missed words of the vocabulary. */
Test(embed_vecfile, lmv_hash_that_does_not_index_the_words_is_refused)
{
    embed *src = vf_open_ok(vf_small_vec(), NULL);
    char good[400];
    snprintf(good, sizeof good, "%s", vf_path("h.lmv"));
    cr_assert_eq(embed_save(src, good, EMBED_STORAGE_F32, NULL), STATUS_OK);
    embed_close(src);
    FILE *f = fopen(good, "rb");
    unsigned char h[VF_LMV_HEADER_BYTES];
    cr_assert_eq(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    uint64_t offs;
    memcpy(&offs, h + VF_LMV_WORDS_OFF, 8);
    /* "the" -> "thy": still valid UTF-8 and NUL-terminated, but hashed elsewhere */
    vf_corrupt(good, "h1.lmv", (long)offs + 2, "y", 1, 0, 1, "hash table does not index");
}

/* fuzz_vec found it: a corrupt gzip stream's message was read after gzclose() freed it. */
Test(embed_vecfile, corrupt_gzip_message_outlives_the_stream)
{
    const char *p = vf_path("bad.vec.gz");
    gzFile gz = gzopen(p, "wb");
    cr_assert_not_null(gz);
    gzputs(gz, "2 2\nx 1 2\ny 3 4\n");
    gzclose(gz);
    FILE *f = fopen(p, "r+b");
    cr_assert_not_null(f);
    fseek(f, 12, SEEK_SET); /* into the deflate data */
    fputc(0xff, f);
    fputc(0xff, f);
    fclose(f);
    struct status_err err;
    status_clear(&err);
    embed *e = NULL;
    cr_assert_neq(embed_open(p, NULL, &e, &err), STATUS_OK);
    cr_assert_null(e);
    cr_expect(strstr(err.msg, "gzip") != NULL, "%s", err.msg);
}

/* ---- allocation failures: every one is reported, none crashes or leaks (ASan) ---- */

#define VF_ALLOC_FAIL_MAX 400 /* more allocations than any of these loads makes */

/* Fail the k-th allocation of a load of 'path' for every k until one succeeds with
 * allocations to spare: each failed load must say out of memory and leave *out NULL. */
static void vf_every_allocation_fails_cleanly(const char *path, const struct embed_opts *o)
{
    long k;
    for (k = 1; k < VF_ALLOC_FAIL_MAX; k++) {
        util_alloc_countdown = k;
        struct status_err err;
        status_clear(&err);
        embed *e = NULL;
        int rc = embed_open(path, o, &e, &err);
        long left = util_alloc_countdown;
        util_alloc_countdown = 0;
        if (rc == STATUS_OK) {
            embed_close(e);
            if (left > 0)
                break; /* the load made fewer than k allocations: all were tried */
            continue;  /* a failure the loader absorbs (fewer scan threads) */
        }
        cr_assert_eq(rc, STATUS_NO_MEMORY, "%s, allocation %ld: %s", path, k, err.msg);
        cr_assert_null(e);
    }
    cr_assert_lt(k, VF_ALLOC_FAIL_MAX, "%s: never loaded", path);
}

Test(embed_vecfile, every_allocation_failure_is_reported)
{
    char paths[5][400];
    snprintf(paths[0], sizeof paths[0], "%s", vf_small_vec());
    snprintf(paths[1], sizeof paths[1], "%s", vf_path("a.vec.gz"));
    gzFile gz = gzopen(paths[1], "wb");
    cr_assert_not_null(gz);
    gzputs(gz, "3 2\nx 1 2\ny 3 4\nz 0 1\n");
    gzclose(gz);
    const char *w[] = {"alpha", "beta"};
    float v[] = {1.5f, -2, 0.25f, 3, 4, 5};
    snprintf(paths[2], sizeof paths[2], "%s", vf_binary("a.bin", "2 3\n", w, v, 2, 3, 0));
    embed *src = vf_open_ok(paths[0], NULL);
    snprintf(paths[3], sizeof paths[3], "%s", vf_path("a32.lmv"));
    snprintf(paths[4], sizeof paths[4], "%s", vf_path("a8.lmv"));
    cr_assert_eq(embed_save(src, paths[3], EMBED_STORAGE_F32, NULL), STATUS_OK);
    cr_assert_eq(embed_save(src, paths[4], EMBED_STORAGE_I8, NULL), STATUS_OK);
    embed_close(src);
    /* two scan threads (the pool is allocated too); int8 builds a compact copy from text */
    const struct embed_opts opts[] = {{.threads = 2, .storage = EMBED_STORAGE_F32},
                                      {.threads = 2, .storage = EMBED_STORAGE_I8}};
    for (size_t f = 0; f < 5; f++)
        for (size_t i = 0; i < 2; i++)
            vf_every_allocation_fails_cleanly(paths[f], &opts[i]);
}

/* Fuzzing (w2v target, 10 s timeout): the 7-byte file "3 30333" made the builder allocate its
 * minimum of 1024 rows at the header's width, 124 MB, before finding no data. The first
 * allocation is now bounded (4 MB of rows beyond what the file's size hints); the file is
 * still refused, and a narrow file still starts with 1024 rows. */
Test(embed_vecfile, wide_header_in_tiny_file_allocated_124_mb)
{
    struct embed_builder b;
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(embed_builder_init(&b, 30333, 1, &err), STATUS_OK);
    cr_expect_leq(b.cap * b.stride * sizeof(float), (size_t)4 << 20, "%zu rows of %zu floats",
                  b.cap, b.stride);
    embed_builder_free(&b);
    cr_assert_eq(embed_builder_init(&b, 300, 1, &err), STATUS_OK);
    cr_expect_eq(b.cap, 1024);
    embed_builder_free(&b);

    const char *p = vf_path("wide.w2v");
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs("3 30333", f);
    fclose(f);
    struct embed_opts o = {.threads = 1};
    embed *e = NULL;
    cr_expect_neq(embed_open(p, &o, &e, &err), STATUS_OK);
    cr_expect_null(e);
}
