/* embed_internal.h: what the files of models/embed share: the model struct, the builder
 * the parsers fill, the vocabulary hash, and the .lmv layout. */
#ifndef LMSERVE_EMBED_INTERNAL_H
#define LMSERVE_EMBED_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../kernels/kernels.h"
#include "../util/alloc.h"
#include "embed.h"

#define EMBED_ALIGN_BYTES 64     /* row and section alignment (cache line) */
#define EMBED_F32_PAD 8          /* float32 rows padded to a multiple of 8 floats (one ymm) */
#define EMBED_COMPACT_PAD 16     /* f16/int8 rows padded to 16 elements (one ymm of halves/int16) */
#define EMBED_I8_MAX ((float)KERNELS_I8_MAX) /* int8 rows use [-127, 127] */
#define EMBED_HASH_EMPTY 0u      /* hash slots hold row + 1; 0 = empty */
#define EMBED_WORD_MAX_BYTES 4096 /* longest word accepted from a file */


struct embed {
    size_t n, dim;
    size_t stride;               /* floats per row of 'unit' (dim padded to EMBED_F32_PAD) */
    enum embed_storage storage;
    size_t cstride;              /* elements per compact row (dim padded to EMBED_COMPACT_PAD) */
    const float *unit;           /* (n, stride) L2-normalised rows, zero padding; zero rows stay 0 */
    const float *norms;          /* (n) original L2 norms */
    const void *compact;         /* (n, cstride) uint16 halves or int8, or NULL for float32 */
    const float *scales;         /* (n) int8: row value = scale * q; else NULL */
    const float *resid;          /* (n) ||unit_i - dequantised compact_i||_2, or NULL */
    float resid_max;             /* max of resid */
    const uint64_t *word_off;    /* (n + 1) offsets into words; word i ends with NUL */
    const char *words;           /* all words, NUL-terminated, in row order */
    size_t words_len;
    const uint32_t *hash;        /* (hash_size) row + 1 or EMBED_HASH_EMPTY, FNV-1a probe */
    size_t hash_size;            /* power of two */
    size_t n_dup;
    int lowercase;
    int threads;
    const struct kernels_ops *k;
    atomic_size_t fallbacks;
    /* what to free: an .lmv mapping, or heap buffers */
    void *map;
    size_t map_len;
    void *own[8];
    size_t n_own;
};

/* ---- builder: parsers append rows, embed_build() finishes the model ---- */
struct embed_builder {
    size_t dim, stride;
    size_t n, cap;          /* rows kept */
    float *rows;            /* (cap, stride) unit vectors once committed, zero padding */
    float *norms;           /* (cap) original L2 norms */
    char *words;            /* NUL-terminated words */
    size_t words_len, words_cap;
    uint64_t *word_off;     /* (cap + 1) */
    uint32_t *hash;
    size_t hash_size;
    size_t n_dup;
};

int embed_builder_init(struct embed_builder *b, size_t dim, size_t n_hint, struct status_err *err);
void embed_builder_free(struct embed_builder *b);
/* Room for one more row: returns its (stride) floats, zeroed padding. NULL on no memory. */
float *embed_builder_row(struct embed_builder *b);
/* Commit the row just filled with raw values under 'word' (validated UTF-8): it is
 * normalised in place (while it is still in cache) and its norm kept. 1 kept, 0 duplicate
 * dropped, negative status on no memory. */
int embed_builder_commit(struct embed_builder *b, const char *word, size_t len,
                         struct status_err *err);
/* The same for a row that is already a unit vector of original norm 'norm'. */
int embed_builder_commit_unit(struct embed_builder *b, const char *word, size_t len, float norm,
                              struct status_err *err);
/* Turn b (consumed on every path) into a model with the given options. */
int embed_build_take(struct embed_builder *b, const struct embed_opts *o, embed **out,
                     struct status_err *err);

/* Parse a text or word2vec-binary file into b (vecfile.c); 'path' prefixes errors. */
int vecfile_read(const char *path, struct embed_builder *b, struct status_err *err);

/* ---- vocabulary hash (part of the .lmv format: do not change) ---- */
static inline uint64_t embed_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a 64 */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}
size_t embed_hash_size_for(size_t n); /* power of two >= 2n, >= 16 */

/* 1 when s[0..len) is valid UTF-8 without NUL. */
int embed_utf8_valid(const char *s, size_t len);

/* ---- .lmv (lmv.c) ---- */
int lmv_is(const void *head, size_t len); /* 1 when the bytes start with the .lmv magic */
int lmv_open(const char *path, const struct embed_opts *o, embed **out, struct status_err *err);
int lmv_write(const embed *e, const char *path, enum embed_storage storage,
              struct status_err *err);

/* ---- compact copies (embed.c) ---- */
/* Build compact rows, scales and residual norms for storage s from e->unit into the given
 * buffers: compact (n, cstride) elements, scales (n) (int8 only), resid (n). */
void embed_quantize(const embed *e, enum embed_storage s, size_t cstride, void *compact,
                    float *scales, float *resid, float *resid_max);
size_t embed_compact_elem(enum embed_storage s); /* bytes per element */
/* The float32 unit rows as a kernel-table matrix (n rows of 'stride' values). */
static inline struct kernels_mat embed_unit_mat(const embed *e)
{
    return (struct kernels_mat){.type = KERNELS_F32, .data = e->unit,
                                .row_bytes = e->stride * sizeof(float), .cols = e->stride};
}

/* EMBED_ALIGN_BYTES-aligned memory (models/util/alloc.h); free with free(). */
static inline void *embed_aligned_alloc(size_t bytes)
{
    return util_aligned_alloc(EMBED_ALIGN_BYTES, bytes);
}

#endif
