/* fuzz_lmv.c: libFuzzer target for lmserve's .lmv vector format (models/embed/lmv.c) through
 * embed_open. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so the header CRC is not
 * checked and mutations reach the validation behind it; a model that loads is then used. */
#include "fuzz_embed.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_embed_open(fuzz_file(data, size), size);
    return 0;
}
