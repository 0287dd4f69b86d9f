/* accesslog.h: the one-line-per-request access log on stderr, written in batches by its own
 * thread so a request costs a memcpy, not a write(2) (a write per request cost ~15% of
 * /health's throughput to a file). Lines appear within ACCESSLOG_FLUSH_MS. */
#ifndef LMSERVE_ACCESSLOG_H
#define LMSERVE_ACCESSLOG_H

#include <stddef.h>

#define ACCESSLOG_BUFFER_BYTES (256u * 1024u) /* pending bytes before a writer waits */
#define ACCESSLOG_FLUSH_MS 50                 /* longest delay of a line */

/* Start the writer thread (fd: where lines go). Returns 0, or -1 (then lines are written
 * directly). */
int accesslog_start(int fd);
/* Queue one complete line (with its newline). Never blocks for long: when the buffer is full
 * the line is written directly. */
void accesslog_write(const char *line, size_t len);
/* Write what is pending and stop the thread. Safe to call when not started. */
void accesslog_stop(void);

#endif
