/* fuzz_arpa.c: libFuzzer target for the ARPA reader (models/ngram/arpa.c) through
 * ngram_open; a model that loads is then queried, so what the reader built is used. */
#include "fuzz_file.h"
#include "fuzz_ngram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ngram_open(fuzz_file(data, size));
    return 0;
}
