/* ngram.h: back-off n-gram language models (ARPA text, gzip'd ARPA, lmserve binary) scored
 * exactly as KenLM's `query` scores them. Not an HTTP module: server/api/score.c wraps it. */
#ifndef LMSERVE_NGRAM_H
#define LMSERVE_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "../util/status.h"

#define NGRAM_ORDER_MAX 6 /* highest ARPA order we accept */
/* log10 p of an OOV when the model has no <unk> (as KenLM) */
#define NGRAM_UNK_MISSING_LOG10 -100.0f

typedef struct ngram_lm ngram_lm;

/* Scoring state: the history that can still matter, most recent word first. */
struct ngram_state {
    uint32_t words[NGRAM_ORDER_MAX - 1];
    float backoff[NGRAM_ORDER_MAX - 1]; /* log10 back-off of the context of length i+1 */
    int len;
};

/* Open 'path': ARPA (plain or gzip) or the lmserve binary format, detected by content.
 * On STATUS_OK *out is owned by the caller (ngram_close); on error *out is untouched and
 * err says why, as "path:line: reason" for ARPA files. */
int ngram_open(const char *path, ngram_lm **out, struct status_err *err);
void ngram_close(ngram_lm *lm); /* accepts NULL */

/* Write 'lm' in the binary format (tools/lmserve-ngram-build). */
int ngram_write_binary(const ngram_lm *lm, const char *path, struct status_err *err);

int ngram_order(const ngram_lm *lm);
uint64_t ngram_count(const ngram_lm *lm, int n); /* n-grams of order n (1..order) in the file */
size_t ngram_vocab_size(const ngram_lm *lm);     /* words, <unk> included if in the file */
int ngram_has_unk(const ngram_lm *lm);
const char *ngram_format(const ngram_lm *lm); /* "arpa" or "binary" */
size_t ngram_bytes(const ngram_lm *lm);       /* bytes of model data */

/* Word id of 'word' (len bytes, not necessarily NUL-terminated); the <unk> id when unknown,
 * then *oov (may be NULL) is set to 1. */
uint32_t ngram_word(const ngram_lm *lm, const char *word, size_t len, int *oov);
uint32_t ngram_word_bos(const ngram_lm *lm);                  /* <s> */
uint32_t ngram_word_eos(const ngram_lm *lm);                  /* </s> */
const char *ngram_word_text(const ngram_lm *lm, uint32_t id); /* borrowed, valid while open */
/* Every word id, for enumeration: ids are in [0, ngram_id_bound) and ngram_word_text() is
 * NULL for ids that are not words. */
uint32_t ngram_id_bound(const ngram_lm *lm);

/* The state before the first word: after <s> when bos, else empty. */
void ngram_state_begin(const ngram_lm *lm, int bos, struct ngram_state *st);
/* log10 p(word | in) as KenLM's FullScore; fills *out (may alias nothing) and *order. */
float ngram_score(const ngram_lm *lm, const struct ngram_state *in, uint32_t word,
                  struct ngram_state *out, int *order);

/* ---- batched scoring: the fast path (same numbers as ngram_score, word for word) ---- */

/* Look up n words at once (memory accesses overlapped): ids[i] and oov[i] as ngram_word. */
void ngram_words(const ngram_lm *lm, const char *const *words, const size_t *lens, size_t n,
                 uint32_t *ids, uint8_t *oov);
/* Score the sentence ids[0..n-1] (append ngram_word_eos() yourself when wanted), after <s>
 * when bos: log10p[i] and order[i] per word, exactly as n calls of ngram_score. */
void ngram_score_ids(const ngram_lm *lm, const uint32_t *ids, size_t n, int bos, float *log10p,
                     uint8_t *order);

/* The same over several sentences at once (more walks in flight): sentence s is
 * ids[starts[s] .. starts[s+1]) (the last one ends at n); starts[0] == 0, increasing. */
void ngram_score_sents(const ngram_lm *lm, const uint32_t *ids, size_t n, const size_t *starts,
                       size_t n_sents, int bos, float *log10p, uint8_t *order);

/* log10 p(w | st) for every id w in [0, ngram_id_bound) into out[w] (-INFINITY for ids that
 * are not words): exactly ngram_score's numbers, walked in lock-step (for /v1/next). */
void ngram_score_all(const ngram_lm *lm, const struct ngram_state *st, float *out);

#endif
