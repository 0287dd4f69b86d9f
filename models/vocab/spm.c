/* spm.c: SentencePiece (BPE with scores) as llama.cpp's llm_tokenizer_spm_session runs
 * it: start from UTF-8 characters, merge the adjacent pair whose joined text is the
 * highest-scoring token (leftmost on ties) until none is left; what is not a token falls
 * back to <0xNN> byte tokens. The caller has already turned spaces into U+2581. */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

struct sym {
    size_t off, n;
    int prev, next;
};

static int try_bigram(const struct vocab *v, const char *text, struct sym *s, struct pairheap *h,
                      int left, int right)
{
    if (left < 0 || right < 0)
        return 0;
    size_t size = s[left].n + s[right].n; /* adjacent symbols are contiguous in text */
    int32_t id = strtab_find(&v->tok.index, text + s[left].off, size);
    if (id < 0)
        return 0;
    /* the highest score first: the smallest key */
    return pairheap_push(h, (struct vocab_pair){.key = -(double)v->score[id], .left = left,
                                                .right = right, .size = size});
}

int spm_encode(const struct vocab *v, const char *text, size_t len, struct idvec *out)
{
    int rc = -1;
    struct pairheap h = {0};
    struct sym *s = malloc((len ? len : 1) * sizeof *s);
    if (!s)
        return -1;
    int n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t cl = unicode_len_utf8((unsigned char)text[off]);
        if (cl > len - off)
            cl = len - off;
        s[n] = (struct sym){.off = off, .n = cl, .prev = n - 1, .next = off + cl < len ? n + 1 : -1};
        off += cl;
    }
    for (int i = 1; i < n; i++)
        if (try_bigram(v, text, s, &h, i - 1, i) != 0)
            goto done;
    while (h.n > 0) {
        struct vocab_pair b = pairheap_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s[r->next].prev = b.left;
        if (try_bigram(v, text, s, &h, l->prev, b.left) != 0 ||
            try_bigram(v, text, s, &h, b.left, l->next) != 0)
            goto done;
    }
    /* Every merged symbol is a token; single characters may not be: bytes then. */
    for (int i = n > 0 ? 0 : -1; i >= 0; i = s[i].next) {
        int32_t id = strtab_find(&v->tok.index, text + s[i].off, s[i].n);
        if (id >= 0) {
            if (idvec_push(out, id) != 0)
                goto done;
            continue;
        }
        for (size_t k = 0; k < s[i].n; k++) {
            int32_t b = v->byte_tok[(unsigned char)text[s[i].off + k]];
            if (b < 0)
                b = v->unk; /* llama.cpp throws here; a vocabulary without bytes is odd */
            if (b >= 0 && idvec_push(out, b) != 0)
                goto done;
        }
    }
    rc = 0;
done:
    free(s);
    free(h.a);
    return rc;
}
