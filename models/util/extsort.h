/* extsort.h: an external merge sort of fixed-size records with bounded memory: records are
 * buffered, sorted and spilled to temporary files in runs, then read back merged. Equal keys
 * can be combined (counts summed) both when a run is written and while merging.
 * Used by the offline trainers (tools/lmserve-ngram-train); the server never needs it. */
#ifndef LMSERVE_EXTSORT_H
#define LMSERVE_EXTSORT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define EXTSORT_MEM_MIN_BYTES (1u << 16)   /* smallest useful buffer: a few thousand records */
#define EXTSORT_READ_MIN_BYTES (1u << 14)  /* smallest per-run read buffer while merging */

typedef struct extsort extsort;

/* Total order on records; 'ctx' is the pointer given to extsort_new(). */
typedef int (*extsort_cmp_fn)(const void *a, const void *b, void *ctx);
/* Fold record 'from' into 'into' (called only for records that compare equal). */
typedef void (*extsort_combine_fn)(void *into, const void *from, void *ctx);

/* A sorter of 'rec_bytes'-byte records holding at most about 'mem_bytes' in memory.
 * 'combine' may be NULL (duplicates are then all returned). Temporary files go to $TMPDIR
 * (unlinked at creation) and vanish when the sorter is freed or the process exits.
 * On STATUS_OK *out is owned by the caller (free with extsort_free()). */
int extsort_new(size_t rec_bytes, size_t mem_bytes, extsort_cmp_fn cmp,
                extsort_combine_fn combine, void *ctx, extsort **out, struct status_err *err);

/* Copy one record in. Fails only on allocation or temporary-file errors. Not after finish. */
int extsort_add(extsort *s, const void *rec, struct status_err *err);

/* Stop adding and prepare to read in sorted order. */
int extsort_finish(extsort *s, struct status_err *err);

/* The next record in order (equal ones combined when a combiner was given), or NULL at the end
 * or on error (then err is set). The pointer is borrowed, valid until the next call. */
const void *extsort_next(extsort *s, struct status_err *err);

/* Records added so far, and runs spilled to disk (0 when everything fit in memory). */
uint64_t extsort_count(const extsort *s);
size_t extsort_runs(const extsort *s);

/* Free everything, closing temporary files. Accepts NULL. */
void extsort_free(extsort *s);

#endif
