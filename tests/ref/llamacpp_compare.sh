#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_ref.txt: llama.cpp's logits and greedy ids on random
# GGUF files written by lmserve-gguf (both architectures, every supported tensor type), for
# test_gguf_llamacpp.c, which regenerates the same files and compares. Run by hand, outside
# `make`, with a llama.cpp built at LLAMA (default /work/ref/llama.cpp, commit c392e50):
#   sh tests/ref/llamacpp_compare.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_ref.txt
# KV=q8_0 makes tests/unit/models/gguf/llamacpp_kvq8_ref.txt instead: a Q8_0 KV cache (-ctk
# q8_0 -ctv q8_0 -fa; head size 64), logits for every type, on the types of TYPES (default
# for q8_0: F32 Q8_0 Q4_K); test_gguf_llamacpp.c runs them with kv_type q8_0:
#   KV=q8_0 sh tests/ref/llamacpp_compare.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_kvq8_ref.txt
KV=${KV:-f16}
. "$(dirname "$0")/llamacpp_prologue.sh"
SHAPE="--dim 256 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --vocab 320 --ctx 128"
case $KV in
f16)
    TYPES=${TYPES:-F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K}
    LOGIT_TYPES="F32 F16 BF16"
    echo "# llama.cpp (llama-context defaults: F16 KV cache, 1 thread) on lmserve-gguf random files"
    echo "# made by tests/ref/llamacpp_compare.sh; 'logits' only for the float types" ;;
q8_0)
    TYPES=${TYPES:-F32 Q8_0 Q4_K}
    LOGIT_TYPES=all LLAMACPP_KV=q8_0
    export LLAMACPP_KV
    echo "# llama.cpp with a Q8_0 KV cache (-ctk q8_0 -ctv q8_0 -fa, 1 thread) on lmserve-gguf random files"
    echo "# made by KV=q8_0 tests/ref/llamacpp_compare.sh; compared with kv_type q8_0" ;;
*) echo "llamacpp_compare.sh: KV is f16 or q8_0, not '$KV'" >&2; exit 2 ;;
esac
for arch in llama qwen2; do
    extra=""
    [ "$arch" = qwen2 ] && extra="--tied"
    for type in $TYPES; do
        args="--arch $arch --type $type $SHAPE --seed 7 $extra"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        [ "$KV" = f16 ] || echo "kv_type $KV"
        ref_prompts "$type" "$LOGIT_TYPES" "1 300 301 302" "1 259 260" "1 280 290 300 310 270 260 3"
    done
done
