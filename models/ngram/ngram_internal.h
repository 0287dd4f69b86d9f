/* ngram_internal.h: the in-memory (and on-disk: the binary format is this image) layout of
 * an n-gram model, shared by arpa.c (builds it), binary.c (maps it) and lm.c (scores it).
 *
 * Layout. Word ids are slots of the vocabulary hash table (so they are hash-distributed).
 * Every n-gram of order n >= 2 lives in one open-addressing table (Robin Hood, linear
 * probing) keyed by (s, w): s is the slot of its suffix (order n-1: words 2..n; for n = 2 the
 * word id of the last word) and w the id of its first word. The home slot is
 * (s + g(w)) mod M_n with M_n >= M_{n-1}, so for a given w the map s -> home is injective:
 * a slot only needs w and its distance to home ("displacement") to identify its key. That
 * is 4 bytes of key per slot (24-bit word, 7-bit displacement, 1 flag bit) instead of the
 * 8-byte hash KenLM's probing tables store. s is first spread over the table (times
 * mult = M_n / M_{n-1}, still injective) so the ids of a smaller table below (the
 * vocabulary under order 2) do not crowd the low slots. Lookups walk right to left (KenLM's order),
 * one probe per order. Missing suffixes of pruned models are inserted as "blanks" whose
 * probability is the backed-off one (as KenLM does), so every suffix of an n-gram exists. */
#ifndef LMSERVE_NGRAM_INTERNAL_H
#define LMSERVE_NGRAM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ngram.h"
#include "../util/alloc.h"

/* slots filled per table: 0.9 saved 10% of memory but cost 15% of the speed */
#define NGRAM_LOAD_FACTOR 0.80
#define NGRAM_LOAD_SHRINK 0.90 /* load of a table whose displacements overflowed, next try */
/* the vocabulary probes linearly (and misses on OOVs): keep it sparser */
#define NGRAM_VOCAB_LOAD 0.75
#define NGRAM_LOAD_FACTOR_MIN 0.30 /* give up shrinking the load when displacements overflow */
#define NGRAM_DISP_BITS 7
#define NGRAM_DISP_MAX ((1u << NGRAM_DISP_BITS) - 1) /* longest probe a key may need */
/* tag bit: the n-gram is the suffix of a longer one (top order: see ngram_top_home) */
#define NGRAM_TAG_EXT 0x80u
#define NGRAM_TAG_KEY_MASK (~NGRAM_TAG_EXT)
#define NGRAM_WORD_SHIFT 8
#define NGRAM_SLOTS_MAX ((1u << 24) - 2)  /* vocabulary slots: word id + 1 must fit 24 bits */
#define NGRAM_TABLE_SLOTS_MAX 0xFFFFFFF0u /* slot ids are uint32_t */
#define NGRAM_UNI_EXT 1u                  /* ngram_uni.hash bit 0: extends left */

/* One vocabulary slot (= one word id): str == 0 means empty. */
struct ngram_uni {
    uint32_t str;  /* offset of the NUL-terminated word in the string pool */
    uint32_t hash; /* high bits of the word's hash, bit 0 = NGRAM_UNI_EXT */
    float prob;    /* log10 */
    float backoff; /* log10 */
};

/* A slot of a middle order (2 .. order-1): tag 0 means empty. */
struct ngram_mid {
    uint32_t tag; /* (word + 1) << 8 | ext << 7 | displacement */
    float prob;
    float backoff;
};

/* A slot of the highest order (no back-off). */
struct ngram_top {
    uint32_t tag;
    float prob;
};

struct ngram_lm {
    int order;
    int has_unk;   /* <unk> was in the file (else it was added with NGRAM_UNK_MISSING_LOG10) */
    int is_binary; /* loaded from the binary format */
    uint32_t unk, bos, eos;
    uint64_t counts[NGRAM_ORDER_MAX];   /* n-grams per order as in the file */
    uint64_t blanks[NGRAM_ORDER_MAX];   /* inserted missing suffixes per order */
    uint64_t slots[NGRAM_ORDER_MAX];    /* table sizes: [0] vocabulary, [n-1] order n */
    uint32_t disp_max[NGRAM_ORDER_MAX]; /* longest displacement present per table */
    uint32_t mult[NGRAM_ORDER_MAX];     /* [n-1] = slots[n-1] / slots[n-2]; 0 = folded top order */
    uint64_t vocab;                     /* words in the vocabulary (with <unk>) */
    const char *pool;
    uint64_t pool_len;
    const struct ngram_uni *uni;
    const struct ngram_mid *mid[NGRAM_ORDER_MAX]; /* [n-1] for orders 2 .. order-1 */
    const struct ngram_top *top;                  /* order 'order' when order >= 2 */
    /* ownership: either one read-only mapping, or malloc'd blocks */
    void *map;
    size_t map_len;
    void *own[NGRAM_ORDER_MAX + 2]; /* [0] vocabulary, [1] pool: malloc'd */
    void *big[NGRAM_ORDER_MAX + 1]; /* [n] table of order n: util_huge_alloc'd */
    size_t big_len[NGRAM_ORDER_MAX + 1];
    size_t bytes;
};

/* ---- lm.c: hashing and probing shared by the builder and the scorer ---- */
uint64_t ngram_hash_str(const char *s, size_t len);
/* Slot of word 's' in the vocabulary, or -1. */
int64_t ngram_vocab_find(const struct ngram_lm *lm, const char *s, size_t len);

/* Home slot of key (s, w); s < slots / mult. No division: a modulo here (to permute s)
 * cost a third of the scoring speed. */
static inline uint64_t ngram_home(uint32_t s, uint32_t w, uint64_t slots, uint32_t mult)
{
    uint64_t g = ((uint64_t)(uint32_t)((w + 1u) * 0x9E3779B1u) * slots) >> 32;
    uint64_t h = (uint64_t)s * mult + g;
    return h >= slots ? h - slots : h;
}

/* Probe from home slot i of a table whose slots start with a uint32_t tag every 'stride'
 * bytes, for the key bits 'want' (compared under key_mask, with the displacement in the low
 * bits). Returns the slot or -1. Robin Hood: stop at an empty slot or a shorter displacement.
 * Callers pass constant stride and mask, so each inlined copy is the loop it replaced. */
static inline int64_t ngram_probe(const void *base, size_t stride, uint64_t slots,
                                  uint32_t disp_max, uint64_t i, uint32_t want, uint32_t key_mask)
{
    const unsigned char *b = (const unsigned char *)base;
    for (uint32_t d = 0; d <= disp_max; d++) {
        uint32_t tag = *(const uint32_t *)(const void *)(b + i * stride);
        if ((tag & key_mask) == (want | d))
            return (int64_t)i;
        if (tag == 0 || (tag & NGRAM_DISP_MAX) < d)
            return -1;
        if (++i == slots)
            i = 0;
    }
    return -1;
}

/* Find key (s, w) in a lower-order table (tags masked to the key: the EXT bit is not part
 * of it). Returns the slot or -1. */
static inline int64_t ngram_table_find(const void *base, size_t stride, uint64_t slots,
                                       uint32_t disp_max, uint32_t mult, uint32_t s, uint32_t w)
{
    return ngram_probe(base, stride, slots, disp_max, ngram_home(s, w, slots, mult),
                       (w + 1u) << NGRAM_WORD_SHIFT, NGRAM_TAG_KEY_MASK);
}

/* The loader's allocations go through models/util/alloc.h (util_malloc ..., util_huge_alloc
 * for big tables on huge pages), so tests can make the Nth one fail (util_alloc_countdown). */

/* The highest order may have fewer slots than the order below it (M_N >= M_{N-1} / 2),
 * because its tags need no EXT bit: mult == 0 marks that case, and bit 7 of the tag then
 * holds whether s >= M_N (s is folded into [0, M_N)), keeping the key injective. */
static inline uint64_t ngram_top_home(uint32_t s, uint32_t w, uint64_t slots, uint32_t mult,
                                      uint32_t *want)
{
    uint32_t q = 0;
    if (mult == 0) {
        if (s >= slots) {
            s -= (uint32_t)slots;
            q = NGRAM_TAG_EXT;
        }
        mult = 1;
    }
    *want = ((w + 1u) << NGRAM_WORD_SHIFT) | q;
    return ngram_home(s, w, slots, mult);
}

static inline int64_t ngram_top_find(const struct ngram_top *t, uint64_t slots, uint32_t disp_max,
                                     uint32_t mult, uint32_t s, uint32_t w)
{
    uint32_t want;
    uint64_t i = ngram_top_home(s, w, slots, mult, &want);
    /* the whole tag is the key here (tag is the first member of struct ngram_top) */
    return ngram_probe(t, sizeof *t, slots, disp_max, i, want, UINT32_MAX);
}

/* Release whatever 'lm' owns (not lm itself). */
void ngram_release(struct ngram_lm *lm);

/* ---- arpa.c ---- */
/* Parse ARPA text 'buf' (len bytes; 'name' for messages) into 'lm' (zeroed by the caller). */
int ngram_arpa_build(const char *name, const char *buf, size_t len, struct ngram_lm *lm,
                     struct status_err *err);

/* ---- binary.c ---- */
#define NGRAM_BIN_MAGIC "LMSNGRAM"
#define NGRAM_BIN_MAGIC_LEN 8
/* Point 'lm' into the mapped binary file (map, size bytes). On STATUS_OK the model owns the
 * mapping (munmap in ngram_release); on error the caller still does. */
int ngram_binary_map(const char *path, void *map, size_t size, struct ngram_lm *lm,
                     struct status_err *err);

#endif
