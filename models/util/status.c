/* status.c: recording the first error with its message; see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void status_clear(struct status_err *err)
{
    if (!err)
        return;
    err->code = STATUS_OK;
    err->param[0] = '\0';
    err->msg[0] = '\0';
}

int status_set(struct status_err *err, enum status code, const char *param, const char *fmt, ...)
{
    if (!err || err->code != STATUS_OK)
        return code;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *status_name(enum status code)
{
    switch (code) {
    case STATUS_OK: return "ok";
    case STATUS_BAD_INPUT: return "bad_input";
    case STATUS_NOT_FOUND: return "not_found";
    case STATUS_CONFLICT: return "conflict";
    case STATUS_BUSY: return "busy";
    case STATUS_NO_MEMORY: return "no_memory";
    case STATUS_BAD_FORMAT: return "bad_format";
    case STATUS_IO: return "io_error";
    case STATUS_FORBIDDEN: return "forbidden";
    case STATUS_UNPROCESSABLE: return "unprocessable";
    case STATUS_TOO_LARGE: return "too_large";
    case STATUS_CANCELLED: return "cancelled";
    case STATUS_TIMEOUT: return "timeout";
    case STATUS_INTERNAL: return "internal";
    case STATUS_UNAUTHORIZED: return "unauthorized";
    case STATUS_MEDIA_TYPE: return "unsupported_media_type";
    }
    return "unknown";
}
