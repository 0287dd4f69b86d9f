/* strtab.c: the vocabulary's string -> index hash (open addressing over borrowed strings),
 * the growing id list the encoders append to, and their merge queue (a binary heap). Kept apart from vocab.c so that the
 * encoders (spm.c, bpe.c) and vocab.c all call down into this file, never into each other. */
#include "vocab_internal.h"
#include "../util/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

int strtab_init(struct strtab *t, const struct vocab_str *keys, size_t n, int last_wins)
{
    size_t size = 16;
    while (size < 2 * n)
        size <<= 1;
    t->keys = keys;
    t->mask = size - 1;
    t->slot = util_malloc(size * sizeof *t->slot);
    if (!t->slot)
        return -1;
    memset(t->slot, 0xff, size * sizeof *t->slot);
    for (size_t i = 0; i < n; i++) {
        for (size_t h = hash_bytes(keys[i].p, keys[i].len) & t->mask;; h = (h + 1) & t->mask) {
            int32_t id = t->slot[h];
            if (id < 0) {
                t->slot[h] = (int32_t)i;
                break;
            }
            if (keys[id].len == keys[i].len && memcmp(keys[id].p, keys[i].p, keys[i].len) == 0) {
                if (last_wins)
                    t->slot[h] = (int32_t)i;
                break;
            }
        }
    }
    return 0;
}

void strtab_free(struct strtab *t)
{
    free(t->slot);
    t->slot = NULL;
}

int32_t strtab_find(const struct strtab *t, const char *s, size_t len)
{
    for (size_t h = hash_bytes(s, len) & t->mask;; h = (h + 1) & t->mask) {
        int32_t id = t->slot[h];
        if (id < 0)
            return -1;
        if (t->keys[id].len == len && memcmp(t->keys[id].p, s, len) == 0)
            return id;
    }
}

#define EMPTY_NAME_MAX 32 /* "[EMPTY_4194304]" and its NUL */

int strset_init(struct strset *ss, const struct vocab_str *in, size_t n, int name_empty,
                int last_wins, const char *field, struct status_err *err)
{
    memset(ss, 0, sizeof *ss);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].len > VOCAB_TOKEN_BYTES_MAX || (in[i].len > 0 && !in[i].p))
            return status_set(err, STATUS_BAD_FORMAT, field, "%s[%zu] is %zu bytes (at most %d)",
                              field, i, in[i].len, VOCAB_TOKEN_BYTES_MAX);
        total += (in[i].len || !name_empty ? in[i].len : EMPTY_NAME_MAX) + 1;
    }
    ss->s = util_malloc((n ? n : 1) * sizeof *ss->s);
    ss->blob = util_malloc(total ? total : 1);
    if (!ss->s || !ss->blob)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    char *w = ss->blob;
    for (size_t i = 0; i < n; i++) {
        size_t len = in[i].len;
        if (len == 0 && name_empty) {
            len = (size_t)snprintf(w, EMPTY_NAME_MAX, "[EMPTY_%zu]", i);
        } else if (len > 0) {
            memcpy(w, in[i].p, len);
        }
        w[len] = '\0';
        ss->s[i] = (struct vocab_str){w, len};
        w += len + 1;
    }
    ss->n = n;
    if (strtab_init(&ss->index, ss->s, n, last_wins) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "out of memory");
    return STATUS_OK;
}

void strset_free(struct strset *ss)
{
    free(ss->s);
    free(ss->blob);
    strtab_free(&ss->index);
    memset(ss, 0, sizeof *ss);
}

int idvec_push(struct idvec *o, int id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int *a = util_realloc(o->a, cap * sizeof *a);
        if (!a)
            return -1;
        o->a = a;
        o->cap = cap;
    }
    o->a[o->n++] = id;
    return 0;
}


static int pair_before(const struct vocab_pair *x, const struct vocab_pair *y)
{
    return x->key < y->key || (x->key == y->key && x->left < y->left);
}

int pairheap_push(struct pairheap *h, struct vocab_pair c)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        struct vocab_pair *a = util_realloc(h->a, cap * sizeof *a);
        if (!a)
            return -1;
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0 && pair_before(&c, &h->a[(i - 1) / 2])) {
        h->a[i] = h->a[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->a[i] = c;
    return 0;
}

struct vocab_pair pairheap_pop(struct pairheap *h)
{
    struct vocab_pair top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct vocab_pair *best = &last;
        if (l < h->n && pair_before(&h->a[l], best)) {
            m = l;
            best = &h->a[l];
        }
        if (r < h->n && pair_before(&h->a[r], best))
            m = r;
        if (m == i)
            break;
        h->a[i] = h->a[m];
        i = m;
    }
    if (h->n > 0)
        h->a[i] = last;
    return top;
}
