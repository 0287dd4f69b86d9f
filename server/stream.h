/* stream.h: output of a running job as a stream (SSE). A COST_STREAM handler runs on a
 * worker; it may answer normally through api_resp (e.g. a 400) without touching the
 * stream, or call stream_begin() once and then stream_write() as data appears. When the
 * handler returns, the stream ends. http.c drains it to the socket. */
#ifndef LMSERVE_STREAM_H
#define LMSERVE_STREAM_H

#include <stddef.h>

struct api_stream;

/* Start a 200 response with 'content_type' (static string, e.g. "text/event-stream").
 * Returns 0, or -1 if the client is gone. */
int stream_begin(struct api_stream *s, const char *content_type);
/* Queue bytes (copied). Blocks while more than STREAM_BUFFER_MAX bytes wait unsent.
 * Returns 0, or -1 when the client is gone (the job should stop). */
int stream_write(struct api_stream *s, const void *data, size_t len);
/* 1 once the client disconnected or the request timed out. */
int stream_cancelled(const struct api_stream *s);

#define STREAM_BUFFER_MAX (256u * 1024u) /* unsent bytes before stream_write() waits */

#endif
