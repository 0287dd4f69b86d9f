#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_mamba_ref.txt: llama.cpp's logits and greedy ids on
# random Mamba GGUF files written by `lmserve-gguf random --arch mamba` (F32, F16, Q8_0,
# Q4_0; separate and tied output; a prompt longer than one 64-token batch), for
# test_gguf_llamacpp.c, which writes the same files again and compares. Run by hand,
# outside `make`, with a llama.cpp built at LLAMA (default /work/ref/llama.cpp, c392e50):
#   sh tests/ref/llamacpp_mamba.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_mamba_ref.txt
. "$(dirname "$0")/llamacpp_prologue.sh"
SHAPE="--arch mamba --dim 128 --layers 2 --d-state 16 --d-conv 4 --dt-rank 32 --vocab 320 --ctx 128"
LONG=$(awk 'BEGIN { s = "1"; for (i = 0; i < 69; i++) s = s " " (259 + (i * 37) % 61); print s }')
echo "# llama.cpp (1 thread) on lmserve-gguf random Mamba files"
echo "# made by tests/ref/llamacpp_mamba.sh; 'logits' only for the float types"
for tied in "" "--tied"; do
    for type in F32 F16 Q8_0 Q4_0; do
        args="--type $type $SHAPE --seed 11 $tied"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        ref_prompts "$type" "F32 F16" "1 300 301 302" "1 259 260" "$LONG"
    done
done
