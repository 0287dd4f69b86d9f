/* main.c: flags/env/config -> registry -> daemon; signals; graceful drain. The only place
 * allowed to exit() (docs/ARCHITECTURE.md, conventions: errors). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../models/registry.h"
#include "config.h"
#include "healthcheck.h"
#include "http.h"

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

    registry *reg = registry_new(cfg.models_root, cfg.threads);
    if (!reg) {
        fprintf(stderr, "lmserve: --models-root '%s' is not a readable directory\n",
                cfg.models_root ? cfg.models_root : "");
        config_free(&cfg);
        return 2;
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
    /* Listen first, then load in the background: /health answers during long loads. */
    for (size_t i = 0; i < cfg.n_models; i++) {
        struct config_model *m = &cfg.models[i];
        struct status_err err;
        status_clear(&err);
        if (registry_add(reg, m->id, m->type, m->path, &m->opts, 1, &err) != STATUS_OK)
            fprintf(stderr, "lmserve: model '%s': %s\n", m->id, err.msg);
    }
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "lmserve: %s received: draining (up to %d s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.timeout_s);
    http_drain(srv, cfg.timeout_s);
    http_stop(srv);
    registry_free(reg);
    config_free(&cfg);
    fprintf(stderr, "lmserve: stopped\n");
    return 0;
}
