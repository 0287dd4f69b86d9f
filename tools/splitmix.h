/* splitmix.h: the random generators of the fixture tools (lmserve-ckpt-gen, lmserve-gguf
 * random) draw from splitmix64 of a counter: the same seed writes the same file everywhere. */
#ifndef LMSERVE_TOOLS_SPLITMIX_H
#define LMSERVE_TOOLS_SPLITMIX_H

#include <stdint.h>

static inline uint64_t mix(uint64_t x)
{ /* splitmix64 */
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

#endif
