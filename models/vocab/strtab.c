/* strtab.c: the vocabulary's string -> index hash (open addressing over borrowed strings)
 * and the growing id list the encoders append to. Kept apart from vocab.c so that the
 * encoders (spm.c, bpe.c) and vocab.c all call down into this file, never into each other. */
#include "vocab_internal.h"

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
    t->slot = malloc(size * sizeof *t->slot);
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

int idvec_push(struct idvec *o, int id)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int *a = realloc(o->a, cap * sizeof *a);
        if (!a)
            return -1;
        o->a = a;
        o->cap = cap;
    }
    o->a[o->n++] = id;
    return 0;
}

