/* fuzz_w2v.c: libFuzzer target for the word2vec binary reader (models/embed/vecfile.c) through
 * embed_open; the same code as fuzz_vec with binary seeds, so mutations stay binary. */
#include "fuzz_embed.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_embed_open(fuzz_file(data, size), size);
    return 0;
}
