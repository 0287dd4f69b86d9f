/* fuzz_vocab.c: libFuzzer target for the GGUF tokenizers (models/vocab): a vocabulary read
 * from a GGUF file's metadata, then encoding and decoding. Input: one mode byte, then
 * either (mode even) a GGUF file whose vocabulary encodes a few fixed texts, or (mode odd)
 * a text encoded by a small built-in SentencePiece vocabulary, a WordPiece (BERT) one and a
 * byte-level BPE one under every pre-tokenizer (mode / 2 picks special-token parsing and
 * add_special). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../models/gguf/gguf.h"
#include "../../models/vocab/vocab_gguf.h"
#include "../../models/vocab/vocab_internal.h"

#define FZ_BYTES 256

static void round_trip(const struct vocab *v, const char *text, size_t len, int add, int parse)
{
    int *ids = NULL;
    size_t n = 0, dl;
    if (vocab_encode(v, text, len, add, parse, &ids, &n, NULL) != STATUS_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab_n_tokens(v))
            abort(); /* every id must be in range */
    free(vocab_decode(v, ids, n, parse, &dl));
    free(ids);
}

/* byte tokens, a few merges, and special tokens, built once */
static struct vocab *fz_bpe[8], *fz_spm, *fz_wpm;

static void build_builtin(void)
{
    static char names[FZ_BYTES][7];
    static struct vocab_str tok[2 * FZ_BYTES + 8], merge[4];
    static float score[2 * FZ_BYTES + 8];
    static int32_t type[2 * FZ_BYTES + 8];
    static const char *const PRE[8] = {"default", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm",
                                       "deepseek-coder", "falcon", "starcoder"};
    size_t n = 0;
    for (int b = 0; b < FZ_BYTES; b++) {
        size_t l = unicode_encode(bpe_byte_to_cpt((unsigned char)b), names[b]);
        tok[n++] = (struct vocab_str){names[b], l};
    }
    static const char *const extra[] = {"he", "hel", "\xC4\xA0t", "<|endoftext|>", "<ud>"};
    for (size_t k = 0; k < 5; k++)
        tok[n++] = (struct vocab_str){extra[k], strlen(extra[k])};
    static const char *const merges[] = {"h e", "he l", "\xC4\xA0 t", "bad"};
    for (size_t k = 0; k < 4; k++)
        merge[k] = (struct vocab_str){merges[k], strlen(merges[k])};
    for (size_t i = 0; i < n; i++)
        type[i] = i == n - 1 ? VOCAB_TYPE_USER_DEFINED : VOCAB_TYPE_NORMAL;
    struct vocab_spec sp;
    for (int p = 0; p < 8; p++) {
        vocab_spec_init(&sp);
        sp.model = "gpt2";
        sp.pre = PRE[p];
        sp.tokens = tok;
        sp.n_tokens = n;
        sp.types = type;
        sp.merges = merge;
        sp.n_merges = 4;
        if (vocab_new(&sp, &fz_bpe[p], NULL) != STATUS_OK)
            abort();
    }
    /* SentencePiece: <unk> <s> </s>, byte tokens, "▁", letters */
    n = 0;
    static const char *const head[] = {"<unk>", "<s>", "</s>"};
    for (int k = 0; k < 3; k++) {
        type[n] = k ? VOCAB_TYPE_CONTROL : VOCAB_TYPE_UNKNOWN;
        tok[n++] = (struct vocab_str){head[k], strlen(head[k])};
    }
    for (int b = 0; b < FZ_BYTES; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        type[n] = VOCAB_TYPE_BYTE;
        tok[n++] = (struct vocab_str){names[b], 6};
    }
    static const char *const pieces[] = {"\xE2\x96\x81", "\xE2\x96\x81t", "he", "the", "a"};
    for (size_t k = 0; k < 5; k++) {
        type[n] = VOCAB_TYPE_NORMAL;
        score[n] = -(float)k;
        tok[n++] = (struct vocab_str){pieces[k], strlen(pieces[k])};
    }
    vocab_spec_init(&sp);
    sp.model = "llama";
    sp.tokens = tok;
    sp.n_tokens = n;
    sp.scores = score;
    sp.types = type;
    if (vocab_new(&sp, &fz_spm, NULL) != STATUS_OK)
        abort();
    /* WordPiece: [PAD] [UNK] [CLS] [SEP], word-start pieces (U+2581) and continuations */
    static const char *const wp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xE2\x96\x81the",
                                     "\xE2\x96\x81" "a", "\xE2\x96\x81" "caf", "e", "\xE2\x96\x81,",
                                     "\xE2\x96\x81\xE6\x97\xA5", "s", "\xE2\x96\x81h", "el", "lo"};
    n = 0;
    for (size_t k = 0; k < sizeof wp / sizeof wp[0]; k++) {
        type[n] = k == 1 ? VOCAB_TYPE_UNKNOWN : k < 4 && k != 0 ? VOCAB_TYPE_CONTROL : VOCAB_TYPE_NORMAL;
        tok[n++] = (struct vocab_str){wp[k], strlen(wp[k])};
    }
    vocab_spec_init(&sp);
    sp.model = "bert";
    sp.tokens = tok;
    sp.n_tokens = n;
    sp.types = type;
    sp.unk = 1;
    sp.bos = 2;
    sp.sep = 3;
    sp.pad = 0;
    if (vocab_new(&sp, &fz_wpm, NULL) != STATUS_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const int mode = data[0];
    const int parse = (mode >> 1) & 1, add = (mode >> 2) & 1;
    data++;
    size--;
    if (mode & 1) {
        if (!fz_spm)
            build_builtin();
        round_trip(fz_spm, (const char *)data, size, add, parse);
        round_trip(fz_wpm, (const char *)data, size, add, parse);
        for (int p = 0; p < 8; p++)
            round_trip(fz_bpe[p], (const char *)data, size, add, parse);
        return 0;
    }
    gguf *g;
    if (gguf_open_mem(data, size, "fuzz.gguf", &g, NULL) != STATUS_OK)
        return 0;
    struct vocab *v;
    if (vocab_from_gguf(g, &v, NULL) == STATUS_OK) {
        static const char *const TEXTS[] = {"", "a", "hello world <s>", " 12345 it's\n\n\tx  ",
                                            "caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
                                            "\xff\xfe\x80 \xc3"};
        for (size_t t = 0; t < sizeof TEXTS / sizeof *TEXTS; t++)
            round_trip(v, TEXTS[t], strlen(TEXTS[t]), add, parse);
        vocab_free(v);
    }
    gguf_close(g);
    return 0;
}
