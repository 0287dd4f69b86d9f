/* test_registry.c: the registry with the test-only model type: states, references,
 * unload while in use, path confinement, and many load/unload cycles (run under ASan by
 * make test-san, so a leak fails the run). */
#include "../../../models/registry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "../../../models/lm.h"

static char root[256];
static char tiny[320];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/lmserve-reg-%d", (int)getpid());
    mkdir(root, 0755);
    snprintf(tiny, sizeof tiny, "%s/tiny.test", root);
    FILE *f = fopen(tiny, "w");
    fputs("lmserve-test-model\n", f);
    fclose(f);
    char bad[320];
    snprintf(bad, sizeof bad, "%s/bad.test", root);
    f = fopen(bad, "w");
    fputs("nope\n", f);
    fclose(f);
}

TestSuite(registry, .init = setup);

Test(registry, add_acquire_release_remove)
{
    registry *r = registry_new(root, 2);
    cr_assert(r);
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(registry_add(r, "a", "test", tiny, NULL, 0, &err), STATUS_OK, "%s", err.msg);
    model *m = NULL;
    cr_assert_eq(registry_acquire(r, "a", &m, &err), STATUS_OK);
    cr_assert_str_eq(model_type(m), "test");
    cr_assert_eq(model_state_of(m), MODEL_READY);
    cr_assert(model_ops_of(m)->lm);
    registry_release(m);
    status_clear(&err);
    cr_assert_eq(registry_add(r, "a", "test", tiny, NULL, 0, &err), STATUS_CONFLICT);
    cr_assert_str_eq(err.param, "id");
    status_clear(&err);
    cr_assert_eq(registry_add(r, "b", "nope", tiny, NULL, 0, &err), STATUS_BAD_INPUT);
    cr_assert(strstr(err.msg, "unknown model type"), "%s", err.msg);
    status_clear(&err);
    cr_assert_eq(registry_add(r, "bad id!", "test", tiny, NULL, 0, &err), STATUS_BAD_INPUT);
    status_clear(&err);
    cr_assert_eq(registry_acquire(r, "zzz", &m, &err), STATUS_NOT_FOUND);
    cr_assert_eq(registry_remove(r, "a", 1, NULL), STATUS_OK);
    status_clear(&err);
    cr_assert_eq(registry_acquire(r, "a", &m, &err), STATUS_NOT_FOUND);
    registry_free(r);
}

Test(registry, failed_sync_load_leaves_registry_unchanged)
{
    registry *r = registry_new(root, 1);
    struct status_err err;
    status_clear(&err);
    char bad[320];
    snprintf(bad, sizeof bad, "%s/bad.test", root);
    cr_assert_neq(registry_add(r, "x", "test", bad, NULL, 0, &err), STATUS_OK);
    cr_assert(strstr(err.msg, "bad.test:1:"), "%s", err.msg);
    size_t st[4];
    cr_assert_eq(registry_count(r, st), 0);
    registry_free(r);
}

Test(registry, async_failed_load_is_visible)
{
    registry *r = registry_new(root, 1);
    char bad[320];
    snprintf(bad, sizeof bad, "%s/bad.test", root);
    cr_assert_eq(registry_add(r, "x", "test", bad, NULL, 1, NULL), STATUS_OK);
    cr_assert_eq(registry_add(r, "y", "test", tiny, NULL, 1, NULL), STATUS_OK);
    registry_wait_loaded(r);
    size_t st[4];
    cr_assert_eq(registry_count(r, st), 2);
    cr_assert_eq(st[MODEL_FAILED], 1);
    cr_assert_eq(st[MODEL_READY], 1);
    struct status_err err;
    status_clear(&err);
    model *m;
    cr_assert_eq(registry_acquire(r, "x", &m, &err), STATUS_UNPROCESSABLE);
    registry_free(r);
}

Test(registry, resolve_path_confinement)
{
    registry *r = registry_new(root, 1);
    char out[4096];
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "tiny.test", out, sizeof out, &err), STATUS_OK, "%s", err.msg);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "../etc/passwd", out, sizeof out, &err), STATUS_FORBIDDEN);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "sub/../../x", out, sizeof out, &err), STATUS_FORBIDDEN);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "/etc/passwd", out, sizeof out, &err), STATUS_FORBIDDEN);
    char link[320];
    snprintf(link, sizeof link, "%s/out.test", root);
    unlink(link);
    cr_assert_eq(symlink("/etc/passwd", link), 0);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "out.test", out, sizeof out, &err), STATUS_FORBIDDEN);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "missing", out, sizeof out, &err), STATUS_NOT_FOUND);
    /* issue 10: outside the root, missing or not, is the same 403 */
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(r, "/etc/no-such-file-lmserve", out, sizeof out, &err),
                 STATUS_FORBIDDEN);
    status_clear(&err);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/missing", root);
    cr_assert_eq(registry_resolve_path(r, missing, out, sizeof out, &err), STATUS_NOT_FOUND);
    registry_free(r);
    registry *noroot = registry_new(NULL, 1);
    status_clear(&err);
    cr_assert_eq(registry_resolve_path(noroot, "tiny.test", out, sizeof out, &err), STATUS_FORBIDDEN);
    registry_free(noroot);
}

struct user {
    registry *r;
    int ok;
};

static void *use_model(void *arg)
{
    struct user *u = arg;
    model *m;
    if (registry_acquire(u->r, "slow", &m, NULL) != STATUS_OK)
        return NULL;
    struct lm_scored out = {0};
    struct lm_score_opts o = {.bos = 1, .eos = 1};
    const struct lm_ops *lm = model_ops_of(m)->lm;
    u->ok = lm->score(model_impl(m), "a b c", &o, &out, NULL) == STATUS_OK && out.n == 4;
    lm_scored_free(&out);
    registry_release(m);
    return NULL;
}

Test(registry, remove_waits_for_in_flight_users)
{
    registry *r = registry_new(root, 1);
    struct model_options o = {0};
    model_options_add(&o, "score_delay_ms", "300", NULL);
    cr_assert_eq(registry_add(r, "slow", "test", tiny, &o, 0, NULL), STATUS_OK);
    model_options_clear(&o);
    enum { N = 4 };
    pthread_t t[N];
    struct user u[N];
    for (int i = 0; i < N; i++) {
        u[i] = (struct user){.r = r};
        pthread_create(&t[i], NULL, use_model, &u[i]);
    }
    usleep(100000);
    cr_assert_eq(registry_remove(r, "slow", 1, NULL), STATUS_OK);
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        cr_assert(u[i].ok, "user %d did not finish its request", i);
    }
    registry_free(r);
}

Test(registry, thousand_load_unload_cycles)
{
    registry *r = registry_new(root, 2);
    struct model_options o = {0};
    model_options_add(&o, "score_delay_ms", "0", NULL);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "m%d", i % 7);
        int async = i % 2;
        cr_assert_eq(registry_add(r, id, "test", tiny, &o, async, NULL), STATUS_OK, "cycle %d", i);
        if (async)
            registry_wait_loaded(r);
        model *m;
        cr_assert_eq(registry_acquire(r, id, &m, NULL), STATUS_OK);
        registry_release(m);
        cr_assert_eq(registry_remove(r, id, i % 3 != 0, NULL), STATUS_OK);
    }
    model_options_clear(&o);
    size_t st[4];
    cr_assert_eq(registry_count(r, st), 0);
    registry_free(r);
}

/* issue 10: unknown options were silently ignored, and ids "." / ".." accepted */
Test(registry, unknown_option_and_dot_ids_refused)
{
    registry *r = registry_new(root, 1);
    struct model_options o = {0};
    cr_assert_eq(model_options_add(&o, "score_delay_ms", "0", NULL), STATUS_OK);
    cr_assert_eq(model_options_add(&o, "colour", "blue", NULL), STATUS_OK);
    struct status_err err;
    status_clear(&err);
    cr_assert_eq(registry_add(r, "m", "test", tiny, &o, 0, &err), STATUS_BAD_INPUT);
    cr_assert_str_eq(err.param, "options.colour");
    cr_assert(strstr(err.msg, "score_delay_ms"), "%s", err.msg);
    model_options_clear(&o);
    status_clear(&err);
    cr_assert_eq(registry_add(r, ".", "test", tiny, NULL, 0, &err), STATUS_BAD_INPUT);
    status_clear(&err);
    cr_assert_eq(registry_add(r, "..", "test", tiny, NULL, 0, &err), STATUS_BAD_INPUT);
    status_clear(&err);
    cr_assert_eq(registry_add(r, "...", "test", tiny, NULL, 0, &err), STATUS_OK, "%s", err.msg);
    registry_free(r);
}

Test(registry, options)
{
    struct model_options o = {0};
    cr_assert_eq(model_options_add(&o, "lowercase", "true", NULL), STATUS_OK);
    cr_assert_eq(model_options_bool(&o, "lowercase", 0), 1);
    cr_assert_eq(model_options_bool(&o, "absent", 7), 7);
    model_options_add(&o, "lowercase", "maybe", NULL);
    cr_assert_eq(model_options_bool(&o, "lowercase", 0), -1);
    cr_assert_eq(o.n, 1);
    for (int i = 1; i < REGISTRY_OPTIONS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        cr_assert_eq(model_options_add(&o, k, "v", NULL), STATUS_OK);
    }
    cr_assert_eq(model_options_add(&o, "one-too-many", "v", NULL), STATUS_TOO_LARGE);
    model_options_clear(&o);
}
