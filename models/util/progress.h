/* progress.h: load-progress lines for large model files ("percent of bytes"), so an operator
 * watching the log sees a multi-second load advance. Small files log nothing. */
#ifndef LMSERVE_PROGRESS_H
#define LMSERVE_PROGRESS_H

#include <stddef.h>

#define PROGRESS_MIN_BYTES ((size_t)64 << 20) /* files smaller than 64 MiB load silently */
#define PROGRESS_STEP_PERCENT 10

struct progress {
    const char *what; /* borrowed: usually the path */
    size_t total;
    int next_percent;
};

/* Monotonic seconds, for the tools' timed progress lines. */
double progress_clock(void);
/* "TOOL: [ELAPSED s] MESSAGE" on stderr, ELAPSED since t0 (a progress_clock() value): the
 * build tools' stage lines, so a long `make models` shows what it is doing. */
void progress_stage(const char *tool, double t0, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void progress_start(struct progress *p, const char *what, size_t total_bytes);
/* Report 'done' bytes; prints a line each PROGRESS_STEP_PERCENT. Cheap when nothing prints. */
void progress_update(struct progress *p, size_t done);

#endif
