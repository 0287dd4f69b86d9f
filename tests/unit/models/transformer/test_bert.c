/* test_bert.c: the BERT encoder (bert.c) against llama.cpp: random BERT files written by
 * `lmserve-gguf random --arch bert` with the bge WordPiece vocabulary, embedded here through
 * the transformer type's embedding capability (all texts in one pass, L2-normalised) and
 * compared with llama_embedding's vectors in llamacpp_bert_ref.txt (tests/ref/llamacpp_bert.sh):
 * max abs difference <= 1e-3 for F32 (mean, cls, last pooling) and Q8_0; decoders with a
 * pooling type (llama, qwen2: normed final hidden states pooled) the same at F32; rerankers'
 * scores (the classification head, [CLS] query [SEP] document [SEP]) the same way. Also: one text
 * alone equals the same text in a batch; encoders refuse generation and scoring; a missing
 * tensor is a clear error. Skipped when ../shared/vocab (the vocabulary) is absent. */
#include "../../../../models/caps.h"
#include "../../../../models/lm.h"
#include "../../../../models/registry.h"
#include "../../../../models/transformer/transformer_internal.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REF "tests/unit/models/transformer/llamacpp_bert_ref.txt"
#define TEXTS_MAX 16
#define LINE_BYTES 65536
#define DIM_MAX 1024
#define TOL 1e-3
/* A decoder (llama/qwen2 with a pooling type) in Q8_0: its F32 twin is within 7e-6 of
 * llama.cpp (the F16 KV cache's roundings, summed in another order), and such a 1e-6
 * difference can move a Q8_0 activation by one quantization step: 2.4e-3 on 2 of the 6 unit
 * vectors here. Allowed for that case only, as test_gguf_llamacpp.c allows tie flips. */
#define TOL_DECODER_Q8 5e-3

extern const struct model_ops transformer_model_ops;

static const char *bge_vocab(void)
{
    static char path[1024];
    const char *env = getenv("LMSERVE_SHARED_VOCAB");
    const char *cands[] = {env, "../shared/vocab", "/work/shared/vocab"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        if (!cands[i])
            continue;
        snprintf(path, sizeof path, "%s/ggml-vocab-bert-bge.gguf", cands[i]);
        if (access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

static const char *tool(void)
{
    static char t[512];
    const char *d = getenv("LMSERVE_TOOLS");
    snprintf(t, sizeof t, "%s/lmserve-gguf", d && *d ? d : "build/bin");
    return t;
}

/* write a random BERT file with 'args'; NULL (test skipped) without the vocabulary/tool */
static transformer *open_random(const char *args, char *path, size_t cap)
{
    const char *vocab = bge_vocab();
    if (!vocab)
        cr_skip_test("../shared/vocab/ggml-vocab-bert-bge.gguf absent");
    if (access(tool(), X_OK) != 0)
        cr_skip_test("%s not built", tool());
    snprintf(path, cap, "/tmp/lmserve-bert-%d.gguf", (int)getpid());
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s random -o %s --vocab-from %s %s >/dev/null", tool(), path, vocab,
             args);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    transformer *t = NULL;
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    return t;
}

static int embed_texts(const transformer *t, const char *const *texts, size_t n, float *out)
{
    size_t len[TEXTS_MAX], tokens = 0, bad = 0;
    for (size_t i = 0; i < n; i++)
        len[i] = strlen(texts[i]);
    struct status_err err = {0};
    int rc = transformer_model_ops.embedding->texts(t, texts, len, n, 1, out, &tokens, &bad, NULL,
                                                    &err);
    cr_assert_eq(rc, STATUS_OK, "%s", err.msg);
    return rc;
}

Test(bert, llamacpp_embeddings_match)
{
    FILE *f = fopen(REF, "r");
    cr_assert_not_null(f, "%s missing (run from the repo root)", REF);
    static char line[LINE_BYTES];
    char *texts[TEXTS_MAX], *docs[TEXTS_MAX], *queries[TEXTS_MAX];
    size_t n_texts = 0, row = 0, models = 0, n_pairs = 0;
    transformer *t = NULL;
    char path[256];
    static float got[TEXTS_MAX * DIM_MAX];
    static char model_args[512];
    double worst_all = 0, worst_model = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "text ", 5) == 0) {
            cr_assert_lt(n_texts, TEXTS_MAX);
            texts[n_texts++] = strdup(line + 5);
        } else if (strncmp(line, "model ", 6) == 0) {
            if (t) {
                transformer_close(t);
                remove(path);
            }
            t = open_random(line + 6, path, sizeof path);
            snprintf(model_args, sizeof model_args, "%.200s", line + 6);
            worst_model = 0;
            cr_assert_leq(bert_out_dim(t), DIM_MAX);
            embed_texts(t, (const char *const *)texts, n_texts, got);
            row = 0;
            models++;
        } else if (strncmp(line, "rankmodel ", 10) == 0) {
            if (t) {
                transformer_close(t);
                remove(path);
            }
            t = open_random(line + 10, path, sizeof path);
            n_pairs = 0;
            row = 0;
            models++;
        } else if (strncmp(line, "pair ", 5) == 0) {
            char *tab = strchr(line + 5, '\t');
            cr_assert_not_null(tab);
            cr_assert_lt(n_pairs, TEXTS_MAX);
            *tab = '\0';
            queries[n_pairs] = strdup(line + 5);
            docs[n_pairs++] = strdup(tab + 1);
        } else if (strncmp(line, "score ", 6) == 0) {
            cr_assert_not_null(t);
            if (row == 0) /* the pairs of each query in one pass */
                for (size_t i = 0; i < n_pairs;) {
                    size_t j = i, len[TEXTS_MAX], tokens = 0, bad = 0;
                    while (j < n_pairs && strcmp(queries[j], queries[i]) == 0) {
                        len[j - i] = strlen(docs[j]);
                        j++;
                    }
                    struct status_err err = {0};
                    cr_assert_eq(transformer_model_ops.rerank->rank(
                                     t, queries[i], strlen(queries[i]),
                                     (const char *const *)docs + i, len, j - i, got + i, &tokens,
                                     &bad, NULL, &err),
                                 STATUS_OK, "%s", err.msg);
                    i = j;
                }
            cr_assert_lt(row, n_pairs);
            const double d = fabs(strtod(line + 6, NULL) - got[row]);
            cr_expect_leq(d, TOL, "rerank pair %zu differs by %g", row, d);
            worst_all = fmax(worst_all, d);
            if (++row == n_pairs) {
                for (size_t i = 0; i < n_pairs; i++) {
                    free(docs[i]);
                    free(queries[i]);
                }
                n_pairs = 0;
                row = 0;
            }
        } else if (strncmp(line, "embd ", 5) == 0) {
            cr_assert_not_null(t);
            cr_assert_lt(row, n_texts);
            const size_t dim = bert_out_dim(t);
            const char *s = line + 5;
            char *end;
            double worst = 0;
            for (size_t i = 0; i < dim; i++) {
                const double v = strtod(s, &end);
                cr_assert_neq(end, s, "short embd line");
                s = end;
                worst = fmax(worst, fabs(v - got[row * dim + i]));
            }
            const double tol = !t->ck.bert && strstr(model_args, "Q8_0") ? TOL_DECODER_Q8 : TOL;
            cr_expect_leq(worst, tol, "model %zu (%s): text %zu differs by %g (max abs)", models,
                          model_args, row, worst);
            worst_all = fmax(worst_all, worst);
            worst_model = fmax(worst_model, worst);
            if (++row == n_texts)
                fprintf(stderr, "bert: model %zu (%.60s...): max abs difference %.3g\n", models,
                        model_args, worst_model);
        }
    }
    fclose(f);
    if (t) {
        transformer_close(t);
        remove(path);
    }
    for (size_t i = 0; i < n_texts; i++)
        free(texts[i]);
    cr_assert_geq(models, 11);
    fprintf(stderr, "bert: %zu models (embeddings, rerank scores) vs llama.cpp: max abs difference %.3g\n",
            models, worst_all);
}

Test(bert, one_alone_equals_in_batch)
{
    char path[256];
    transformer *t = open_random("--arch bert --dim 64 --hidden 128 --layers 2 --heads 4 --seed 3",
                                 path, sizeof path);
    const char *texts[3] = {"first text, a bit longer than the others", "b", "third"};
    static float batch[3 * 64], alone[64];
    embed_texts(t, texts, 3, batch);
    for (size_t i = 0; i < 3; i++) {
        embed_texts(t, &texts[i], 1, alone);
        double worst = 0;
        for (size_t d = 0; d < 64; d++)
            worst = fmax(worst, fabs(alone[d] - batch[i * 64 + d]));
        cr_expect_leq(worst, 1e-5, "text %zu: alone vs batched differ by %g", i, worst);
    }
    transformer_close(t);
    remove(path);
}

Test(bert, encoder_refuses_generation_and_decoder_refuses_embeddings)
{
    char path[256];
    transformer *t = open_random("--arch bert --dim 64 --hidden 128 --layers 1 --heads 4", path,
                                 sizeof path);
    struct status_err err = {0};
    cr_expect_eq(transformer_model_ops.generation->check(t, &err), STATUS_BAD_INPUT);
    cr_expect(strstr(err.msg, "encoder") != NULL, "%s", err.msg);
    status_clear(&err);
    cr_expect_eq(transformer_model_ops.lm->check(t, &err), STATUS_BAD_INPUT);
    status_clear(&err);
    cr_expect_eq(transformer_model_ops.embedding->check(t, &err), STATUS_OK);
    /* too many tokens for the context: a clear error naming the input */
    transformer_close(t);
    remove(path);
    t = open_random("--arch bert --dim 64 --hidden 128 --layers 1 --heads 4 --ctx 8", path,
                    sizeof path);
    const char *texts[2] = {"short", "one two three four five six seven eight nine"};
    size_t len[2] = {5, strlen(texts[1])}, tokens, bad = 99;
    float out[2 * 64];
    status_clear(&err);
    cr_expect_eq(transformer_model_ops.embedding->texts(t, texts, len, 2, 1, out, &tokens, &bad,
                                                        NULL, &err),
                 STATUS_BAD_INPUT);
    cr_expect_eq(bad, 1);
    cr_expect(strstr(err.msg, "context") != NULL, "%s", err.msg);
    transformer_close(t);
    remove(path);
    /* a decoder (llama) has no pooling: no embeddings */
    snprintf(path, sizeof path, "/tmp/lmserve-bert-llama-%d.gguf", (int)getpid());
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s random -o %s >/dev/null", tool(), path);
    cr_assert_eq(system(cmd), 0);
    status_clear(&err);
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_OK, "%s", err.msg);
    cr_expect_eq(transformer_model_ops.embedding->check(t, &err), STATUS_BAD_INPUT);
    cr_expect(strstr(err.msg, "decoder") != NULL, "%s", err.msg);
    cr_expect_eq(transformer_model_ops.generation->check(t, &err), STATUS_OK);
    transformer_close(t);
    remove(path);
}

Test(bert, missing_tensor_is_a_clear_error)
{
    char path[256];
    transformer *t = open_random("--arch bert --dim 64 --hidden 128 --layers 1 --heads 4", path,
                                 sizeof path);
    transformer_close(t);
    FILE *f = fopen(path, "r+b");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    char *buf = malloc((size_t)n);
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    char *p = memmem(buf, (size_t)n, "blk.0.ffn_up.bias", 17);
    cr_assert_not_null(p);
    p[13] = 'x'; /* blk.0.ffn_up.bxas */
    fseek(f, 0, SEEK_SET);
    fwrite(buf, 1, (size_t)n, f);
    fclose(f);
    free(buf);
    struct status_err err = {0};
    cr_assert_eq(transformer_open_gguf(path, &t, &err), STATUS_BAD_FORMAT);
    cr_expect(strstr(err.msg, "blk.0.ffn_up.bias") != NULL, "%s", err.msg);
    remove(path);
}


/* a request of more tokens than one pass takes (BERT_GROUP_TOKENS) runs in groups of whole
 * inputs: every vector equals its input embedded alone */
Test(bert, many_inputs_run_in_groups)
{
    char path[256];
    transformer *t = open_random("--arch bert --dim 64 --hidden 128 --layers 1 --heads 4 --ctx 256",
                                 path, sizeof path);
    enum { N = 40 };
    static char buf[N][1024];
    const char *texts[N];
    size_t len[N], tokens = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        int w = snprintf(buf[i], sizeof buf[i], "input %d:", i);
        for (int k = 0; k < 110; k++)
            w += snprintf(buf[i] + w, sizeof buf[i] - (size_t)w, " w%d", (i * 7 + k) % 13);
        texts[i] = buf[i];
        len[i] = (size_t)w;
    }
    static float all[N * 64], one[64];
    struct status_err err = {0};
    cr_assert_eq(transformer_model_ops.embedding->texts(t, texts, len, N, 1, all, &tokens, &bad,
                                                        NULL, &err),
                 STATUS_OK, "%s", err.msg);
    cr_assert_gt(tokens, 4096, "the request should need more than one pass (%zu tokens)", tokens);
    for (int i = 0; i < N; i += 13) {
        size_t tk;
        cr_assert_eq(transformer_model_ops.embedding->texts(t, &texts[i], &len[i], 1, 1, one, &tk,
                                                            &bad, NULL, &err),
                     STATUS_OK);
        double worst = 0;
        for (int d = 0; d < 64; d++)
            worst = fmax(worst, fabs(one[d] - all[i * 64 + d]));
        cr_expect_leq(worst, 1e-5, "input %d differs by %g", i, worst);
    }
    transformer_close(t);
    remove(path);
}
