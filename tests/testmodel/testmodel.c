/* testmodel.c: a tiny model type ("test") for the registry and server tests only, linked
 * into the test binaries (build/tests/unit, build/tests/lmserve, the api fuzz target) and
 * registered at their start-up; the lmserve binary does not have it. A model is a text
 * file whose first line is "lmserve-test-model". It is a language model that gives every
 * word log10 p = -1, and can be made slow to load or to score (options load_delay_ms,
 * score_delay_ms) so tests can observe loading, draining and unloading under load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../models/lm.h"
#include "../../models/registry.h"
#include "../../models/util/mapfile.h"

#define TESTMODEL_MAGIC "lmserve-test-model"
#define TESTMODEL_DELAY_MAX_MS 60000 /* bound on the delays tests may ask for */

struct testmodel {
    long score_delay_ms;
    size_t bytes;
};

static long option_ms(const struct model_options *o, const char *key)
{
    const char *v = model_options_get(o, key);
    if (!v)
        return 0;
    long ms = strtol(v, NULL, 10);
    return ms < 0 ? 0 : ms > TESTMODEL_DELAY_MAX_MS ? TESTMODEL_DELAY_MAX_MS : ms;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int testmodel_load(const char *path, const struct model_options *opts, void **impl,
                          struct status_err *err)
{
    struct status_err oe;
    status_clear(&oe);
    FILE *f = mapfile_fopen(path, &oe);
    if (!f)
        return status_set(err, oe.code, "path", "%s", oe.msg);
    char line[64] = "";
    int ok = fgets(line, sizeof line, f) && strncmp(line, TESTMODEL_MAGIC, strlen(TESTMODEL_MAGIC)) == 0;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    if (!ok)
        return status_set(err, STATUS_BAD_FORMAT, "path", "%s:1: not a test model (expected '%s')",
                          path, TESTMODEL_MAGIC);
    sleep_ms(option_ms(opts, "load_delay_ms"));
    struct testmodel *t = calloc(1, sizeof *t);
    if (!t)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    t->score_delay_ms = option_ms(opts, "score_delay_ms");
    t->bytes = size > 0 ? (size_t)size : 0;
    *impl = t;
    return STATUS_OK;
}

static void testmodel_free(void *impl) { free(impl); }

static json_t *testmodel_describe(const void *impl)
{
    const struct testmodel *t = impl;
    return json_pack("{s:I}", "score_delay_ms", (json_int_t)t->score_delay_ms);
}

static size_t testmodel_bytes(const void *impl) { return ((const struct testmodel *)impl)->bytes; }

#define TESTMODEL_LN10 2.302585092994046

static int testmodel_score(void *impl, const char *text, const struct lm_score_opts *o,
                           struct lm_scored *out, struct status_err *err)
{
    struct testmodel *t = impl;
    /* Sleep in small steps so cancellation is seen promptly. */
    for (long left = t->score_delay_ms; left > 0; left -= 10) {
        if (o->cancelled && *o->cancelled)
            return status_set(err, STATUS_CANCELLED, NULL, "cancelled");
        sleep_ms(left < 10 ? left : 10);
    }
    size_t cap = strlen(text) / 2 + 2;
    out->tokens = calloc(cap, sizeof *out->tokens);
    out->n = 0;
    if (!out->tokens)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    const char *s = text;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
            s++;
        if (!*s)
            break;
        const char *e = s;
        while (*e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r')
            e++;
        struct lm_token *tk = &out->tokens[out->n++];
        tk->text = strndup(s, (size_t)(e - s));
        tk->logprob = -TESTMODEL_LN10;
        tk->order = 1;
        tk->id = -1;
        if (!tk->text)
            goto nomem;
        s = e;
    }
    if (o->eos) {
        struct lm_token *tk = &out->tokens[out->n++];
        tk->text = strdup("</s>");
        tk->logprob = -TESTMODEL_LN10;
        tk->order = 1;
        tk->id = -1;
        if (!tk->text)
            goto nomem;
    }
    return STATUS_OK;
nomem:
    lm_scored_free(out);
    return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
}

static int testmodel_next(void *impl, const char *context, const struct lm_score_opts *opts,
                          size_t top_k, struct lm_candidate **out, size_t *n,
                          struct status_err *err)
{
    (void)impl;
    (void)context;
    (void)opts;
    static const char *const WORDS[] = {"a", "b", "c"};
    size_t k = top_k < 3 ? top_k : 3;
    *out = calloc(k ? k : 1, sizeof **out);
    if (!*out)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    for (size_t i = 0; i < k; i++) {
        (*out)[i].text = strdup(WORDS[i]);
        (*out)[i].logprob = -1.0986122886681098; /* ln(1/3) */
        (*out)[i].id = (int)i;
        if (!(*out)[i].text) {
            lm_candidates_free(*out, i);
            *out = NULL;
            return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
        }
    }
    *n = k;
    return STATUS_OK;
}

static const struct lm_ops testmodel_lm = {.score = testmodel_score, .next = testmodel_next};

static const char *const testmodel_options[] = {"load_delay_ms", "score_delay_ms", NULL};

const struct model_ops testmodel_ops = {
    MODEL_OPS_LIFECYCLE("test", testmodel),
    .lm = &testmodel_lm,
};

/* Linked as an object (never from an archive), so this runs in every test binary. */
__attribute__((constructor)) static void testmodel_register(void)
{
    registry_register_type(&testmodel_ops);
}
