/* errors.h: the only place a status becomes an HTTP status and the error object
 * {"error":{"message","type","param","code"}} of api.yaml (components.schemas.Error) and docs/ARCHITECTURE.md. */
#ifndef LMSERVE_ERRORS_H
#define LMSERVE_ERRORS_H

#include <jansson.h>

#include "../models/util/status.h"

/* HTTP status for a status code (STATUS_OK -> 200). */
int errors_http_status(enum status code);
/* New reference: the error object. 'param' and 'code' may be NULL or "" (-> null).
 * Control characters in 'message' are replaced by spaces. Bumps the error counter. */
json_t *errors_body(int http_status, const char *message, const char *param, const char *code);
/* The "type" field for an HTTP status ("invalid_request_error", ...). */
const char *errors_type(int http_status);

#endif
