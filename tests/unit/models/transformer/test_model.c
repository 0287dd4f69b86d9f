/* test_model.c: the registry's "transformer" type: loading with tokenizer=PATH relative to
 * the model file, describe's details, and the language-model interface (/v1/score,
 * /v1/next): per-token log-probabilities equal the forward pass's log-softmax, and the
 * top-k next tokens come best first with the greedy token on top. */
#include "../../../../models/lm.h"
#include "../../../../models/registry.h"
#include "../../../../models/transformer/transformer.h"
#include "../../../../models/transformer/transformer_internal.h"
#include "tt_helpers.h"

#include <math.h>

extern const struct model_ops transformer_model_ops;

static void *tm_load(const char *ckpt, const char *tok_opt, struct status_err *err)
{
    struct model_options o = {0};
    void *impl = NULL;
    if (tok_opt)
        cr_assert_eq(model_options_add(&o, "tokenizer", tok_opt, err), STATUS_OK);
    int rc = transformer_model_ops.load(ckpt, &o, &impl, err);
    model_options_clear(&o);
    return rc == STATUS_OK ? impl : NULL;
}

Test(transformer_model, load_describe_score_next)
{
    char ck[TT_FILE_MAX], tok[TT_FILE_MAX];
    tt_make("tm", "--version 1 --dim 32 --hidden 64 --layers 2 --heads 4 --kv-heads 2 --vocab 400 --seq 64", ck, tok);
    struct status_err err = {0};
    cr_assert_null(tm_load(ck, NULL, &err), "loaded without a tokenizer");
    cr_assert_str_eq(err.param, "options.tokenizer");
    status_clear(&err);
    cr_assert_null(tm_load(ck, "missing.tok", &err));
    status_clear(&err);
    void *impl = tm_load(ck, "tm.tok", &err); /* relative: beside the model file */
    cr_assert_not_null(impl, "%s", err.msg);
    json_t *d = transformer_model_ops.describe(impl);
    static const char *keys[] = {"dim", "hidden_dim", "layers", "heads", "kv_heads", "vocab",
                                 "seq_len", "parameters", "format", "bytes"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_assert_not_null(json_object_get(d, keys[i]), "describe lacks %s", keys[i]);
    cr_assert_eq(json_integer_value(json_object_get(d, "kv_heads")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(d, "format")), "llama2c-v1-f32");
    cr_assert_eq((size_t)json_integer_value(json_object_get(d, "bytes")), transformer_model_ops.bytes(impl));
    json_decref(d);

    const struct lm_ops *lm = transformer_model_ops.lm;
    struct lm_scored sc;
    struct lm_score_opts so = {.bos = 1, .eos = 1};
    const char *text = "the rain";
    cr_assert_eq(lm->score(impl, text, &so, &sc, &err), STATUS_OK, "%s", err.msg);
    /* the same by hand: forward over BOS + ids, log-softmax at each position */
    transformer *t = impl;
    int *ids;
    size_t n;
    cr_assert_eq(transformer_encode(t, text, strlen(text), 1, 1, &ids, &n, &err), STATUS_OK);
    cr_assert_eq(sc.n, n - 1, "scored %zu tokens, expected %zu", sc.n, n - 1);
    transformer_seq *s = transformer_seq_new(t, 0);
    for (size_t i = 0; i + 1 < n; i++) {
        cr_assert_eq(transformer_forward(s, &ids[i], 1, NULL, NULL, &err), STATUS_OK);
        float lp = sampler_logprob(transformer_logits(s), 400, ids[i + 1], NULL, 0);
        cr_assert_eq(sc.tokens[i].id, ids[i + 1]);
        cr_assert(fabs(sc.tokens[i].logprob - lp) < 1e-4, "token %zu: %g vs %g", i, sc.tokens[i].logprob, lp);
        cr_assert_not_null(sc.tokens[i].text);
    }
    lm_scored_free(&sc);

    struct lm_candidate *c;
    size_t nc;
    struct lm_score_opts nso = {.bos = 1};
    cr_assert_eq(lm->next(impl, text, &nso, 5, &c, &nc, &err), STATUS_OK, "%s", err.msg);
    cr_assert_eq(nc, 5);
    transformer_seq_free(s);
    s = transformer_seq_new(t, 0);
    cr_assert_eq(transformer_forward(s, ids, n - 1, NULL, NULL, &err), STATUS_OK); /* without EOS */
    const float *lg = transformer_logits(s);
    int best = 0;
    for (int v = 1; v < 400; v++)
        if (lg[v] > lg[best])
            best = v;
    cr_assert_eq(c[0].id, best);
    double total = 0;
    for (size_t i = 0; i < nc; i++) {
        if (i > 0)
            cr_assert_geq(c[i - 1].logprob, c[i].logprob);
        total += exp(c[i].logprob);
    }
    cr_assert_leq(total, 1.0 + 1e-6);
    lm_candidates_free(c, nc);
    transformer_seq_free(s);
    free(ids);
    transformer_model_ops.free_impl(impl);
}
