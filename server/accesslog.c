/* accesslog.c: a double buffer drained by one writer thread; see accesslog.h. */
#include "accesslog.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *buf; /* ACCESSLOG_BUFFER_BYTES, filled by accesslog_write */
    size_t len;
    int fd, running, stopping;
    pthread_t thread;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .fd = STDERR_FILENO};

static char buf_a[ACCESSLOG_BUFFER_BYTES], buf_b[ACCESSLOG_BUFFER_BYTES];

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
            return; /* a log that cannot be written is dropped, never fatal */
        p += w;
        n -= (size_t)w;
    }
}

static void *writer_main(void *arg)
{
    (void)arg;
    char *spare = buf_b;
    pthread_mutex_lock(&g.lock);
    for (;;) {
        while (!g.len && !g.stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += ACCESSLOG_FLUSH_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g.wake, &g.lock, &ts);
        }
        if (!g.len && g.stopping)
            break;
        char *full = g.buf;
        size_t n = g.len;
        g.buf = spare;
        g.len = 0;
        pthread_mutex_unlock(&g.lock);
        write_all(g.fd, full, n);
        spare = full;
        /* Batch: let lines gather for a moment rather than waking per line. */
        struct timespec nap = {0, ACCESSLOG_FLUSH_MS * 1000000L / 5};
        nanosleep(&nap, NULL);
        pthread_mutex_lock(&g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

int accesslog_start(int fd)
{
    pthread_mutex_lock(&g.lock);
    g.fd = fd;
    g.buf = buf_a;
    g.len = 0;
    g.stopping = 0;
    g.running = pthread_create(&g.thread, NULL, writer_main, NULL) == 0;
    int ok = g.running;
    pthread_mutex_unlock(&g.lock);
    return ok ? 0 : -1;
}

void accesslog_write(const char *line, size_t len)
{
    pthread_mutex_lock(&g.lock);
    if (g.running && g.len + len <= ACCESSLOG_BUFFER_BYTES) {
        memcpy(g.buf + g.len, line, len);
        g.len += len;
        pthread_mutex_unlock(&g.lock);
        return;
    }
    int fd = g.fd;
    pthread_mutex_unlock(&g.lock);
    write_all(fd, line, len); /* not started, or the writer is behind: write it ourselves */
}

void accesslog_stop(void)
{
    pthread_mutex_lock(&g.lock);
    if (!g.running) {
        pthread_mutex_unlock(&g.lock);
        return;
    }
    g.stopping = 1;
    pthread_cond_signal(&g.wake);
    pthread_mutex_unlock(&g.lock);
    pthread_join(g.thread, NULL);
    g.running = 0;
}
