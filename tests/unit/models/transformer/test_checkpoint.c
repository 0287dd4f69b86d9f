/* test_checkpoint.c: corrupt and truncated checkpoints are refused with a clear error
 * (never a crash): every truncation point of a small file, bad header fields, a wrong ak42
 * version, a trailing byte, and a missing file. */
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <stdint.h>

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*len);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

static int try_open(const char *path, struct status_err *err)
{
    struct checkpoint ck;
    status_clear(err);
    int rc = checkpoint_open(path, &ck, err);
    if (rc == STATUS_OK)
        checkpoint_close(&ck);
    return rc;
}

static void truncations(const char *flags, const char *name)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX], bad[TT_FILE_MAX + 8];
    tt_make(name, flags, ck, tok);
    size_t len;
    unsigned char *b = slurp(ck, &len);
    snprintf(bad, sizeof bad, "%s.cut", ck);
    struct status_err err;
    cr_assert_eq(try_open(ck, &err), STATUS_OK, "%s", err.msg);
    /* every length up to 300 bytes, then a spread of cut points */
    for (size_t cut = 0; cut < len; cut += cut < 300 ? 1 : 997) {
        spit(bad, b, cut);
        int rc = try_open(bad, &err);
        cr_assert_neq(rc, STATUS_OK, "%s cut at %zu of %zu bytes was accepted", name, cut, len);
        cr_assert(err.msg[0], "no message for a cut at %zu", cut);
    }
    /* one byte too many */
    unsigned char *more = malloc(len + 1);
    memcpy(more, b, len);
    more[len] = 0;
    spit(bad, more, len + 1);
    cr_assert_eq(try_open(bad, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "header implies"), "%s", err.msg);
    free(more);
    free(b);
}

Test(checkpoint, truncated_legacy) { truncations("--version 0 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4", "cut0"); }
Test(checkpoint, truncated_v1) { truncations("--version 1 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4 --unshared", "cut1"); }
Test(checkpoint, truncated_v2) { truncations("--version 2 --group-size 16 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4", "cut2"); }

Test(checkpoint, bad_headers)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX], bad[TT_FILE_MAX + 8];
    tt_make("hdr", "--version 0 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4", ck, tok);
    size_t len;
    unsigned char *b = slurp(ck, &len);
    snprintf(bad, sizeof bad, "%s.bad", ck);
    struct status_err err;
    static const struct {
        int field;
        int32_t value;
    } cases[] = {{0, 0}, {0, -16}, {0, 1 << 30}, {1, 0}, {2, 0}, {2, 100000}, {3, 3}, {3, 0},
                 {4, 0}, {4, 3}, {5, 0}, {5, INT32_MIN}, {6, 0}, {6, -1}, {3, 16}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *c = malloc(len);
        memcpy(c, b, len);
        memcpy(c + 4 * cases[i].field, &cases[i].value, 4);
        spit(bad, c, len);
        cr_assert_eq(try_open(bad, &err), STATUS_BAD_FORMAT, "field %d = %d accepted", cases[i].field,
                     (int)cases[i].value);
        free(c);
    }
    free(b);
    /* ak42 with an unknown version */
    tt_make("hdr1", "--version 1 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4", ck, tok);
    b = slurp(ck, &len);
    int32_t v = 3;
    memcpy(b + 4, &v, 4);
    spit(bad, b, len);
    cr_assert_eq(try_open(bad, &err), STATUS_BAD_FORMAT);
    cr_assert(strstr(err.msg, "version"), "%s", err.msg);
    free(b);
    /* v2 with a group size that does not divide the tensors */
    tt_make("hdr2", "--version 2 --group-size 16 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4", ck, tok);
    b = slurp(ck, &len);
    v = 7;
    memcpy(b + 37, &v, 4);
    spit(bad, b, len);
    cr_assert_eq(try_open(bad, &err), STATUS_BAD_FORMAT);
    free(b);
    cr_assert_eq(try_open("/nonexistent/model.bin", &err), STATUS_NOT_FOUND);
}

/* ---- allocation failures: every one is reported, none crashes or leaks (ASan) ---- */

#define TC_ALLOC_FAIL_MAX 200 /* more allocations than a checkpoint + tokenizer load makes */

/* Fail the k-th allocation of transformer_open (checkpoint, then tokenizer) for every k until
 * one succeeds with allocations to spare. */
static void every_allocation_fails_cleanly(const char *name, const char *flags)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    tt_make(name, flags, ck, tok);
    long k;
    for (k = 1; k < TC_ALLOC_FAIL_MAX; k++) {
        util_alloc_countdown = k;
        struct status_err err;
        status_clear(&err);
        transformer *t = NULL;
        int rc = transformer_open(ck, tok, &t, &err);
        long left = util_alloc_countdown;
        util_alloc_countdown = 0;
        if (rc == STATUS_OK) {
            transformer_close(t);
            cr_assert_gt(left, 0, "%s: allocation %ld failed unnoticed", name, k);
            break;
        }
        cr_assert_eq(rc, STATUS_NO_MEMORY, "%s, allocation %ld: %s", name, k, err.msg);
        cr_assert_null(t);
    }
    cr_assert_gt(k, 1, "%s: the load allocates nothing through util_*", name);
    cr_assert_lt(k, TC_ALLOC_FAIL_MAX, "%s: never loaded", name);
}

Test(checkpoint, every_allocation_failure_is_reported)
{
    every_allocation_fails_cleanly("af0", "--version 0 --dim 16 --hidden 24 --layers 2 --heads 2 --kv-heads 1 --vocab 300 --seq 4");
    every_allocation_fails_cleanly("af1", "--version 1 --dim 16 --hidden 24 --layers 2 --heads 2 --kv-heads 1 --vocab 300 --seq 4 --unshared");
    every_allocation_fails_cleanly("af2", "--version 2 --group-size 16 --dim 16 --hidden 24 --layers 1 --heads 2 --kv-heads 1 --vocab 300 --seq 4");
}
