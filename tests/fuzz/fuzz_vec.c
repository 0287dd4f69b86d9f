/* fuzz_vec.c: libFuzzer target for the text vector reader (models/embed/vecfile.c: .vec
 * with an "N D" header, GloVe without, gzip'd or not) through embed_open. */
#include "fuzz_embed.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_embed_open(fuzz_file(data, size), size);
    return 0;
}
