/* tokenize.c: POST /v1/tokenize and /v1/detokenize with a model's tokenizer (Transformers:
 * llama2.c's, or the one a GGUF file's metadata describes). Small and bounded work:
 * answered where the router puts it. */
#include "../../models/transformer/transformer.h"
#include "../json.h"
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int opt_bool(json_t *body, const char *key, int *out, struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    if (jsonx_bool(body, key, NULL, out, &err) != STATUS_OK) {
        api_error(rs, &err);
        return err.code;
    }
    return 0;
}

void api_tokenize(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_TOKENIZER);
    if (!m)
        return;
    const struct tokenizer_ops *tk = model_ops_of(m)->tokenizer;
    const void *t = model_impl(m);
    json_t *jt = NULL;
    int add_special = 1, add_bos = -1, parse_special = 0, pieces = 0;
    int *ids = NULL;
    size_t n = 0;
    json_t *toks = NULL, *pcs = NULL;
    struct status_err err;
    status_clear(&err);
    if (jsonx_required(rq->body, "text", NULL, &jt, &err) != STATUS_OK ||
        (!json_is_string(jt) &&
         status_set(&err, STATUS_BAD_INPUT, "text", "'text' must be a string") != STATUS_OK)) {
        api_error(rs, &err);
        goto done;
    }
    if (opt_bool(rq->body, "add_special", &add_special, rs) ||
        opt_bool(rq->body, "add_bos", &add_bos, rs) ||
        opt_bool(rq->body, "parse_special", &parse_special, rs) ||
        opt_bool(rq->body, "with_pieces", &pieces, rs))
        goto done;
    /* add_bos is the older name of add_special; given alone it decides */
    if (add_bos >= 0) {
        json_t *as = json_object_get(rq->body, "add_special");
        if (as && !json_is_null(as) && json_is_true(as) != add_bos) {
            api_fail(rs, STATUS_BAD_INPUT, "add_bos",
                     "'add_bos' is an alias of 'add_special' and disagrees with it");
            goto done;
        }
        add_special = add_bos;
    }
    const char *text = json_string_value(jt);
    const size_t text_len = json_string_length(jt);
    if ((tk->tokenize ? tk->tokenize(t, text, text_len, add_special, parse_special, &ids, &n, &err)
                      : tk->encode(t, text, text_len, add_special, 0, &ids, &n, &err)) != STATUS_OK) {
        api_error(rs, &err);
        goto done;
    }
    toks = json_array();
    pcs = pieces ? json_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(toks, json_integer(ids[i]));
        if (pcs) {
            char *p = tk->token_text(t, -1, ids[i]);
            json_array_append_new(pcs, json_string(p ? p : ""));
            free(p);
        }
    }
    json_t *body = json_pack("{s:s, s:o}", "model", model_id(m), "tokens", toks);
    toks = NULL;
    if (body && pcs) {
        json_object_set_new(body, "pieces", pcs);
        pcs = NULL;
    }
    if (!body)
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
    else
        api_ok(rs, body);
done:
    json_decref(toks);
    json_decref(pcs);
    free(ids);
    registry_release(m);
}

void api_detokenize(const struct api_req *rq, struct api_resp *rs)
{
    model *m = api_model_or_reply(rq, rs, MODEL_CAP_TOKENIZER);
    if (!m)
        return;
    const struct tokenizer_ops *tk = model_ops_of(m)->tokenizer;
    const void *t = model_impl(m);
    const int vocab = tk->vocab_size(t);
    json_t *jt = json_object_get(rq->body, "tokens");
    int *ids = NULL;
    if (!jt) {
        api_fail(rs, STATUS_BAD_INPUT, "tokens", "'tokens' is required");
        goto done;
    }
    if (!json_is_array(jt)) {
        api_fail(rs, STATUS_BAD_INPUT, "tokens", "'tokens' must be an array of token ids");
        goto done;
    }
    const size_t n = json_array_size(jt);
    ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) {
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(jt, i);
        char param[32];
        snprintf(param, sizeof param, "tokens[%zu]", i);
        if (!json_is_integer(v)) {
            api_fail(rs, STATUS_BAD_INPUT, param, "token ids are integers");
            goto done;
        }
        json_int_t id = json_integer_value(v);
        if (id < 0 || id >= vocab) {
            api_fail(rs, STATUS_BAD_INPUT, param, "token id %lld is out of range [0, %d)",
                     (long long)id, vocab);
            goto done;
        }
        ids[i] = (int)id;
    }
    size_t len;
    char *text = tk->decode(t, ids, n, &len);
    json_t *body = text ? json_pack("{s:s, s:s%}", "model", model_id(m), "text", text, len) : NULL;
    free(text);
    if (!body)
        api_fail(rs, STATUS_NO_MEMORY, NULL, "out of memory");
    else
        api_ok(rs, body);
done:
    free(ids);
    registry_release(m);
}
