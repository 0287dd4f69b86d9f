/* lm.c: opening an n-gram model (format detection), vocabulary lookup and KenLM-exact
 * scoring over the tables described in ngram_internal.h. Parsing is arpa.c, mapping binary.c. */
#include "ngram_internal.h"
#include "../util/mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>


/* ---- hashing ---- */

/* Stable across builds and machines (the binary format depends on it). */
uint64_t ngram_hash_str(const char *s, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)len;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        len -= 8;
    }
    uint64_t v = 0;
    memcpy(&v, s, len);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

int64_t ngram_vocab_find(const struct ngram_lm *lm, const char *s, size_t len)
{
    uint64_t h = ngram_hash_str(s, len);
    uint64_t slots = lm->slots[0];
    uint64_t i = ((h & 0xffffffffu) * slots) >> 32;
    uint32_t want = (uint32_t)(h >> 32) & ~NGRAM_UNI_EXT;
    for (uint64_t probes = 0; probes < slots; probes++) {
        const struct ngram_uni *u = &lm->uni[i];
        if (u->str == 0)
            return -1;
        if ((u->hash & ~NGRAM_UNI_EXT) == want) {
            const char *t = lm->pool + u->str;
            if (strncmp(t, s, len) == 0 && t[len] == '\0')
                return (int64_t)i;
        }
        if (++i == slots)
            i = 0;
    }
    return -1;
}

/* ---- scoring ---- */

uint32_t ngram_word(const ngram_lm *lm, const char *word, size_t len, int *oov)
{
    int64_t i = ngram_vocab_find(lm, word, len);
    if (i < 0 || (uint32_t)i == lm->unk) {
        /* KenLM counts a literal "<unk>" in the input as OOV too */
        if (oov)
            *oov = 1;
        return lm->unk;
    }
    if (oov)
        *oov = 0;
    return (uint32_t)i;
}

uint32_t ngram_word_bos(const ngram_lm *lm)
{
    return lm->bos;
}
uint32_t ngram_word_eos(const ngram_lm *lm)
{
    return lm->eos;
}
uint32_t ngram_id_bound(const ngram_lm *lm)
{
    return (uint32_t)lm->slots[0];
}

const char *ngram_word_text(const ngram_lm *lm, uint32_t id)
{
    if (id >= lm->slots[0] || lm->uni[id].str == 0)
        return NULL;
    return lm->pool + lm->uni[id].str;
}

void ngram_state_begin(const ngram_lm *lm, int bos, struct ngram_state *st)
{
    st->len = 0;
    if (bos && lm->order > 1) {
        st->words[0] = lm->bos;
        st->backoff[0] = lm->uni[lm->bos].backoff;
        st->len = 1;
    }
}

float ngram_score(const ngram_lm *lm, const struct ngram_state *in, uint32_t word,
                  struct ngram_state *out, int *order)
{
    const int n_max = lm->order;
    const struct ngram_uni *u = &lm->uni[word];
    struct ngram_state o;
    float p = u->prob;
    int m = 1; /* length of the longest n-gram found so far */
    int ext = (u->hash & NGRAM_UNI_EXT) != 0;
    uint32_t node = word;
    o.words[0] = word;
    o.backoff[0] = u->backoff;
    for (int k = 0; k < in->len && ext; k++) {
        uint32_t h = in->words[k];
        int n = m + 1;
        if (n < n_max) {
            int64_t i = ngram_table_find(lm->mid[n - 1], sizeof(struct ngram_mid), lm->slots[n - 1],
                                         lm->disp_max[n - 1], lm->mult[n - 1], node, h);
            if (i < 0)
                break;
            const struct ngram_mid *e = &lm->mid[n - 1][i];
            p = e->prob;
            o.backoff[m] = e->backoff;
            ext = (e->tag & NGRAM_TAG_EXT) != 0;
            node = (uint32_t)i;
            m = n;
        } else {
            int64_t i = ngram_top_find(lm->top, lm->slots[n - 1], lm->disp_max[n - 1],
                                       lm->mult[n - 1], node, h);
            if (i >= 0) {
                p = lm->top[i].prob;
                m = n;
            }
            break;
        }
    }
    /* back-offs of every context longer than the one used, in KenLM's order */
    for (int j = m - 1; j < in->len; j++)
        p += in->backoff[j];
    int len = m < n_max ? m : n_max - 1;
    for (int j = 1; j < len; j++)
        o.words[j] = in->words[j - 1];
    o.len = len;
    *out = o;
    if (order)
        *order = m;
    return p;
}

/* ---- information ---- */

int ngram_order(const ngram_lm *lm)
{
    return lm->order;
}
uint64_t ngram_count(const ngram_lm *lm, int n)
{
    return n >= 1 && n <= lm->order ? lm->counts[n - 1] : 0;
}
size_t ngram_vocab_size(const ngram_lm *lm)
{
    return (size_t)lm->counts[0];
}
int ngram_has_unk(const ngram_lm *lm)
{
    return lm->has_unk;
}
const char *ngram_format(const ngram_lm *lm)
{
    return lm->is_binary ? "binary" : "arpa";
}
size_t ngram_bytes(const ngram_lm *lm)
{
    return lm->bytes;
}

/* ---- open / close ---- */

void ngram_release(struct ngram_lm *lm)
{
    for (size_t i = 0; i < sizeof lm->big / sizeof lm->big[0]; i++) {
        util_huge_free(lm->big[i], lm->big_len[i]);
        lm->big[i] = NULL;
    }
    if (lm->map)
        munmap(lm->map, lm->map_len);
    lm->map = NULL;
    for (size_t i = 0; i < sizeof lm->own / sizeof lm->own[0]; i++) {
        free(lm->own[i]);
        lm->own[i] = NULL;
    }
}

void ngram_close(ngram_lm *lm)
{
    if (!lm)
        return;
    ngram_release(lm);
    free(lm);
}


/* ---- batched scoring ----
 * Every word's walk (unigram, then one probe per longer n-gram) depends only on the words
 * before it, not on the previous word's result, so the walks of a group of words run in
 * lock-step with a prefetch per probe: NGRAM_GROUP cache misses overlap instead of
 * queueing. Each walk is speculative (it may use more history than KenLM's state would
 * allow); a second, sequential pass truncates it to the state exactly as ngram_score does. */

#define NGRAM_GROUP 32 /* words walked together: enough misses in flight to hide latency */

static inline void prefetch(const void *p)
{
    __builtin_prefetch(p, 0, 1);
}

void ngram_words(const ngram_lm *lm, const char *const *words, const size_t *lens, size_t n,
                 uint32_t *ids, uint8_t *oov)
{
    uint64_t slots = lm->slots[0];
    for (size_t base = 0; base < n; base += NGRAM_GROUP) {
        size_t g = n - base < NGRAM_GROUP ? n - base : NGRAM_GROUP;
        uint64_t home[NGRAM_GROUP];
        uint32_t tag[NGRAM_GROUP];
        int64_t cand[NGRAM_GROUP];
        for (size_t k = 0; k < g; k++) {
            uint64_t h = ngram_hash_str(words[base + k], lens[base + k]);
            home[k] = ((h & 0xffffffffu) * slots) >> 32;
            tag[k] = (uint32_t)(h >> 32) & ~NGRAM_UNI_EXT;
            prefetch(&lm->uni[home[k]]);
        }
        for (size_t k = 0; k < g; k++) {
            /* first slot whose hash matches: almost always the word itself */
            cand[k] = -1;
            uint64_t i = home[k];
            for (uint64_t probes = 0; probes < slots; probes++) {
                const struct ngram_uni *u = &lm->uni[i];
                if (u->str == 0)
                    break;
                if ((u->hash & ~NGRAM_UNI_EXT) == tag[k]) {
                    cand[k] = (int64_t)i;
                    prefetch(lm->pool + u->str);
                    break;
                }
                if (++i == slots)
                    i = 0;
            }
        }
        for (size_t k = 0; k < g; k++) {
            const char *w = words[base + k];
            size_t len = lens[base + k];
            int64_t id = cand[k];
            if (id >= 0) {
                const char *t = lm->pool + lm->uni[id].str;
                if (strncmp(t, w, len) != 0 || t[len] != '\0')
                    id = ngram_vocab_find(lm, w, len); /* a hash collision: rare */
            }
            int o = id < 0 || (uint32_t)id == lm->unk;
            ids[base + k] = o ? lm->unk : (uint32_t)id;
            if (oov)
                oov[base + k] = (uint8_t)o;
        }
    }
}

/* Address of the home slot of key (s, w) in the table of order n, to prefetch. (A helper
 * that prefetched by itself looked side-effect free to GCC, which deleted its calls.) */
static inline const void *probe_addr(const ngram_lm *lm, int n, uint32_t s, uint32_t w)
{
    if (n < lm->order)
        return &lm->mid[n - 1][ngram_home(s, w, lm->slots[n - 1], lm->mult[n - 1])];
    uint32_t want;
    return &lm->top[ngram_top_home(s, w, lm->slots[n - 1], lm->mult[n - 1], &want)];
}

/* One speculative walk. */
struct walk {
    uint32_t node;
    int m;                              /* longest n-gram found */
    int limit;                          /* history words available */
    int live;                           /* still probing */
    float prob[NGRAM_ORDER_MAX + 1];    /* [k]: log10 of the n-gram of length k */
    float backoff[NGRAM_ORDER_MAX + 1]; /* [k]: its back-off (k < order) */
};

void ngram_score_ids(const ngram_lm *lm, const uint32_t *ids, size_t n, int bos, float *log10p,
                     uint8_t *order)
{
    const size_t start = 0;
    ngram_score_sents(lm, ids, n, &start, 1, bos, log10p, order);
}

void ngram_score_sents(const ngram_lm *lm, const uint32_t *ids, size_t n, const size_t *starts,
                       size_t n_sents, int bos, float *log10p, uint8_t *order)
{
    const int n_max = lm->order;
    struct ngram_state st;
    ngram_state_begin(lm, bos, &st); /* (reset again at every sentence's first word) */
    struct walk wk[NGRAM_GROUP];
    size_t first[NGRAM_GROUP]; /* index of the first word of each word's sentence */
    size_t sent = 0;
    for (size_t base = 0; base < n; base += NGRAM_GROUP) {
        size_t g = n - base < NGRAM_GROUP ? n - base : NGRAM_GROUP;
        /* history word j (1 = previous) of word i: the word j back in its sentence, or <s>
         * just before the sentence's first word */
#define HIST(i, j) ((i) >= first[(i)-base] + (size_t)(j) ? ids[(i) - (j)] : lm->bos)
        for (size_t k = 0; k < g; k++) {
            size_t i = base + k;
            while (sent + 1 < n_sents && starts[sent + 1] <= i)
                sent++;
            first[k] = starts[sent];
            prefetch(&lm->uni[ids[i]]);
        }
        for (size_t k = 0; k < g; k++) {
            size_t i = base + k;
            const struct ngram_uni *u = &lm->uni[ids[i]];
            struct walk *w = &wk[k];
            size_t avail = i - first[k] + (bos ? 1 : 0);
            w->limit = avail < (size_t)n_max - 1 ? (int)avail : n_max - 1;
            w->node = ids[i];
            w->m = 1;
            w->prob[1] = u->prob;
            w->backoff[1] = u->backoff;
            w->live = w->limit > 0 && (u->hash & NGRAM_UNI_EXT);
            if (w->live)
                prefetch(probe_addr(lm, 2, w->node, HIST(i, 1)));
        }
        for (int len = 2; len <= n_max; len++) {
            int any = 0;
            for (size_t k = 0; k < g; k++) {
                struct walk *w = &wk[k];
                if (!w->live)
                    continue;
                size_t i = base + k;
                uint32_t h = HIST(i, len - 1);
                int64_t f;
                if (len < n_max) {
                    f = ngram_table_find(lm->mid[len - 1], sizeof(struct ngram_mid),
                                         lm->slots[len - 1], lm->disp_max[len - 1],
                                         lm->mult[len - 1], w->node, h);
                    if (f >= 0) {
                        const struct ngram_mid *e = &lm->mid[len - 1][f];
                        w->prob[len] = e->prob;
                        w->backoff[len] = e->backoff;
                        w->node = (uint32_t)f;
                        w->m = len;
                        w->live = (e->tag & NGRAM_TAG_EXT) && len <= w->limit;
                    } else {
                        w->live = 0;
                    }
                } else {
                    f = ngram_top_find(lm->top, lm->slots[len - 1], lm->disp_max[len - 1],
                                       lm->mult[len - 1], w->node, h);
                    if (f >= 0) {
                        w->prob[len] = lm->top[f].prob;
                        w->m = len;
                    }
                    w->live = 0;
                }
                if (w->live) {
                    any = 1;
                    prefetch(probe_addr(lm, len + 1, w->node, HIST(i, len)));
                }
            }
            if (!any)
                break;
        }
#undef HIST
        /* truncate each walk to KenLM's state, in order */
        for (size_t k = 0; k < g; k++) {
            const struct walk *w = &wk[k];
            if (base + k == first[k])
                ngram_state_begin(lm, bos, &st);
            int m = w->m < st.len + 1 ? w->m : st.len + 1;
            float p = w->prob[m];
            for (int j = m - 1; j < st.len; j++)
                p += st.backoff[j];
            int len = m < n_max ? m : n_max - 1;
            for (int j = 0; j < len; j++)
                st.backoff[j] = w->backoff[j + 1];
            st.len = len;
            log10p[base + k] = p;
            if (order)
                order[base + k] = (uint8_t)m;
        }
    }
}

void ngram_score_all(const ngram_lm *lm, const struct ngram_state *st, float *out)
{
    const int n_max = lm->order;
    uint32_t bound = (uint32_t)lm->slots[0];
    uint32_t node[NGRAM_GROUP];
    float prob[NGRAM_GROUP];
    uint8_t m[NGRAM_GROUP], live[NGRAM_GROUP];
    for (uint32_t base = 0; base < bound; base += NGRAM_GROUP) {
        uint32_t g = bound - base < NGRAM_GROUP ? bound - base : NGRAM_GROUP;
        int any = 0;
        for (uint32_t k = 0; k < g; k++) {
            const struct ngram_uni *u = &lm->uni[base + k];
            node[k] = base + k;
            prob[k] = u->prob;
            m[k] = 1;
            live[k] = u->str != 0 && st->len > 0 && (u->hash & NGRAM_UNI_EXT);
            if (live[k]) {
                any = 1;
                prefetch(probe_addr(lm, 2, node[k], st->words[0]));
            }
        }
        for (int len = 2; len <= n_max && any; len++) {
            any = 0;
            uint32_t h = st->words[len - 2];
            for (uint32_t k = 0; k < g; k++) {
                if (!live[k])
                    continue;
                live[k] = 0;
                if (len < n_max) {
                    int64_t f = ngram_table_find(lm->mid[len - 1], sizeof(struct ngram_mid),
                                                 lm->slots[len - 1], lm->disp_max[len - 1],
                                                 lm->mult[len - 1], node[k], h);
                    if (f < 0)
                        continue;
                    const struct ngram_mid *e = &lm->mid[len - 1][f];
                    prob[k] = e->prob;
                    node[k] = (uint32_t)f;
                    m[k] = (uint8_t)len;
                    if ((e->tag & NGRAM_TAG_EXT) && len <= st->len) {
                        live[k] = 1;
                        any = 1;
                        prefetch(probe_addr(lm, len + 1, node[k], st->words[len - 1]));
                    }
                } else {
                    int64_t f = ngram_top_find(lm->top, lm->slots[len - 1], lm->disp_max[len - 1],
                                               lm->mult[len - 1], node[k], h);
                    if (f >= 0) {
                        prob[k] = lm->top[f].prob;
                        m[k] = (uint8_t)len;
                    }
                }
            }
        }
        for (uint32_t k = 0; k < g; k++) {
            if (lm->uni[base + k].str == 0) {
                out[base + k] = -INFINITY;
                continue;
            }
            float p = prob[k];
            for (int j = m[k] - 1; j < st->len; j++)
                p += st->backoff[j];
            out[base + k] = p;
        }
    }
}
