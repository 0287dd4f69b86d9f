/* llamacpp_logits.c: llama.cpp's outputs on a GGUF file, for the comparison data of
 * tests/unit/models/gguf/test_gguf_llamacpp.c. Built and run OUTSIDE the repo's build
 * against a hand-built llama.cpp (see tests/ref/llamacpp_compare.sh); not part of `make`.
 *
 *   llamacpp_logits MODEL.gguf N_GEN ID ID ...
 * prints one line "logits v0 v1 ..." (after the whole prompt, BOS included by the caller)
 * and one line "greedy id id ..." (N_GEN ids, each fed back one at a time).
 * LLAMACPP_KV=q8_0: a Q8_0 KV cache (-ctk q8_0 -ctv q8_0, with flash attention, which a
 * quantized V needs), as lmserve's kv_type=q8_0. */
#include <llama.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model)
        return 1;
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 128;
    cp.n_batch = 128;
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    const char *kv = getenv("LLAMACPP_KV");
    if (kv && strcmp(kv, "q8_0") == 0) {
        cp.type_k = cp.type_v = GGML_TYPE_Q8_0;
        cp.flash_attn = true;
    }
    struct llama_context *ctx = llama_init_from_model(model, cp);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const int n_gen = atoi(argv[2]), n = argc - 3;
    llama_token *ids = malloc(sizeof *ids * (size_t)n);
    for (int i = 0; i < n; i++)
        ids[i] = atoi(argv[3 + i]);
    if (llama_decode(ctx, llama_batch_get_one(ids, n)) != 0)
        return 1;
    const float *lg = llama_get_logits_ith(ctx, -1);
    printf("logits");
    for (int i = 0; i < n_vocab; i++)
        printf(" %.9g", lg[i]);
    printf("\ngreedy");
    for (int g = 0; g < n_gen; g++) {
        lg = llama_get_logits_ith(ctx, -1);
        llama_token best = 0;
        for (int i = 1; i < n_vocab; i++)
            if (lg[i] > lg[best])
                best = i;
        printf(" %d", best);
        if (llama_decode(ctx, llama_batch_get_one(&best, 1)) != 0)
            return 1;
    }
    printf("\n");
    llama_free(ctx);
    llama_model_free(model);
    free(ids);
    return 0;
}
