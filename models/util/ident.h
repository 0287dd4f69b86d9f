/* ident.h: the one identifier alphabet lmserve accepts from outside for names it echoes or
 * uses as labels (model ids, request ids): [A-Za-z0-9._:-], so they are safe in JSON, logs,
 * Prometheus labels and URLs without escaping. */
#ifndef LMSERVE_IDENT_H
#define LMSERVE_IDENT_H

#include <stddef.h>

/* 1 when 's' is 1..max_len characters of [A-Za-z0-9._:-] and not "." or "..", else 0. */
int ident_valid(const char *s, size_t max_len);

#endif
