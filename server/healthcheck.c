/* healthcheck.c: `lmserve --healthcheck [FLAGS]`: ask a running lmserve for GET /health and
 * exit 0 when it answers 200, else 1. It needs no shell, curl or bash, so a container's
 * HEALTHCHECK can be `["lmserve", "--healthcheck"]` in any image.
 * Where it connects: the same flags, LMSERVE_* environment and config file as the server
 * (config_load). With no flags of its own, and when PID 1 is lmserve (the container case:
 * exec-form ENTRYPOINT), it reads PID 1's flags from /proc/1/cmdline, so `docker run IMAGE
 * --port 9000` is checked on 9000. A wildcard listen address (0.0.0.0, ::) is reached on
 * loopback. */
#include "healthcheck.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#define HC_TIMEOUT_MS 3000  /* connect + answer; Docker's own timeout is usually 3-30 s */
#define HC_CMDLINE_MAX 8192 /* bytes of /proc/1/cmdline read */
#define HC_ARGS_MAX 128

int healthcheck_wanted(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--healthcheck") == 0)
            return 1;
    }
    return 0;
}

static long ms_left(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long el = (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
    return HC_TIMEOUT_MS - el;
}

/* Wait for 'events' on fd within the overall budget. 1 ready, 0 not. */
static int wait_fd(int fd, short events, const struct timespec *t0)
{
    long left = ms_left(t0);
    if (left <= 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    do
        r = poll(&p, 1, (int)left);
    while (r < 0 && errno == EINTR);
    return r == 1;
}

/* GET /health on host:port; 0 when the status is 200. */
static int probe(const char *host, int port)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, ports, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "lmserve --healthcheck: %s: %s\n", host, gai_strerror(gai));
        return 1;
    }
    int rc = 1;
    for (struct addrinfo *a = ai; a && rc; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int c = connect(fd, a->ai_addr, a->ai_addrlen);
        if (c != 0 && errno == EINPROGRESS && wait_fd(fd, POLLOUT, &t0)) {
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            c = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
        }
        if (c == 0) {
            static const char req[] = "GET /health HTTP/1.0\r\nHost: localhost\r\n"
                                      "User-Agent: lmserve-healthcheck\r\n\r\n";
            char buf[64];
            size_t got = 0;
            if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
                while (got < sizeof buf - 1 && !memchr(buf, '\n', got) && wait_fd(fd, POLLIN, &t0)) {
                    ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
                    if (n <= 0)
                        break;
                    got += (size_t)n;
                }
            }
            buf[got] = '\0';
            /* "HTTP/1.x 200 ..." */
            const char *sp = strchr(buf, ' ');
            rc = strncmp(buf, "HTTP/1.", 7) == 0 && sp && strncmp(sp, " 200", 4) == 0 ? 0 : 1;
            if (rc)
                fprintf(stderr, "lmserve --healthcheck: %s:%d answered '%.*s'\n", host, port,
                        (int)strcspn(buf, "\r\n"), buf);
        } else {
            fprintf(stderr, "lmserve --healthcheck: cannot connect to %s:%d\n", host, port);
        }
        close(fd);
    }
    freeaddrinfo(ai);
    return rc;
}

/* PID 1's argv when PID 1 is lmserve: a malloc'd NUL-separated buffer in *buf and up to
 * 'max' pointers in argv (argv[0] included). Returns argc, or 0. */
static int pid1_args(char **buf, char **argv, int max)
{
    FILE *f = fopen("/proc/1/cmdline", "rb");
    if (!f)
        return 0;
    char *b = malloc(HC_CMDLINE_MAX + 1);
    size_t n = b ? fread(b, 1, HC_CMDLINE_MAX, f) : 0;
    fclose(f);
    if (!b || n == 0) {
        free(b);
        return 0;
    }
    b[n] = '\0';
    const char *base = strrchr(b, '/');
    base = base ? base + 1 : b;
    if (strcmp(base, "lmserve") != 0) {
        free(b);
        return 0;
    }
    int argc = 0;
    for (size_t i = 0; i < n && argc < max; i += strlen(b + i) + 1)
        argv[argc++] = b + i;
    *buf = b;
    return argc;
}

int healthcheck_main(int argc, char **argv)
{
    char *args[HC_ARGS_MAX + 1];
    int n = 0;
    for (int i = 0; i < argc && n < HC_ARGS_MAX; i++)
        if (strcmp(argv[i], "--healthcheck") != 0)
            args[n++] = argv[i];
    char *pid1 = NULL;
    if (n == 1 && getpid() != 1) {
        int m = pid1_args(&pid1, args, HC_ARGS_MAX);
        if (m > 0)
            n = m;
    }
    args[n] = NULL;
    struct api_config cfg;
    int rc = config_load(&cfg, n, args);
    free(pid1);
    if (rc != 0) {
        config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    const char *host = cfg.host;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0)
        host = "127.0.0.1";
    else if (strcmp(host, "::") == 0 || strcmp(host, "[::]") == 0)
        host = "::1";
    int port = cfg.port;
    if (port == 0) {
        fprintf(stderr, "lmserve --healthcheck: the server listens on --port 0 (any free port); "
                        "name the port\n");
        config_free(&cfg);
        return 1;
    }
    rc = probe(host, port);
    config_free(&cfg);
    return rc;
}
