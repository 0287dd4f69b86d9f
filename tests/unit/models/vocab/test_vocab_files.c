/* test_vocab_files.c: llama.cpp's vocabulary-only GGUF files in ../shared/vocab: every case
 * of every NAME.gguf.inp must give the ids of NAME.gguf.out (no BOS, special tokens not
 * parsed), as llama.cpp's test-tokenizer-0 checks; WordPiece (bert-bge) included. Test files
 * whose GGUF is absent are listed and skipped. Skipped when ../shared is absent. */
#include "../../../../models/gguf/gguf.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "../../../../models/vocab/vocab_gguf.h"
#include "../../../../models/vocab/vocab_internal.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VF_PATH_MAX 1024
#define VF_SEP "\n__ggml_vocab_test__\n"

static const char *vocab_dir(void)
{
    static char dir[VF_PATH_MAX];
    const char *env = getenv("LMSERVE_SHARED_VOCAB");
    const char *cands[] = {env, "../shared/vocab", "/work/shared/vocab"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i])
            continue;
        char f[VF_PATH_MAX];
        snprintf(f, sizeof f, "%s/ggml-vocab-gpt-2.gguf.inp", cands[i]);
        if (access(f, R_OK) == 0) {
            snprintf(dir, sizeof dir, "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = malloc((size_t)n + 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    if (b)
        b[*len] = '\0';
    fclose(f);
    return b;
}

/* Run every case of base (".../ggml-vocab-X.gguf"); returns the number of failures.
 * as_model: load the file as a tokenizer-only Transformer (what `type: "transformer"` serves)
 * and encode through it, not through the vocabulary alone. */
static int run_file(const char *base, int as_model, size_t *n_cases)
{
    char path[VF_PATH_MAX + 8];
    struct status_err err = {0};
    struct vocab *v = NULL;
    transformer *t = NULL;
    if (as_model) {
        cr_assert_eq(transformer_open_tokenizer_only(base, &t, &err), STATUS_OK, "%s: %s", base, err.msg);
    } else {
        gguf *g;
        cr_assert_eq(gguf_open(base, &g, &err), STATUS_OK, "%s", err.msg);
        cr_assert_eq(vocab_from_gguf(g, &v, &err), STATUS_OK, "%s: %s", base, err.msg);
        gguf_close(g);
    }
    size_t ni, no;
    snprintf(path, sizeof path, "%s.inp", base);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof path, "%s.out", base);
    char *out = slurp(path, &no);
    cr_assert(inp && out, "%s: .inp/.out unreadable", base);
    int fails = 0;
    size_t k = 0;
    const size_t sl = strlen(VF_SEP);
    char *ip = inp, *op = out;
    while (ip < inp + ni) {
        char *nx = memmem(ip, (size_t)(inp + ni - ip), VF_SEP, sl);
        size_t tl = nx ? (size_t)(nx - ip) : (size_t)(inp + ni - ip);
        char *eol = strchr(op, '\n');
        if (eol)
            *eol = '\0';
        int *ids;
        size_t n;
        cr_assert_eq(t ? transformer_encode(t, ip, tl, 0, 0, &ids, &n, &err)
                       : vocab_encode(v, ip, tl, 0, 0, &ids, &n, &err),
                     STATUS_OK);
        size_t i = 0;
        int ok = 1;
        for (char *q = op; ok;) {
            char *end;
            long want = strtol(q, &end, 10);
            if (end == q)
                break;
            ok = i < n && ids[i] == want;
            i++;
            q = end;
        }
        ok = ok && i == n;
        if (!ok) {
            fails++;
            cr_log_error("%s case %zu (\"%.*s\"): ids differ from llama.cpp's", base, k,
                         (int)(tl > 60 ? 60 : tl), ip);
        }
        free(ids);
        k++;
        if (!nx)
            break;
        ip = nx + sl;
        op = eol ? eol + 1 : op + strlen(op);
    }
    *n_cases = k;
    free(inp);
    free(out);
    if (t)
        transformer_close(t);
    else
        vocab_free(v);
    return fails;
}

Test(vocab_files, every_case_matches_llamacpp, .timeout = 120)
{
    const char *dir = vocab_dir();
    if (!dir)
        cr_skip_test("../shared/vocab absent: llama.cpp's vocabulary tests not run");
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *e;
    int files = 0, fails = 0;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 9 || strcmp(e->d_name + l - 9, ".gguf.inp") != 0)
            continue;
        char base[VF_PATH_MAX];
        snprintf(base, sizeof base, "%s/%.*s", dir, (int)(l - 4), e->d_name);
        if (access(base, R_OK) != 0) {
            cr_log_info("%s: only the test files are present (no vocabulary), skipped", base);
            continue;
        }
        size_t n_cases = 0;
        int f = run_file(base, 0, &n_cases);
        cr_log_info("%s: %zu cases, %d differ", base, n_cases, f);
        cr_expect_gt(n_cases, 0, "%s: no cases", base);
        fails += f;
        files++;
    }
    closedir(d);
    cr_expect_gt(files, 0);
    cr_expect_eq(fails, 0, "%d cases differ from llama.cpp", fails);
}

/* The WordPiece cases again, with ggml-vocab-bert-bge.gguf loaded as a tokenizer-only model
 * (issue 15: lowercasing and accent stripping as the vocabulary says, through the model). */
Test(vocab_files, bert_bge_cases_as_a_tokenizer_only_model, .timeout = 60)
{
    const char *dir = vocab_dir();
    if (!dir)
        cr_skip_test("../shared/vocab absent");
    char base[VF_PATH_MAX];
    snprintf(base, sizeof base, "%s/ggml-vocab-bert-bge.gguf", dir);
    if (access(base, R_OK) != 0)
        cr_skip_test("%s absent", base);
    size_t n_cases = 0;
    int f = run_file(base, 1, &n_cases);
    cr_log_info("%s as a tokenizer-only model: %zu cases, %d differ", base, n_cases, f);
    cr_expect_gt(n_cases, 40);
    cr_expect_eq(f, 0, "%d WordPiece cases differ from llama.cpp", f);
}

/* The files without test texts still load, and their ids decode back to the text. */
Test(vocab_files, untested_vocabularies_load_and_round_trip)
{
    const char *dir = vocab_dir();
    if (!dir)
        cr_skip_test("../shared/vocab absent");
    static const char *const names[] = {"ggml-vocab-baichuan.gguf", "ggml-vocab-gpt-neox.gguf"};
    static const char text[] = "Hello world, 1234 caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\n\tx";
    for (size_t i = 0; i < 2; i++) {
        char path[VF_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (access(path, R_OK) != 0)
            continue;
        struct status_err err = {0};
        gguf *g;
        cr_assert_eq(gguf_open(path, &g, &err), STATUS_OK, "%s", err.msg);
        struct vocab *v;
        cr_assert_eq(vocab_from_gguf(g, &v, &err), STATUS_OK, "%s: %s", path, err.msg);
        gguf_close(g);
        int *ids;
        size_t n, len;
        cr_assert_eq(vocab_encode(v, text, strlen(text), 0, 0, &ids, &n, &err), STATUS_OK);
        char *back = vocab_decode(v, ids, n, 0, &len);
        cr_expect_str_eq(back, text, "%s", path);
        free(back);
        free(ids);
        vocab_free(v);
    }
}

/* A vocabulary-only GGUF as a tokenizer-only Transformer: generation's view of it (pieces
 * streamed whole, end-of-generation ids, no weights to run). */
Test(vocab_files, tokenizer_only_transformer_streams_whole_characters)
{
    const char *dir = vocab_dir();
    if (!dir)
        cr_skip_test("../shared/vocab absent");
    char path[VF_PATH_MAX];
    snprintf(path, sizeof path, "%s/ggml-vocab-gpt-2.gguf", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_tokenizer_only(path, &t, &err), STATUS_OK, "%s", err.msg);
    cr_expect_str_eq(transformer_tokenizer_name(t), "gpt2");
    cr_expect(transformer_is_eog(t, 50256), "<|endoftext|> ends generation");
    cr_expect(!transformer_is_eog(t, 15496));
    cr_expect_gt(transformer_piece_max(t), 0);
    status_clear(&err);
    cr_expect_eq(transformer_check_generate(t, &err), STATUS_BAD_INPUT);
    cr_expect_str_eq(err.param, "model");
    const char *text = "Hello \xF0\x9F\xA6\x99 caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC";
    int *ids;
    size_t n;
    status_clear(&err);
    cr_assert_eq(transformer_encode(t, text, strlen(text), 1, 0, &ids, &n, &err), STATUS_OK);
    char out[256];
    size_t w = 0;
    struct utf8_stream u = {0};
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = transformer_piece(t, i ? ids[i - 1] : -1, ids[i], &pl);
        size_t got = utf8_stream_push(&u, p, pl, out + w);
        for (size_t k = w; k < w + got;) { /* only whole characters come out */
            size_t cl = unicode_len_utf8((unsigned char)out[k]);
            cr_assert_leq(k + cl, w + got);
            k += cl;
        }
        w += got;
    }
    w += utf8_stream_flush(&u, out + w);
    out[w] = '\0';
    cr_expect_str_eq(out, text);
    size_t len;
    char *dec = transformer_decode(t, ids, n, &len);
    cr_expect_str_eq(dec, text);
    free(dec);
    free(ids);
    transformer_close(t);
}
