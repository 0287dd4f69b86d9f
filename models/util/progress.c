/* progress.c: see progress.h. */
#include "progress.h"

#include <stdio.h>

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
