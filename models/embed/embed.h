/* embed.h: static word vectors (word2vec, GloVe, fastText .vec, lmserve .lmv): loading,
 * lookup, exact cosine top-k, analogies and mean-pooled text vectors. Knows no HTTP. */
#ifndef LMSERVE_EMBED_H
#define LMSERVE_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

typedef struct embed embed;

#define EMBED_TOP_K_MAX 1000   /* bound on top_k; api.yaml documents it */
#define EMBED_DIM_MAX 65536    /* widest vector accepted from a file */
#define EMBED_TERMS_MAX 64     /* positive + negative words of one analogy query */
#define EMBED_THREADS_MAX 16   /* scan threads per model (option threads=N) */
#define EMBED_COSMUL_EPS 1e-6  /* gensim most_similar_cosmul's epsilon */

enum embed_storage { EMBED_STORAGE_F32 = 0, EMBED_STORAGE_F16 = 1, EMBED_STORAGE_I8 = 2 };
enum embed_method { EMBED_3COSADD = 0, EMBED_3COSMUL = 1 };

struct embed_opts {
    int lowercase;                /* lower-case (ASCII) every looked-up word */
    int threads;                  /* scan threads, 1..EMBED_THREADS_MAX; 0 = 2 */
    enum embed_storage storage;   /* compact scan copy to build for text input */
};

struct embed_hit {
    uint32_t index; /* vocabulary row */
    float score;
};

struct embed_span { /* a byte range of a caller's text */
    size_t off, len;
};

/* Open 'path': .lmv (by magic), word2vec binary, or text (.vec with header, GloVe without,
 * either optionally gzip'd). On STATUS_OK *out is the caller's (embed_close); on error
 * *out is untouched and err says "path:line: reason". 'o' may be NULL (defaults). */
int embed_open(const char *path, const struct embed_opts *o, embed **out, struct status_err *err);
void embed_close(embed *e); /* accepts NULL */
/* Write e as an .lmv file with 'storage' (quantising when needed). */
int embed_save(const embed *e, const char *path, enum embed_storage storage,
               struct status_err *err);

size_t embed_size(const embed *e); /* vocabulary size */
size_t embed_dim(const embed *e);
enum embed_storage embed_storage_of(const embed *e);
size_t embed_duplicates(const embed *e); /* rows dropped as repeated words at load */
size_t embed_bytes(const embed *e);      /* bytes of vectors + vocabulary (mapped or owned) */
int embed_lowercase(const embed *e);
const char *embed_storage_name(enum embed_storage s);
int embed_storage_parse(const char *name, enum embed_storage *out); /* 0 or -1 */

/* Borrowed word of row i (NUL-terminated), valid until embed_close(). */
const char *embed_word(const embed *e, size_t i);
/* Row of 'word' (len bytes, lower-cased first if the model says so), or -1. */
long embed_lookup(const embed *e, const char *word, size_t len);
/* out[0..dim) = the original (un-normalised) vector of row i. */
void embed_vector(const embed *e, size_t i, float *out);

/* Mean of the original vectors of the known whitespace-separated words of 'text' into
 * out[0..dim), L2-normalised when 'normalize'. *n_tokens counts all words; unknown words are
 * returned in *oov (malloc'd, caller frees; may be NULL when none). STATUS_UNPROCESSABLE
 * when no word is known (out is then zero). */
int embed_text(const embed *e, const char *text, size_t len, int normalize, float *out,
               size_t *n_tokens, struct embed_span **oov, size_t *n_oov, struct status_err *err);

/* Exact cosine top_k (1..EMBED_TOP_K_MAX) of q (dim floats, non-zero), best first, ties by
 * lower row. Rows in exclude[0..n_exclude) are skipped. out has room for top_k hits;
 * *n_out may be < top_k for a small vocabulary. */
int embed_knn(const embed *e, const float *q, size_t top_k, const uint32_t *exclude,
              size_t n_exclude, struct embed_hit *out, size_t *n_out, struct status_err *err);
/* The same for n_q queries (n_q x dim) as one blocked scan: out is n_q x top_k, n_out n_q. */
int embed_knn_batch(const embed *e, const float *qs, size_t n_q, size_t top_k,
                    struct embed_hit *out, size_t *n_out, struct status_err *err);
/* gensim most_similar (3CosAdd) / most_similar_cosmul (3CosMul) over rows pos and neg;
 * 'exclude_inputs' drops the input words from the answer as gensim does. */
int embed_most_similar(const embed *e, const uint32_t *pos, size_t n_pos, const uint32_t *neg,
                       size_t n_neg, enum embed_method m, size_t top_k, int exclude_inputs,
                       struct embed_hit *out, size_t *n_out, struct status_err *err);
/* Number of compact-storage queries that fell back to a full float32 scan (bound failed). */
size_t embed_fallbacks(const embed *e);

#endif
