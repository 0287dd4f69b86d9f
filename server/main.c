/* main.c: flags/env/config -> registry -> daemon; signals; graceful drain. The only place
 * allowed to exit() (docs/ARCHITECTURE.md, conventions: errors). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../models/registry.h"
#include "../models/kernels/kernels.h"
#include "../models/transformer/transformer.h"
#include "config.h"
#include "healthcheck.h"
#include "http.h"

#define MAIN_EXIT_SLACK_MS 800 /* the whole shutdown ends within --timeout + this (< +1 s) */
#define MAIN_TICK_S 1           /* housekeeping period while waiting for a stop signal */
#define MAIN_TRIM_BYTES (1u << 20) /* expired prefix-cache bytes that trim the heap under load */

static atomic_int g_load_failed; /* a start-up model failed (exit 1 unless --keep-going) */

struct startup {
    registry *reg;
    pthread_t main_thread;
};

static void first_failed(const model *m, void *ud)
{
    const char **msg = ud;
    if (!*msg && model_state_of(m) == MODEL_FAILED) {
        static char line[600];
        snprintf(line, sizeof line, "model '%s': %s", model_id(m), model_error(m));
        *msg = line;
    }
}

/* Waits for the start-up models; a failed one stops the server (as Triton's
 * --exit-on-error, TEI and llama-server do) by waking main's sigwait with SIGTERM. */
static void *startup_main(void *arg)
{
    struct startup *st = arg;
    registry_wait_loaded(st->reg);
    const char *msg = NULL;
    registry_each(st->reg, first_failed, &msg);
    if (msg) {
        fprintf(stderr, "lmserve: %s\nlmserve: a model given at start failed to load: exiting "
                        "(--keep-going serves without it)\n", msg);
        atomic_store(&g_load_failed, 1);
        pthread_kill(st->main_thread, SIGTERM);
    }
    return NULL;
}

/* Waits for SIGTERM/SIGINT. Meanwhile, once a second: drops prefix-cache entries unused for
 * --prefix-cache-ttl s (the cache otherwise fills to 2 x --parallel entries or --kv-cache-mb
 * and stays full: in the 10-minute soak that was RSS 47 -> 63 MB, bench/RESULTS.md) and gives
 * freed heap pages back to the OS (malloc_trim) when that freed 1 MiB or more, or when the
 * generations stopped: glibc keeps freed chunks of a thread's arena otherwise. */
static int wait_stop(const sigset_t *stop, const struct api_config *cfg)
{
    const struct timespec tick = {MAIN_TICK_S, 0};
    size_t expired = 0;
    int was_busy = 0;
    for (;;) {
        const int sig = sigtimedwait(stop, NULL, &tick);
        if (sig > 0)
            return sig;
        if (errno != EAGAIN && errno != EINTR)
            return SIGTERM;
        expired += transformer_sched_expire((unsigned)cfg->prefix_cache_ttl_s);
        struct transformer_sched_stats st;
        transformer_sched_stats(&st);
        const int busy = st.slots_busy + st.waiting > 0;
        if (expired >= MAIN_TRIM_BYTES || (!busy && (was_busy || expired > 0))) {
            malloc_trim(0);
            expired = 0;
        }
        was_busy = busy;
    }
}

/* The last resort of shutdown: whatever clients or jobs do, the process ends in time
 * (Kubernetes sends SIGKILL after its grace period). */
static void *deadline_main(void *arg)
{
    long ms = *(const long *)arg;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    fprintf(stderr, "lmserve: shutdown did not finish within --timeout: exiting now\n");
    _exit(1);
    return NULL;
}

int main(int argc, char **argv)
{
    if (healthcheck_wanted(argc, argv)) /* a probe of a running server, not a server */
        return healthcheck_main(argc, argv);
    struct api_config cfg;
    int rc = config_load(&cfg, argc, argv);
    if (rc != 0) {
        config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    /* Block the stop signals in every thread; main waits for them with sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    transformer_sched_config((size_t)cfg.max_generations, (size_t)cfg.kv_cache_mb);
    transformer_kv_type_default(cfg.kv_type); /* --kv-type */
    if (!getenv("LMSERVE_KERNEL_THREADS"))
        kernels_threads_set(cfg.threads); /* --threads: the compute team of every batched step */
    registry *reg = registry_new(cfg.models_root, cfg.threads);
    if (!reg) {
        fprintf(stderr, "lmserve: --models-root '%s' is not a readable directory\n",
                cfg.models_root ? cfg.models_root : "");
        config_free(&cfg);
        return 2;
    }
    /* Every start-up model is registered (LOADING) before the listener opens, so /ready
     * cannot answer 200 between two registrations; the loads themselves run in the
     * background and /health answers during long ones. */
    int add_failed = 0;
    for (size_t i = 0; i < cfg.n_models; i++) {
        struct config_model *m = &cfg.models[i];
        struct status_err err;
        status_clear(&err);
        if (registry_add(reg, m->id, m->type, m->path, &m->opts, 1, &err) != STATUS_OK) {
            fprintf(stderr, "lmserve: model '%s': %s\n", m->id, err.msg);
            add_failed = 1;
        }
    }
    http_server *srv = http_start(&cfg, reg);
    if (!srv) {
        registry_free(reg);
        config_free(&cfg);
        return 1;
    }
    fprintf(stderr, "lmserve: listening on http://%s%s%s:%d (%d workers, %d I/O threads)\n",
            strchr(cfg.host, ':') ? "[" : "", cfg.host, strchr(cfg.host, ':') ? "]" : "",
            http_port(srv), cfg.threads, cfg.io_threads);
    struct startup st = {.reg = reg, .main_thread = pthread_self()};
    pthread_t startup;
    int startup_started = 0;
    if (add_failed && !cfg.keep_going) {
        fprintf(stderr, "lmserve: a model given at start could not be added: exiting "
                        "(--keep-going serves without it)\n");
        atomic_store(&g_load_failed, 1);
    } else if (cfg.n_models && !cfg.keep_going) {
        startup_started = pthread_create(&startup, NULL, startup_main, &st) == 0;
    }
    int sig = SIGTERM;
    if (!atomic_load(&g_load_failed))
        sig = wait_stop(&stop, &cfg);
    long limit_ms = (long)cfg.timeout_s * 1000 + MAIN_EXIT_SLACK_MS;
    pthread_t deadline;
    if (pthread_create(&deadline, NULL, deadline_main, &limit_ms) == 0)
        pthread_detach(deadline);
    if (!atomic_load(&g_load_failed))
        fprintf(stderr, "lmserve: %s received: draining (up to %d s)\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.timeout_s);
    http_drain(srv, cfg.timeout_s);
    http_stop(srv);
    if (startup_started)
        pthread_join(startup, NULL);
    registry_free(reg);
    config_free(&cfg);
    fprintf(stderr, "lmserve: stopped\n");
    return atomic_load(&g_load_failed) ? 1 : 0;
}
