/* errors.c: one table from status codes to HTTP statuses and OpenAI-style error types. */
#include "errors.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const struct {
    enum status code;
    int http;
} STATUS_HTTP[] = {
    {.code = STATUS_OK, .http = 200},
    {.code = STATUS_BAD_INPUT, .http = 400},
    {.code = STATUS_NOT_FOUND, .http = 404},
    {.code = STATUS_CONFLICT, .http = 409},
    {.code = STATUS_BUSY, .http = 503},
    {.code = STATUS_NO_MEMORY, .http = 503},
    {.code = STATUS_BAD_FORMAT, .http = 422},
    {.code = STATUS_IO, .http = 422},
    {.code = STATUS_FORBIDDEN, .http = 403},
    {.code = STATUS_UNPROCESSABLE, .http = 422},
    {.code = STATUS_TOO_LARGE, .http = 413},
    {.code = STATUS_CANCELLED, .http = 499},
    {.code = STATUS_TIMEOUT, .http = 503},
    {.code = STATUS_INTERNAL, .http = 500},
    {.code = STATUS_UNAUTHORIZED, .http = 401},
    {.code = STATUS_MEDIA_TYPE, .http = 415},
};

int errors_http_status(enum status code)
{
    for (size_t i = 0; i < sizeof STATUS_HTTP / sizeof STATUS_HTTP[0]; i++)
        if (STATUS_HTTP[i].code == code)
            return STATUS_HTTP[i].http;
    return 500;
}

const char *errors_type(int http_status)
{
    switch (http_status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "overloaded_error";
    default: return http_status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json_t *errors_body(int http_status, const char *message, const char *param, const char *code)
{
    char *clean = strdup(message ? message : "");
    if (clean)
        for (char *p = clean; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    metrics_error(http_status);
    json_t *e = json_pack("{s:{s:s,s:s,s:o,s:o}}", "error", "message", clean ? clean : "error",
                          "type", errors_type(http_status), "param",
                          param && *param ? json_string(param) : json_null(), "code",
                          code && *code ? json_string(code) : json_null());
    free(clean);
    return e;
}
