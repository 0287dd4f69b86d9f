/* fuzz_lmbin.c: libFuzzer target for lmserve's binary n-gram format (models/ngram/binary.c)
 * through ngram_open. Built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, so the header
 * checksum is not checked and mutations reach the validation behind it; a model that loads
 * is then queried, so the mapped tables are walked. */
#include "fuzz_file.h"
#include "fuzz_ngram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ngram_open(fuzz_file(data, size));
    return 0;
}
