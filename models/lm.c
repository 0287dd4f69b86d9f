/* lm.c: freeing the results of the language-model interface (lm.h). */
#include "lm.h"

#include <stdlib.h>

void lm_scored_free(struct lm_scored *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->tokens[i].text);
    free(s->tokens);
    s->tokens = NULL;
    s->n = 0;
}

void lm_candidates_free(struct lm_candidate *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++)
        free(c[i].text);
    free(c);
}
