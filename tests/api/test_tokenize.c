/* test_tokenize.c: /v1/tokenize and /v1/detokenize on a vocabulary-only GGUF file (a
 * tokenizer-only Transformer): add_special and its alias add_bos, parse_special, pieces,
 * generation and scoring refused with 400 naming the model; and llama.cpp's gpt-2
 * vocabulary from ../shared/vocab when present. */
#include "../../models/gguf/gguf_write.h"
#include "harness.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TK_PATH_MAX 1024
#define TK_BYTES 256
#define TK_FIRST_BYTE 3 /* <unk> <s> </s>, then <0x00>.. */
enum { TK_SP = TK_FIRST_BYTE + TK_BYTES, TK_SP_A, TK_A, TK_B, TK_AB, TK_SP_AB, TK_IM_END, TK_N };

/* A SentencePiece vocabulary, no tensors, an architecture nobody knows. */
static void write_vocab(const char *path)
{
    static char names[TK_BYTES][7];
    const char *tok[TK_N];
    float score[TK_N];
    int32_t type[TK_N];
    tok[0] = "<unk>", tok[1] = "<s>", tok[2] = "</s>";
    type[0] = 2, type[1] = type[2] = 3;
    for (int b = 0; b < TK_BYTES; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        tok[TK_FIRST_BYTE + b] = names[b];
        type[TK_FIRST_BYTE + b] = 6;
    }
    tok[TK_SP] = "\xE2\x96\x81", tok[TK_SP_A] = "\xE2\x96\x81" "a", tok[TK_A] = "a";
    tok[TK_B] = "b", tok[TK_AB] = "ab", tok[TK_SP_AB] = "\xE2\x96\x81" "ab";
    tok[TK_IM_END] = "<|im_end|>";
    for (int i = 0; i < TK_N; i++)
        score[i] = i >= TK_SP ? -(float)(i - TK_SP) : 0.0f;
    for (int i = TK_SP; i < TK_N; i++)
        type[i] = 1;
    type[TK_IM_END] = 3;
    gguf_writer *w = gguf_writer_new();
    cr_assert(w);
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_str(w, "general.architecture", "no-such-arch"), STATUS_OK);
    cr_assert_eq(gguf_writer_str(w, "tokenizer.ggml.model", "llama"), STATUS_OK);
    cr_assert_eq(gguf_writer_arr_str(w, "tokenizer.ggml.tokens", tok, TK_N), STATUS_OK);
    cr_assert_eq(gguf_writer_arr_f32(w, "tokenizer.ggml.scores", score, TK_N), STATUS_OK);
    cr_assert_eq(gguf_writer_arr_i32(w, "tokenizer.ggml.token_type", type, TK_N), STATUS_OK);
    cr_assert_eq(gguf_writer_u32(w, "tokenizer.ggml.bos_token_id", 1), STATUS_OK);
    cr_assert_eq(gguf_writer_u32(w, "tokenizer.ggml.eos_token_id", 2), STATUS_OK);
    cr_assert_eq(gguf_writer_bool(w, "tokenizer.ggml.add_bos_token", 1), STATUS_OK);
    cr_assert_eq(gguf_writer_write(w, path, &err), STATUS_OK, "%s", err.msg);
    gguf_writer_free(w);
}

static void expect_tokens(const struct srv *s, const char *body, const int *want, size_t n)
{
    json_t *j = http_post_ok(s, "/v1/tokenize", body);
    json_t *t = json_object_get(j, "tokens");
    cr_assert_eq(json_array_size(t), n, "%s -> %zu tokens, want %zu", body, json_array_size(t), n);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(json_integer_value(json_array_get(t, i)), want[i], "%s: token %zu", body, i);
    json_decref(j);
}

static void expect_400(const struct srv *s, const char *path, const char *body, const char *param)
{
    struct http_res r;
    cr_assert_eq(http_post(s, path, body, &r), 0);
    expect_error(&r, 400, param);
    http_res_free(&r);
}

Test(tokenize, vocab_only_gguf_is_a_tokenizer, .timeout = 60)
{
    char path[TK_PATH_MAX], spec[TK_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/vocab-only.gguf", harness_tmpdir());
    write_vocab(path);
    snprintf(spec, sizeof spec, "v=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    /* add_special defaults to true: BOS, as the metadata says */
    expect_tokens(&s, "{\"model\":\"v\",\"text\":\"ab\"}", (int[]){1, TK_SP_AB}, 2);
    expect_tokens(&s, "{\"model\":\"v\",\"text\":\"ab\",\"add_special\":false}", (int[]){TK_SP_AB}, 1);
    expect_tokens(&s, "{\"model\":\"v\",\"text\":\"ab\",\"add_bos\":false}", (int[]){TK_SP_AB}, 1);
    expect_tokens(&s, "{\"model\":\"v\",\"text\":\"ab\",\"add_bos\":true,\"add_special\":true}",
                  (int[]){1, TK_SP_AB}, 2);
    expect_400(&s, "/v1/tokenize", "{\"model\":\"v\",\"text\":\"ab\",\"add_bos\":true,\"add_special\":false}",
               "add_bos");
    expect_400(&s, "/v1/tokenize", "{\"model\":\"v\",\"text\":\"ab\",\"parse_special\":1}",
               "parse_special");
    /* control tokens: text unless parse_special */
    expect_tokens(&s, "{\"model\":\"v\",\"text\":\"a<|im_end|>\",\"add_special\":false,\"parse_special\":true}",
                  (int[]){TK_SP_A, TK_IM_END}, 2);
    json_t *j = http_post_ok(&s, "/v1/tokenize",
                        "{\"model\":\"v\",\"text\":\"a<|im_end|>\",\"add_special\":false,\"with_pieces\":true}");
    json_t *t = json_object_get(j, "tokens");
    cr_expect_gt(json_array_size(t), 2);
    for (size_t i = 0; i < json_array_size(t); i++)
        cr_expect_neq(json_integer_value(json_array_get(t, i)), TK_IM_END);
    cr_expect_eq(json_array_size(json_object_get(j, "pieces")), json_array_size(t));
    json_decref(j);
    /* detokenize: BOS skipped, dummy prefix dropped, bytes joined */
    char body[256];
    snprintf(body, sizeof body, "{\"model\":\"v\",\"tokens\":[1,%d,%d,%d,%d]}", TK_SP_AB,
             TK_FIRST_BYTE + 0xC3, TK_FIRST_BYTE + 0xA9, TK_IM_END);
    j = http_post_ok(&s, "/v1/detokenize", body);
    cr_expect_str_eq(json_string_value(json_object_get(j, "text")), "ab\xC3\xA9<|im_end|>");
    json_decref(j);
    snprintf(body, sizeof body, "{\"model\":\"v\",\"tokens\":[%d]}", TK_N);
    expect_400(&s, "/v1/detokenize", body, "tokens[0]");
    /* no weights: generation and scoring say why */
    expect_400(&s, "/v1/completions", "{\"model\":\"v\",\"prompt\":\"ab\",\"max_tokens\":2}", "model");
    expect_400(&s, "/v1/score", "{\"model\":\"v\",\"input\":\"ab\"}", "model");
    struct http_res r;
    cr_assert_eq(http_get(&s, "/v1/models/v", &r), 0);
    cr_assert_eq(r.status, 200);
    json_t *d = json_object_get(r.json, "details");
    cr_expect(json_is_true(json_object_get(d, "tokenizer_only")));
    cr_expect_eq(json_integer_value(json_object_get(d, "vocab")), TK_N);
    cr_expect_str_eq(json_string_value(json_object_get(d, "tokenizer")), "llama");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0);
}

Test(tokenize, gpt2_vocabulary_from_shared, .timeout = 60)
{
    const char *cands[] = {"../shared/vocab/ggml-vocab-gpt-2.gguf", "/work/shared/vocab/ggml-vocab-gpt-2.gguf"};
    const char *path = NULL;
    for (size_t i = 0; i < 2 && !path; i++)
        if (access(cands[i], R_OK) == 0)
            path = cands[i];
    if (!path)
        cr_skip_test("../shared/vocab absent");
    char spec[TK_PATH_MAX];
    snprintf(spec, sizeof spec, "g=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    /* llama-tokenize -p "Hello world<|endoftext|>": 15496 995 50256 (gpt-2 adds no BOS) */
    expect_tokens(&s, "{\"model\":\"g\",\"text\":\"Hello world<|endoftext|>\",\"parse_special\":true}",
                  (int[]){15496, 995, 50256}, 3);
    json_t *j = http_post_ok(&s, "/v1/detokenize", "{\"model\":\"g\",\"tokens\":[15496,995]}");
    cr_expect_str_eq(json_string_value(json_object_get(j, "text")), "Hello world");
    json_decref(j);
    cr_assert_eq(srv_stop(&s), 0);
}
