/* status.h: the one error vocabulary of lmserve: a code plus a message buffer.
 * Nothing here knows HTTP; server/errors.c maps codes to statuses. */
#ifndef LMSERVE_STATUS_H
#define LMSERVE_STATUS_H

#include <stddef.h>

enum status {
    STATUS_OK = 0,
    STATUS_BAD_INPUT = -1,     /* request is malformed or a value is out of range (400) */
    STATUS_NOT_FOUND = -2,     /* unknown model / route / file (404) */
    STATUS_CONFLICT = -3,      /* id already exists (409) */
    STATUS_BUSY = -4,          /* queue or capacity full; retry later (503) */
    STATUS_NO_MEMORY = -5,     /* allocation failed (503) */
    STATUS_BAD_FORMAT = -6,    /* a model file is corrupt or not of its type (422) */
    STATUS_IO = -7,            /* a file could not be read (422) */
    STATUS_FORBIDDEN = -8,     /* path escapes the models root, or no admin key (403) */
    STATUS_UNPROCESSABLE = -9, /* valid JSON but unusable (unknown word...) (422) */
    STATUS_TOO_LARGE = -10,    /* body or batch past its bound (413) */
    STATUS_CANCELLED = -11,    /* the client went away */
    STATUS_TIMEOUT = -12,      /* the per-request time limit passed (503) */
    STATUS_INTERNAL = -13,     /* our bug (500) */
    STATUS_UNAUTHORIZED = -14, /* admin key missing (401) */
    STATUS_MEDIA_TYPE = -15,   /* body is not of the content type the route takes (415) */
};

#define STATUS_PARAM_MAX 128 /* longest JSON path we report, e.g. "pairs[12][1]" */
#define STATUS_MSG_MAX 512   /* longest message; longer ones are truncated */

struct status_err {
    enum status code;           /* STATUS_OK until the first status_set() */
    char param[STATUS_PARAM_MAX]; /* offending request field, "" when none */
    char msg[STATUS_MSG_MAX];   /* one human sentence */
};

/* Clear 'err' to STATUS_OK. Accepts NULL. */
void status_clear(struct status_err *err);

/* Record an error. Does nothing if err is NULL or already holds an error, so the deepest
 * cause survives. 'param' may be NULL. Returns 'code' so callers can `return status_set(...)`. */
int status_set(struct status_err *err, enum status code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A stable lower-case name for a code ("bad_input", "not_found", ...). */
const char *status_name(enum status code);

#endif
