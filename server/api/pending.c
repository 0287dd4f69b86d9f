/* pending.c: weak placeholders for handlers whose areas have not landed yet. Each area's
 * own file defines the strong symbol, which replaces these at link time. This file goes
 * away once every area has landed. */
#include "api.h"

#define PENDING(name)                                                                            \
    __attribute__((weak)) void name(const struct api_req *rq, struct api_resp *rs)               \
    {                                                                                            \
        (void)rq;                                                                                \
        api_fail(rs, STATUS_NOT_FOUND, NULL, "%s is not available in this build", rq->path);     \
    }

PENDING(api_score)
PENDING(api_next)
PENDING(api_embeddings)
PENDING(api_neighbors)
PENDING(api_similarity)
PENDING(api_completions)
PENDING(api_tokenize)
PENDING(api_detokenize)
PENDING(api_static)
