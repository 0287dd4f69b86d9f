/* test_gguf_model.c: GGUF files written by llama.cpp's own tools run here as there:
 * stories260K.gguf generates exactly what run.c generates from stories260K.bin, and each
 * quantized stories15M-shape file reproduces llama-server's greedy ids (the first tokens
 * exactly; later divergences are printed, since random weights make near-ties). Skips
 * cleanly when ../shared is absent. */
#include "../../../../models/transformer/transformer_internal.h"
#include "../transformer/tt_helpers.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *shared_dir(void)
{
    static char dir[512];
    const char *env = getenv("LMSERVE_SHARED_MODELS");
    const char *cands[] = {env, "../shared/models", "/work/shared/models"};
    for (size_t i = 0; i < 3; i++) {
        if (!cands[i])
            continue;
        char f[600];
        snprintf(f, sizeof f, "%s/gguf/stories260K.gguf", cands[i]);
        if (access(f, R_OK) == 0) {
            snprintf(dir, sizeof dir, "%s", cands[i]);
            return dir;
        }
    }
    return NULL;
}

Test(gguf_model, stories260K_matches_run_c)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent: stories260K.gguf not checked");
    char path[600];
    snprintf(path, sizeof path, "%s/stories260K_expected.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert_not_null(root, "%s: %s", path, je.text);
    snprintf(path, sizeof path, "%s/gguf/stories260K.gguf", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(t->ck.shape.vocab, 512);
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), ci, c) {
        json_t *ids = json_object_get(c, "token_ids");
        const size_t n = json_array_size(ids);
        int *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        for (size_t i = 0; i < n; i++)
            want[i] = (int)json_integer_value(json_array_get(ids, i));
        /* num_prompt_tokens counts BOS and the prompt; the rest was generated */
        const size_t np = (size_t)json_integer_value(json_object_get(c, "num_prompt_tokens"));
        cr_assert(np >= 1 && np < n);
        tt_greedy(t, want, np, got, n - np);
        for (size_t i = np; i < n; i++)
            cr_assert_eq(got[i - np], want[i], "case %zu: position %zu: %d, run.c %d", ci, i,
                         got[i - np], want[i]);
        free(want);
        free(got);
    }
    transformer_close(t);
    json_decref(root);
}

/* The number of leading ids that must match exactly; later ones are reported. */
#define LLAMACPP_EXACT 4

Test(gguf_model, quantized_files_match_llama_cpp)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent: llama.cpp's greedy ids not checked");
    char path[600];
    snprintf(path, sizeof path, "%s/gguf/expected_llamacpp.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    cr_assert_not_null(root, "%s: %s", path, je.text);
    size_t ci;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), ci, c) {
        const char *model = json_string_value(json_object_get(c, "model"));
        snprintf(path, sizeof path, "%s/gguf/%s", dir, model);
        transformer *t;
        struct status_err err = {0};
        cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
        json_t *pt = json_object_get(c, "prompt_tokens"), *tk = json_object_get(c, "tokens");
        const size_t np = json_array_size(pt) + 1, ng = json_array_size(tk);
        int *prompt = malloc(np * sizeof *prompt), *got = malloc(ng * sizeof *got);
        prompt[0] = TRANSFORMER_BOS;
        for (size_t i = 1; i < np; i++)
            prompt[i] = (int)json_integer_value(json_array_get(pt, i - 1));
        tt_greedy(t, prompt, np, got, ng);
        size_t same = 0;
        while (same < ng && got[same] == (int)json_integer_value(json_array_get(tk, same)))
            same++;
        if (same < ng)
            fprintf(stderr, "gguf_model: %s '%s': first %zu of %zu ids as llama.cpp, then %d "
                            "(llama.cpp %d)\n",
                    model, json_string_value(json_object_get(c, "prompt")), same, ng, got[same],
                    (int)json_integer_value(json_array_get(tk, same)));
        cr_expect_geq(same, LLAMACPP_EXACT, "%s case %zu: only %zu ids match", model, ci, same);
        free(prompt);
        free(got);
        transformer_close(t);
    }
    json_decref(root);
}

/* kv_type f16 stores the (already fp16-rounded) keys and values as half: every logit of a
 * prompt and of the decode steps after it equals the f32 cache's bit for bit, in half the
 * memory; other types are refused by name. */
Test(gguf_model, kv_type_f16_gives_the_same_logits)
{
    const char *dir = shared_dir();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char path[600];
    snprintf(path, sizeof path, "%s/gguf/stories15M-random-Q8_0.gguf", dir);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    const int V = t->ck.shape.vocab;
    int ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = 1 + (i * 7919) % (V - 1);
    float *want = malloc(4 * (size_t)V * sizeof *want);
    size_t bytes[2];
    for (int f16 = 0; f16 < 2; f16++) {
        cr_assert_eq(transformer_set_kv_type(t, f16 ? "f16" : "f32", &err), STATUS_OK, "%s", err.msg);
        transformer_seq *s = transformer_seq_new(t, 64);
        cr_assert_not_null(s);
        bytes[f16] = transformer_seq_bytes(s);
        cr_assert_eq(transformer_forward(s, ids, 37, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
        for (int step = 0; step < 4; step++) {
            const float *lg = transformer_logits(s);
            if (!f16)
                memcpy(want + (size_t)step * V, lg, (size_t)V * sizeof *lg);
            else
                cr_assert(memcmp(want + (size_t)step * V, lg, (size_t)V * sizeof *lg) == 0,
                          "step %d: the f16 cache changed the logits", step);
            cr_assert_eq(transformer_forward(s, &ids[37 + step % 3], 1, NULL, NULL, &err), STATUS_OK);
        }
        transformer_seq_free(s);
    }
    cr_assert_lt(bytes[1], bytes[0], "the f16 cache is not smaller: %zu vs %zu", bytes[1], bytes[0]);
    cr_assert_eq(transformer_set_kv_type(t, "q8_0", &err), STATUS_BAD_INPUT);
    cr_assert(strstr(err.msg, "kv_type") != NULL, "%s", err.msg);
    free(want);
    transformer_close(t);
}
