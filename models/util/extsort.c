/* extsort.c: external merge sort of fixed-size records (see extsort.h). One in-memory buffer
 * sorted with qsort_r and spilled as a run; runs are merged with a binary heap. Not thread-safe. */
#include "extsort.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXTSORT_PATH_MAX 4096 /* PATH_MAX on Linux */

struct run {
    FILE *f;
    unsigned char *buf; /* read buffer: 'cap' records */
    size_t cap, n, pos; /* records in buf, next one to hand out */
};

struct extsort {
    size_t rec_bytes;
    size_t mem_bytes;
    extsort_cmp_fn cmp;
    extsort_combine_fn combine;
    void *ctx;

    unsigned char *buf; /* (cap, rec_bytes) write buffer, then the in-memory read source */
    size_t cap, n;
    uint64_t count;

    struct run *runs;
    size_t n_runs;

    int finished;
    size_t mem_pos;      /* reading from memory when n_runs == 0 */
    size_t *heap;        /* run indices, min-heap on each run's current record */
    size_t n_heap;
    unsigned char *cur;  /* the record handed out by extsort_next() */
};

/* ---- in-memory sort and spill ---- */

/* An anonymous temporary file in $TMPDIR (tmpfile() ignores it): unlinked at once, so it
 * vanishes when closed or when the process dies. */
static FILE *extsort_tmpfile(void)
{
    const char *dir = getenv("TMPDIR");
    char path[EXTSORT_PATH_MAX];
    if (!dir || !*dir)
        dir = "/tmp";
    if (snprintf(path, sizeof path, "%s/lmserve-extsort-XXXXXX", dir) >= (int)sizeof path)
        return NULL;
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path);
    FILE *f = fdopen(fd, "w+b");
    if (!f)
        close(fd);
    return f;
}

static size_t sort_combine(extsort *s)
{
    if (s->n == 0)
        return 0;
    qsort_r(s->buf, s->n, s->rec_bytes, s->cmp, s->ctx);
    if (!s->combine)
        return s->n;
    size_t w = 0;
    for (size_t r = 1; r < s->n; r++) {
        unsigned char *wp = s->buf + w * s->rec_bytes;
        const unsigned char *rp = s->buf + r * s->rec_bytes;
        if (s->cmp(wp, rp, s->ctx) == 0) {
            s->combine(wp, rp, s->ctx);
        } else {
            w++;
            if (w != r)
                memcpy(s->buf + w * s->rec_bytes, rp, s->rec_bytes);
        }
    }
    return w + 1;
}

static int spill(extsort *s, struct status_err *err)
{
    size_t n = sort_combine(s);
    struct run *grown = realloc(s->runs, (s->n_runs + 1) * sizeof *grown);
    if (!grown)
        return status_set(err, STATUS_NO_MEMORY, NULL, "extsort: out of memory for run list");
    s->runs = grown;
    struct run *r = &s->runs[s->n_runs];
    memset(r, 0, sizeof *r);
    r->f = extsort_tmpfile();
    if (!r->f)
        return status_set(err, STATUS_IO, NULL, "extsort: cannot create a temporary file: %s",
                          strerror(errno));
    s->n_runs++;
    if (n && fwrite(s->buf, s->rec_bytes, n, r->f) != n)
        return status_set(err, STATUS_IO, NULL, "extsort: cannot write a temporary file: %s",
                          strerror(errno));
    s->n = 0;
    return STATUS_OK;
}

int extsort_new(size_t rec_bytes, size_t mem_bytes, extsort_cmp_fn cmp,
                extsort_combine_fn combine, void *ctx, extsort **out, struct status_err *err)
{
    if (rec_bytes == 0 || !cmp)
        return status_set(err, STATUS_BAD_INPUT, NULL, "extsort: bad record size or comparator");
    if (mem_bytes < EXTSORT_MEM_MIN_BYTES)
        mem_bytes = EXTSORT_MEM_MIN_BYTES;
    extsort *s = calloc(1, sizeof *s);
    if (!s)
        goto fail;
    s->rec_bytes = rec_bytes;
    s->mem_bytes = mem_bytes;
    s->cmp = cmp;
    s->combine = combine;
    s->ctx = ctx;
    s->cap = mem_bytes / rec_bytes;
    if (s->cap < 2)
        s->cap = 2;
    s->buf = malloc(s->cap * rec_bytes);
    s->cur = malloc(rec_bytes);
    if (!s->buf || !s->cur)
        goto fail;
    *out = s;
    return STATUS_OK;
fail:
    extsort_free(s);
    return status_set(err, STATUS_NO_MEMORY, NULL, "extsort: cannot allocate %zu bytes",
                      mem_bytes);
}

int extsort_add(extsort *s, const void *rec, struct status_err *err)
{
    if (s->finished)
        return status_set(err, STATUS_INTERNAL, NULL, "extsort: add after finish");
    if (s->n == s->cap) {
        /* Combine first: counting data is repetitive, so this often frees most of the buffer
         * without touching the disk. Spill only when it stays more than half full. */
        s->n = sort_combine(s);
        if (s->n > s->cap / 2) {
            int rc = spill(s, err);
            if (rc)
                return rc;
        }
    }
    memcpy(s->buf + s->n * s->rec_bytes, rec, s->rec_bytes);
    s->n++;
    s->count++;
    return STATUS_OK;
}

/* ---- merging ---- */

static const unsigned char *run_head(const extsort *s, size_t i)
{
    const struct run *r = &s->runs[i];
    return r->buf + r->pos * s->rec_bytes;
}

/* Make sure run i has a current record; 0 when exhausted, -1 on read error. */
static int run_fill(extsort *s, size_t i)
{
    struct run *r = &s->runs[i];
    if (r->pos < r->n)
        return 1;
    r->n = fread(r->buf, s->rec_bytes, r->cap, r->f);
    r->pos = 0;
    if (r->n == 0)
        return ferror(r->f) ? -1 : 0;
    return 1;
}

static int heap_less(const extsort *s, size_t a, size_t b)
{
    return s->cmp(run_head(s, s->heap[a]), run_head(s, s->heap[b]), s->ctx) < 0;
}

static void heap_down(extsort *s, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < s->n_heap && heap_less(s, l, m))
            m = l;
        if (l + 1 < s->n_heap && heap_less(s, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        size_t t = s->heap[i];
        s->heap[i] = s->heap[m];
        s->heap[m] = t;
        i = m;
    }
}

int extsort_finish(extsort *s, struct status_err *err)
{
    if (s->finished)
        return STATUS_OK;
    s->finished = 1;
    if (s->n_runs == 0) {
        s->n = sort_combine(s);
        s->mem_pos = 0;
        return STATUS_OK;
    }
    int rc = spill(s, err);
    if (rc)
        return rc;
    free(s->buf);
    s->buf = NULL;
    /* Share the memory budget among the runs' read buffers. */
    size_t per = s->mem_bytes / s->n_runs;
    if (per < EXTSORT_READ_MIN_BYTES)
        per = EXTSORT_READ_MIN_BYTES;
    size_t cap = per / s->rec_bytes;
    if (cap < 1)
        cap = 1;
    s->heap = malloc(s->n_runs * sizeof *s->heap);
    if (!s->heap)
        return status_set(err, STATUS_NO_MEMORY, NULL, "extsort: out of memory for the merge");
    for (size_t i = 0; i < s->n_runs; i++) {
        struct run *r = &s->runs[i];
        r->cap = cap;
        r->buf = malloc(cap * s->rec_bytes);
        if (!r->buf)
            return status_set(err, STATUS_NO_MEMORY, NULL, "extsort: out of memory for the merge");
        rewind(r->f);
        int got = run_fill(s, i);
        if (got < 0)
            return status_set(err, STATUS_IO, NULL, "extsort: cannot read a temporary file");
        if (got)
            s->heap[s->n_heap++] = i;
    }
    for (size_t i = s->n_heap; i-- > 0;)
        heap_down(s, i);
    return STATUS_OK;
}

/* Advance the run at the heap top; keep the heap ordered. -1 on read error. */
static int heap_advance(extsort *s)
{
    size_t i = s->heap[0];
    s->runs[i].pos++;
    int got = run_fill(s, i);
    if (got < 0)
        return -1;
    if (!got)
        s->heap[0] = s->heap[--s->n_heap];
    if (s->n_heap)
        heap_down(s, 0);
    return 0;
}

const void *extsort_next(extsort *s, struct status_err *err)
{
    if (!s->finished) {
        status_set(err, STATUS_INTERNAL, NULL, "extsort: next before finish");
        return NULL;
    }
    if (s->n_runs == 0) {
        if (s->mem_pos >= s->n)
            return NULL;
        return s->buf + s->rec_bytes * s->mem_pos++;
    }
    if (s->n_heap == 0)
        return NULL;
    memcpy(s->cur, run_head(s, s->heap[0]), s->rec_bytes);
    if (heap_advance(s))
        goto io;
    while (s->combine && s->n_heap && s->cmp(s->cur, run_head(s, s->heap[0]), s->ctx) == 0) {
        s->combine(s->cur, run_head(s, s->heap[0]), s->ctx);
        if (heap_advance(s))
            goto io;
    }
    return s->cur;
io:
    status_set(err, STATUS_IO, NULL, "extsort: cannot read a temporary file");
    return NULL;
}

uint64_t extsort_count(const extsort *s) { return s->count; }

size_t extsort_runs(const extsort *s) { return s->n_runs; }

void extsort_free(extsort *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_runs; i++) {
        if (s->runs[i].f)
            fclose(s->runs[i].f);
        free(s->runs[i].buf);
    }
    free(s->runs);
    free(s->heap);
    free(s->buf);
    free(s->cur);
    free(s);
}
