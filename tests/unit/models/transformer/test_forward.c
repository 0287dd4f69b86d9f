/* test_forward.c: the forward pass: (1) greedy generation on stories260K reproduces
 * llama2.c's run.c exactly; (2) logits of random checkpoints (legacy, v1, v2; GQA and not;
 * shared and separate classifier) match the NumPy reference tests/ref/llama_ref.py; a
 * batched prompt equals token-by-token decoding; both kernel tables. */
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <jansson.h>
#include <math.h>

#define TF_LOGIT_TOL_REL 1e-4 /* the bound, relative to max(|ref|, TF_LOGIT_FLOOR) */
#define TF_LOGIT_FLOOR 1.0    /* logits are O(1..10): near-zero ones are compared absolutely */
#define TF_PYTHON "/usr/bin/python3"

static void check_run_c_case(transformer *t, json_t *c)
{
    const char *prompt = json_string_value(json_object_get(c, "prompt"));
    const char *output = json_string_value(json_object_get(c, "output"));
    json_t *want = json_object_get(c, "token_ids");
    size_t n_prompt = (size_t)json_integer_value(json_object_get(c, "num_prompt_tokens"));
    int steps = (int)json_integer_value(json_object_get(c, "steps"));
    int *ids;
    size_t n;
    struct status_err err = {0};
    cr_assert_eq(transformer_encode(t, prompt, strlen(prompt), 1, 0, &ids, &n, &err), STATUS_OK);
    cr_assert_eq(n, n_prompt, "prompt '%s': %zu tokens, run.c had %zu", prompt, n, n_prompt);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(ids[i], (int)json_integer_value(json_array_get(want, i)), "prompt token %zu", i);
    /* run.c: forward passes at positions 0..steps-1, prints the token after each */
    const size_t gen = (size_t)steps - n_prompt + 1;
    transformer_seq *s = transformer_seq_new(t, (size_t)steps + 1);
    cr_assert_eq(transformer_forward(s, ids, n, NULL, NULL, &err), STATUS_OK, "%s", err.msg);
    char *text = calloc(1, 8192);
    size_t tl = 0;
    int prev = ids[n - 1];
    for (size_t g = 0; g < gen; g++) {
        const float *lg = transformer_logits(s);
        int best = 0;
        for (int v = 1; v < transformer_shape_of(t)->vocab; v++)
            if (lg[v] > lg[best])
                best = v;
        int exp = (int)json_integer_value(json_array_get(want, n + g));
        cr_assert_eq(best, exp, "prompt '%s': generated token %zu is %d, run.c gave %d", prompt,
                     g, best, exp);
        size_t pl;
        const char *p = transformer_piece(t, prev, best, &pl);
        memcpy(text + tl, p, pl);
        tl += pl;
        prev = best;
        if (g + 1 < gen)
            cr_assert_eq(transformer_forward(s, &best, 1, NULL, NULL, &err), STATUS_OK);
    }
    /* output = the echoed prompt + the generated text + "\n" */
    size_t pl = strlen(prompt);
    cr_assert_eq(strncmp(output, prompt, pl), 0);
    cr_assert_eq(strlen(output) - pl - 1, tl, "text length %zu vs %zu", tl, strlen(output) - pl - 1);
    cr_assert_eq(memcmp(output + pl, text, tl), 0, "generated text differs:\n%.*s", (int)tl, text);
    free(text);
    free(ids);
    transformer_seq_free(s);
}

static void run_c_greedy(const struct kernels_ops *k)
{
    const char *dir = tt_shared();
    if (!dir)
        cr_skip_test("../shared/models/stories260K.bin absent: run.c comparison skipped");
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX], js[TT_FILE_MAX];
    snprintf(ck, sizeof ck, "%s/stories260K.bin", dir);
    snprintf(tok, sizeof tok, "%s/tok512.bin", dir);
    snprintf(js, sizeof js, "%s/stories260K_expected.json", dir);
    json_error_t je;
    json_t *root = json_load_file(js, 0, &je);
    cr_assert_not_null(root, "%s: %s", js, je.text);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(ck, tok, &t, &err), STATUS_OK, "%s", err.msg);
    t->k = k;
    json_t *cases = json_object_get(root, "cases");
    cr_assert(json_array_size(cases) > 0);
    for (size_t i = 0; i < json_array_size(cases); i++)
        check_run_c_case(t, json_array_get(cases, i));
    transformer_close(t);
    json_decref(root);
}

Test(transformer_runc, stories260K_greedy_equals_run_c) { run_c_greedy(kernels_select()); }
Test(transformer_runc, stories260K_greedy_equals_run_c_ref_kernels) { run_c_greedy(kernels_tier(KERNELS_TIER_REF)); }

/* ---- NumPy reference ---- */

static const int TF_PROMPT[] = {1, 280, 17, 42, 299, 5, 260, 99, 3};
#define TF_PROMPT_N (sizeof TF_PROMPT / sizeof TF_PROMPT[0])

static float *numpy_logits(const char *ck, size_t vocab)
{
    if (access(TF_PYTHON, X_OK) != 0 || system(TF_PYTHON " -c 'import numpy' 2>/dev/null") != 0)
        cr_skip_test("Debian python3-numpy absent: NumPy reference skipped");
    char out[TT_FILE_MAX + 16], cmd[4 * TT_FILE_MAX];
    snprintf(out, sizeof out, "%s.ref.f32", ck);
    int w = snprintf(cmd, sizeof cmd, "%s tests/ref/llama_ref.py %s %s", TF_PYTHON, ck, out);
    for (size_t i = 0; i < TF_PROMPT_N; i++)
        w += snprintf(cmd + w, sizeof cmd - (size_t)w, " %d", TF_PROMPT[i]);
    cr_assert_eq(system(cmd), 0, "reference failed: %s", cmd);
    float *ref = malloc(TF_PROMPT_N * vocab * sizeof *ref);
    FILE *f = fopen(out, "rb");
    cr_assert_not_null(f);
    cr_assert_eq(fread(ref, sizeof *ref, TF_PROMPT_N * vocab, f), TF_PROMPT_N * vocab);
    fclose(f);
    return ref;
}

static void compare_numpy(const char *name, const char *flags)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    tt_make(name, flags, ck, tok);
    transformer *t;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(ck, tok, &t, &err), STATUS_OK, "%s", err.msg);
    const size_t V = (size_t)transformer_shape_of(t)->vocab;
    float *ref = numpy_logits(ck, V);
    const struct kernels_ops *tables[] = {kernels_tier(KERNELS_TIER_REF), kernels_select()};
    float *got = malloc(TF_PROMPT_N * V * sizeof *got);
    for (size_t k = 0; k < 2; k++) {
        t->k = tables[k];
        /* the prompt as one batch, every position's logits */
        transformer_seq *s = transformer_seq_new(t, 0);
        cr_assert_eq(transformer_forward(s, TF_PROMPT, TF_PROMPT_N, got, NULL, &err), STATUS_OK,
                     "%s", err.msg);
        double worst = 0;
        for (size_t i = 0; i < TF_PROMPT_N * V; i++) {
            double r = ref[i], e = fabs(got[i] - r) / fmax(fabs(r), TF_LOGIT_FLOOR);
            worst = fmax(worst, e);
            cr_assert(e <= TF_LOGIT_TOL_REL, "%s (%s kernels): position %zu token %zu: numpy %.7g, "
                      "ours %.7g, relative error %.3g", name, tables[k]->name, i / V, i % V, r,
                      (double)got[i], e);
        }
        transformer_seq_free(s);
        /* token by token must give the same logits as the batch */
        s = transformer_seq_new(t, 0);
        for (size_t p = 0; p < TF_PROMPT_N; p++) {
            cr_assert_eq(transformer_forward(s, &TF_PROMPT[p], 1, NULL, NULL, &err), STATUS_OK);
            const float *lg = transformer_logits(s);
            for (size_t v = 0; v < V; v++) {
                double r = ref[p * V + v];
                cr_assert(fabs(lg[v] - r) / fmax(fabs(r), TF_LOGIT_FLOOR) <= TF_LOGIT_TOL_REL,
                          "%s decode pos %zu token %zu: numpy %.7g ours %.7g", name, p, v, r,
                          (double)lg[v]);
            }
        }
        transformer_seq_free(s);
        cr_log_info("%s (%s): worst relative error %.3g", name, tables[k]->name, worst);
    }
    free(got);
    free(ref);
    transformer_close(t);
}

Test(transformer_numpy, legacy_gqa_shared)
{
    compare_numpy("leg_gqa", "--version 0 --dim 64 --hidden 172 --layers 2 --heads 8 --kv-heads 4 "
                             "--vocab 320 --seq 32 --seed 11");
}
Test(transformer_numpy, legacy_mha_unshared)
{
    compare_numpy("leg_mha", "--version 0 --dim 48 --hidden 100 --layers 2 --heads 4 --kv-heads 4 "
                             "--vocab 300 --seq 16 --unshared --seed 12");
}
Test(transformer_numpy, v1_gqa_unshared)
{
    compare_numpy("v1_gqa", "--version 1 --dim 64 --hidden 160 --layers 3 --heads 4 --kv-heads 2 "
                            "--vocab 330 --seq 32 --unshared --seed 13");
}
Test(transformer_numpy, v1_mha_shared)
{
    compare_numpy("v1_mha", "--version 1 --dim 32 --hidden 96 --layers 2 --heads 2 --kv-heads 2 "
                            "--vocab 300 --seq 24 --seed 14");
}
Test(transformer_numpy, v2_q8_gqa_shared)
{
    compare_numpy("v2_gqa", "--version 2 --group-size 32 --dim 64 --hidden 192 --layers 2 "
                            "--heads 8 --kv-heads 2 --vocab 320 --seq 32 --seed 15");
}
Test(transformer_numpy, v2_q8_mha_unshared_straddling_groups)
{
    /* hidden 172 is not a multiple of 64: w2's groups straddle rows (the scalar path) */
    compare_numpy("v2_mha", "--version 2 --dim 64 --hidden 172 --layers 2 --heads 4 --kv-heads 4 "
                            "--vocab 320 --seq 32 --unshared --seed 16");
}

Test(transformer_numpy, formats_agree_and_describe_shape)
{
    char c0[TT_FILE_MAX], c1[TT_FILE_MAX], tok[TT_FILE_MAX];
    const char *shape = "--dim 32 --hidden 64 --layers 1 --heads 4 --kv-heads 2 --vocab 300 --seq 8 --seed 5";
    char f0[256], f1[256];
    snprintf(f0, sizeof f0, "--version 0 %s", shape);
    snprintf(f1, sizeof f1, "--version 1 %s", shape);
    tt_make("agree0", f0, c0, tok);
    tt_make("agree1", f1, c1, tok);
    transformer *a, *b;
    struct status_err err = {0};
    cr_assert_eq(transformer_open(c0, tok, &a, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(transformer_open(c1, tok, &b, &err), STATUS_OK, "%s", err.msg);
    const struct transformer_shape *sa = transformer_shape_of(a);
    cr_assert_eq(sa->dim, 32);
    cr_assert_eq(sa->n_kv_heads, 2);
    cr_assert_eq(sa->version, 0);
    cr_assert_eq(transformer_shape_of(b)->version, 1);
    cr_assert_eq(sa->n_params, transformer_shape_of(b)->n_params);
    transformer_seq *x = transformer_seq_new(a, 0), *y = transformer_seq_new(b, 0);
    int ids[] = {1, 100, 200};
    cr_assert_eq(transformer_forward(x, ids, 3, NULL, NULL, &err), STATUS_OK);
    cr_assert_eq(transformer_forward(y, ids, 3, NULL, NULL, &err), STATUS_OK);
    cr_assert_eq(memcmp(transformer_logits(x), transformer_logits(y), 300 * sizeof(float)), 0);
    /* capacity: the 9th position of an 8-token context is refused */
    int more[6] = {5, 6, 7, 8, 9, 10};
    cr_assert_eq(transformer_forward(x, more, 6, NULL, NULL, &err), STATUS_BAD_INPUT);
    int bad = 300;
    status_clear(&err);
    cr_assert_eq(transformer_forward(y, &bad, 1, NULL, NULL, &err), STATUS_BAD_INPUT);
    transformer_seq_free(x);
    transformer_seq_free(y);
    transformer_close(a);
    transformer_close(b);
}
