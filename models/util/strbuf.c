/* strbuf.c: see strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL. */
static int reserve(struct strbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n < b->cap - b->len)
        return 0;
    if (n > (size_t)-1 / 2 - b->len - 1)
        return b->oom = 1, -1;
    size_t cap = (b->len + n + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return b->oom = 1, -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int strbuf_put(struct strbuf *b, const void *s, size_t n)
{
    if (reserve(b, n) != 0)
        return -1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int strbuf_puts(struct strbuf *b, const char *s)
{
    return s ? strbuf_put(b, s, strlen(s)) : (b->oom ? -1 : 0);
}

int strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    for (;;) { /* into the room there is; once more after growing when it did not fit */
        if (b->oom)
            return -1;
        const size_t room = b->cap - b->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0)
            return b->oom = 1, -1;
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return 0;
        }
        if (reserve(b, (size_t)n) != 0)
            return -1;
    }
}

char *strbuf_take(struct strbuf *b, size_t *len)
{
    char *p = b->oom ? NULL : b->p ? b->p : calloc(1, 1);
    if (!p)
        free(b->p);
    if (len)
        *len = p ? b->len : 0;
    memset(b, 0, sizeof *b);
    return p;
}
