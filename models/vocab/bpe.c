/* bpe.c: byte-level BPE as llama.cpp's llm_tokenizer_bpe_session runs it: pre-tokenize
 * into words, map each byte to GPT-2's printable code point, then merge the adjacent pair
 * of lowest merge rank (leftmost on ties) until none is left. */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- GPT-2's bytes_to_unicode ---- */

static int byte_is_printable(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
}

/* The others take 256, 257, ... in byte order: 0..32, then 127..160, then 173. */
#define BPE_LOW_N 33   /* bytes 0..32 */
#define BPE_MID_N 34   /* bytes 127..160 */
uint32_t bpe_byte_to_cpt(unsigned char b)
{
    if (byte_is_printable(b))
        return b;
    if (b <= 32)
        return 256u + b;
    if (b >= 127 && b <= 160)
        return 256u + BPE_LOW_N + (b - 127u);
    return 256u + BPE_LOW_N + BPE_MID_N; /* 173, the soft hyphen */
}

int bpe_cpt_to_byte(uint32_t cpt)
{
    if (cpt < 256)
        return byte_is_printable(cpt) ? (int)cpt : -1;
    uint32_t k = cpt - 256;
    if (k < BPE_LOW_N)
        return (int)k;
    if (k < BPE_LOW_N + BPE_MID_N)
        return (int)(127 + k - BPE_LOW_N);
    return k == BPE_LOW_N + BPE_MID_N ? 173 : -1;
}

/* ---- merges ---- */

int32_t bpe_merge_rank(const struct vocab *v, const char *l, size_t nl, const char *r, size_t nr,
                       char *scratch)
{
    memcpy(scratch, l, nl);
    scratch[nl] = ' ';
    memcpy(scratch + nl + 1, r, nr);
    int32_t rank = strtab_find(&v->merge.index, scratch, nl + 1 + nr);
    if (rank < 0 || v->merge_left_len[rank] != nl)
        return -1; /* absent, or the same bytes split elsewhere */
    return rank;
}

/* ---- one word ---- */

struct sym {
    size_t off, n; /* bytes of the encoded word */
    int prev, next;
};

struct bpe_work {
    const struct vocab *v;
    const char *w; /* the encoded word */
    struct sym *s;
    struct pairheap heap;
    char *scratch;
};

static int add_bigram(struct bpe_work *k, int left, int right)
{
    if (left < 0 || right < 0)
        return 0;
    const struct sym *l = &k->s[left], *r = &k->s[right];
    int32_t rank = bpe_merge_rank(k->v, k->w + l->off, l->n, k->w + r->off, r->n, k->scratch);
    if (rank < 0)
        return 0;
    /* the lowest merge rank first */
    return pairheap_push(&k->heap, (struct vocab_pair){.key = rank, .left = left, .right = right,
                                                       .size = l->n + r->n});
}

static int emit(const struct vocab *v, const char *p, size_t n, struct idvec *out)
{
    int32_t id = strtab_find(&v->tok.index, p, n);
    if (id >= 0)
        return idvec_push(out, id);
    for (size_t i = 0; i < n; i++) { /* llama.cpp: single bytes that are tokens, else dropped */
        id = strtab_find(&v->tok.index, p + i, 1);
        if (id >= 0 && idvec_push(out, id) != 0)
            return -1;
    }
    return 0;
}

/* Merge the encoded word w[0..len) and append its tokens. */
static int encode_word(struct bpe_work *k, const char *w, size_t len, struct idvec *out)
{
    const struct vocab *v = k->v;
    if (v->ignore_merges && strtab_find(&v->tok.index, w, len) >= 0)
        return emit(v, w, len, out);
    k->w = w;
    k->heap.n = 0;
    int n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t cl = unicode_len_utf8((unsigned char)w[off]);
        if (cl > len - off)
            cl = len - off;
        k->s[n] = (struct sym){.off = off, .n = cl, .prev = n - 1, .next = off + cl < len ? n + 1 : -1};
        off += cl;
    }
    for (int i = 1; i < n; i++)
        if (add_bigram(k, i - 1, i) != 0)
            return -1;
    while (k->heap.n > 0) {
        struct vocab_pair b = pairheap_pop(&k->heap);
        struct sym *l = &k->s[b.left], *r = &k->s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue; /* stale: one side changed since */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            k->s[r->next].prev = b.left;
        if (add_bigram(k, l->prev, b.left) != 0 || add_bigram(k, b.left, l->next) != 0)
            return -1;
    }
    for (int i = 0; i >= 0 && n > 0; i = k->s[i].next)
        if (emit(v, w + k->s[i].off, k->s[i].n, out) != 0)
            return -1;
    return 0;
}

int bpe_encode(const struct vocab *v, const char *text, size_t len, struct idvec *out)
{
    int rc = -1;
    size_t *bounds = NULL;
    uint32_t *cpts = malloc((len ? len : 1) * sizeof *cpts);
    /* an encoded word: each byte of a code point's UTF-8 becomes a code point of at most
     * 2 UTF-8 bytes; a code point is at most 4 bytes (U+FFFD for one bad byte: 3) */
    char *enc = malloc(8 * (len ? len : 1) + 8);
    struct bpe_work k = {.v = v};
    k.s = malloc((8 * len + 8) * sizeof *k.s);
    k.scratch = malloc(2 * (8 * len + 8) + 2);
    if (!cpts || !enc || !k.s || !k.scratch)
        goto done;
    size_t n = unicode_decode(text, len, cpts);
    long nw = pretok_split(v->pre, cpts, n, &bounds);
    if (nw < 0)
        goto done;
    size_t a = 0;
    for (long w = 0; w < nw; w++) {
        size_t el = 0;
        for (size_t i = a; i < bounds[w]; i++) {
            char u[4];
            size_t ul = unicode_encode(cpts[i], u);
            for (size_t j = 0; j < ul; j++)
                el += unicode_encode(bpe_byte_to_cpt((unsigned char)u[j]), enc + el);
        }
        if (el > 0 && encode_word(&k, enc, el, out) != 0)
            goto done;
        a = bounds[w];
    }
    rc = 0;
done:
    free(cpts);
    free(enc);
    free(bounds);
    free(k.s);
    free(k.scratch);
    free(k.heap.a);
    return rc;
}
