/* fuzz_tok.c: libFuzzer target for llama2.c's tokenizer.bin reader and the encoder and decoder
 * that use what it read (models/transformer/tokenizer.c). Input: the model's vocabulary size
 * (2 bytes, little-endian; the checkpoint gives it in real loads), then the tokenizer file. */
#include <string.h>

#include "../../models/transformer/transformer_internal.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int vocab = data[0] | data[1] << 8;
    struct tokenizer tk;
    struct status_err err;
    status_clear(&err);
    if (tokenizer_open(fuzz_file(data + 2, size - 2), vocab, &tk, &err) != STATUS_OK)
        return 0;
    static const char *const TEXTS[] = {"", "a", "hello world", "The cat sat.\n\tx",
                                        "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xff\xfe\x80 \xc3"};
    for (size_t t = 0; t < sizeof TEXTS / sizeof *TEXTS; t++) {
        int *ids = NULL;
        size_t n = 0;
        if (tokenizer_encode(&tk, TEXTS[t], strlen(TEXTS[t]), 1, 1, &ids, &n, &err) != STATUS_OK)
            continue;
        struct utf8_stream u = {0};
        char out[3 * 64 + 8];
        for (size_t i = 1; i < n; i++) {
            size_t len;
            const char *p = tokenizer_piece(&tk, ids[i - 1], ids[i], &len);
            for (size_t o = 0; o < len; o += 64)
                utf8_stream_push(&u, p + o, len - o < 64 ? len - o : 64, out);
        }
        utf8_stream_flush(&u, out);
        free(ids);
    }
    tokenizer_close(&tk);
    return 0;
}
