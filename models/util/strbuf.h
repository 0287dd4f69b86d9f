/* strbuf.h: a growable byte buffer, kept NUL-terminated, for text built piece by piece (chat
 * prompts, the /metrics page, generated text, a GGUF file's header). A failed growth sets
 * 'oom'; later appends then do nothing, so a writer checks once at the end. */
#ifndef LMSERVE_UTIL_STRBUF_H
#define LMSERVE_UTIL_STRBUF_H

#include <stddef.h>

/* Zero-initialise; p stays NULL until the first byte; free(p) when done (or strbuf_take). */
struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
};

/* Append n bytes; afterwards p is a string (also for n = 0). 0, or -1 when out of memory
 * (now or before). */
int strbuf_put(struct strbuf *b, const void *s, size_t n);
/* Append a NUL-terminated string; NULL appends nothing. */
int strbuf_puts(struct strbuf *b, const char *s);
/* Append printf-formatted text. */
__attribute__((format(printf, 2, 3))) int strbuf_printf(struct strbuf *b, const char *fmt, ...);
/* The text ("" when nothing was written), its length in *len (may be NULL); the caller frees
 * it. NULL (and the buffer freed) when out of memory. The buffer is empty afterwards. */
char *strbuf_take(struct strbuf *b, size_t *len);

#endif
