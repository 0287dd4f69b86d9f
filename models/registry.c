/* registry.c: ids -> models with state and reference counts; background loading with a
 * bounded number of loader threads. Not a cache: models stay until removed. */
#include "registry.h"

#include "util/ident.h"
#include "util/progress.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

struct model {
    registry *reg;
    char id[REGISTRY_ID_MAX + 1];
    char *path;
    const struct model_ops *ops;
    struct model_options opts;
    enum model_state state; /* guarded by reg->lock */
    char error[STATUS_MSG_MAX];
    enum status error_code;                /* the loader's code (FAILED) */
    char error_param[STATUS_PARAM_MAX];    /* the request field it names: "path", "options.KEY" */
    int refcount;           /* guarded by reg->lock; the registry's own listing holds 1 */
    int listed;             /* still reachable by id */
    void *impl;
    size_t bytes;
    int64_t created;
    struct model *next;     /* insertion order */
};

struct registry {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* any state or refcount change */
    struct model *head;
    char *root;             /* realpath of the models root, or NULL */
    int load_threads;
    int loading_now;        /* loader threads running */
};

/* ---- options ---- */

const char *model_options_get(const struct model_options *o, const char *key)
{
    if (!o)
        return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->items[i].key, key) == 0)
            return o->items[i].value;
    return NULL;
}

int model_options_bool(const struct model_options *o, const char *key, int dflt)
{
    const char *v = model_options_get(o, key);
    if (!v)
        return dflt;
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))
        return 1;
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))
        return 0;
    return -1;
}

int model_options_add(struct model_options *o, const char *key, const char *value,
                      struct status_err *err)
{
    for (size_t i = 0; i < o->n; i++) {
        if (strcmp(o->items[i].key, key) == 0) { /* later value wins */
            char *v = strdup(value);
            if (!v)
                return status_set(err, STATUS_NO_MEMORY, "options", "out of memory");
            free(o->items[i].value);
            o->items[i].value = v;
            return STATUS_OK;
        }
    }
    if (o->n >= REGISTRY_OPTIONS_MAX)
        return status_set(err, STATUS_TOO_LARGE, "options", "more than %d model options",
                          REGISTRY_OPTIONS_MAX);
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return status_set(err, STATUS_NO_MEMORY, "options", "out of memory");
    }
    o->items[o->n].key = k;
    o->items[o->n].value = v;
    o->n++;
    return STATUS_OK;
}

void model_options_clear(struct model_options *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        free(o->items[i].key);
        free(o->items[i].value);
    }
    o->n = 0;
}

static int options_copy(struct model_options *dst, const struct model_options *src,
                        struct status_err *err)
{
    dst->n = 0;
    if (!src)
        return STATUS_OK;
    for (size_t i = 0; i < src->n; i++) {
        int rc = model_options_add(dst, src->items[i].key, src->items[i].value, err);
        if (rc != STATUS_OK) {
            model_options_clear(dst);
            return rc;
        }
    }
    return STATUS_OK;
}

/* ---- types ---- */

#define REGISTRY_EXTRA_TYPES 4
static const struct model_ops *g_extra_types[REGISTRY_EXTRA_TYPES];

int registry_register_type(const struct model_ops *ops)
{
    for (size_t i = 0; i < REGISTRY_EXTRA_TYPES; i++)
        if (!g_extra_types[i] || g_extra_types[i] == ops) {
            g_extra_types[i] = ops;
            return 0;
        }
    return -1;
}

const struct model_ops *registry_find_type(const char *type)
{
    for (size_t i = 0; MODEL_TYPES[i]; i++)
        if (strcmp(MODEL_TYPES[i]->type, type) == 0)
            return MODEL_TYPES[i];
    for (size_t i = 0; i < REGISTRY_EXTRA_TYPES && g_extra_types[i]; i++)
        if (strcmp(g_extra_types[i]->type, type) == 0)
            return g_extra_types[i];
    return NULL;
}

/* ---- lifetime ---- */

registry *registry_new(const char *models_root, int load_threads)
{
    registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (models_root) {
        r->root = realpath(models_root, NULL);
        if (!r->root) {
            free(r);
            return NULL;
        }
    }
    r->load_threads = load_threads > 0 ? load_threads : 1;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->changed, NULL);
    return r;
}

static void model_destroy(model *m)
{
    if (!m)
        return;
    if (m->impl && m->ops)
        m->ops->free_impl(m->impl);
    model_options_clear(&m->opts);
    free(m->path);
    free(m);
}

/* Unlink m from the list; caller holds the lock. */
static void unlink_locked(registry *r, model *m)
{
    for (model **p = &r->head; *p; p = &(*p)->next) {
        if (*p == m) {
            *p = m->next;
            m->next = NULL;
            return;
        }
    }
}

static void release_locked(registry *r, model *m)
{
    if (--m->refcount == 0) {
        pthread_cond_broadcast(&r->changed);
        pthread_mutex_unlock(&r->lock);
        model_destroy(m);
        pthread_mutex_lock(&r->lock);
        return;
    }
    pthread_cond_broadcast(&r->changed);
}

void registry_free(registry *r)
{
    if (!r)
        return;
    registry_wait_loaded(r);
    pthread_mutex_lock(&r->lock);
    while (r->head) {
        model *m = r->head;
        unlink_locked(r, m);
        m->listed = 0;
        m->state = MODEL_UNLOADING;
        release_locked(r, m);
    }
    /* Wait for loader threads to drop out (they hold the lock briefly at exit). */
    while (r->loading_now > 0)
        pthread_cond_wait(&r->changed, &r->lock);
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&r->changed);
    pthread_mutex_destroy(&r->lock);
    free(r->root);
    free(r);
}

static model *find_locked(registry *r, const char *id)
{
    for (model *m = r->head; m; m = m->next)
        if (m->listed && strcmp(m->id, id) == 0)
            return m;
    return NULL;
}

/* Run the type's loader for m (no lock held), then publish the result. */
static void load_now(model *m)
{
    registry *r = m->reg;
    struct status_err err;
    status_clear(&err);
    void *impl = NULL;
    struct timespec t0, t1;
    /* Big files take seconds: say what is being loaded before the loader starts. */
    struct stat st;
    if (m->path && stat(m->path, &st) == 0 && (size_t)st.st_size >= PROGRESS_MIN_BYTES)
        fprintf(stderr, "lmserve: model '%s' (%s): loading %s (%.1f MB)\n", m->id, m->ops->type,
                m->path, (double)st.st_size / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = m->ops->load(m->path, &m->opts, &impl, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    pthread_mutex_lock(&r->lock);
    if (rc == STATUS_OK) {
        m->impl = impl;
        m->bytes = m->ops->bytes ? m->ops->bytes(impl) : 0;
        m->state = MODEL_READY;
        fprintf(stderr, "lmserve: model '%s' (%s) ready in %.1f ms, %zu bytes\n", m->id,
                m->ops->type, ms, m->bytes);
    } else {
        m->state = MODEL_FAILED;
        snprintf(m->error, sizeof m->error, "%s", err.msg[0] ? err.msg : "load failed");
        /* The loader's code and field flow to the answer: a loader names an option by its
         * key ("lowercase"), the API by "options.lowercase"; no field means the file. */
        m->error_code = err.code != STATUS_OK ? err.code : STATUS_BAD_FORMAT;
        if (strcmp(err.param, "path") == 0 || strncmp(err.param, "options.", 8) == 0)
            snprintf(m->error_param, sizeof m->error_param, "%s", err.param);
        else if (err.param[0])
            snprintf(m->error_param, sizeof m->error_param, "options.%.*s",
                     (int)(sizeof m->error_param - sizeof "options."), err.param);
        else
            snprintf(m->error_param, sizeof m->error_param, "path");
        fprintf(stderr, "lmserve: model '%s' (%s) failed to load: %s\n", m->id, m->ops->type,
                m->error);
    }
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
}

static void *loader_main(void *arg)
{
    model *m = arg;
    registry *r = m->reg;
    pthread_mutex_lock(&r->lock);
    while (r->loading_now >= r->load_threads)
        pthread_cond_wait(&r->changed, &r->lock);
    r->loading_now++;
    pthread_mutex_unlock(&r->lock);

    load_now(m);

    pthread_mutex_lock(&r->lock);
    r->loading_now--;
    release_locked(r, m); /* the loader's own reference */
    pthread_cond_broadcast(&r->changed);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int registry_add(registry *r, const char *id, const char *type, const char *path,
                 const struct model_options *opts, int async, struct status_err *err)
{
    if (!ident_valid(id, REGISTRY_ID_MAX))
        return status_set(err, STATUS_BAD_INPUT, "id",
                          "model id must be 1..%d characters of [A-Za-z0-9._:-]",
                          REGISTRY_ID_MAX);
    const struct model_ops *ops = registry_find_type(type);
    if (!ops) {
        char known[256] = "";
        for (size_t i = 0; MODEL_TYPES[i]; i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "",
                     MODEL_TYPES[i]->type);
        }
        return status_set(err, STATUS_BAD_INPUT, "type", "unknown model type '%s' (known: %s)",
                          type, known);
    }
    for (size_t i = 0; opts && i < opts->n; i++) {
        const char *key = opts->items[i].key;
        size_t k = 0;
        while (ops->options && ops->options[k] && strcmp(ops->options[k], key) != 0)
            k++;
        if (ops->options && ops->options[k])
            continue;
        char param[STATUS_PARAM_MAX], known[256] = "";
        snprintf(param, sizeof param, "options.%s", key);
        for (k = 0; ops->options && ops->options[k]; k++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof known - len, "%s%s", len ? ", " : "", ops->options[k]);
        }
        return status_set(err, STATUS_BAD_INPUT, param,
                          "unknown option '%s' for a model of type %s (known: %s)", key, type,
                          known[0] ? known : "none");
    }
    model *m = calloc(1, sizeof *m);
    if (!m)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    m->path = strdup(path);
    if (!m->path || options_copy(&m->opts, opts, err) != STATUS_OK) {
        model_destroy(m);
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    }
    snprintf(m->id, sizeof m->id, "%s", id);
    m->reg = r;
    m->ops = ops;
    m->state = MODEL_LOADING;
    m->created = (int64_t)time(NULL);

    pthread_mutex_lock(&r->lock);
    if (find_locked(r, id)) {
        pthread_mutex_unlock(&r->lock);
        model_destroy(m);
        return status_set(err, STATUS_CONFLICT, "id", "a model with id '%s' already exists", id);
    }
    if (async) {
        m->listed = 1;
        m->refcount = 2; /* the listing and the loader thread */
        model **p = &r->head;
        while (*p)
            p = &(*p)->next;
        *p = m;
        pthread_mutex_unlock(&r->lock);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, loader_main, m);
        pthread_attr_destroy(&attr);
        if (rc != 0) { /* load inline instead */
            pthread_mutex_lock(&r->lock);
            r->loading_now++;
            pthread_mutex_unlock(&r->lock);
            load_now(m);
            pthread_mutex_lock(&r->lock);
            r->loading_now--;
            release_locked(r, m);
            pthread_mutex_unlock(&r->lock);
        }
        return STATUS_OK;
    }
    /* Synchronous: reserve the id while loading (LOADING state is visible), publish or drop. */
    m->listed = 1;
    m->refcount = 1;
    model **p = &r->head;
    while (*p)
        p = &(*p)->next;
    *p = m;
    pthread_mutex_unlock(&r->lock);

    load_now(m);

    pthread_mutex_lock(&r->lock);
    if (m->state == MODEL_FAILED) {
        status_set(err, m->error_code, m->error_param, "%s", m->error);
        unlink_locked(r, m);
        m->listed = 0;
        release_locked(r, m);
        pthread_mutex_unlock(&r->lock);
        return err ? err->code : STATUS_BAD_FORMAT;
    }
    pthread_mutex_unlock(&r->lock);
    return STATUS_OK;
}

int registry_resolve_path(const registry *r, const char *path, char *out, size_t out_size,
                          struct status_err *err)
{
    if (!r->root)
        return status_set(err, STATUS_FORBIDDEN, "path",
                          "loading models through the API needs --models-root");
    if (!path[0])
        return status_set(err, STATUS_BAD_INPUT, "path", "path is empty");
    /* Refuse '..' components outright, before touching the file system. */
    const char *s = path;
    while (*s) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return status_set(err, STATUS_FORBIDDEN, "path", "path may not contain '..'");
        s += n;
        while (*s == '/')
            s++;
    }
    char joined[PATH_MAX];
    int n = path[0] == '/' ? snprintf(joined, sizeof joined, "%s", path)
                           : snprintf(joined, sizeof joined, "%s/%s", r->root, path);
    if (n < 0 || (size_t)n >= sizeof joined)
        return status_set(err, STATUS_BAD_INPUT, "path", "path is too long");
    size_t rl = strlen(r->root);
    char *real = realpath(joined, NULL);
    if (!real) {
        /* An absolute path outside the root gets the one answer whether or not it exists,
         * so the API cannot probe the rest of the file system. */
        if (path[0] == '/' && !(strncmp(path, r->root, rl) == 0 && (path[rl] == '/' || path[rl] == '\0')))
            return status_set(err, STATUS_FORBIDDEN, "path", "path resolves outside the models root");
        return status_set(err, errno == ENOENT ? STATUS_NOT_FOUND : STATUS_IO, "path",
                          "cannot open '%s': %s", path, strerror(errno));
    }
    int inside = strncmp(real, r->root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0');
    if (!inside) {
        free(real);
        return status_set(err, STATUS_FORBIDDEN, "path", "path resolves outside the models root");
    }
    if (strlen(real) >= out_size) {
        free(real);
        return status_set(err, STATUS_BAD_INPUT, "path", "path is too long");
    }
    memcpy(out, real, strlen(real) + 1);
    free(real);
    return STATUS_OK;
}

int registry_acquire(registry *r, const char *id, model **out, struct status_err *err)
{
    pthread_mutex_lock(&r->lock);
    model *m = find_locked(r, id);
    int rc = STATUS_OK;
    if (!m)
        rc = status_set(err, STATUS_NOT_FOUND, "model", "model '%s' does not exist", id);
    else if (m->state == MODEL_LOADING)
        rc = status_set(err, STATUS_BUSY, "model", "model '%s' is still loading", id);
    else if (m->state == MODEL_FAILED)
        rc = status_set(err, STATUS_UNPROCESSABLE, "model", "model '%s' failed to load: %s", id,
                        m->error);
    else if (m->state != MODEL_READY)
        rc = status_set(err, STATUS_NOT_FOUND, "model", "model '%s' is being unloaded", id);
    else {
        m->refcount++;
        *out = m;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void registry_release(model *m)
{
    if (!m)
        return;
    registry *r = m->reg;
    pthread_mutex_lock(&r->lock);
    release_locked(r, m);
    pthread_mutex_unlock(&r->lock);
}

int registry_remove(registry *r, const char *id, int wait, struct status_err *err)
{
    pthread_mutex_lock(&r->lock);
    model *m = find_locked(r, id);
    if (!m) {
        pthread_mutex_unlock(&r->lock);
        return status_set(err, STATUS_NOT_FOUND, "id", "model '%s' does not exist", id);
    }
    if (m->state == MODEL_LOADING) {
        pthread_mutex_unlock(&r->lock);
        return status_set(err, STATUS_CONFLICT, "id", "model '%s' is still loading", id);
    }
    unlink_locked(r, m);
    m->listed = 0;
    m->state = MODEL_UNLOADING;
    if (!wait) {
        release_locked(r, m);
        pthread_mutex_unlock(&r->lock);
        return STATUS_OK;
    }
    /* Keep our own reference (the listing's) until the others are gone, then free. */
    while (m->refcount > 1)
        pthread_cond_wait(&r->changed, &r->lock);
    release_locked(r, m);
    pthread_mutex_unlock(&r->lock);
    return STATUS_OK;
}

void registry_each(registry *r, void (*fn)(const model *m, void *ud), void *ud)
{
    pthread_mutex_lock(&r->lock);
    for (model *m = r->head; m; m = m->next)
        fn(m, ud);
    pthread_mutex_unlock(&r->lock);
}

size_t registry_count(registry *r, size_t by_state[4])
{
    size_t n = 0;
    if (by_state)
        memset(by_state, 0, 4 * sizeof by_state[0]);
    pthread_mutex_lock(&r->lock);
    for (model *m = r->head; m; m = m->next) {
        n++;
        if (by_state)
            by_state[m->state]++;
    }
    pthread_mutex_unlock(&r->lock);
    return n;
}

void registry_wait_loaded(registry *r)
{
    pthread_mutex_lock(&r->lock);
    for (;;) {
        int loading = r->loading_now > 0;
        for (model *m = r->head; m && !loading; m = m->next)
            loading = m->state == MODEL_LOADING;
        if (!loading)
            break;
        pthread_cond_wait(&r->changed, &r->lock);
    }
    pthread_mutex_unlock(&r->lock);
}

/* ---- accessors: state fields are read under the caller's registry_each() lock or while a
 * reference is held (then the model is READY and immutable) ---- */

const char *model_id(const model *m) { return m->id; }
const char *model_type(const model *m) { return m->ops->type; }
const char *model_path(const model *m) { return m->path; }
const struct model_ops *model_ops_of(const model *m) { return m->ops; }
void *model_impl(const model *m) { return m->impl; }
enum model_state model_state_of(const model *m) { return m->state; }
const char *model_error(const model *m) { return m->state == MODEL_FAILED ? m->error : ""; }
int64_t model_created(const model *m) { return m->created; }
size_t model_bytes(const model *m) { return m->bytes; }
const struct model_options *model_options_of(const model *m) { return &m->opts; }

const char *model_state_name(enum model_state s)
{
    switch (s) {
    case MODEL_LOADING: return "loading";
    case MODEL_READY: return "ready";
    case MODEL_FAILED: return "failed";
    case MODEL_UNLOADING: return "unloading";
    }
    return "unknown";
}

json_t *model_describe(const model *m)
{
    if (m->state != MODEL_READY || !m->ops->describe)
        return NULL;
    return m->ops->describe(m->impl);
}
