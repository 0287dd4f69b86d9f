/* wordpiece.c: BERT's WordPiece encoder as llama.cpp runs it on a GGUF vocabulary
 * (tokenizer.ggml.model = "bert"): the text is NFD-reduced (accents dropped: each code
 * point becomes the first of its canonical decomposition), lowercased, split on whitespace
 * with controls dropped, and every punctuation mark, ASCII symbol and CJK ideograph made a
 * word of its own. Each word, with U+2581 before it (the converter's word-start mark),
 * is matched greedily longest-first against the vocabulary; a word with any unmatched
 * stretch becomes [UNK] whole. */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

#define WPM_MARK "\xE2\x96\x81"
#define WPM_MARK_LEN 3

static uint32_t wpm_nfd(uint32_t c)
{
    size_t lo = 0, hi = VOCAB_N_NFD;
    while (lo < hi) { /* the last run starting at or before c */
        size_t mid = (lo + hi) / 2;
        if (VOCAB_NFD[mid].first <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && c <= VOCAB_NFD[lo - 1].last ? VOCAB_NFD[lo - 1].to : c;
}

static uint32_t wpm_lower(uint32_t c)
{
    size_t lo = 0, hi = VOCAB_N_LOWER;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (VOCAB_LOWER[mid].from < c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < VOCAB_N_LOWER && VOCAB_LOWER[lo].from == c ? VOCAB_LOWER[lo].to : c;
}

static int wpm_control(uint32_t c)
{
    size_t lo = 0, hi = VOCAB_N_CTRL;
    while (lo < hi) { /* runs before c: odd count means inside a control run */
        size_t mid = (lo + hi) / 2;
        if (VOCAB_CTRL[mid] <= c)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (int)(lo & 1);
}

static int wpm_cjk(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) || /* as HF's */
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Match one word (buf[0..n) starting with the mark) longest-first; [UNK] if any stretch
 * has no token. */
static int wpm_word(const struct vocab *v, const char *buf, size_t n, struct idvec *out)
{
    if (n <= WPM_MARK_LEN)
        return 0;
    const size_t start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = n - i > v->tok_max ? i + v->tok_max : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = strtab_find(&v->tok.index, buf + i, j - i)) >= 0)
                break;
        if (id < 0) {
            out->n = start;
            break;
        }
        if (idvec_push(out, id) != 0)
            return -1;
        i = j;
    }
    if (out->n == start && v->unk >= 0 && idvec_push(out, v->unk) != 0)
        return -1;
    return 0;
}

int wpm_encode(const struct vocab *v, const char *text, size_t len, struct idvec *out)
{
    uint32_t *cpt = malloc((len ? len : 1) * sizeof *cpt);
    char *buf = malloc(4 * len + WPM_MARK_LEN + 1); /* one word at most: every byte a cpt */
    int rc = -1;
    if (!cpt || !buf)
        goto done;
    const size_t nc = unicode_decode(text, len, cpt);
    memcpy(buf, WPM_MARK, WPM_MARK_LEN);
    size_t w = WPM_MARK_LEN;
    for (size_t k = 0; k < nc; k++) {
        const uint32_t c = wpm_nfd(cpt[k]);
        const uint8_t f = unicode_flags(c);
        if (f & UFLAG_WS) {
            if (wpm_word(v, buf, w, out) != 0)
                goto done;
            w = WPM_MARK_LEN;
            continue;
        }
        if (c == 0 || c == 0xFFFD || wpm_control(c))
            continue;
        const uint8_t cat = f & UFLAG_CAT;
        char one[4];
        const size_t ol = unicode_encode(wpm_lower(c), one);
        if (cat == UCAT_P || (c < 0x7F && cat == UCAT_S) || wpm_cjk(c)) {
            if (wpm_word(v, buf, w, out) != 0)
                goto done;
            memcpy(buf + WPM_MARK_LEN, one, ol);
            if (wpm_word(v, buf, WPM_MARK_LEN + ol, out) != 0)
                goto done;
            w = WPM_MARK_LEN;
        } else {
            memcpy(buf + w, one, ol);
            w += ol;
        }
    }
    rc = wpm_word(v, buf, w, out);
done:
    free(cpt);
    free(buf);
    return rc;
}
