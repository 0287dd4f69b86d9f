/* json.h: reading request fields, one rule for every handler. A field that is absent or
 * null takes its default (the reader leaves *out untouched: the caller set the default); a
 * field of the wrong type or out of range is STATUS_BAD_INPUT naming the field, with one
 * message per kind. Readers never reply: handlers pass 'err' to api_error(). */
#ifndef LMSERVE_JSON_H
#define LMSERVE_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "../models/util/status.h"

/* The field, or NULL when it is absent or null (both mean: not given). Borrowed. */
json_t *jsonx_get(const json_t *obj, const char *key);

/* 'param' is the name reported (e.g. "pairs[3]"); NULL reports 'key'. 'obj' may be NULL
 * (every field absent). Each returns STATUS_OK or STATUS_BAD_INPUT (err set). */
int jsonx_bool(const json_t *obj, const char *key, const char *param, int *out,
               struct status_err *err);
/* An integer in [lo, hi]. */
int jsonx_int(const json_t *obj, const char *key, const char *param, json_int_t lo,
              json_int_t hi, json_int_t *out, struct status_err *err);
/* A finite number in [lo, hi] ((lo, hi] when lo_open). */
int jsonx_number(const json_t *obj, const char *key, const char *param, double lo, double hi,
                 int lo_open, double *out, struct status_err *err);
/* A string: *out borrowed from obj, *len its bytes (len may be NULL). */
int jsonx_string(const json_t *obj, const char *key, const char *param, const char **out,
                 size_t *len, struct status_err *err);
/* A field that must be there: absent or null is "'key' is required". *out borrowed. */
int jsonx_required(const json_t *obj, const char *key, const char *param, json_t **out,
                   struct status_err *err);

#endif
