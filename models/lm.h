/* lm.h: what /v1/score and /v1/next need from any language model (n-gram, Transformer).
 * A model type that is a language model points model_ops.lm at one of these tables. */
#ifndef LMSERVE_LM_H
#define LMSERVE_LM_H

#include <stddef.h>

#include "util/status.h"

#define LM_TOP_K_MAX 1000 /* bound on /v1/next top_k; api.yaml documents it */

struct lm_score_opts {
    int bos;                       /* start from <s> / BOS (default 1) */
    int eos;                       /* score </s> / EOS at the end (default 1) */
    const volatile int *cancelled; /* may be NULL; long scorers poll it */
};

/* One scored token. */
struct lm_token {
    char *text;     /* owned: the word or token piece as the model sees it */
    double logprob; /* natural log of p(token | history) */
    int order;      /* n-gram length used (n-gram models); 0 when not meaningful */
    int oov;        /* 1 if the token is out of vocabulary */
    int id;         /* vocabulary id, -1 when not meaningful */
};

struct lm_scored {
    struct lm_token *tokens; /* owned, n entries */
    size_t n;
};

struct lm_candidate {
    char *text;     /* owned */
    double logprob; /* natural log */
    int id;
};

struct lm_ops {
    /* Optional: STATUS_OK when this instance scores text, else the 400 saying why (a
     * Transformer encoder or a tokenizer-only file). NULL: always. */
    int (*check)(const void *impl, struct status_err *err);
    /* Score 'text' (UTF-8, validated). On STATUS_OK 'out' is filled and owned by the caller
     * (lm_scored_free); on error 'out' is empty and err says why. */
    int (*score)(void *impl, const char *text, const struct lm_score_opts *opts,
                 struct lm_scored *out, struct status_err *err);
    /* The top_k (1..LM_TOP_K_MAX) most likely next tokens after 'context' (started at BOS
     * when opts->bos; opts->eos is ignored), best first, exactly under the model. *out (n
     * entries) is owned by the caller (lm_candidates_free). */
    int (*next)(void *impl, const char *context, const struct lm_score_opts *opts, size_t top_k,
                struct lm_candidate **out, size_t *n, struct status_err *err);
    /* >1: score calls from that many threads at once share the model's batched forward steps
     * (a Transformer's scheduler), so a list of texts is scored concurrently. 0/1: in turn. */
    int batch_width;
};

/* Free what score()/next() returned. Accept empty/NULL. */
void lm_scored_free(struct lm_scored *s);
void lm_candidates_free(struct lm_candidate *c, size_t n);

#endif
