/* json.c: typed request-field readers with one null/absent/wrong-type rule (json.h). */
#include "json.h"

#include <math.h>

json_t *jsonx_get(const json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

static json_t *field(const json_t *obj, const char *key)
{
    return jsonx_get(obj, key);
}

int jsonx_bool(const json_t *obj, const char *key, const char *param, int *out,
               struct status_err *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return STATUS_OK;
    const char *p = param ? param : key;
    if (!json_is_boolean(v))
        return status_set(err, STATUS_BAD_INPUT, p, "'%s' must be true or false", p);
    *out = json_is_true(v);
    return STATUS_OK;
}

int jsonx_int(const json_t *obj, const char *key, const char *param, json_int_t lo,
              json_int_t hi, json_int_t *out, struct status_err *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return STATUS_OK;
    const char *p = param ? param : key;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return status_set(err, STATUS_BAD_INPUT, p, "'%s' must be an integer in [%lld, %lld]", p,
                          (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return STATUS_OK;
}

int jsonx_number(const json_t *obj, const char *key, const char *param, double lo, double hi,
                 int lo_open, double *out, struct status_err *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return STATUS_OK;
    const char *p = param ? param : key;
    double d = json_is_number(v) ? json_number_value(v) : NAN;
    if (!isfinite(d) || d < lo || d > hi || (lo_open && d == lo))
        return status_set(err, STATUS_BAD_INPUT, p, "'%s' must be a number in %s%g, %g]", p,
                          lo_open ? "(" : "[", lo, hi);
    *out = d;
    return STATUS_OK;
}

int jsonx_string(const json_t *obj, const char *key, const char *param, const char **out,
                 size_t *len, struct status_err *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return STATUS_OK;
    const char *p = param ? param : key;
    if (!json_is_string(v))
        return status_set(err, STATUS_BAD_INPUT, p, "'%s' must be a string", p);
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return STATUS_OK;
}

int jsonx_required(const json_t *obj, const char *key, const char *param, json_t **out,
                   struct status_err *err)
{
    json_t *v = field(obj, key);
    const char *p = param ? param : key;
    if (!v)
        return status_set(err, STATUS_BAD_INPUT, p, "'%s' is required", p);
    *out = v;
    return STATUS_OK;
}
