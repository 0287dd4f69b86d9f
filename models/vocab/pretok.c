/* pretok.c: the byte-level BPE pre-tokenizers llama.cpp names by tokenizer.ggml.pre, as
 * hand-written matchers over code points (no regex engine). Each pre-tokenizer is a list
 * of steps; a step splits every current word at its matches, keeping the text between
 * matches as words too (llama.cpp's unicode_regex_split). Also the UTF-8 helpers. */
#include "vocab_internal.h"

#include <stdlib.h>
#include <string.h>

#define UTF8_REPLACEMENT_CPT 0xFFFD

/* ---- Unicode ---- */

uint8_t unicode_flags(uint32_t cpt)
{
    if (cpt > UCPT_MAX)
        return 0;
    size_t lo = 0, hi = VOCAB_N_URANGES; /* last range with first <= cpt */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (VOCAB_URANGES[mid].first <= cpt)
            lo = mid;
        else
            hi = mid;
    }
    return VOCAB_URANGES[lo].flags;
}

size_t unicode_len_utf8(unsigned char lead)
{
    static const uint8_t LEN[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return LEN[lead >> 4];
}

size_t unicode_decode(const char *s, size_t len, uint32_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        size_t need = c < 0x80 ? 1 : (c & 0x40) == 0 ? 0 : (c & 0x20) == 0 ? 2
                                 : (c & 0x10) == 0  ? 3 : (c & 0x08) == 0 ? 4 : 0;
        int ok = need > 0 && need <= len - i;
        for (size_t k = 1; ok && k < need; k++)
            ok = (u[i + k] & 0xC0) == 0x80;
        if (!ok) { /* llama.cpp: one byte becomes U+FFFD */
            out[n++] = UTF8_REPLACEMENT_CPT;
            i++;
            continue;
        }
        uint32_t cpt = need == 1 ? c : need == 2 ? c & 0x1Fu : need == 3 ? c & 0x0Fu : c & 0x07u;
        for (size_t k = 1; k < need; k++)
            cpt = (cpt << 6) | (u[i + k] & 0x3Fu);
        out[n++] = cpt;
        i += need;
    }
    return n;
}

size_t unicode_encode(uint32_t cpt, char *out)
{
    if (cpt > UCPT_MAX)
        cpt = UTF8_REPLACEMENT_CPT;
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (char)(0xC0 | (cpt >> 6));
        out[1] = (char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xE0 | (cpt >> 12));
        out[1] = (char)(0x80 | ((cpt >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cpt >> 18));
    out[1] = (char)(0x80 | ((cpt >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cpt >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cpt & 0x3F));
    return 4;
}

/* ---- character classes ---- */

/* The flags the hand-written GPT-2 / Llama 3 splitters use (llama.cpp's
 * unicode_cpt_flags_from_cpt). */
static int is_ws(uint32_t c) { return (unicode_flags(c) & UFLAG_WS) != 0; }
static int cat_of(uint32_t c) { return unicode_flags(c) & UFLAG_CAT; }
static int is_letter(uint32_t c) { return cat_of(c) == UCAT_L; }
static int is_number(uint32_t c) { return cat_of(c) == UCAT_N; }

/* The classes of the steps llama.cpp runs through std::regex. There, \s is C's isspace
 * on ASCII plus every non-ASCII whitespace (rewritten to \v first); \p{X} on ASCII is the
 * ASCII members of X, and on other code points the category unless it is whitespace. */
static int re_space(uint32_t c)
{
    return c < 0x80 ? (c == ' ' || (c >= '\t' && c <= '\r')) : is_ws(c);
}

static int re_cat(uint32_t c, int cat)
{
    if (c < 0x80) {
        switch (cat) {
        case UCAT_L: return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        case UCAT_N: return c >= '0' && c <= '9';
        case UCAT_P: return c < 0x80 && cat_of(c) == UCAT_P; /* the table agrees on ASCII */
        default: return 0;
        }
    }
    return !is_ws(c) && cat_of(c) == cat;
}

/* Non-ASCII whitespace never matches a literal range (std::wregex saw it as \v). */
static int in_ranges(uint32_t c, const uint32_t (*r)[2], size_t n)
{
    if (c >= 0x80 && is_ws(c))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (c >= r[i][0] && c <= r[i][1])
            return 1;
    return 0;
}

/* deepseek-llm's letter class, code point ranges of its regex, in its order */
static const uint32_t DSLLM_LETTERS[][2] = {
    {0x0041, 0x005A}, {0x0061, 0x007A}, {0x00B5, 0x00B5}, {0x00C0, 0x00D6}, {0x00D8, 0x00F6},
    {0x00F8, 0x01BA}, {0x01BC, 0x01BF}, {0x01C4, 0x0293}, {0x0295, 0x02AF}, {0x0370, 0x0373},
    {0x0376, 0x0377}, {0x037B, 0x037D}, {0x037F, 0x037F}, {0x0386, 0x0386}, {0x0388, 0x038A},
    {0x038C, 0x038C}, {0x038E, 0x03A1}, {0x03A3, 0x03F5}, {0x03F7, 0x0481}, {0x048A, 0x052F},
    {0x0531, 0x0556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3},
    {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};
/* deepseek-llm's punctuation class: ASCII !-/ and :-~, full-width forms, quotes, 、。 */
static const uint32_t DSLLM_PUNCT[][2] = {{0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
                                          {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002}};
/* deepseek's CJK class: 一-龥, U+0800-一, Hangul 가-U+D7FF */
static const uint32_t DS_CJK[][2] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};

enum cls {
    CLS_CR_LF,          /* [\r\n] */
    CLS_NUMBER,         /* \p{N} */
    CLS_LETTER,         /* \p{L} */
    CLS_PUNCT,          /* \p{P} */
    CLS_PUNCT_SYMS,     /* [\p{P}\$\+<=>\^~\|] */
    CLS_PUNCT_SYMS_BQ,  /* [\p{P}\$\+<=>\^~\|`] (falcon) */
    CLS_DSLLM_LETTERS,
    CLS_DSLLM_PUNCT,
    CLS_DS_CJK,
    CLS_ASCII_DIGIT,
};

static int in_cls(enum cls k, uint32_t c)
{
    switch (k) {
    case CLS_CR_LF: return c == '\r' || c == '\n';
    case CLS_NUMBER: return re_cat(c, UCAT_N);
    case CLS_LETTER: return re_cat(c, UCAT_L);
    case CLS_PUNCT: return re_cat(c, UCAT_P);
    case CLS_PUNCT_SYMS:
        return re_cat(c, UCAT_P) || (c < 0x80 && c && strchr("$+<=>^~|", (int)c));
    case CLS_PUNCT_SYMS_BQ:
        return re_cat(c, UCAT_P) || (c < 0x80 && c && strchr("$+<=>^~|`", (int)c));
    case CLS_DSLLM_LETTERS:
        return in_ranges(c, DSLLM_LETTERS, sizeof DSLLM_LETTERS / sizeof DSLLM_LETTERS[0]);
    case CLS_DSLLM_PUNCT:
        return in_ranges(c, DSLLM_PUNCT, sizeof DSLLM_PUNCT / sizeof DSLLM_PUNCT[0]);
    case CLS_DS_CJK: return in_ranges(c, DS_CJK, sizeof DS_CJK / sizeof DS_CJK[0]);
    case CLS_ASCII_DIGIT: return c >= '0' && c <= '9';
    }
    return 0;
}

/* ---- steps ---- */

enum step_kind {
    STEP_GPT2,         /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    STEP_LLAMA3,       /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|... */
    STEP_ONE,          /* X */
    STEP_RUN,          /* X+ */
    STEP_SPACE_RUN,    /* \s?X+ */
    STEP_THREE,        /* XXX */
    STEP_TRAILING_WS,  /* \s+$ */
};

struct step {
    enum step_kind kind;
    enum cls cls;
    int digits_max; /* STEP_LLAMA3: 3 for llama3, 1 for qwen2 */
};

#define STEPS_MAX 6
struct pretok_def {
    const char *name;
    struct step steps[STEPS_MAX];
    int n_steps;
};

static const struct pretok_def DEFS[] = {
    [PRE_DEFAULT] = {"default",
                     {{STEP_RUN, CLS_PUNCT_SYMS, 0}, {STEP_GPT2, 0, 0}, {STEP_RUN, CLS_NUMBER, 0},
                      {STEP_THREE, CLS_ASCII_DIGIT, 0}},
                     4},
    [PRE_GPT2] = {"gpt-2", {{STEP_GPT2, 0, 0}}, 1},
    [PRE_LLAMA3] = {"llama3", {{STEP_LLAMA3, 0, 3}}, 1},
    [PRE_QWEN2] = {"qwen2", {{STEP_LLAMA3, 0, 1}}, 1},
    [PRE_DEEPSEEK_LLM] = {"deepseek-llm",
                          {{STEP_ONE, CLS_CR_LF, 0},
                           {STEP_SPACE_RUN, CLS_DSLLM_LETTERS, 0},
                           {STEP_SPACE_RUN, CLS_DSLLM_PUNCT, 0},
                           {STEP_TRAILING_WS, 0, 0},
                           {STEP_RUN, CLS_DS_CJK, 0},
                           {STEP_RUN, CLS_NUMBER, 0}},
                          6},
    [PRE_DEEPSEEK_CODER] = {"deepseek-coder",
                            {{STEP_ONE, CLS_CR_LF, 0},
                             {STEP_SPACE_RUN, CLS_LETTER, 0},
                             {STEP_SPACE_RUN, CLS_PUNCT, 0},
                             {STEP_RUN, CLS_DS_CJK, 0},
                             {STEP_ONE, CLS_NUMBER, 0}},
                            5},
    [PRE_FALCON] = {"falcon",
                    {{STEP_RUN, CLS_PUNCT_SYMS_BQ, 0}, {STEP_GPT2, 0, 0},
                     {STEP_THREE, CLS_ASCII_DIGIT, 0}},
                    3},
    [PRE_STARCODER] = {"starcoder", {{STEP_ONE, CLS_NUMBER, 0}, {STEP_GPT2, 0, 0}}, 2},
};

/* tokenizer.ggml.pre names -> pre-tokenizer, as llama.cpp's llama_vocab::load groups them */
static const struct {
    const char *name;
    enum vocab_pre pre;
} NAMES[] = {
    {"default", PRE_DEFAULT},         {"llama3", PRE_LLAMA3},
    {"llama-v3", PRE_LLAMA3},         {"llama-bpe", PRE_LLAMA3},
    {"falcon3", PRE_LLAMA3},          {"dbrx", PRE_LLAMA3},
    {"smaug-bpe", PRE_LLAMA3},        {"deepseek-llm", PRE_DEEPSEEK_LLM},
    {"deepseek-coder", PRE_DEEPSEEK_CODER}, {"falcon", PRE_FALCON},
    {"mpt", PRE_GPT2},                {"starcoder", PRE_STARCODER},
    {"gpt-2", PRE_GPT2},              {"phi-2", PRE_GPT2},
    {"jina-es", PRE_GPT2},            {"jina-de", PRE_GPT2},
    {"gigachat", PRE_GPT2},           {"jina-v1-en", PRE_GPT2},
    {"jina-v2-es", PRE_GPT2},         {"jina-v2-de", PRE_GPT2},
    {"jina-v2-code", PRE_GPT2},       {"roberta-bpe", PRE_GPT2},
    {"olmo", PRE_GPT2},               {"jais", PRE_GPT2},
    {"refact", PRE_STARCODER},        {"command-r", PRE_STARCODER},
    {"smollm", PRE_STARCODER},        {"codeshell", PRE_STARCODER},
    {"exaone", PRE_STARCODER},        {"minerva-7b", PRE_STARCODER},
    {"qwen2", PRE_QWEN2},             {"deepseek-r1-qwen", PRE_QWEN2},
    {"stablelm2", PRE_QWEN2},
};

int pretok_lookup(const char *name, enum vocab_pre *pre, const char **canon, int *ignore_merges,
                  int *add_bos)
{
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        if (strcmp(name, NAMES[i].name) != 0)
            continue;
        *pre = NAMES[i].pre;
        *canon = NAMES[i].name;
        int l3 = strcmp(name, "llama3") == 0 || strcmp(name, "llama-v3") == 0 ||
                 strcmp(name, "llama-bpe") == 0 || strcmp(name, "falcon3") == 0;
        *ignore_merges = l3;
        *add_bos = l3;
        return 0;
    }
    return -1;
}

/* Output of a step: word lengths (in code points) appended to a growing array. */
struct lens {
    size_t *a;
    size_t n, cap;
    int oom;
};

static void add_len(struct lens *o, size_t len)
{
    if (len == 0 || o->oom)
        return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        size_t *a = realloc(o->a, cap * sizeof *a);
        if (!a) {
            o->oom = 1;
            return;
        }
        o->a = a;
        o->cap = cap;
    }
    o->a[o->n++] = len;
}

#define OUT_OF_RANGE 0xFFFFFFFFu

/* llama.cpp's unicode_regex_split_custom_gpt2 / _llama3 on the word [a, b). */
static void split_custom(const uint32_t *c, size_t a, size_t b, int llama3, int digits_max,
                         struct lens *o)
{
#define CPT(p) ((p) >= a && (p) < b ? c[p] : OUT_OF_RANGE)
#define IN(p) ((p) >= a && (p) < b)
#define LET(p) (IN(p) && is_letter(c[p]))
#define NUM(p) (IN(p) && is_number(c[p]))
#define WS(p) (IN(p) && is_ws(c[p]))
    size_t prev = a, pos = a;
    while (pos < b) {
        const uint32_t cpt = c[pos];
        if (cpt == '\'' && pos + 1 < b) {
            uint32_t n1 = CPT(pos + 1);
            if (llama3 && n1 >= 'A' && n1 <= 'Z')
                n1 += 32;
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                pos += 2;
                add_len(o, pos - prev);
                prev = pos;
                continue;
            }
            if (pos + 2 < b) {
                uint32_t n2 = CPT(pos + 2);
                if (llama3 && n2 >= 'A' && n2 <= 'Z')
                    n2 += 32;
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    pos += 3;
                    add_len(o, pos - prev);
                    prev = pos;
                    continue;
                }
            }
        }
        if (llama3) {
            /* [^\r\n\p{L}\p{N}]?\p{L}+ */
            if (!(cpt == '\r' || cpt == '\n' || is_number(cpt)) && (is_letter(cpt) || LET(pos + 1))) {
                pos++;
                while (LET(pos))
                    pos++;
                add_len(o, pos - prev);
                prev = pos;
                continue;
            }
            /* \p{N}{1,digits_max} */
            if (is_number(cpt)) {
                size_t ini = pos;
                while (NUM(pos)) {
                    if (++pos - ini >= (size_t)digits_max) {
                        add_len(o, pos - prev);
                        prev = pos;
                        ini = pos;
                    }
                }
                add_len(o, pos - prev);
                prev = pos;
                continue;
            }
            /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
            size_t q = pos + (cpt == ' ');
            if (IN(q) && !WS(q) && !LET(q) && !NUM(q)) {
                pos = q;
                while (IN(pos) && !WS(pos) && !LET(pos) && !NUM(pos))
                    pos++;
                while (CPT(pos) == '\r' || CPT(pos) == '\n')
                    pos++;
                add_len(o, pos - prev);
                prev = pos;
                continue;
            }
        } else {
            size_t q = pos + (cpt == ' '); /* ' ?' before each of the three classes */
            if (LET(q) || NUM(q) || (IN(q) && !WS(q))) {
                int want = LET(q) ? UCAT_L : NUM(q) ? UCAT_N : -1;
                pos = q;
                if (want == UCAT_L)
                    while (LET(pos))
                        pos++;
                else if (want == UCAT_N)
                    while (NUM(pos))
                        pos++;
                else
                    while (IN(pos) && !WS(pos) && !LET(pos) && !NUM(pos))
                        pos++;
                add_len(o, pos - prev);
                prev = pos;
                continue;
            }
        }
        size_t nws = 0, last_crlf = 0;
        while (WS(pos + nws)) {
            uint32_t w = c[pos + nws];
            if (llama3 && (w == '\r' || w == '\n'))
                last_crlf = pos + nws + 1;
            nws++;
        }
        if (last_crlf > 0) { /* \s*[\r\n]+ */
            pos = last_crlf;
        } else if (nws > 1 && IN(pos + nws)) { /* \s+(?!\S) */
            pos += nws - 1;
        } else if (nws > 0) { /* \s+ */
            pos += nws;
        } else {
            pos++; /* no match: one code point alone */
        }
        add_len(o, pos - prev);
        prev = pos;
    }
#undef CPT
#undef IN
#undef LET
#undef NUM
#undef WS
}

/* Length of the match of a simple step starting exactly at i in [a, b), 0 if none. */
static size_t match_at(const struct step *s, const uint32_t *c, size_t i, size_t b)
{
    switch (s->kind) {
    case STEP_ONE: return in_cls(s->cls, c[i]) ? 1 : 0;
    case STEP_RUN: {
        size_t j = i;
        while (j < b && in_cls(s->cls, c[j]))
            j++;
        return j - i;
    }
    case STEP_SPACE_RUN: {
        size_t j = i;
        if (re_space(c[j]) && j + 1 < b && in_cls(s->cls, c[j + 1]))
            j++;
        size_t k = j;
        while (k < b && in_cls(s->cls, c[k]))
            k++;
        return k > j ? k - i : 0;
    }
    case STEP_THREE:
        return i + 3 <= b && in_cls(s->cls, c[i]) && in_cls(s->cls, c[i + 1]) &&
                       in_cls(s->cls, c[i + 2])
                   ? 3
                   : 0;
    default: return 0;
    }
}

/* One step over every current word: matches and the gaps between them become words. */
static void run_step(const struct step *s, const uint32_t *c, const struct lens *in, struct lens *o)
{
    size_t a = 0;
    for (size_t w = 0; w < in->n; w++) {
        const size_t b = a + in->a[w];
        if (s->kind == STEP_GPT2 || s->kind == STEP_LLAMA3) {
            split_custom(c, a, b, s->kind == STEP_LLAMA3, s->digits_max, o);
        } else if (s->kind == STEP_TRAILING_WS) {
            size_t t = b;
            while (t > a && re_space(c[t - 1]))
                t--;
            add_len(o, t - a);
            add_len(o, b - t);
        } else {
            size_t prev = a;
            for (size_t i = a; i < b;) {
                size_t m = match_at(s, c, i, b);
                if (m == 0) {
                    i++;
                    continue;
                }
                add_len(o, i - prev);
                add_len(o, m);
                i += m;
                prev = i;
            }
            add_len(o, b - prev);
        }
        a = b;
    }
}

long pretok_split(enum vocab_pre pre, const uint32_t *cpts, size_t n, size_t **bounds)
{
    const struct pretok_def *d = &DEFS[pre];
    struct lens cur = {0}, next = {0};
    add_len(&cur, n);
    for (int s = 0; s < d->n_steps && !cur.oom; s++) {
        next.n = 0;
        run_step(&d->steps[s], cpts, &cur, &next);
        struct lens t = cur;
        cur = next;
        next = t;
        if (next.oom)
            cur.oom = 1;
    }
    free(next.a);
    if (cur.oom) {
        free(cur.a);
        return -1;
    }
    size_t end = 0;
    for (size_t i = 0; i < cur.n; i++) { /* lengths -> end offsets */
        end += cur.a[i];
        cur.a[i] = end;
    }
    if (!cur.a && !(cur.a = malloc(sizeof *cur.a)))
        return -1;
    *bounds = cur.a;
    return (long)cur.n;
}
