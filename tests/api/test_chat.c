/* test_chat.c: /v1/chat/completions over a real socket with random llama2.c checkpoints
 * given a template by the option chat_template=NAME (on the command line, in the config
 * file and through the load API): the prompt is the template's rendering (greedy chat text
 * equals greedy /v1/completions text on the rendered prompt), streaming (role chunk, deltas,
 * finish chunk, usage, [DONE]) concatenates to the plain answer, logprobs in the chat shape,
 * max_completion_tokens, the template in /v1/models, and every error naming its field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../models/gguf/gguf.h"
#include "../../models/gguf/gguf_write.h"
#include "harness.h"

#define TCH_PATH_MAX 1024
#define TCH_ADMIN_KEY "chat-admin-key"

/* A random checkpoint + tokenizer from lmserve-ckpt-gen in the test's temporary directory;
 * 'ckpt' gets the checkpoint's full path, the tokenizer is "chat.tok" beside it. */
static void tch_model(char *ckpt)
{
    harness_ckpt_gen("chat",
                     "--dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 --vocab 512 "
                     "--seq 256 --seed 5",
                     ckpt, TCH_PATH_MAX);
}

/* Models "c" (chatml) and "plain" (no template) from one checkpoint; extra args after. */
static void tch_start(struct srv *s, const char *const *extra)
{
    static char ckpt[TCH_PATH_MAX], spec_c[3 * TCH_PATH_MAX], spec_p[3 * TCH_PATH_MAX];
    tch_model(ckpt);
    snprintf(spec_c, sizeof spec_c, "c=transformer:%s,tokenizer=chat.tok,chat_template=chatml", ckpt);
    snprintf(spec_p, sizeof spec_p, "plain=transformer:%s,tokenizer=chat.tok", ckpt);
    const char *const base[] = {"--model", spec_c, "--model", spec_p, NULL};
    srv_start_with(s, base, extra);
}

static json_t *choice0(json_t *r) { return json_array_get(json_object_get(r, "choices"), 0); }

static const char *message_text(json_t *r)
{
    return json_string_value(json_object_get(json_object_get(choice0(r), "message"), "content"));
}

Test(chat, prompt_is_the_template_rendering)
{
    struct srv s;
    tch_start(&s, NULL);
    /* greedy chat == greedy completion of the chatml text, stopped at the turn's end */
    json_t *c = http_post_ok(&s, "/v1/chat/completions",
                        "{\"model\":\"c\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},"
                        "{\"type\":\"text\",\"text\":\"there\"}]}],\"max_tokens\":24,\"temperature\":0}");
    json_t *p = http_post_ok(&s, "/v1/completions",
                        "{\"model\":\"c\",\"prompt\":\"<|im_start|>system\\nBe brief.<|im_end|>\\n"
                        "<|im_start|>user\\nHi\\nthere<|im_end|>\\n<|im_start|>assistant\\n\","
                        "\"max_tokens\":24,\"temperature\":0,\"stop\":\"<|im_end|>\"}");
    json_t *pc = choice0(p);
    cr_assert_str_eq(message_text(c), json_string_value(json_object_get(pc, "text")));
    cr_assert_str_eq(json_string_value(json_object_get(c, "object")), "chat.completion");
    cr_assert_eq(strncmp(json_string_value(json_object_get(c, "id")), "chatcmpl-", 9), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(choice0(c), "message"), "role")),
                     "assistant");
    cr_assert_str_eq(json_string_value(json_object_get(choice0(c), "finish_reason")),
                     json_string_value(json_object_get(pc, "finish_reason")));
    cr_assert(json_is_null(json_object_get(choice0(c), "logprobs")));
    json_t *uc = json_object_get(c, "usage"), *up = json_object_get(p, "usage");
    cr_assert_eq(json_integer_value(json_object_get(uc, "prompt_tokens")),
                 json_integer_value(json_object_get(up, "prompt_tokens")));
    cr_assert_eq(json_integer_value(json_object_get(uc, "completion_tokens")),
                 json_integer_value(json_object_get(up, "completion_tokens")));
    json_decref(c);
    json_decref(p);
    /* max_completion_tokens wins over max_tokens; "developer" is a system message; a null
     * assistant content is an empty turn */
    c = http_post_ok(&s, "/v1/chat/completions",
                "{\"model\":\"c\",\"messages\":[{\"role\":\"developer\",\"content\":\"d\"},"
                "{\"role\":\"user\",\"content\":\"u\"},{\"role\":\"assistant\",\"content\":null},"
                "{\"role\":\"user\",\"content\":\"again\"}],\"max_tokens\":50,"
                "\"max_completion_tokens\":3,\"temperature\":0,\"n\":1,\"tools\":[]}");
    json_t *u = json_object_get(c, "usage");
    cr_assert_leq(json_integer_value(json_object_get(u, "completion_tokens")), 3);
    json_decref(c);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

Test(chat, stream_logprobs_usage)
{
    struct srv s;
    tch_start(&s, NULL);
    const char *plain = "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"tell me\"}],"
                        "\"max_tokens\":12,\"temperature\":0.9,\"seed\":11,\"logprobs\":true,\"top_logprobs\":3}";
    json_t *c = http_post_ok(&s, "/v1/chat/completions", plain);
    json_t *lp = json_object_get(json_object_get(choice0(c), "logprobs"), "content");
    size_t ntok = (size_t)json_integer_value(json_object_get(json_object_get(c, "usage"), "completion_tokens"));
    cr_assert_eq(json_array_size(lp), ntok);
    for (size_t i = 0; i < json_array_size(lp); i++) {
        json_t *t = json_array_get(lp, i);
        cr_assert(json_is_string(json_object_get(t, "token")));
        cr_assert_leq(json_real_value(json_object_get(t, "logprob")), 0.0);
        cr_assert(json_is_array(json_object_get(t, "bytes")));
        cr_assert_eq(json_array_size(json_object_get(t, "top_logprobs")), 3);
    }
    /* the same request streamed: role first, deltas concatenate to the same text */
    char *streamed = malloc(strlen(plain) + 96);
    sprintf(streamed, "%.*s,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
            (int)strlen(plain) - 1, plain);
    struct http_res r;
    cr_assert_eq(http_post(&s, "/v1/chat/completions", streamed, &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_t *ev = harness_sse_events(r.body);
    size_t ne = json_array_size(ev);
    cr_assert_geq(ne, 4);
    cr_assert_str_eq(json_string_value(json_array_get(ev, ne - 1)), "[DONE]");
    char *joined = calloc(1, r.len + 1);
    size_t n_lp = 0;
    for (size_t k = 0; k + 1 < ne; k++) {
        json_t *chunk = json_loads(json_string_value(json_array_get(ev, k)), 0, NULL);
        cr_assert_not_null(chunk);
        cr_assert_str_eq(json_string_value(json_object_get(chunk, "object")), "chat.completion.chunk");
        cr_assert(json_object_get(chunk, "usage") != NULL, "include_usage: every chunk has usage");
        json_t *ch = choice0(chunk);
        if (k + 2 == ne) { /* the usage chunk */
            cr_assert_eq(json_array_size(json_object_get(chunk, "choices")), 0);
            cr_assert_eq(json_integer_value(json_object_get(json_object_get(chunk, "usage"), "completion_tokens")),
                         (json_int_t)ntok);
            json_decref(chunk);
            continue;
        }
        json_t *delta = json_object_get(ch, "delta"), *fr = json_object_get(ch, "finish_reason");
        if (k == 0)
            cr_assert_str_eq(json_string_value(json_object_get(delta, "role")), "assistant");
        else
            cr_assert_null(json_object_get(delta, "role"));
        if (k + 3 == ne) { /* the finish chunk */
            cr_assert_eq(json_object_size(delta), 0);
            cr_assert_str_eq(json_string_value(fr), json_string_value(json_object_get(choice0(c), "finish_reason")));
        } else {
            cr_assert(json_is_null(fr), "finish_reason of chunk %zu", k);
            strcat(joined, json_string_value(json_object_get(delta, "content")));
        }
        json_t *clp = json_object_get(ch, "logprobs");
        if (json_is_object(clp))
            n_lp += json_array_size(json_object_get(clp, "content"));
        json_decref(chunk);
    }
    cr_assert_str_eq(joined, message_text(c));
    cr_assert_eq(n_lp, ntok);
    free(joined);
    free(streamed);
    json_decref(ev);
    http_res_free(&r);
    json_decref(c);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

Test(chat, errors_name_the_field)
{
    struct srv s;
    tch_start(&s, NULL);
    struct http_res r;
    static const struct error_case cases[] = {
        {"{\"model\":\"c\"}", 400, "messages"},
        {"{\"model\":\"c\",\"messages\":\"hi\"}", 400, "messages"},
        {"{\"model\":\"c\",\"messages\":[]}", 400, "messages"},
        {"{\"model\":\"c\",\"messages\":[7]}", 400, "messages[0]"},
        {"{\"model\":\"c\",\"messages\":[{\"content\":\"x\"}]}", 400, "messages[0].role"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"y\"}]}",
         400, "messages[1].role"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":5,\"content\":\"x\"}]}", 400, "messages[0].role"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\"}]}", 400, "messages[0].content"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":null}]}", 400, "messages[0].content"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":3}]}", 400, "messages[0].content"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
         "{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}",
         400, "messages[0].content[1].type"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 400,
         "messages[0].content[0].text"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}", 400, "messages[0].content[0]"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", 400, "n"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}", 400, "top_logprobs"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true,\"top_logprobs\":21}",
         400, "top_logprobs"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":3}", 400, "logprobs"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":-1}", 400,
         "max_completion_tokens"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"9\"}", 400, "max_tokens"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", 400, "temperature"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[1]}", 400, "stop[0]"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":3}", 400,
         "stream_options"},
        {"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\"}]}",
         400, "tools"},
        {"{\"model\":\"plain\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model"},
        {"{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 404, NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400, "model"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(http_post(&s, "/v1/chat/completions", cases[i].body, &r), 0);
        expect_error(&r, cases[i].status, cases[i].param);
        if (strstr(cases[i].body, "plain"))
            cr_assert(strstr(r.body, "chat_template=") != NULL, "the 400 says how to fix it: %s", r.body);
        http_res_free(&r);
    }
    /* a conversation longer than the 256-token context */
    char *big = harness_filler_body("{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"", 3900, "\"}]}");
    cr_assert_eq(http_post(&s, "/v1/chat/completions", big, &r), 0);
    expect_error(&r, 400, "messages");
    http_res_free(&r);
    free(big);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

Test(chat, template_option_everywhere_and_in_models)
{
    char ckpt[TCH_PATH_MAX], cfg[TCH_PATH_MAX], body[3 * TCH_PATH_MAX];
    tch_model(ckpt);
    /* the config file gives "cfg" the llama3 template */
    snprintf(cfg, sizeof cfg, "%s/chat-config.json", harness_tmpdir());
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"models\":[{\"id\":\"cfg\",\"type\":\"transformer\",\"path\":\"%s\","
               "\"options\":{\"tokenizer\":\"chat.tok\",\"chat_template\":\"llama3\"}}]}\n", ckpt);
    fclose(f);
    const char *args[] = {"--config", cfg, "--models-root", harness_tmpdir(), "--admin-key", TCH_ADMIN_KEY, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/v1/models/cfg", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "details"), "chat_template")),
                     "llama3");
    http_res_free(&r);
    json_t *c = http_post_ok(&s, "/v1/chat/completions",
                        "{\"model\":\"cfg\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2}");
    json_decref(c);
    /* the load API: a known family loads; an unknown one fails the load (the registry reports
     * every load failure as a 422 on the model, with the loader's sentence) */
    const char *auth[] = {"Authorization: Bearer " TCH_ADMIN_KEY, NULL};
    snprintf(body, sizeof body,
             "{\"id\":\"api\",\"type\":\"transformer\",\"path\":\"chat.bin\","
             "\"options\":{\"tokenizer\":\"chat.tok\",\"chat_template\":\"gemma\"}}");
    cr_assert_eq(http_do(&s, "POST", "/v1/models", body, NULL, auth, &r), 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(http_get(&s, "/v1/models/api", &r), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "details"), "chat_template")),
                     "gemma");
    http_res_free(&r);
    c = http_post_ok(&s, "/v1/chat/completions",
                "{\"model\":\"api\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2}");
    json_decref(c);
    snprintf(body, sizeof body,
             "{\"id\":\"bad\",\"type\":\"transformer\",\"path\":\"chat.bin\","
             "\"options\":{\"tokenizer\":\"chat.tok\",\"chat_template\":\"jinja2\"}}");
    cr_assert_eq(http_do(&s, "POST", "/v1/models", body, NULL, auth, &r), 0);
    expect_error(&r, 400, "options.chat_template"); /* a bad option: 400 naming it (issue 11) */
    cr_assert(strstr(r.body, "unknown chat template 'jinja2'") != NULL, "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
    /* a model without a template has no chat_template in its details */
    tch_start(&s, NULL);
    cr_assert_eq(http_get(&s, "/v1/models/plain", &r), 0);
    cr_assert_null(json_object_get(json_object_get(r.json, "details"), "chat_template"));
    http_res_free(&r);
    cr_assert_eq(http_get(&s, "/v1/models/c", &r), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "details"), "chat_template")),
                     "chatml");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

/* The fixture beside this file: llama-server's greedy chat answers on stories260K.gguf with
 * the llama2 template (see its "about"). The llama2.c file holds the same weights. */
static json_t *llama_server_fixture(void)
{
    char path[TCH_PATH_MAX];
    const char *here = __FILE__, *slash = strrchr(here, '/');
    snprintf(path, sizeof path, "%.*s/fixtures/chat_llama_server_stories260K.json",
             slash ? (int)(slash - here) : 1, slash ? here : ".");
    json_t *fx = json_load_file(path, 0, NULL);
    cr_assert_not_null(fx, "%s", path);
    return fx;
}

Test(chat, stories260k_equals_llama_server)
{
    const char *dir = harness_shared_models();
    if (!dir)
        cr_skip_test("../shared/models absent");
    json_t *fx = llama_server_fixture();
    char spec[TCH_PATH_MAX];
    snprintf(spec, sizeof spec, "s=transformer:%s/stories260K.bin,tokenizer=tok512.bin,chat_template=llama2", dir);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    json_t *cases = json_object_get(fx, "cases");
    size_t compared = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        /* a llama2.c vocabulary has no special-token parsing: "</s>" in a prompt stays text */
        if (json_is_true(json_object_get(c, "needs_parse_special")))
            continue;
        json_t *rq = json_pack("{s:s, s:O, s:O, s:i}", "model", "s", "messages", json_object_get(c, "messages"),
                               "max_tokens", json_object_get(fx, "max_tokens"), "temperature", 0);
        char *body = json_dumps(rq, 0);
        json_t *r = http_post_ok(&s, "/v1/chat/completions", body);
        cr_assert_str_eq(message_text(r), json_string_value(json_object_get(c, "content")), "case %zu", i);
        json_t *u = json_object_get(r, "usage"), *eu = json_object_get(c, "usage");
        cr_assert_eq(json_integer_value(json_object_get(u, "prompt_tokens")),
                     json_integer_value(json_object_get(eu, "prompt_tokens")), "case %zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(choice0(r), "finish_reason")),
                         json_string_value(json_object_get(c, "finish_reason")));
        compared++;
        json_decref(r);
        free(body);
        json_decref(rq);
    }
    cr_assert_geq(compared, 2);
    json_decref(fx);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

/* The same cases on the GGUF file llama-server ran, all of them: with the file's own
 * SentencePiece vocabulary, "</s>" written by the template is the EOS token, as in llama.cpp. */
Test(chat, stories260k_gguf_equals_llama_server)
{
    const char *dir = harness_shared_models();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char root[TCH_PATH_MAX], body[2 * TCH_PATH_MAX];
    snprintf(root, sizeof root, "%s/gguf", dir);
    snprintf(body, sizeof body, "%s/stories260K.gguf", root);
    if (access(body, R_OK) != 0)
        cr_skip_test("%s absent", body);
    json_t *fx = llama_server_fixture();
    const char *args[] = {"--models-root", root, "--admin-key", TCH_ADMIN_KEY, NULL};
    struct srv s;
    srv_start(&s, args, 0); /* no model yet: /ready is 503 until one loads */
    const char *auth[] = {"Authorization: Bearer " TCH_ADMIN_KEY, NULL};
    struct http_res r;
    cr_assert_eq(http_do(&s, "POST", "/v1/models",
                         "{\"id\":\"g\",\"type\":\"transformer\",\"path\":\"stories260K.gguf\","
                         "\"options\":{\"chat_template\":\"llama2\"}}",
                         NULL, auth, &r),
                 0);
    cr_assert_eq(r.status, 201, "%s", r.body);
    http_res_free(&r);
    json_t *cases = json_object_get(fx, "cases");
    size_t compared = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        /* every case: "</s>" in a rendered prompt is the EOS token here, as in llama.cpp */
        json_t *rq = json_pack("{s:s, s:O, s:O, s:i}", "model", "g", "messages", json_object_get(c, "messages"),
                               "max_tokens", json_object_get(fx, "max_tokens"), "temperature", 0);
        char *req = json_dumps(rq, 0);
        json_t *a = http_post_ok(&s, "/v1/chat/completions", req);
        cr_assert_str_eq(message_text(a), json_string_value(json_object_get(c, "content")), "case %zu", i);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens")),
                     json_integer_value(json_object_get(json_object_get(c, "usage"), "prompt_tokens")),
                     "case %zu", i);
        compared++;
        json_decref(a);
        free(req);
        json_decref(rq);
    }
    cr_assert_eq(compared, json_array_size(cases));
    json_decref(fx);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

/* A GGUF file brings its own template: llama.cpp's Phi-3 vocabulary (no weights: a
 * tokenizer-only model, so chat itself is a 400 saying why). */
Test(chat, gguf_vocabulary_brings_its_template)
{
    const char *dir = harness_shared_models();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char spec[2 * TCH_PATH_MAX], path[TCH_PATH_MAX];
    snprintf(path, sizeof path, "%s/../vocab/ggml-vocab-phi-3.gguf", dir);
    if (access(path, R_OK) != 0)
        cr_skip_test("%s absent", path);
    snprintf(spec, sizeof spec, "phi=transformer:%s", path);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/v1/models/phi", &r), 0);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "details"), "chat_template")),
                     "phi3", "%s", r.body);
    http_res_free(&r);
    cr_assert_eq(http_post(&s, "/v1/chat/completions",
                           "{\"model\":\"phi\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r),
                 0);
    expect_error(&r, 400, "model");
    http_res_free(&r);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}

/* ---- a random llama model with llama.cpp's Phi-3 vocabulary and template ---- */

#define PHI_DIM 32
#define PHI_HIDDEN 64
#define PHI_LAYERS 2
#define PHI_HEADS 4
#define PHI_KV_HEADS 2
#define PHI_CTX 256

static uint64_t phi_rng = 0x9e3779b97f4a7c15ull;
static float phi_uniform(void) /* [-1, 1), xorshift64*: the same file on every run */
{
    phi_rng ^= phi_rng >> 12;
    phi_rng ^= phi_rng << 25;
    phi_rng ^= phi_rng >> 27;
    return (float)((phi_rng * 2685821657736338717ull) >> 40) / (float)(1ull << 23) - 1.0f;
}

/* Copy every tokenizer.* key of 'g' into 'w'. */
static void copy_tokenizer(const gguf *g, gguf_writer *w)
{
    for (size_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        char *key = strndup(kv->key.s, kv->key.len);
        if (strncmp(key, "tokenizer.", 10) != 0) {
            free(key);
            continue;
        }
        int rc = STATUS_OK;
        if (kv->type == GGUF_STRING) {
            char *v = strndup(kv->v.str.s, kv->v.str.len);
            rc = gguf_writer_str(w, key, v);
            free(v);
        } else if (kv->type == GGUF_U32) {
            rc = gguf_writer_u32(w, key, (uint32_t)kv->v.u);
        } else if (kv->type == GGUF_BOOL) {
            rc = gguf_writer_bool(w, key, (int)kv->v.u);
        } else if (kv->type == GGUF_ARRAY && kv->v.arr.type == GGUF_STRING) {
            char **v = calloc(kv->v.arr.n, sizeof *v);
            for (size_t k = 0; k < kv->v.arr.n; k++)
                v[k] = strndup(kv->v.arr.strs[k].s, kv->v.arr.strs[k].len);
            rc = gguf_writer_arr_str(w, key, (const char *const *)v, kv->v.arr.n);
            for (size_t k = 0; k < kv->v.arr.n; k++)
                free(v[k]);
            free(v);
        } else if (kv->type == GGUF_ARRAY && (kv->v.arr.type == GGUF_F32 || kv->v.arr.type == GGUF_I32)) {
            void *v = malloc(kv->v.arr.n * 4);
            memcpy(v, kv->v.arr.data, kv->v.arr.n * 4); /* little-endian, as on this machine */
            rc = kv->v.arr.type == GGUF_F32 ? gguf_writer_arr_f32(w, key, v, kv->v.arr.n)
                                            : gguf_writer_arr_i32(w, key, v, kv->v.arr.n);
            free(v);
        } else {
            cr_assert_fail("unexpected metadata type %d for %s", kv->type, key);
        }
        cr_assert_eq(rc, STATUS_OK);
        free(key);
    }
}

static float *phi_tensor(gguf_writer *w, float **keep, size_t *n_keep, const char *name, size_t rows,
                         size_t cols, float scale, float offset)
{
    float *d = malloc(rows * cols * sizeof *d);
    for (size_t i = 0; i < rows * cols; i++)
        d[i] = offset + scale * phi_uniform();
    uint64_t ne[2] = {cols, rows};
    cr_assert_eq(gguf_writer_tensor(w, name, GGUF_T_F32, rows > 1 ? 2 : 1, ne, d), STATUS_OK);
    keep[(*n_keep)++] = d;
    return d;
}

/* Write 'out': architecture llama (tied output), F32 random weights, the vocabulary and the
 * chat template of ../shared/vocab/ggml-vocab-phi-3.gguf. */
static void phi3_random_gguf(const char *vocab_path, const char *out)
{
    gguf *g = NULL;
    cr_assert_eq(gguf_open(vocab_path, &g, NULL), STATUS_OK);
    size_t V = 0;
    for (size_t i = 0; i < gguf_n_kv(g); i++)
        if (gguf_str_eq(gguf_kv_at(g, i)->key, "tokenizer.ggml.tokens"))
            V = gguf_kv_at(g, i)->v.arr.n;
    cr_assert_gt(V, 0);
    gguf_writer *w = gguf_writer_new();
    int rc = gguf_writer_str(w, "general.architecture", "llama");
    rc = rc ? rc : gguf_writer_u32(w, "llama.context_length", PHI_CTX);
    rc = rc ? rc : gguf_writer_u32(w, "llama.embedding_length", PHI_DIM);
    rc = rc ? rc : gguf_writer_u32(w, "llama.block_count", PHI_LAYERS);
    rc = rc ? rc : gguf_writer_u32(w, "llama.feed_forward_length", PHI_HIDDEN);
    rc = rc ? rc : gguf_writer_u32(w, "llama.attention.head_count", PHI_HEADS);
    rc = rc ? rc : gguf_writer_u32(w, "llama.attention.head_count_kv", PHI_KV_HEADS);
    rc = rc ? rc : gguf_writer_u32(w, "llama.rope.dimension_count", PHI_DIM / PHI_HEADS);
    rc = rc ? rc : gguf_writer_f32(w, "llama.rope.freq_base", 10000.0f);
    rc = rc ? rc : gguf_writer_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    cr_assert_eq(rc, STATUS_OK);
    copy_tokenizer(g, w);
    float *keep[8 + 9 * PHI_LAYERS];
    size_t n_keep = 0;
    const size_t kv = PHI_DIM / PHI_HEADS * PHI_KV_HEADS;
    const float sc = 0.35f;
    char name[64];
    phi_rng = 0x9e3779b97f4a7c15ull;
    phi_tensor(w, keep, &n_keep, "token_embd.weight", V, PHI_DIM, 0.5f, 0);
    phi_tensor(w, keep, &n_keep, "output_norm.weight", 1, PHI_DIM, 0.1f, 1.0f);
    for (int l = 0; l < PHI_LAYERS; l++) {
#define T(n, r, c, s, o) (snprintf(name, sizeof name, "blk.%d." n, l), phi_tensor(w, keep, &n_keep, name, r, c, s, o))
        T("attn_norm.weight", 1, PHI_DIM, 0.1f, 1.0f);
        T("attn_q.weight", PHI_DIM, PHI_DIM, sc, 0);
        T("attn_k.weight", kv, PHI_DIM, sc, 0);
        T("attn_v.weight", kv, PHI_DIM, sc, 0);
        T("attn_output.weight", PHI_DIM, PHI_DIM, sc, 0);
        T("ffn_norm.weight", 1, PHI_DIM, 0.1f, 1.0f);
        T("ffn_gate.weight", PHI_HIDDEN, PHI_DIM, sc, 0);
        T("ffn_down.weight", PHI_DIM, PHI_HIDDEN, sc, 0);
        T("ffn_up.weight", PHI_HIDDEN, PHI_DIM, sc, 0);
#undef T
    }
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(gguf_writer_write(w, out, &err), STATUS_OK, "%s", err.msg);
    gguf_writer_free(w);
    for (size_t i = 0; i < n_keep; i++)
        free(keep[i]);
    gguf_close(g);
}

/* Fixture of llama-server's answers on that file (see its "about"): its own template (phi3,
 * detected, no option), control tokens in the prompt, <|end|> ending a turn. */
Test(chat, phi3_vocabulary_model_equals_llama_server)
{
    const char *dir = harness_shared_models();
    if (!dir)
        cr_skip_test("../shared/models absent");
    char vocab[TCH_PATH_MAX], model[TCH_PATH_MAX], spec[2 * TCH_PATH_MAX], fxp[TCH_PATH_MAX];
    snprintf(vocab, sizeof vocab, "%s/../vocab/ggml-vocab-phi-3.gguf", dir);
    if (access(vocab, R_OK) != 0)
        cr_skip_test("%s absent", vocab);
    snprintf(model, sizeof model, "%s/phi3-random.gguf", harness_tmpdir());
    phi3_random_gguf(vocab, model);
    if (getenv("LMSERVE_KEEP_PHI3_GGUF")) /* to make the fixture: llama-server -m this file */
        fprintf(stderr, "phi3 test model: %s\n", model);
    const char *here = __FILE__, *slash = strrchr(here, '/');
    snprintf(fxp, sizeof fxp, "%.*s/fixtures/chat_llama_server_phi3_random.json",
             slash ? (int)(slash - here) : 1, slash ? here : ".");
    json_t *fx = json_load_file(fxp, 0, NULL);
    snprintf(spec, sizeof spec, "p=transformer:%s", model);
    const char *args[] = {"--model", spec, NULL};
    struct srv s;
    srv_start(&s, args, 1);
    struct http_res r;
    cr_assert_eq(http_get(&s, "/v1/models/p", &r), 0);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r.json, "details"), "chat_template")),
                     "phi3", "%s", r.body);
    http_res_free(&r);
    cr_assert_not_null(fx, "%s", fxp);
    json_t *cases = json_object_get(fx, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *rq = json_pack("{s:s, s:O, s:O, s:i}", "model", "p", "messages", json_object_get(c, "messages"),
                               "max_tokens", json_object_get(fx, "max_tokens"), "temperature", 0);
        char *req = json_dumps(rq, 0);
        json_t *a = http_post_ok(&s, "/v1/chat/completions", req);
        cr_assert_str_eq(message_text(a), json_string_value(json_object_get(c, "content")), "case %zu", i);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(a, "usage"), "prompt_tokens")),
                     json_integer_value(json_object_get(json_object_get(c, "usage"), "prompt_tokens")),
                     "case %zu", i);
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(a, "usage"), "completion_tokens")),
                     json_integer_value(json_object_get(json_object_get(c, "usage"), "completion_tokens")),
                     "case %zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(choice0(a), "finish_reason")),
                         json_string_value(json_object_get(c, "finish_reason")), "case %zu", i);
        json_decref(a);
        free(req);
        json_decref(rq);
    }
    json_decref(fx);
    cr_assert_eq(srv_stop(&s), 0, "clean exit (no sanitizer finding)");
}
