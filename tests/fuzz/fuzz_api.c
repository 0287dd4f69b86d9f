/* fuzz_api.c: libFuzzer target for every JSON route's handler, without the network: the first
 * byte picks the route, the rest is the request body. Handlers must answer every input with a
 * valid response (never crash, hang or leak). The registry holds one model of each type that
 * tests/fuzz/models.sh made (whatever exists) plus the test type. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../server/api/api.h"
#include "../../server/config.h"
#include "../../server/router.h"

static registry *reg;
static struct api_config cfg;

/* opts: NULL-terminated KEY, VALUE, ... pairs, or NULL */
static void add_if_present(const char *id, const char *type, const char *path,
                           const char *const *opts)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    fclose(f);
    struct model_options o = {0};
    for (size_t i = 0; opts && opts[i] && opts[i + 1]; i += 2)
        model_options_add(&o, opts[i], opts[i + 1], NULL);
    struct status_err err;
    status_clear(&err);
    if (registry_add(reg, id, type, path, &o, 0, &err) != STATUS_OK)
        fprintf(stderr, "fuzz: %s: %s\n", id, err.msg);
    model_options_clear(&o);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("LMSERVE_FUZZ_MODELS");
    if (!dir)
        dir = "build/fuzz-models";
    /* Absolute: the Transformer resolves a relative tokenizer against its checkpoint's dir. */
    static char absdir[4096];
    if (realpath(dir, absdir))
        dir = absdir;
    reg = registry_new(NULL, 1);
    char p[512], q[512];
    snprintf(p, sizeof p, "%s/tiny.test", dir);
    add_if_present("t", "test", p, NULL);
    snprintf(p, sizeof p, "%s/tiny.arpa", dir);
    add_if_present("ng", "ngram", p, NULL);
    snprintf(p, sizeof p, "%s/tiny.vec", dir);
    add_if_present("vec", "embedding", p, NULL);
    snprintf(p, sizeof p, "%s/tiny.bin", dir);
    snprintf(q, sizeof q, "%s/tiny.tok", dir);
    const char *tf_opts[] = {"tokenizer", q, NULL};
    add_if_present("tf", "transformer", p, tf_opts);
    /* the same checkpoint with a chat template, so /v1/chat/completions gets past its check */
    const char *chat_opts[] = {"tokenizer", q, "chat_template", "chatml", NULL};
    add_if_present("tfc", "transformer", p, chat_opts);
    /* a BERT encoder and a reranker (models.sh writes them when the bge vocabulary exists) */
    snprintf(p, sizeof p, "%s/tiny-bert.gguf", dir);
    add_if_present("bert", "transformer", p, NULL);
    snprintf(p, sizeof p, "%s/tiny-rerank.gguf", dir);
    add_if_present("rr", "transformer", p, NULL);
    cfg.max_batch = 8;
    cfg.max_body = 1 << 20;
    cfg.timeout_s = 10;
    cfg.max_generations = 4;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* JSON-body routes only; streaming routes run without a stream (non-stream path). */
    size_t n_json = 0;
    const struct route *json_routes[32];
    for (size_t i = 0; i < router_count() && n_json < 32; i++)
        if (router_row(i)->json_body && !router_row(i)->admin)
            json_routes[n_json++] = router_row(i);
    const struct route *rt = json_routes[data[0] % n_json];
    json_t *body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    volatile int cancelled = 0;
    struct api_req rq = {.method = rt->method, .path = rt->path, .body = body, .reg = reg,
                         .cfg = &cfg, .request_id = "fuzz", .cancelled = &cancelled};
    /* Path parameters ({name} of /v2/models/{name}/infer ...), as the router fills them: the
     * body's "model" when it is a string, else the test model. */
    const char *pv = json_string_value(json_object_get(body, "model"));
    for (const char *c = rt->path; (c = strchr(c, '{')) != NULL && rq.n_params < API_PARAMS_MAX; c++)
        rq.params[rq.n_params++] = pv ? pv : "t";
    struct api_resp rs = {0};
    rt->handler(&rq, &rs);
    if (!rs.body && !rs.raw)
        abort(); /* every handler must answer */
    json_decref(rs.body);
    free(rs.raw);
    free(rs.location);
    json_decref(body);
    return 0;
}
