/* stream.h: output of a running job as a stream (SSE). A COST_STREAM handler runs on a
 * worker; it may answer normally through api_resp (e.g. a 400) without touching the
 * stream, or call stream_begin() once and then stream_write() as data appears. When the
 * handler returns, the stream ends. http.c drains it to the socket through the second half
 * of this header; stream.c knows nothing of HTTP. */
#ifndef LMSERVE_STREAM_H
#define LMSERVE_STREAM_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

struct api_stream;

/* ---- for handlers ---- */

/* Start a 200 response with 'content_type' (static string, e.g. "text/event-stream").
 * Returns 0, or -1 if the client is gone. */
int stream_begin(struct api_stream *s, const char *content_type);
/* Queue bytes (copied). Blocks while more than STREAM_BUFFER_MAX bytes wait unsent.
 * Returns 0, or -1 when the client is gone (the job should stop). */
int stream_write(struct api_stream *s, const void *data, size_t len);
/* 1 once the client disconnected or the request timed out. */
int stream_cancelled(const struct api_stream *s);

#define STREAM_BUFFER_MAX (256u * 1024u) /* unsent bytes before stream_write() waits */

/* ---- for the HTTP side ---- */

/* What the HTTP side does when the stream needs it; each is called with 'lock' held. */
struct stream_hooks {
    void (*begin)(void *ctx);   /* the handler began: queue the streamed response */
    void (*resume)(void *ctx);  /* bytes (or the end) arrived while the reader waits */
    void (*suspend)(void *ctx); /* the reader found nothing: park the connection */
};

/* New stream guarded by 'lock' (the request's lock, borrowed for the stream's life);
 * 'cancelled' is read to stop waiting writers. NULL when out of memory. */
struct api_stream *stream_new(pthread_mutex_t *lock, const volatile int *cancelled,
                              const struct stream_hooks *hooks, void *ctx);
void stream_free(struct api_stream *s); /* accepts NULL */
/* 1 once stream_begin() succeeded. */
int stream_begun(struct api_stream *s);
const char *stream_content_type(struct api_stream *s);
/* The handler returned: the reader gets the end after the buffered bytes. */
void stream_end(struct api_stream *s);
/* The client is gone (or the response was freed): writers fail from now on. */
void stream_close(struct api_stream *s);
/* Wake writers blocked on a full buffer (after 'cancelled' became 1). Takes the lock. */
void stream_wake(struct api_stream *s);

#define STREAM_READ_END (-1)  /* everything was sent */
#define STREAM_READ_WAIT 0    /* nothing yet: hooks->suspend was called */
/* Copy up to 'max' buffered bytes into 'buf'. Returns their count, STREAM_READ_WAIT or
 * STREAM_READ_END. Takes the lock. */
ssize_t stream_read(struct api_stream *s, char *buf, size_t max);

#endif
