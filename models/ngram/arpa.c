/* arpa.c: the ARPA back-off model parser (orders 1..NGRAM_ORDER_MAX; CRLF; tabs or spaces)
 * and the builder of the hashed tables of ngram_internal.h. Errors are "file:line: reason".
 * It reads a whole buffer (mapped or inflated by lm.c); it does not do I/O itself. */
#include "../util/decimal.h"
#include "../util/progress.h"
#include "ngram_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARPA_NUM_MAX 64       /* longest number token we accept */
#define ARPA_WORD_SHOW_MAX 60 /* bytes of an offending word quoted in a message */
#define ARPA_BLANK_LINE 0     /* a blank's entry has no source line */

/* ---- lines and tokens ---- */

struct reader {
    const char *name;
    const char *start, *p, *end;
    uint64_t line;
    struct progress prog; /* "loading X: 40%" lines for big files */
};

#define ARPA_PROGRESS_LINES 0xffff /* check progress once per 65536 lines */

/* Next line without its end (\n or \r\n) and trailing blanks; 0 at the end of the buffer. */
static int next_line(struct reader *r, const char **s, const char **e)
{
    if (r->p >= r->end)
        return 0;
    const char *b = r->p;
    const char *nl = memchr(b, '\n', (size_t)(r->end - b));
    const char *le = nl ? nl : r->end;
    r->p = nl ? nl + 1 : r->end;
    r->line++;
    if ((r->line & ARPA_PROGRESS_LINES) == 0)
        progress_update(&r->prog, (size_t)(r->p - r->start));
    while (le > b && (le[-1] == '\r' || le[-1] == ' ' || le[-1] == '\t'))
        le--;
    while (b < le && (*b == ' ' || *b == '\t'))
        b++;
    *s = b;
    *e = le;
    return 1;
}

/* ARPA separates fields with spaces and tabs only: other control characters are word bytes */
static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Split [s, e) into at most 'max' tokens; returns the count (max + 1 when there are more). */
static int split(const char *s, const char *e, const char **tok, size_t *len, int max)
{
    int n = 0;
    while (s < e) {
        while (s < e && is_blank(*s))
            s++;
        if (s == e)
            break;
        const char *t = s;
        while (s < e && !is_blank(*s))
            s++;
        if (n == max)
            return max + 1;
        tok[n] = t;
        len[n] = (size_t)(s - t);
        n++;
    }
    return n;
}

static int line_is(const char *s, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(e - s) == n && memcmp(s, lit, n) == 0;
}

/* ---- numbers ---- */

/* Numbers: models/util/decimal.h (exactly what strtod reads, fast for short ones). */

/* ---- parsed n-grams before the tables are built ---- */

struct order_buf {
    uint64_t n; /* entries */
    uint64_t cap;
    uint32_t *ids; /* n * order word ids, left to right */
    float *prob;
    float *backoff;
    uint32_t *line; /* source line, for duplicate errors */
};

struct builder {
    const char *name;
    int order;
    struct order_buf ord[NGRAM_ORDER_MAX + 1];   /* [n] regular n-grams of order n */
    struct order_buf blank[NGRAM_ORDER_MAX + 1]; /* [n] missing suffixes to insert */
    char *pool;
    uint64_t pool_len, pool_cap;
    struct ngram_uni *uni;
    int missing; /* a suffix was missing during this build pass */
};

static void order_buf_free(struct order_buf *o)
{
    free(o->ids);
    free(o->prob);
    free(o->backoff);
    free(o->line);
    memset(o, 0, sizeof *o);
}

static int order_buf_reserve(struct order_buf *o, int n, uint64_t cap)
{
    if (cap <= o->cap)
        return 0;
    uint32_t *ids = util_realloc(o->ids, cap * (uint64_t)n * sizeof *ids);
    if (!ids)
        return -1;
    o->ids = ids;
    float *pr = util_realloc(o->prob, cap * sizeof *pr);
    if (!pr)
        return -1;
    o->prob = pr;
    float *bo = util_realloc(o->backoff, cap * sizeof *bo);
    if (!bo)
        return -1;
    o->backoff = bo;
    uint32_t *ln = util_realloc(o->line, cap * sizeof *ln);
    if (!ln)
        return -1;
    o->line = ln;
    o->cap = cap;
    return 0;
}

static void show_word(char *buf, size_t size, const char *w, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(buf, w, n);
    buf[n] = '\0';
}

/* ---- vocabulary ---- */

static int vocab_add(struct builder *b, struct ngram_lm *lm, const char *w, size_t len, float prob,
                     float backoff, int64_t *slot)
{
    uint64_t h = ngram_hash_str(w, len);
    uint64_t slots = lm->slots[0];
    uint64_t i = ((h & 0xffffffffu) * slots) >> 32;
    uint32_t tag = (uint32_t)(h >> 32) & ~NGRAM_UNI_EXT;
    for (;;) {
        struct ngram_uni *u = &b->uni[i];
        if (u->str == 0)
            break;
        if ((u->hash & ~NGRAM_UNI_EXT) == tag) {
            const char *t = b->pool + u->str;
            if (strncmp(t, w, len) == 0 && t[len] == '\0')
                return 1; /* duplicate */
        }
        if (++i == slots)
            i = 0;
    }
    if (b->pool_len + len + 1 > b->pool_cap) {
        uint64_t cap = b->pool_cap * 2 + len + 1;
        char *np = util_realloc(b->pool, cap);
        if (!np)
            return -1;
        b->pool = np;
        b->pool_cap = cap;
    }
    if (b->pool_len + len + 1 > UINT32_MAX)
        return -2;
    memcpy(b->pool + b->pool_len, w, len);
    b->pool[b->pool_len + len] = '\0';
    b->uni[i].str = (uint32_t)b->pool_len;
    b->uni[i].hash = tag;
    b->uni[i].prob = prob;
    b->uni[i].backoff = backoff;
    b->pool_len += len + 1;
    lm->pool = b->pool; /* ngram_vocab_find reads through lm */
    *slot = (int64_t)i;
    return 0;
}

/* ---- the header ---- */

static int parse_counts(struct reader *r, struct builder *b, struct ngram_lm *lm, size_t len,
                        struct status_err *err)
{
    const char *s, *e;
    int found = 0;
    while (next_line(r, &s, &e)) {
        if (line_is(s, e, "\\data\\")) {
            found = 1;
            break;
        }
    }
    if (!found)
        return status_set(err, STATUS_BAD_FORMAT, NULL,
                          "%s:%llu: no \\data\\ line: not an ARPA file", b->name,
                          (unsigned long long)(r->line ? r->line : 1));
    const char *save_p = r->p;
    uint64_t save_line = r->line;
    while (next_line(r, &s, &e)) {
        if (s == e)
            continue;
        if (*s == '\\') {
            r->p = save_p;
            r->line = save_line;
            break;
        }
        save_p = r->p;
        save_line = r->line;
        if (e - s < 6 || memcmp(s, "ngram", 5) != 0 || !is_blank(s[5]))
            return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: expected 'ngram N=count'",
                              b->name, (unsigned long long)r->line);
        /* "ngram N=count" with optional blanks around '=' */
        char buf[ARPA_NUM_MAX * 2];
        size_t n = 0;
        for (const char *q = s + 6; q < e && n < sizeof buf - 1; q++)
            if (!is_blank(*q))
                buf[n++] = *q;
        buf[n] = '\0';
        char *eq = strchr(buf, '=');
        char *end1, *end2;
        if (!eq)
            goto bad_count;
        *eq = '\0';
        long ord = strtol(buf, &end1, 10);
        unsigned long long cnt = strtoull(eq + 1, &end2, 10);
        if (end1 == buf || *end1 || end2 == eq + 1 || *end2 || eq[1] == '-')
            goto bad_count;
        if (ord != lm->order + 1)
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: expected 'ngram %d=count', got order %ld", b->name,
                              (unsigned long long)r->line, lm->order + 1, ord);
        if (ord > NGRAM_ORDER_MAX)
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: order %ld is above the maximum of %d", b->name,
                              (unsigned long long)r->line, ord, NGRAM_ORDER_MAX);
        /* each entry needs at least "p w\n" per word: bound counts by the file size so a lying
         * header cannot make us allocate a huge temporary */
        if (cnt > len / (2 * (unsigned long long)ord + 1))
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: %llu %ld-grams cannot fit in a %zu-byte file", b->name,
                              (unsigned long long)r->line, cnt, ord, len);
        lm->counts[ord - 1] = cnt;
        lm->order = (int)ord;
        continue;
    bad_count:
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: expected 'ngram N=count'",
                          b->name, (unsigned long long)r->line);
    }
    if (lm->order == 0)
        return status_set(err, STATUS_BAD_FORMAT, NULL,
                          "%s:%llu: no 'ngram N=count' lines after \\data\\", b->name,
                          (unsigned long long)r->line);
    if (lm->counts[0] == 0)
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: the header declares no 1-grams",
                          b->name);
    return STATUS_OK;
}

/* ---- sections ---- */

/* Skip blank lines; return the next non-blank line or 0 at the end. */
static int next_nonblank(struct reader *r, const char **s, const char **e)
{
    while (next_line(r, s, e))
        if (*s != *e)
            return 1;
    return 0;
}

#define PARSE_BLOCK 256 /* n-gram lines whose words are looked up together (prefetched) */

/* Words of up to PARSE_BLOCK lines waiting for their ids. */
struct pending {
    const char *w[PARSE_BLOCK * NGRAM_ORDER_MAX];
    size_t len[PARSE_BLOCK * NGRAM_ORDER_MAX];
    uint64_t at[PARSE_BLOCK * NGRAM_ORDER_MAX]; /* index into order_buf.ids */
    uint32_t id[PARSE_BLOCK * NGRAM_ORDER_MAX];
    uint8_t oov[PARSE_BLOCK * NGRAM_ORDER_MAX];
    uint8_t same[PARSE_BLOCK]; /* per line: bit j = word j repeats the previous line's */
    size_t n;
    uint64_t first; /* first entry of the block */
};

/* Look up the block's words at once, then fill repeated words from the line before. */
static int resolve_block(struct builder *b, struct ngram_lm *lm, struct order_buf *o, int n,
                         struct pending *pb, struct status_err *err)
{
    ngram_words(lm, pb->w, pb->len, pb->n, pb->id, pb->oov);
    for (size_t i = 0; i < pb->n; i++) {
        uint32_t id = pb->id[i];
        if (pb->oov[i]) {
            /* ngram_words maps unknown words (and <unk> itself) to lm->unk, not known yet */
            int64_t f = ngram_vocab_find(lm, pb->w[i], pb->len[i]);
            if (f < 0) {
                char wbuf[ARPA_WORD_SHOW_MAX + 1];
                show_word(wbuf, sizeof wbuf, pb->w[i], pb->len[i]);
                return status_set(err, STATUS_BAD_FORMAT, NULL,
                                  "%s:%u: word '%s' is not in the 1-grams", b->name,
                                  o->line[pb->at[i] / (uint64_t)n], wbuf);
            }
            id = (uint32_t)f;
        }
        o->ids[pb->at[i]] = id;
    }
    for (uint64_t e = pb->first; e < o->n; e++) {
        uint8_t same = pb->same[e - pb->first];
        for (int j = 0; j < n; j++)
            if (same & (1u << j))
                o->ids[e * n + j] = o->ids[(e - 1) * n + j];
    }
    pb->n = 0;
    pb->first = o->n;
    return STATUS_OK;
}

static int parse_section(struct reader *r, struct builder *b, struct ngram_lm *lm, int n,
                         struct status_err *err)
{
    const char *s, *e;
    char want[32], wbuf[ARPA_WORD_SHOW_MAX + 1];
    snprintf(want, sizeof want, "\\%d-grams:", n);
    if (!next_nonblank(r, &s, &e))
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: truncated file: no %s section",
                          b->name, (unsigned long long)r->line, want);
    if (!line_is(s, e, want)) {
        if (n > 1 && *s != '\\')
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: more %d-grams than the header's count of %llu", b->name,
                              (unsigned long long)r->line, n - 1,
                              (unsigned long long)lm->counts[n - 2]);
        return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: expected %s", b->name,
                          (unsigned long long)r->line, want);
    }
    uint64_t count = lm->counts[n - 1];
    struct order_buf *o = &b->ord[n];
    if (n >= 2 && order_buf_reserve(o, n, count ? count : 1) != 0)
        return status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory for %llu %d-grams",
                          b->name, (unsigned long long)count, n);
    const int max_tok = NGRAM_ORDER_MAX + 2;
    const char *tok[NGRAM_ORDER_MAX + 3];
    size_t tl[NGRAM_ORDER_MAX + 3];
    /* word-id cache: consecutive lines share most of their words */
    const char *prev_tok[NGRAM_ORDER_MAX];
    size_t prev_len[NGRAM_ORDER_MAX];
    int have_prev = 0;
    struct pending pb;
    pb.n = 0;
    pb.first = o->n;
    for (uint64_t k = 0; k < count; k++) {
        if (!next_nonblank(r, &s, &e))
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: truncated file: expected %llu %d-grams, found %llu",
                              b->name, (unsigned long long)r->line, (unsigned long long)count, n,
                              (unsigned long long)k);
        if (*s == '\\')
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: the header declares %llu %d-grams but the section has %llu",
                              b->name, (unsigned long long)r->line, (unsigned long long)count, n,
                              (unsigned long long)k);
        int nt = split(s, e, tok, tl, max_tok);
        int has_bo = nt == n + 2;
        if (nt != n + 1 && !(has_bo && n < lm->order))
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: expected log10prob, %d word%s%s; got %d field%s", b->name,
                              (unsigned long long)r->line, n, n == 1 ? "" : "s",
                              n < lm->order ? " and an optional back-off" : "",
                              nt > max_tok ? max_tok : nt, nt == 1 ? "" : "s");
        double pv, bv = 0.0;
        if (!decimal_parse_double(tok[0], tl[0], &pv) || (has_bo && !decimal_parse_double(tok[n + 1], tl[n + 1], &bv))) {
            int bad = !decimal_parse_double(tok[0], tl[0], &pv) ? 0 : n + 1;
            show_word(wbuf, sizeof wbuf, tok[bad], tl[bad]);
            return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: '%s' is not a number",
                              b->name, (unsigned long long)r->line, wbuf);
        }
        if (pv > 0.0)
            return status_set(err, STATUS_BAD_FORMAT, NULL,
                              "%s:%llu: positive log10 probability %g", b->name,
                              (unsigned long long)r->line, pv);
        if (n == 1) {
            int64_t slot;
            int rc = vocab_add(b, lm, tok[1], tl[1], (float)pv, (float)bv, &slot);
            show_word(wbuf, sizeof wbuf, tok[1], tl[1]);
            if (rc == 1)
                return status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: duplicate 1-gram '%s'",
                                  b->name, (unsigned long long)r->line, wbuf);
            if (rc < 0)
                return status_set(err, STATUS_NO_MEMORY, NULL,
                                  "%s: out of memory in the vocabulary", b->name);
            continue;
        }
        uint32_t same = 0; /* bit j: word j as on the previous line */
        for (int j = 0; j < n; j++) {
            const char *w = tok[1 + j];
            size_t wl = tl[1 + j];
            if (have_prev && prev_len[j] == wl && memcmp(prev_tok[j], w, wl) == 0) {
                same |= 1u << j;
                continue;
            }
            pb.w[pb.n] = w;
            pb.len[pb.n] = wl;
            pb.at[pb.n] = o->n * (uint64_t)n + (uint64_t)j;
            pb.n++;
        }
        for (int j = 0; j < n; j++) {
            prev_tok[j] = tok[1 + j];
            prev_len[j] = tl[1 + j];
        }
        have_prev = 1;
        pb.same[o->n - pb.first] = (uint8_t)same;
        o->prob[o->n] = (float)pv;
        o->backoff[o->n] = (float)bv;
        o->line[o->n] = (uint32_t)(r->line > UINT32_MAX ? UINT32_MAX : r->line);
        o->n++;
        if (o->n - pb.first == PARSE_BLOCK || k + 1 == count) {
            int rc = resolve_block(b, lm, o, n, &pb, err);
            if (rc != STATUS_OK)
                return rc;
        }
    }
    return STATUS_OK;
}

/* ---- tables ---- */

/* log10 p(ids[len-1] | ids[0..len-2]) from the tables of orders < len: the probability KenLM
 * gives a blank (a missing suffix of a pruned model). Same float additions as scoring. */
static float backed_off_prob(const struct ngram_lm *lm, const uint32_t *ids, int len)
{
    uint32_t node = ids[len - 1];
    float p = lm->uni[node].prob;
    int m = 1;
    for (int k = 2; k < len; k++) {
        int64_t i = ngram_table_find(lm->mid[k - 1], sizeof(struct ngram_mid), lm->slots[k - 1],
                                     lm->disp_max[k - 1], lm->mult[k - 1], node, ids[len - k]);
        if (i < 0)
            break;
        node = (uint32_t)i;
        p = lm->mid[k - 1][i].prob;
        m = k;
    }
    /* contexts ids[len-1-c .. len-2] of length c = m .. len-1 */
    float bo[NGRAM_ORDER_MAX];
    int have = 1;
    uint32_t cnode = ids[len - 2];
    bo[1] = lm->uni[cnode].backoff;
    for (int c = 2; c < len; c++) {
        int64_t i = ngram_table_find(lm->mid[c - 1], sizeof(struct ngram_mid), lm->slots[c - 1],
                                     lm->disp_max[c - 1], lm->mult[c - 1], cnode, ids[len - 1 - c]);
        if (i < 0)
            break;
        cnode = (uint32_t)i;
        bo[c] = lm->mid[c - 1][i].backoff;
        have = c;
    }
    for (int c = m; c < len && c <= have; c++)
        p += bo[c];
    return p;
}

static int blank_add(struct builder *b, const uint32_t *ids, int n)
{
    struct order_buf *o = &b->blank[n];
    if (o->n == o->cap && order_buf_reserve(o, n, o->cap ? o->cap * 2 : 16) != 0)
        return -1;
    memcpy(o->ids + o->n * (uint64_t)n, ids, (size_t)n * sizeof *ids);
    o->prob[o->n] = 0.0f;
    o->backoff[o->n] = 0.0f;
    o->line[o->n] = ARPA_BLANK_LINE;
    o->n++;
    return 0;
}

/* qsort has no context argument in C11 (and loads run in parallel): one comparator per order */
#define CMP_IDS(n)                                                                                 \
    static int cmp_ids##n(const void *a, const void *b)                                            \
    {                                                                                              \
        return memcmp(a, b, (n) * sizeof(uint32_t));                                               \
    }
CMP_IDS(2)
CMP_IDS(3)
CMP_IDS(4)
CMP_IDS(5)
CMP_IDS(6)
static int (*const CMP_BY_ORDER[NGRAM_ORDER_MAX + 1])(const void *, const void *) = {
    NULL, NULL, cmp_ids2, cmp_ids3, cmp_ids4, cmp_ids5, cmp_ids6};

/* Sort and deduplicate the blanks of order n (tuples compared bytewise: any total order will do,
 * uniqueness only needs equal tuples adjacent). */
static void blank_unique(struct order_buf *o, int n)
{
    if (o->n < 2)
        return;
    qsort(o->ids, o->n, (size_t)n * sizeof(uint32_t), CMP_BY_ORDER[n]);
    uint64_t w = 1;
    for (uint64_t i = 1; i < o->n; i++) {
        if (memcmp(o->ids + i * n, o->ids + (w - 1) * n, (size_t)n * sizeof(uint32_t)) != 0) {
            memmove(o->ids + w * n, o->ids + i * n, (size_t)n * sizeof(uint32_t));
            w++;
        }
    }
    o->n = w;
}

#define BUILD_OK 0        /* else build_tables' outcome is the order whose table overflowed */
#define BUILD_CHUNK 1024  /* entries whose suffix slots are found before inserting them */
#define BUILD_PREFETCH 16 /* inserts ahead whose home slot is prefetched */

/* Robin Hood insert of key (s, w) into table 'base' (stride bytes per slot, tag first).
 * Returns the slot, -1 on a duplicate key, -2 when a displacement would pass NGRAM_DISP_MAX.
 * 'payload' is the slot's bytes after the tag. */
static int64_t table_insert(unsigned char *base, size_t stride, uint64_t slots, uint32_t mult,
                            int top, uint32_t s, uint32_t w, const unsigned char *payload,
                            uint32_t *disp_max)
{
    uint32_t key = (w + 1u) << NGRAM_WORD_SHIFT;
    uint64_t i = top ? ngram_top_home(s, w, slots, mult, &key) : ngram_home(s, w, slots, mult);
    /* top-order tags keep bit 7 as part of the key (see ngram_top_home) */
    uint32_t mask = top ? ~0u : NGRAM_TAG_KEY_MASK;
    unsigned char cur[sizeof(struct ngram_mid)];
    memcpy(cur + sizeof(uint32_t), payload, stride - sizeof(uint32_t));
    uint32_t d = 0;
    int64_t placed = -1;
    for (;;) {
        unsigned char *slot = base + i * stride;
        uint32_t tag;
        memcpy(&tag, slot, sizeof tag);
        if (tag == 0) {
            uint32_t t = key | d;
            memcpy(cur, &t, sizeof t);
            memcpy(slot, cur, stride);
            if (d > *disp_max)
                *disp_max = d;
            return placed >= 0 ? placed : (int64_t)i;
        }
        if (placed < 0 && (tag & mask) == (key | d))
            return -1;
        uint32_t td = tag & NGRAM_DISP_MAX;
        if (td < d) {
            /* take the slot; carry the evicted entry on */
            unsigned char tmp[sizeof(struct ngram_mid)];
            memcpy(tmp, slot, stride);
            uint32_t t = key | d;
            memcpy(cur, &t, sizeof t);
            memcpy(slot, cur, stride);
            if (d > *disp_max)
                *disp_max = d;
            if (placed < 0)
                placed = (int64_t)i;
            memcpy(cur, tmp, stride);
            key = tag & ~(NGRAM_TAG_EXT | NGRAM_DISP_MAX);
            uint32_t ext = tag & NGRAM_TAG_EXT;
            key |= ext; /* the EXT bit travels with the entry */
            d = td;
        }
        if (++i == slots)
            i = 0;
        if (++d > NGRAM_DISP_MAX)
            return -2;
    }
}

static void set_ext(struct ngram_lm *lm, int n, uint32_t slot)
{
    if (n == 1)
        ((struct ngram_uni *)lm->uni)[slot].hash |= NGRAM_UNI_EXT;
    else
        ((struct ngram_mid *)lm->mid[n - 1])[slot].tag |= NGRAM_TAG_EXT;
}

static void free_tables(struct ngram_lm *lm)
{
    for (int n = 2; n <= NGRAM_ORDER_MAX; n++) {
        util_huge_free(lm->big[n], lm->big_len[n]);
        lm->big[n] = NULL;
        lm->mid[n - 1] = NULL;
    }
    lm->top = NULL;
    for (uint64_t i = 0; lm->uni && i < lm->slots[0]; i++)
        ((struct ngram_uni *)lm->uni)[i].hash &= ~NGRAM_UNI_EXT;
}

/* Build the tables of orders 2..order from b's n-grams (+ blanks). */
static int build_tables(struct builder *b, struct ngram_lm *lm, const double *load, int *outcome,
                        struct status_err *err)
{
    *outcome = BUILD_OK;
    b->missing = 0;
    for (int n = 2; n <= lm->order; n++)
        lm->blanks[n - 1] = b->blank[n].n; /* less the real n-grams found again below */
    for (int n = 2; n <= lm->order; n++) {
        struct order_buf *src[2] = {&b->ord[n], &b->blank[n]};
        uint64_t total = src[0]->n + src[1]->n;
        uint64_t slots = (uint64_t)ceil((double)total / load[n]) + 1;
        /* M_n >= M_{n-1} (M_N >= M_{N-1} / 2 at the top): see ngram_internal.h */
        uint64_t floor_slots = n < lm->order ? lm->slots[n - 2] : (lm->slots[n - 2] + 1) / 2;
        if (slots < floor_slots)
            slots = floor_slots;
        if (slots > NGRAM_TABLE_SLOTS_MAX)
            return status_set(err, STATUS_BAD_FORMAT, NULL, "%s: too many %d-grams (%llu)", b->name,
                              n, (unsigned long long)total);
        size_t stride = n < lm->order ? sizeof(struct ngram_mid) : sizeof(struct ngram_top);
        unsigned char *tab = util_huge_alloc(slots * stride);
        if (!tab)
            return status_set(err, STATUS_NO_MEMORY, NULL,
                              "%s: out of memory for the %d-gram table", b->name, n);
        lm->big[n] = tab;
        lm->big_len[n] = slots * stride;
        lm->slots[n - 1] = slots;
        lm->disp_max[n - 1] = 0;
        lm->mult[n - 1] = (uint32_t)(slots / lm->slots[n - 2]); /* 0: folded top order */
        if (n < lm->order)
            lm->mid[n - 1] = (const struct ngram_mid *)tab;
        else
            lm->top = (const struct ngram_top *)tab;
        for (int which = 0; which < 2; which++) {
            const struct order_buf *o = src[which];
            int64_t prev_node = -1;
            const uint32_t *prev_ids = NULL;
            int64_t node[BUILD_CHUNK];
            for (uint64_t k0 = 0; k0 < o->n; k0 += BUILD_CHUNK) {
                uint64_t kn = o->n - k0 < BUILD_CHUNK ? o->n - k0 : BUILD_CHUNK;
                /* pass A: the suffix slot of each entry. Runs share it (the input is sorted);
                 * the other walks go in lock-step, one prefetched probe per order. */
                uint64_t walk[BUILD_CHUNK];
                size_t nw = 0;
                for (uint64_t c = 0; c < kn; c++) {
                    const uint32_t *ids = o->ids + (k0 + c) * (uint64_t)n;
                    if (prev_ids &&
                        memcmp(prev_ids + 1, ids + 1, (size_t)(n - 1) * sizeof *ids) == 0) {
                        node[c] = -2; /* as the previous entry: filled below */
                    } else {
                        node[c] = ids[n - 1];
                        walk[nw++] = c;
                    }
                    prev_ids = ids;
                }
                for (int len = 2; len <= n - 1; len++) {
                    const struct ngram_mid *t = lm->mid[len - 1];
                    /* a sliding window of prefetches: a whole chunk at once overflows L1 */
                    for (size_t q = 0; q < nw + BUILD_PREFETCH; q++) {
                        if (q < nw && node[walk[q]] >= 0) {
                            uint64_t c = walk[q];
                            const uint32_t *ids = o->ids + (k0 + c) * (uint64_t)n;
                            __builtin_prefetch(
                                &t[ngram_home((uint32_t)node[c], ids[n - len], lm->slots[len - 1],
                                              lm->mult[len - 1])]);
                        }
                        if (q < BUILD_PREFETCH)
                            continue;
                        uint64_t c = walk[q - BUILD_PREFETCH];
                        if (node[c] < 0)
                            continue;
                        const uint32_t *ids = o->ids + (k0 + c) * (uint64_t)n;
                        int64_t f = ngram_table_find(t, sizeof *t, lm->slots[len - 1],
                                                     lm->disp_max[len - 1], lm->mult[len - 1],
                                                     (uint32_t)node[c], ids[n - len]);
                        if (f < 0) {
                            /* a pruned model: record every missing suffix as a blank */
                            b->missing = 1;
                            for (int l = len; l <= n - 1; l++)
                                if (blank_add(b, ids + n - l, l) != 0)
                                    return status_set(err, STATUS_NO_MEMORY, NULL,
                                                      "%s: out of memory", b->name);
                        }
                        node[c] = f;
                    }
                }
                for (uint64_t c = 0; c < kn; c++) {
                    if (node[c] == -2)
                        node[c] = c ? node[c - 1] : prev_node;
                }
                if (kn)
                    prev_node = node[kn - 1];
                /* pass B: insert, with the home slot of a later entry already on its way */
                for (uint64_t c = 0; c < kn; c++) {
                    if (c + BUILD_PREFETCH < kn && node[c + BUILD_PREFETCH] >= 0) {
                        /* the suffix slot whose EXT bit the insert sets */
                        uint32_t sn = (uint32_t)node[c + BUILD_PREFETCH];
                        __builtin_prefetch(n == 2 ? (const void *)&lm->uni[sn]
                                                  : (const void *)&lm->mid[n - 2][sn],
                                           1, 1);
                        const uint32_t *ahead = o->ids + (k0 + c + BUILD_PREFETCH) * (uint64_t)n;
                        uint32_t want;
                        uint64_t h = n == lm->order
                                         ? ngram_top_home((uint32_t)node[c + BUILD_PREFETCH],
                                                          ahead[0], slots, lm->mult[n - 1], &want)
                                         : ngram_home((uint32_t)node[c + BUILD_PREFETCH], ahead[0],
                                                      slots, lm->mult[n - 1]);
                        __builtin_prefetch(tab + h * stride, 1, 1);
                    }
                    if (node[c] < 0)
                        continue;
                    uint64_t k = k0 + c;
                    const uint32_t *ids = o->ids + k * (uint64_t)n;
                    float prob = which ? backed_off_prob(lm, ids, n) : o->prob[k];
                    unsigned char payload[2 * sizeof(float)];
                    memcpy(payload, &prob, sizeof prob);
                    memcpy(payload + sizeof prob, &o->backoff[k], sizeof(float));
                    int64_t at =
                        table_insert(tab, stride, slots, lm->mult[n - 1], n == lm->order,
                                     (uint32_t)node[c], ids[0], payload, &lm->disp_max[n - 1]);
                    if (at == -2) {
                        *outcome = n; /* this order overflowed */
                        return STATUS_OK;
                    }
                    if (at == -1 && which) {
                        /* a real n-gram that pass 1 skipped (its own suffix was missing then) */
                        lm->blanks[n - 1]--;
                        continue;
                    }
                    if (at == -1) {
                        /* find the earlier line for the message */
                        uint64_t first = 0;
                        for (uint64_t q = 0; q < k; q++)
                            if (memcmp(o->ids + q * (uint64_t)n, ids, (size_t)n * sizeof *ids) ==
                                0) {
                                first = o->line[q];
                                break;
                            }
                        return status_set(err, STATUS_BAD_FORMAT, NULL,
                                          "%s:%u: duplicate %d-gram (first at line %llu)", b->name,
                                          o->line[k], n, (unsigned long long)first);
                    }
                    set_ext(lm, n - 1, (uint32_t)node[c]);
                }
            }
        }
    }
    return STATUS_OK;
}

/* ---- entry point ---- */

static int find_special(struct ngram_lm *lm, const char *w, uint32_t *id)
{
    int64_t i = ngram_vocab_find(lm, w, strlen(w));
    if (i < 0)
        return 0;
    *id = (uint32_t)i;
    return 1;
}

int ngram_arpa_build(const char *name, const char *buf, size_t len, struct ngram_lm *lm,
                     struct status_err *err)
{
    struct builder b;
    memset(&b, 0, sizeof b);
    b.name = name;
    struct reader r = {.name = name, .start = buf, .p = buf, .end = buf + len, .line = 0};
    progress_start(&r.prog, name, len);
    int rc = parse_counts(&r, &b, lm, len, err);
    if (rc != STATUS_OK)
        goto fail;
    /* vocabulary: +1 for a <unk> we may have to add */
    uint64_t vslots = (uint64_t)ceil((double)(lm->counts[0] + 1) / NGRAM_VOCAB_LOAD) + 1;
    if (vslots > NGRAM_SLOTS_MAX) {
        rc = status_set(err, STATUS_BAD_FORMAT, NULL,
                        "%s: vocabulary of %llu words is above the limit", name,
                        (unsigned long long)lm->counts[0]);
        goto fail;
    }
    lm->slots[0] = vslots;
    b.uni = util_calloc(vslots, sizeof *b.uni);
    b.pool_cap = 1 + lm->counts[0] * 8;
    b.pool = util_malloc(b.pool_cap);
    if (!b.uni || !b.pool) {
        rc = status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", name);
        goto fail;
    }
    b.pool[0] = '\0'; /* offset 0 marks an empty slot */
    b.pool_len = 1;
    lm->uni = b.uni;
    lm->pool = b.pool;
    for (int n = 1; n <= lm->order; n++) {
        rc = parse_section(&r, &b, lm, n, err);
        if (rc != STATUS_OK)
            goto fail;
    }
    {
        const char *s, *e;
        if (!next_nonblank(&r, &s, &e)) {
            rc = status_set(err, STATUS_BAD_FORMAT, NULL, "%s:%llu: truncated file: no \\end\\",
                            name, (unsigned long long)r.line);
            goto fail;
        }
        if (!line_is(s, e, "\\end\\")) {
            rc = status_set(err, STATUS_BAD_FORMAT, NULL,
                            *s == '\\' ? "%s:%llu: expected \\end\\"
                                       : "%s:%llu: more %d-grams than the header's count of %llu",
                            name, (unsigned long long)r.line, lm->order,
                            (unsigned long long)lm->counts[lm->order - 1]);
            goto fail;
        }
    }
    if (!find_special(lm, "<s>", &lm->bos) || !find_special(lm, "</s>", &lm->eos)) {
        rc = status_set(err, STATUS_BAD_FORMAT, NULL, "%s: the 1-grams lack <s> or </s>", name);
        goto fail;
    }
    lm->has_unk = find_special(lm, "<unk>", &lm->unk);
    if (!lm->has_unk) {
        int64_t slot;
        if (vocab_add(&b, lm, "<unk>", 5, NGRAM_UNK_MISSING_LOG10, 0.0f, &slot) != 0) {
            rc = status_set(err, STATUS_NO_MEMORY, NULL, "%s: out of memory", name);
            goto fail;
        }
        lm->unk = (uint32_t)slot;
    }
    lm->vocab = lm->counts[0] + (lm->has_unk ? 0 : 1);
    double load[NGRAM_ORDER_MAX + 1];
    for (int n = 0; n <= NGRAM_ORDER_MAX; n++)
        load[n] = NGRAM_LOAD_FACTOR;
    for (int pass = 0;; pass++) {
        int outcome;
        rc = build_tables(&b, lm, load, &outcome, err);
        if (rc != STATUS_OK)
            goto fail;
        if (outcome != BUILD_OK) {
            /* displacements past NGRAM_DISP_MAX: give that order more room and rebuild */
            free_tables(lm);
            load[outcome] *= NGRAM_LOAD_SHRINK;
            if (load[outcome] < NGRAM_LOAD_FACTOR_MIN) {
                rc = status_set(err, STATUS_INTERNAL, NULL, "%s: hash tables would not settle",
                                name);
                goto fail;
            }
            continue;
        }
        if (!b.missing)
            break;
        if (pass > 0 && b.missing) {
            rc = status_set(err, STATUS_INTERNAL, NULL, "%s: blanks did not close the model", name);
            goto fail;
        }
        /* pruned model: rebuild with the missing suffixes inserted as blanks */
        for (int n = 2; n < lm->order; n++) {
            blank_unique(&b.blank[n], n);
            lm->blanks[n - 1] = b.blank[n].n;
        }
        free_tables(lm);
    }
    for (int n = 2; n <= NGRAM_ORDER_MAX; n++) {
        order_buf_free(&b.ord[n]);
        order_buf_free(&b.blank[n]);
    }
    /* shrink the pool to fit */
    char *np = util_realloc(b.pool, b.pool_len);
    if (np)
        b.pool = np;
    lm->pool = b.pool;
    lm->pool_len = b.pool_len;
    lm->own[0] = b.uni;
    lm->own[1] = b.pool;
    lm->bytes = lm->pool_len + lm->slots[0] * sizeof(struct ngram_uni);
    for (int n = 2; n <= lm->order; n++)
        lm->bytes += lm->slots[n - 1] *
                     (n < lm->order ? sizeof(struct ngram_mid) : sizeof(struct ngram_top));
    return STATUS_OK;
fail:
    for (int n = 2; n <= NGRAM_ORDER_MAX; n++) {
        order_buf_free(&b.ord[n]);
        order_buf_free(&b.blank[n]);
    }
    free_tables(lm);
    free(b.uni);
    free(b.pool);
    lm->uni = NULL;
    lm->pool = NULL;
    return rc;
}
