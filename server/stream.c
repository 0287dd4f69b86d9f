/* stream.c: the buffer between a streaming job (writer, on a worker) and the connection
 * (reader, on an event loop). Bounded: a writer waits while STREAM_BUFFER_MAX bytes are
 * unsent, so a client that stops reading stops its generation instead of growing memory. */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

struct api_stream {
    pthread_mutex_t *lock; /* the request's; guards everything below */
    pthread_cond_t space;  /* signalled when the reader consumed bytes or the client left */
    const volatile int *cancelled;
    const struct stream_hooks *hooks;
    void *ctx;
    char *buf;
    size_t len, off, cap;
    const char *content_type;
    int begun, done, closed, waiting;
};

struct api_stream *stream_new(pthread_mutex_t *lock, const volatile int *cancelled,
                              const struct stream_hooks *hooks, void *ctx)
{
    struct api_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->lock = lock;
    s->cancelled = cancelled;
    s->hooks = hooks;
    s->ctx = ctx;
    pthread_cond_init(&s->space, NULL);
    return s;
}

void stream_free(struct api_stream *s)
{
    if (!s)
        return;
    pthread_cond_destroy(&s->space);
    free(s->buf);
    free(s);
}

int stream_begin(struct api_stream *s, const char *content_type)
{
    pthread_mutex_lock(s->lock);
    if (s->closed) {
        pthread_mutex_unlock(s->lock);
        return -1;
    }
    s->begun = 1;
    s->content_type = content_type;
    s->hooks->begin(s->ctx);
    pthread_mutex_unlock(s->lock);
    return 0;
}

int stream_write(struct api_stream *s, const void *data, size_t len)
{
    pthread_mutex_lock(s->lock);
    while (!s->closed && !*s->cancelled && s->len - s->off > STREAM_BUFFER_MAX)
        pthread_cond_wait(&s->space, s->lock);
    /* A request past its deadline (cancelled, client still there) may still write its final
     * error event and [DONE]; only a client that is gone refuses writes. */
    if (s->closed || !s->begun) {
        pthread_mutex_unlock(s->lock);
        return -1;
    }
    if (s->off && s->off == s->len)
        s->off = s->len = 0;
    if (s->len + len > s->cap) {
        size_t cap = (s->len + len) * 2;
        char *b = realloc(s->buf, cap);
        if (!b) {
            pthread_mutex_unlock(s->lock);
            return -1;
        }
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    if (s->waiting) {
        s->waiting = 0;
        s->hooks->resume(s->ctx);
    }
    pthread_mutex_unlock(s->lock);
    return 0;
}

int stream_cancelled(const struct api_stream *s) { return s->closed || *s->cancelled; }

int stream_begun(struct api_stream *s)
{
    pthread_mutex_lock(s->lock);
    int b = s->begun;
    pthread_mutex_unlock(s->lock);
    return b;
}

const char *stream_content_type(struct api_stream *s) { return s->content_type; }

void stream_end(struct api_stream *s)
{
    pthread_mutex_lock(s->lock);
    s->done = 1;
    if (s->waiting && !s->closed) {
        s->waiting = 0;
        s->hooks->resume(s->ctx);
    }
    pthread_mutex_unlock(s->lock);
}

void stream_close(struct api_stream *s)
{
    pthread_mutex_lock(s->lock);
    s->closed = 1;
    pthread_cond_broadcast(&s->space);
    pthread_mutex_unlock(s->lock);
}

void stream_wake(struct api_stream *s)
{
    pthread_mutex_lock(s->lock);
    pthread_cond_broadcast(&s->space);
    pthread_mutex_unlock(s->lock);
}

ssize_t stream_read(struct api_stream *s, char *buf, size_t max)
{
    pthread_mutex_lock(s->lock);
    if (s->off < s->len) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        pthread_cond_broadcast(&s->space);
        pthread_mutex_unlock(s->lock);
        return (ssize_t)n;
    }
    if (s->done) {
        pthread_mutex_unlock(s->lock);
        return STREAM_READ_END;
    }
    s->waiting = 1;
    s->hooks->suspend(s->ctx);
    pthread_mutex_unlock(s->lock);
    return STREAM_READ_WAIT;
}
