/* progress.c: see progress.h. */
#include "progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

double progress_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_stage(const char *tool, double t0, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: [%6.1f s] ", tool, progress_clock() - t0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void progress_start(struct progress *p, const char *what, size_t total_bytes)
{
    p->what = what;
    p->total = total_bytes;
    p->next_percent = total_bytes >= PROGRESS_MIN_BYTES ? PROGRESS_STEP_PERCENT : 101;
}

void progress_update(struct progress *p, size_t done)
{
    if (p->next_percent > 100 || !p->total)
        return;
    int pct = (int)((double)done * 100.0 / (double)p->total);
    if (pct < p->next_percent)
        return;
    fprintf(stderr, "lmserve: loading %s: %d%%\n", p->what, pct > 100 ? 100 : pct);
    p->next_percent = (pct / PROGRESS_STEP_PERCENT + 1) * PROGRESS_STEP_PERCENT;
}
