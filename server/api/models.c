/* models.c: the registry over HTTP: list, describe, load (POST) and unload (DELETE). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/caps.h"
#include "../../models/chat/chat.h"
#include "../config.h"
#include "../json.h"
#include "api.h"

#define MODELS_OWNER "lmserve"

json_t *api_model_capabilities(const model *m)
{
    const struct model_ops *ops = model_ops_of(m);
    json_t *caps = json_array();
    if (api_model_serves(m, MODEL_CAP_LM)) {
        json_array_append_new(caps, json_string("score"));
        json_array_append_new(caps, json_string("next"));
    }
    if (api_model_serves(m, MODEL_CAP_EMBEDDING)) {
        json_array_append_new(caps, json_string("embeddings"));
        json_array_append_new(caps, json_string("similarity"));
        if (ops->embedding->lookup && ops->embedding->knn)
            json_array_append_new(caps, json_string("neighbors"));
    }
    if (api_model_serves(m, MODEL_CAP_RERANK))
        json_array_append_new(caps, json_string("rerank"));
    if (api_model_serves(m, MODEL_CAP_TOKENIZER))
        json_array_append_new(caps, json_string("tokenize"));
    if (api_model_serves(m, MODEL_CAP_GENERATION)) {
        json_array_append_new(caps, json_string("completions"));
        /* Chat needs a template, which is known once the model is loaded. */
        if (model_state_of(m) == MODEL_READY && ops->generation->chat_template &&
            ops->generation->chat_template(model_impl(m)) != CHAT_TEMPLATE_NONE)
            json_array_append_new(caps, json_string("chat"));
    }
    return caps;
}

/* The OpenAI model object plus our fields. Called under the registry lock. */
static json_t *model_json(const model *m)
{
    enum model_state st = model_state_of(m);
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:I}", "id", model_id(m), "object", "model",
                          "created", (json_int_t)model_created(m), "owned_by", MODELS_OWNER,
                          "type", model_type(m), "state", model_state_name(st), "bytes",
                          (json_int_t)model_bytes(m));
    if (!o)
        return NULL;
    json_t *details = model_describe(m);
    json_object_set_new(o, "details", details ? details : json_object());
    json_object_set_new(o, "capabilities", api_model_capabilities(m));
    if (st == MODEL_FAILED)
        json_object_set_new(o, "error", json_string(model_error(m)));
    return o;
}

static void list_row(const model *m, void *ud) { json_array_append_new(ud, model_json(m)); }

void api_models_list(const struct api_req *rq, struct api_resp *rs)
{
    json_t *data = json_array();
    registry_each(rq->reg, list_row, data);
    api_ok(rs, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

struct find {
    const char *id;
    json_t *out;
};

static void find_row(const model *m, void *ud)
{
    struct find *f = ud;
    if (!f->out && strcmp(model_id(m), f->id) == 0)
        f->out = model_json(m);
}

static json_t *find_model(registry *reg, const char *id)
{
    struct find f = {.id = id};
    registry_each(reg, find_row, &f);
    return f.out;
}

void api_models_get(const struct api_req *rq, struct api_resp *rs)
{
    json_t *o = find_model(rq->reg, rq->params[0]);
    if (!o) {
        api_fail(rs, STATUS_NOT_FOUND, "id", "model '%s' does not exist", rq->params[0]);
        return;
    }
    api_ok(rs, o);
}

void api_models_load(const struct api_req *rq, struct api_resp *rs)
{
    json_t *b = rq->body;
    static const char *const REQUIRED[] = {"id", "type", "path"};
    for (size_t i = 0; i < 3; i++) {
        struct status_err jerr;
        status_clear(&jerr);
        json_t *v = NULL;
        const char *sv = NULL;
        if (jsonx_required(b, REQUIRED[i], NULL, &v, &jerr) != STATUS_OK ||
            jsonx_string(b, REQUIRED[i], NULL, &sv, NULL, &jerr) != STATUS_OK) {
            api_error(rs, &jerr);
            return;
        }
    }
    const char *id = json_string_value(json_object_get(b, "id"));
    const char *type = json_string_value(json_object_get(b, "type"));
    const char *path = json_string_value(json_object_get(b, "path"));
    json_t *opts = json_object_get(b, "options");
    if (opts && !json_is_object(opts)) {
        api_fail(rs, STATUS_BAD_INPUT, "options", "'options' must be an object");
        return;
    }
    struct status_err err;
    status_clear(&err);
    struct model_options mo = {0};
    char resolved[PATH_MAX];
    const char *key;
    json_t *v;
    json_object_foreach(opts, key, v)
    {
        char param[STATUS_PARAM_MAX], buf[64];
        snprintf(param, sizeof param, "options.%s", key);
        const char *sv = json_string_value(v);
        if (json_is_boolean(v))
            sv = json_is_true(v) ? "true" : "false";
        else if (json_is_integer(v)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
            sv = buf;
        }
        if (!sv) {
            api_fail(rs, STATUS_BAD_INPUT, param, "option '%s' must be a string, boolean or integer",
                     key);
            goto out;
        }
        /* File options (a tokenizer) are confined to the models root like 'path'. */
        char optpath[PATH_MAX];
        if (strcmp(key, "tokenizer") == 0) {
            if (registry_resolve_path(rq->reg, sv, optpath, sizeof optpath, &err) != STATUS_OK) {
                snprintf(err.param, sizeof err.param, "%s", param);
                api_error(rs, &err);
                goto out;
            }
            sv = optpath;
        }
        if (model_options_add(&mo, key, sv, &err) != STATUS_OK) {
            api_error(rs, &err);
            goto out;
        }
    }
    if (!registry_find_type(type)) {
        registry_add(rq->reg, id, type, "", &mo, 0, &err); /* for its message */
        api_error(rs, &err);
        goto out;
    }
    if (registry_resolve_path(rq->reg, path, resolved, sizeof resolved, &err) != STATUS_OK) {
        api_error(rs, &err);
        goto out;
    }
    if (registry_add(rq->reg, id, type, resolved, &mo, 0, &err) != STATUS_OK) {
        api_error(rs, &err);
        goto out;
    }
    json_t *o = find_model(rq->reg, id);
    api_ok(rs, o ? o : json_object());
    rs->status = 201;
    char loc[REGISTRY_ID_MAX + 16];
    snprintf(loc, sizeof loc, "/v1/models/%s", id);
    rs->location = strdup(loc);
out:
    model_options_clear(&mo);
}

void api_models_unload(const struct api_req *rq, struct api_resp *rs)
{
    struct status_err err;
    status_clear(&err);
    if (registry_remove(rq->reg, rq->params[0], 1, &err) != STATUS_OK) {
        api_error(rs, &err);
        return;
    }
    api_ok(rs, json_pack("{s:s,s:s,s:b}", "id", rq->params[0], "object", "model", "deleted", 1));
}
