/* types.c: every model type lmserve knows; adding a type is one folder plus one line here. */
#include "registry.h"

extern const struct model_ops ngram_model_ops;     /* models/ngram/model.c */
extern const struct model_ops embed_model_ops;     /* models/embed/model.c */
extern const struct model_ops transformer_model_ops; /* models/transformer/model.c */

const struct model_ops *const MODEL_TYPES[] = {
    &ngram_model_ops,
    &embed_model_ops,
    &transformer_model_ops,
    NULL,
};
