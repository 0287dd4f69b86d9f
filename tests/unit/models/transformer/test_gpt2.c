/* test_gpt2.c: the GPT-2 pass on random files written by `lmserve-gguf random --arch gpt2`:
 * a prompt run as batches gives the logits of the same tokens fed one at a time (KV cache,
 * learned positions at every offset); two sequences stepped together (continuous batching)
 * give what each gives alone; a tied output (no output.weight) loads and shares the
 * embedding; a file missing a GPT-2 tensor is a clear error naming it. llama.cpp's numbers
 * are in ../gguf/test_gguf_llamacpp.c. */
#include "../../../../models/gguf/gguf_write.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define G2_PROMPT 200 /* more than one 128-token batch (forward.c TRANSFORMER_BATCH_MAX) */

static transformer *g2_open(const char *extra, char *path, size_t cap)
{
    return tt_gguf_random("gpt2", "--arch gpt2 --dim 64 --layers 2 --heads 4 --ctx 256 --seed 9",
                          extra, path, cap);
}

Test(gpt2, batched_prompt_equals_token_by_token)
{
    char path[256];
    transformer *t = g2_open("", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    cr_expect_str_eq(t->ck.arch.name, "gpt2");
    cr_expect(t->ck.arch.layernorm && !t->ck.arch.gated && t->ck.arch.n_rot == 0);
    const int V = t->ck.shape.vocab;
    int ids[G2_PROMPT];
    for (int i = 0; i < G2_PROMPT; i++)
        ids[i] = (i * 41) % V;
    transformer_seq *a = transformer_seq_new(t, 0), *b = transformer_seq_new(t, 0);
    struct status_err err = {0};
    const double worst = tt_batched_vs_single(t, a, b, ids, G2_PROMPT);
    /* ggml numerics round to fp16 (KV cache, GELU's table): a different summation order of
     * the batched GEMM and the one-token matvec can flip one rounding (llama.cpp's own
     * batched and single-token logits differ the same way) */
    cr_expect_leq(worst, 2e-3, "batched vs token-by-token logits differ by %g", worst);
    /* past the 256 learned positions: refused, not read out of bounds */
    int more[60] = {0};
    cr_expect_eq(transformer_forward(a, more, 60, NULL, NULL, &err), STATUS_BAD_INPUT);
    transformer_seq_free(a);
    transformer_seq_free(b);
    transformer_close(t);
    remove(path);
}

Test(gpt2, two_sequences_in_one_step_equal_each_alone)
{
    char path[256];
    transformer *t = g2_open("--type Q8_0", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    const size_t V = (size_t)t->ck.shape.vocab;
    const int p1[5] = {1, 2, 3, 4, 5}, p2[3] = {300, 301, 302};
    struct status_err err = {0};
    transformer_seq *alone1 = transformer_seq_new(t, 0), *alone2 = transformer_seq_new(t, 0);
    cr_assert_eq(transformer_forward(alone1, p1, 5, NULL, NULL, &err), STATUS_OK);
    cr_assert_eq(transformer_forward(alone2, p2, 3, NULL, NULL, &err), STATUS_OK);
    transformer_seq *s1 = transformer_seq_new(t, 0), *s2 = transformer_seq_new(t, 0);
    transformer_batch *bt = transformer_batch_new(t);
    transformer_seq *seqs[2] = {s1, s2};
    const int *idv[2] = {p1, p2};
    const size_t nv[2] = {5, 3};
    cr_assert_eq(transformer_forward_multi(bt, seqs, idv, nv, 2, &err), STATUS_OK, "%s", err.msg);
    double worst = 0;
    for (size_t v = 0; v < V; v++) {
        worst = fmax(worst, fabs(transformer_logits(s1)[v] - transformer_logits(alone1)[v]));
        worst = fmax(worst, fabs(transformer_logits(s2)[v] - transformer_logits(alone2)[v]));
    }
    cr_expect_leq(worst, 2e-3, "batched sequences differ from each alone by %g", worst);
    transformer_batch_free(bt);
    transformer_seq_free(s1);
    transformer_seq_free(s2);
    transformer_seq_free(alone1);
    transformer_seq_free(alone2);
    transformer_close(t);
    remove(path);
}

Test(gpt2, tied_output_shares_the_embedding)
{
    char path[256];
    transformer *t = g2_open("--tied", path, sizeof path);
    if (!t)
        cr_skip_test("lmserve-gguf not built");
    cr_expect(t->ck.shape.shared_classifier);
    cr_expect_eq(t->ck.wcls.m.data, t->ck.tok_emb.m.data);
    transformer_seq *s = transformer_seq_new(t, 0);
    const int ids[3] = {10, 20, 30};
    struct status_err err = {0};
    cr_assert_eq(transformer_forward(s, ids, 3, NULL, NULL, &err), STATUS_OK);
    for (int v = 0; v < t->ck.shape.vocab; v++)
        cr_assert(isfinite(transformer_logits(s)[v]));
    transformer_seq_free(s);
    transformer_close(t);
    remove(path);
}

Test(gpt2, missing_tensor_is_named)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/lmserve-gpt2-bad-%d.gguf", (int)getpid());
    gguf_writer *w = gguf_writer_new();
    cr_assert_not_null(w);
    gguf_writer_str(w, "general.architecture", "gpt2");
    const char *keys[] = {"gpt2.context_length", "gpt2.embedding_length", "gpt2.feed_forward_length",
                          "gpt2.block_count", "gpt2.attention.head_count"};
    const uint32_t vals[] = {16, 32, 64, 1, 2};
    for (size_t i = 0; i < 5; i++)
        gguf_writer_u32(w, keys[i], vals[i]);
    static float emb[40 * 32];
    const uint64_t ne[2] = {32, 40};
    gguf_writer_tensor(w, "token_embd.weight", GGUF_T_F32, 2, ne, emb);
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, path, &err), STATUS_OK, "%s", err.msg);
    gguf_writer_free(w);
    transformer *t = NULL;
    cr_expect_eq(transformer_open_gguf(path, &t, &err), STATUS_BAD_FORMAT);
    cr_expect(strstr(err.msg, "position_embd.weight") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "gpt2") != NULL, "%s", err.msg);
    remove(path);
}

/* Fewer learned positions than gpt2.context_length: a shape error naming the tensor (never a
 * read past the table at a late position). */
Test(gpt2, short_position_table_is_a_shape_error)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/lmserve-gpt2-short-%d.gguf", (int)getpid());
    gguf_writer *w = gguf_writer_new();
    cr_assert_not_null(w);
    gguf_writer_str(w, "general.architecture", "gpt2");
    const char *keys[] = {"gpt2.context_length", "gpt2.embedding_length", "gpt2.feed_forward_length",
                          "gpt2.block_count", "gpt2.attention.head_count"};
    const uint32_t vals[] = {16, 32, 64, 1, 2};
    for (size_t i = 0; i < 5; i++)
        gguf_writer_u32(w, keys[i], vals[i]);
    static float emb[40 * 32], pos[8 * 32];
    const uint64_t ne[2] = {32, 40}, ne_pos[2] = {32, 8};
    gguf_writer_tensor(w, "token_embd.weight", GGUF_T_F32, 2, ne, emb);
    gguf_writer_tensor(w, "position_embd.weight", GGUF_T_F32, 2, ne_pos, pos);
    struct status_err err = {0};
    cr_assert_eq(gguf_writer_write(w, path, &err), STATUS_OK, "%s", err.msg);
    gguf_writer_free(w);
    transformer *t = NULL;
    cr_expect_eq(transformer_open_gguf(path, &t, &err), STATUS_BAD_FORMAT);
    cr_expect(strstr(err.msg, "position_embd.weight") != NULL && strstr(err.msg, "shape") != NULL,
              "%s", err.msg);
    remove(path);
}
