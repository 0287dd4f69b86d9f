/* test_vocab.c: the GGUF-style tokenizers built from plain arrays: SentencePiece merges by
 * score, byte fallback, the dummy prefix, special tokens parsed or not, BPE merges by rank,
 * UTF-8 streaming of byte pieces, bad specs refused; and every pre-tokenizer on tricky
 * strings (numbers, contractions, whitespace runs, emoji, CJK, accents). */
#include "../../../../models/vocab/vocab.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "../../../../models/vocab/vocab_internal.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_MAX_BYTES 4096

/* ---- pre-tokenizers ---- */

/* The words of 'text' under 'pre', joined with '|'. */
static void split(enum vocab_pre pre, const char *text, char *out)
{
    size_t len = strlen(text);
    uint32_t *c = malloc((len + 1) * sizeof *c);
    cr_assert(c);
    size_t n = unicode_decode(text, len, c);
    size_t *b;
    long nw = pretok_split(pre, c, n, &b);
    cr_assert_geq(nw, 0);
    size_t w = 0, a = 0;
    for (long i = 0; i < nw; i++) {
        if (i)
            out[w++] = '|';
        for (size_t k = a; k < b[i]; k++)
            w += unicode_encode(c[k], out + w);
        a = b[i];
    }
    out[w] = '\0';
    cr_assert_eq(a, n, "words must cover the text");
    free(b);
    free(c);
}

struct split_case {
    const char *text, *want;
};

static void check_splits(enum vocab_pre pre, const struct split_case *cs, size_t n)
{
    char got[WORDS_MAX_BYTES];
    for (size_t i = 0; i < n; i++) {
        split(pre, cs[i].text, got);
        cr_expect_str_eq(got, cs[i].want, "pre %d, text \"%s\": want \"%s\", got \"%s\"", pre,
                         cs[i].text, cs[i].want, got);
    }
}

#define CHECK(pre, cases) check_splits(pre, cases, sizeof cases / sizeof cases[0])

Test(pretok, gpt2)
{
    static const struct split_case cs[] = {
        {"Hello world", "Hello| world"},
        {"I'm don't 'RE", "I|'m| don|'t| '|RE"}, /* contractions are lower case only */
        {"  spaces   x", " | spaces|  | x"},    /* \s+(?!\S) leaves the last space to the word */
        {"a\n\nb", "a|\n|\n|b"},
        {"x  ", "x|  "},
        {"123 4567", "123| 4567"},
        {"\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99!", "\xF0\x9F\xA6\x99\xF0\x9F\xA6\x99!"}, /* 🦙🦙! */
        {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"}, /* 日本語 */
        {"e\xCC\x81", "e|\xCC\x81"},                 /* e + combining acute: a mark is no letter */
        {"caf\xC3\xA9 ok", "caf\xC3\xA9| ok"},       /* precomposed é is a letter */
        {"a\xC2\xA0" "b", "a|\xC2\xA0|b"},           /* NBSP is whitespace */
    };
    CHECK(PRE_GPT2, cs);
}

Test(pretok, llama3)
{
    static const struct split_case cs[] = {
        {"Hello world", "Hello| world"},
        {"I'M 'Re", "I|'M| '|Re"}, /* case-insensitive contractions */
        {"12345", "123|45"},
        {"a\n\n b", "a|\n\n| b"},
        {"x  \n", "x|  \n"},
        {"!!!\n\nx", "!!!\n\n|x"},
        {"\tword", "\tword"},
        {"3.14", "3|.|14"},
        {"  x", " | x"},
    };
    CHECK(PRE_LLAMA3, cs);
}

Test(pretok, qwen2)
{
    static const struct split_case cs[] = {
        {"12345", "1|2|3|4|5"},
        {"I'M 'Re", "I|'M| '|Re"},
        {"a\n\n b", "a|\n\n| b"},
        {"\xE6\x88\x91\xE6\x83\xB3 apple", "\xE6\x88\x91\xE6\x83\xB3| apple"}, /* 我想 apple */
    };
    CHECK(PRE_QWEN2, cs);
}

Test(pretok, default_)
{
    static const struct split_case cs[] = {
        {"a+=b", "a|+=|b"},
        {"Hello, world!", "Hello|,| world|!"},
        {"12345", "123|45"},
        {"x 1234", "x| |123|4"},
    };
    CHECK(PRE_DEFAULT, cs);
}

Test(pretok, falcon)
{
    static const struct split_case cs[] = {
        {"a`b", "a|`|b"},
        {"x 1234", "x| |123|4"}, /* [0-9]{3} inside " 1234": the space is left alone */
        {"it's", "it|'|s"},      /* the punctuation step runs first: no contractions */
    };
    CHECK(PRE_FALCON, cs);
}

Test(pretok, starcoder)
{
    static const struct split_case cs[] = {
        {"ab12 c", "ab|1|2| c"},
        {"x = 10;", "x| =| |1|0|;"},
    };
    CHECK(PRE_STARCODER, cs);
}

Test(pretok, deepseek_coder)
{
    static const struct split_case cs[] = {
        {"Hello world\n12", "Hello| world|\n|1|2"},
        {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E abc", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E| abc"},
        {"a, b", "a|,| b"},
    };
    CHECK(PRE_DEEPSEEK_CODER, cs);
}

Test(pretok, deepseek_llm)
{
    static const struct split_case cs[] = {
        {"Hello world!\n", "Hello| world|!|\n"},
        {"x   ", "x|   "},
        {"123 456", "123| |456"},
        /* "Été “ok”": the punctuation class [!-/:-~...] holds ASCII letters, so it splits the
         * non-ASCII letters off; the CJK class U+0800..U+4E00 holds the quotes */
        {"\xC3\x89t\xC3\xA9 \xE2\x80\x9Cok\xE2\x80\x9D",
         "\xC3\x89|t|\xC3\xA9| |\xE2\x80\x9C|ok|\xE2\x80\x9D"},
    };
    CHECK(PRE_DEEPSEEK_LLM, cs);
}

Test(pretok, names)
{
    enum vocab_pre p;
    const char *canon;
    int im, ab;
    cr_assert_eq(pretok_lookup("llama-bpe", &p, &canon, &im, &ab), 0);
    cr_assert_eq(p, PRE_LLAMA3);
    cr_assert(im && ab, "llama3 ignores merges for whole words and adds BOS");
    cr_assert_eq(pretok_lookup("refact", &p, &canon, &im, &ab), 0);
    cr_assert_eq(p, PRE_STARCODER);
    cr_assert_eq(pretok_lookup("mpt", &p, &canon, &im, &ab), 0);
    cr_assert_eq(p, PRE_GPT2);
    cr_assert_eq(pretok_lookup("no-such-pre", &p, &canon, &im, &ab), -1);
}

Test(pretok, invalid_utf8_is_one_replacement_per_byte)
{
    uint32_t c[8];
    cr_assert_eq(unicode_decode("a\xFF\xE2\x82", 4, c), 4);
    cr_assert_eq(c[0], 'a');
    cr_assert_eq(c[1], 0xFFFD);
    cr_assert_eq(c[2], 0xFFFD);
    cr_assert_eq(c[3], 0xFFFD);
}

/* ---- a tiny SentencePiece vocabulary ---- */

#define SPM_BYTES 256
#define SPM_FIRST_BYTE 3

struct tiny {
    struct vocab_str tok[SPM_BYTES + 32];
    char byte_names[SPM_BYTES][7];
    float score[SPM_BYTES + 32];
    int32_t type[SPM_BYTES + 32];
    size_t n;
};

static int tiny_add(struct tiny *t, const char *s, float score, int32_t type)
{
    t->tok[t->n] = (struct vocab_str){.p = s, .len = strlen(s)};
    t->score[t->n] = score;
    t->type[t->n] = type;
    return (int)t->n++;
}

static int ID_SP, ID_SP_A, ID_A, ID_B, ID_AB, ID_SP_AB, ID_CTL, ID_UD;

static struct vocab *spm_tiny(struct tiny *t)
{
    memset(t, 0, sizeof *t);
    tiny_add(t, "<unk>", 0, VOCAB_TYPE_UNKNOWN);
    tiny_add(t, "<s>", 0, VOCAB_TYPE_CONTROL);
    tiny_add(t, "</s>", 0, VOCAB_TYPE_CONTROL);
    for (int b = 0; b < SPM_BYTES; b++) {
        snprintf(t->byte_names[b], sizeof t->byte_names[b], "<0x%02X>", b);
        tiny_add(t, t->byte_names[b], 0, VOCAB_TYPE_BYTE);
    }
    ID_SP = tiny_add(t, "\xE2\x96\x81", -1, VOCAB_TYPE_NORMAL);
    ID_SP_A = tiny_add(t, "\xE2\x96\x81" "a", -2, VOCAB_TYPE_NORMAL);
    ID_A = tiny_add(t, "a", -3, VOCAB_TYPE_NORMAL);
    ID_B = tiny_add(t, "b", -3, VOCAB_TYPE_NORMAL);
    ID_AB = tiny_add(t, "ab", -1.5f, VOCAB_TYPE_NORMAL); /* beats ▁a: merged first */
    ID_SP_AB = tiny_add(t, "\xE2\x96\x81" "ab", -4, VOCAB_TYPE_NORMAL);
    ID_CTL = tiny_add(t, "<ctl>", 0, VOCAB_TYPE_CONTROL);
    ID_UD = tiny_add(t, "<ud>", 0, VOCAB_TYPE_USER_DEFINED);
    struct vocab_spec sp;
    vocab_spec_init(&sp);
    sp.model = "llama";
    sp.tokens = t->tok;
    sp.n_tokens = t->n;
    sp.scores = t->score;
    sp.types = t->type;
    struct vocab *v;
    struct status_err err = {0};
    cr_assert_eq(vocab_new(&sp, &v, &err), STATUS_OK, "%s", err.msg);
    return v;
}

static void expect_ids(const struct vocab *v, const char *text, int add_special, int parse_special,
                       const int *want, size_t n_want)
{
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(vocab_encode(v, text, strlen(text), add_special, parse_special, &ids, &n, &err),
                 STATUS_OK);
    cr_expect_eq(n, n_want, "\"%s\": %zu ids, want %zu", text, n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        cr_expect_eq(ids[i], want[i], "\"%s\" id %zu: %d, want %d", text, i, ids[i], want[i]);
    free(ids);
}

Test(vocab_spm, merges_by_score_with_dummy_prefix)
{
    struct tiny t;
    struct vocab *v = spm_tiny(&t);
    /* "▁ab": ab (-1.5) merges before ▁a (-2), then ▁ + ab = ▁ab */
    expect_ids(v, "ab", 0, 0, (int[]){ID_SP_AB}, 1);
    expect_ids(v, "ab", 1, 0, (int[]){1, ID_SP_AB}, 2); /* BOS by default, no EOS */
    expect_ids(v, "b a", 0, 0, (int[]){ID_SP, ID_B, ID_SP_A}, 3);
    expect_ids(v, "", 1, 0, (int[]){1}, 1);
    expect_ids(v, "", 0, 0, NULL, 0);
    /* é is not in the vocabulary: its two bytes */
    expect_ids(v, "\xC3\xA9", 0, 0, (int[]){ID_SP, SPM_FIRST_BYTE + 0xC3, SPM_FIRST_BYTE + 0xA9}, 3);
    vocab_free(v);
}

Test(vocab_spm, special_tokens_parsed_only_on_request)
{
    struct tiny t;
    struct vocab *v = spm_tiny(&t);
    /* parsed: the control token is one id and the text after it gets a dummy prefix again */
    expect_ids(v, "a<ctl>b", 0, 1, (int[]){ID_SP_A, ID_CTL, ID_SP, ID_B}, 4);
    /* not parsed: "<ctl>" is text, here bytes */
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(vocab_encode(v, "a<ctl>b", 7, 0, 0, &ids, &n, &err), STATUS_OK);
    for (size_t i = 0; i < n; i++)
        cr_expect_neq(ids[i], ID_CTL);
    free(ids);
    /* user-defined tokens always match (llama.cpp) */
    expect_ids(v, "a<ud>b", 0, 0, (int[]){ID_SP_A, ID_UD, ID_SP, ID_B}, 4);
    vocab_free(v);
}

Test(vocab_spm, decode_round_trip_and_pieces)
{
    struct tiny t;
    struct vocab *v = spm_tiny(&t);
    const char *texts[] = {"ab", "b a ab", "\xC3\xA9t\xC3\xA9", "a  b"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int *ids;
        size_t n, len;
        struct status_err err = {0};
        cr_assert_eq(vocab_encode(v, texts[k], strlen(texts[k]), 1, 0, &ids, &n, &err), STATUS_OK);
        char *back = vocab_decode(v, ids, n, 0, &len);
        cr_expect_str_eq(back, texts[k]);
        free(back);
        free(ids);
    }
    size_t len;
    cr_expect_str_eq(vocab_piece(v, ID_SP_AB, 0, &len), " ab");
    cr_expect_eq(len, 3);
    cr_expect_str_eq(vocab_piece(v, 1, 0, &len), ""); /* control: silent */
    cr_expect_str_eq(vocab_piece(v, 1, 1, &len), "<s>");
    cr_expect_eq(*vocab_piece(v, SPM_FIRST_BYTE + 0x41, 0, &len), 'A');
    cr_expect_str_eq(vocab_piece(v, 999999, 1, &len), "");
    vocab_free(v);
}

/* ---- a tiny byte-level BPE vocabulary ---- */

struct tiny_bpe {
    char names[SPM_BYTES][4];
    struct vocab_str tok[SPM_BYTES + 8];
    struct vocab_str merge[8];
    size_t n, n_merges;
};

static struct vocab *bpe_tiny(struct tiny_bpe *t, const char *pre, int *id_ab, int *id_sp_ab)
{
    memset(t, 0, sizeof *t);
    for (int b = 0; b < SPM_BYTES; b++) { /* token b = byte b's printable code point */
        size_t l = unicode_encode(bpe_byte_to_cpt((unsigned char)b), t->names[b]);
        t->tok[t->n++] = (struct vocab_str){.p = t->names[b], .len = l};
    }
    static const char *const extra[] = {"ab", "\xC4\xA0" "ab", "<|end|>"};
    for (size_t k = 0; k < 3; k++)
        t->tok[t->n++] = (struct vocab_str){.p = extra[k], .len = strlen(extra[k])};
    *id_ab = SPM_BYTES;
    *id_sp_ab = SPM_BYTES + 1;
    static const char *const merges[] = {"a b", "\xC4\xA0 ab"};
    for (size_t k = 0; k < 2; k++)
        t->merge[t->n_merges++] = (struct vocab_str){.p = merges[k], .len = strlen(merges[k])};
    struct vocab_spec sp;
    vocab_spec_init(&sp);
    sp.model = "gpt2";
    sp.pre = pre;
    sp.tokens = t->tok;
    sp.n_tokens = t->n;
    sp.merges = t->merge;
    sp.n_merges = t->n_merges;
    sp.eos = SPM_BYTES + 2;
    struct vocab *v;
    struct status_err err = {0};
    cr_assert_eq(vocab_new(&sp, &v, &err), STATUS_OK, "%s", err.msg);
    return v;
}

Test(vocab_bpe, merges_by_rank)
{
    struct tiny_bpe t;
    int ab, sp_ab;
    struct vocab *v = bpe_tiny(&t, "gpt-2", &ab, &sp_ab);
    expect_ids(v, "ab ab", 0, 0, (int[]){ab, sp_ab}, 2);
    expect_ids(v, "ba", 0, 0, (int[]){'b', 'a'}, 2);
    /* <|end|> is made a control token by its name: text unless parsed */
    expect_ids(v, "<|end|>", 0, 1, (int[]){SPM_BYTES + 2}, 1);
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(vocab_encode(v, "<|end|>", 7, 0, 0, &ids, &n, &err), STATUS_OK);
    cr_expect_gt(n, 1);
    free(ids);
    cr_expect(vocab_is_eog(v, SPM_BYTES + 2));
    /* gpt2 adds no BOS */
    expect_ids(v, "ab", 1, 0, (int[]){ab}, 1);
    vocab_free(v);
}

Test(vocab_bpe, byte_pieces_stream_without_splitting_characters)
{
    struct tiny_bpe t;
    int ab, sp_ab;
    struct vocab *v = bpe_tiny(&t, NULL, &ab, &sp_ab); /* no pre: the default one */
    cr_expect_str_eq(vocab_pre_name(v), "default");
    const char *text = "h\xC3\xA9 \xF0\x9F\xA6\x99 \xE6\x97\xA5!"; /* hé 🦙 日! */
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(vocab_encode(v, text, strlen(text), 0, 0, &ids, &n, &err), STATUS_OK);
    cr_assert_eq(n, strlen(text), "one byte token per byte");
    char out[256];
    size_t w = 0;
    struct utf8_stream u = {0};
    for (size_t i = 0; i < n; i++) {
        size_t pl;
        const char *p = vocab_piece(v, ids[i], 0, &pl);
        size_t got = utf8_stream_push(&u, p, pl, out + w);
        /* whatever came out is whole characters */
        for (size_t k = w; k < w + got;) {
            size_t cl = unicode_len_utf8((unsigned char)out[k]);
            cr_assert_leq(k + cl, w + got, "a character split across pieces");
            k += cl;
        }
        w += got;
    }
    w += utf8_stream_flush(&u, out + w);
    out[w] = '\0';
    cr_expect_str_eq(out, text);
    free(ids);
    vocab_free(v);
}

/* ---- bad specs ---- */

Test(vocab, bad_specs_refused)
{
    struct vocab_str one = {.p = "a", .len = 1};
    struct vocab_spec sp;
    struct vocab *v = NULL;
    struct status_err err = {0};
    vocab_spec_init(&sp);
    sp.tokens = &one;
    sp.n_tokens = 1;
    sp.model = "ugm"; /* bert is WordPiece now; ugm is not supported */
    cr_expect_eq(vocab_new(&sp, &v, &err), STATUS_BAD_FORMAT);
    cr_expect_str_eq(err.param, "tokenizer.ggml.model");
    status_clear(&err);
    sp.model = "gpt2";
    sp.pre = "klingon";
    cr_expect_eq(vocab_new(&sp, &v, &err), STATUS_BAD_FORMAT);
    cr_expect_str_eq(err.param, "tokenizer.ggml.pre");
    status_clear(&err);
    sp.model = "llama";
    sp.n_tokens = 0;
    cr_expect_eq(vocab_new(&sp, &v, &err), STATUS_BAD_FORMAT);
    cr_expect_str_eq(err.param, "tokenizer.ggml.tokens");
    status_clear(&err);
    struct vocab_str big = {.p = "x", .len = (size_t)VOCAB_TOKEN_BYTES_MAX + 1};
    sp.tokens = &big;
    sp.n_tokens = 1;
    cr_expect_eq(vocab_new(&sp, &v, &err), STATUS_BAD_FORMAT);
    cr_expect_null(v);
    vocab_free(NULL);
}

Test(vocab, empty_tokens_get_distinct_names)
{
    struct vocab_str toks[3] = {{"", 0}, {"", 0}, {"x", 1}};
    struct vocab_spec sp;
    vocab_spec_init(&sp);
    sp.model = "llama";
    sp.tokens = toks;
    sp.n_tokens = 3;
    struct vocab *v;
    struct status_err err = {0};
    cr_assert_eq(vocab_new(&sp, &v, &err), STATUS_OK);
    size_t len;
    cr_expect_str_eq(vocab_text(v, 1, &len), "[EMPTY_1]");
    vocab_free(v);
}

/* Bug guard: splitting on special tokens inserted into an array, quadratic once a second
 * special token splits the many fragments of the first (400 KB of "<s>a</s>" took 17 s);
 * now each special token is one linear pass. */
Test(vocab_spm, many_special_tokens_stay_linear)
{
    struct tiny t;
    struct vocab *v = spm_tiny(&t);
    static const char unit[] = "<ctl>a</s>";
    const size_t reps = 100000, ul = sizeof unit - 1;
    char *text = malloc(reps * ul + 1);
    cr_assert(text);
    for (size_t i = 0; i < reps; i++)
        memcpy(text + i * ul, unit, ul);
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(vocab_encode(v, text, reps * ul, 0, 1, &ids, &n, &err), STATUS_OK);
    cr_expect_eq(n, 3 * reps, "<ctl>, ▁a, </s> per repetition: %zu", n);
    free(ids);
    free(text);
    vocab_free(v);
}
