/* test_tokenizer.c: llama2.c tokenizer: run.c's encoding on tok512 (the expected prompt ids),
 * round trips, byte fallback for characters outside the vocabulary, the UTF-8 streamer never
 * splitting a character, and bad tokenizer files refused. */
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

static char *decode_all(const transformer *t, const int *ids, size_t n)
{
    size_t len;
    return transformer_decode(t, ids, n, &len);
}

Test(tokenizer, run_c_prompt_ids)
{
    transformer *t = tt_open_260k();
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(transformer_encode(t, "Once upon a time", 16, 1, 0, &ids, &n, &err), STATUS_OK);
    static const int want[] = {1, 403, 407, 261, 378};
    cr_assert_eq(n, 5);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], want[i], "token %zu: %d != %d", i, ids[i], want[i]);
    free(ids);
    /* empty text: BOS only, no dummy prefix (run.c) */
    cr_assert_eq(transformer_encode(t, "", 0, 1, 1, &ids, &n, &err), STATUS_OK);
    cr_assert_eq(n, 2);
    cr_assert_eq(ids[0], TRANSFORMER_BOS);
    cr_assert_eq(ids[1], TRANSFORMER_EOS);
    free(ids);
    transformer_close(t);
}

Test(tokenizer, round_trip_and_byte_fallback)
{
    transformer *t = tt_open_260k();
    static const char *texts[] = {
        "Lily and Tom went to the park.",
        "Tab\tnew\nline \"quotes\" 123!",
        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 end", /* é, 日本, 😀: not in tok512 */
        "  two leading spaces",
    };
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int *ids;
        size_t n;
        struct status_err err = {0};
        const char *s = texts[k];
        cr_assert_eq(transformer_encode(t, s, strlen(s), 1, 0, &ids, &n, &err), STATUS_OK);
        char *back = decode_all(t, ids, n);
        /* decoding after BOS drops the dummy-prefix space, giving the text back exactly */
        cr_assert_str_eq(back, s, "round trip of '%s' gave '%s'", s, back);
        free(back);
        if (k == 2) { /* byte fallback: 日 is E6 97 A5 -> ids byte + 3 (é is in tok512) */
            int found = 0;
            for (size_t i = 0; i + 2 < n; i++)
                found |= ids[i] == 0xE6 + 3 && ids[i + 1] == 0x97 + 3 && ids[i + 2] == 0xA5 + 3;
            cr_assert(found, "no byte tokens for U+65E5");
        }
        free(ids);
    }
    transformer_close(t);
}

Test(tokenizer, random_vocab_round_trip)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    tt_make("tokrt", "--dim 32 --hidden 64 --layers 1 --heads 2 --kv-heads 2 --vocab 1500 --seq 8", ck, tok);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(ck, tok, &t, &err), STATUS_OK, "%s", err.msg);
    const char *s = "the quick brown fox jumps over the lazy dog, THE END? 42\xE2\x82\xAC";
    int *ids;
    size_t n;
    cr_assert_eq(transformer_encode(t, s, strlen(s), 1, 0, &ids, &n, &err), STATUS_OK);
    cr_assert_leq(n, strlen(s) + 2);
    char *back = decode_all(t, ids, n);
    cr_assert_str_eq(back, s);
    free(back);
    free(ids);
    transformer_close(t);
}

Test(tokenizer, utf8_stream_keeps_characters_whole)
{
    const char *s = "a\xC3\xA9" "b\xE6\x97\xA5" "c\xF0\x9F\x98\x80" "d";
    struct utf8_stream u = {0};
    char out[64];
    size_t w = 0;
    for (size_t i = 0; s[i]; i++) {
        size_t k = utf8_stream_push(&u, s + i, 1, out + w);
        /* every release ends on a character boundary */
        if (k > 0)
            cr_assert(((unsigned char)out[w + k - 1] & 0xC0) != 0xC0, "released a lead byte alone");
        w += k;
    }
    w += utf8_stream_flush(&u, out + w);
    out[w] = 0;
    cr_assert_str_eq(out, s);
    /* invalid bytes become U+FFFD; a dangling lead byte is flushed as U+FFFD */
    struct utf8_stream v = {0};
    w = utf8_stream_push(&v, "x\xFFy\xE6", 4, out);
    w += utf8_stream_flush(&v, out + w);
    out[w] = 0;
    cr_assert_str_eq(out, "x\xEF\xBF\xBDy\xEF\xBF\xBD");
    /* overlong and surrogate sequences are refused */
    struct utf8_stream z = {0};
    w = utf8_stream_push(&z, "\xC0\xAF\xED\xA0\x80", 5, out);
    w += utf8_stream_flush(&z, out + w);
    out[w] = 0;
    cr_assert(strstr(out, "\xED\xA0") == NULL && strstr(out, "\xC0") == NULL, "invalid UTF-8 passed");
}

Test(tokenizer, bad_files_refused)
{
    const char *dir = tt_tmpdir();
    char p[TT_FILE_MAX];
    snprintf(p, sizeof p, "%s/badtok.bin", dir);
    struct tokenizer tk;
    struct status_err err = {0};
    /* truncated: max_token_length then half a record */
    FILE *f = fopen(p, "wb");
    int32_t mtl = 7;
    fwrite(&mtl, 4, 1, f);
    fwrite("\0\0\0\0\5\0", 6, 1, f);
    fclose(f);
    cr_assert_eq(tokenizer_open(p, 10, &tk, &err), STATUS_BAD_FORMAT, "%s", err.msg);
    /* a record whose length runs past the end */
    f = fopen(p, "wb");
    fwrite(&mtl, 4, 1, f);
    float sc = 0;
    int32_t len = 1000;
    fwrite(&sc, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite("abc", 3, 1, f);
    fclose(f);
    status_clear(&err);
    cr_assert_eq(tokenizer_open(p, 1, &tk, &err), STATUS_BAD_FORMAT);
    status_clear(&err);
    cr_assert_eq(tokenizer_open("/nonexistent/tok.bin", 10, &tk, &err), STATUS_NOT_FOUND);
}

/* fuzz_tok found it: byte fallback made token b + 3 even when the vocabulary has fewer than
 * 259 tokens, and the merge loop then read past the tokenizer's arrays. */
Test(tokenizer, byte_fallback_past_a_small_vocabulary_is_unk)
{
    char p[TT_FILE_MAX];
    snprintf(p, sizeof p, "%s/small.tok", tt_tmpdir());
    static const char *const PIECES[] = {"<unk>", "<s>", "</s>", " ", "a", "b", "ab"};
    const int32_t n = 7;
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    int32_t mtl = 2;
    fwrite(&mtl, 4, 1, f);
    for (int32_t i = 0; i < n; i++) {
        float sc = -(float)i;
        int32_t len = (int32_t)strlen(PIECES[i]);
        fwrite(&sc, 4, 1, f);
        fwrite(&len, 4, 1, f);
        fwrite(PIECES[i], 1, (size_t)len, f);
    }
    fclose(f);
    struct tokenizer tk;
    struct status_err err = {0};
    cr_assert_eq(tokenizer_open(p, n, &tk, &err), STATUS_OK, "%s", err.msg);
    int *ids = NULL;
    size_t k = 0;
    cr_assert_eq(tokenizer_encode(&tk, "abz\xc3\xa9", 5, 1, 0, &ids, &k, &err), STATUS_OK, "%s", err.msg);
    for (size_t i = 0; i < k; i++)
        cr_expect(ids[i] >= 0 && ids[i] < n, "ids[%zu] = %d", i, ids[i]);
    cr_expect_eq(ids[k - 1], 0, "an unknown byte is <unk>");
    free(ids);
    tokenizer_close(&tk);
}
