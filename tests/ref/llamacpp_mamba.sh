#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_mamba_ref.txt: llama.cpp's logits and greedy ids on
# random Mamba GGUF files written by `lmserve-gguf random --arch mamba` (F32, F16, Q8_0,
# Q4_0; separate and tied output; a prompt longer than one 64-token batch), for
# test_gguf_llamacpp.c, which writes the same files again and compares. Run by hand,
# outside `make`, with a llama.cpp built at LLAMA (default /work/ref/llama.cpp, c392e50):
#   sh tests/ref/llamacpp_mamba.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_mamba_ref.txt
set -e
TOOL=$(realpath "$1")
LLAMA=${LLAMA:-/work/ref/llama.cpp}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
HERE=$(dirname "$0")
gcc -O2 -o "$DIR/logits" "$HERE/llamacpp_logits.c" -I"$LLAMA/include" -I"$LLAMA/ggml/include" \
    -L"$LLAMA/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA/build/bin"
SHAPE="--arch mamba --dim 128 --layers 2 --d-state 16 --d-conv 4 --dt-rank 32 --vocab 320 --ctx 128"
NGEN=12
LONG=$(awk 'BEGIN { s = "1"; for (i = 0; i < 69; i++) s = s " " (259 + (i * 37) % 61); print s }')
echo "# llama.cpp (1 thread) on lmserve-gguf random Mamba files"
echo "# made by tests/ref/llamacpp_mamba.sh; 'logits' only for the float types"
for tied in "" "--tied"; do
    for type in F32 F16 Q8_0 Q4_0; do
        args="--type $type $SHAPE --seed 11 $tied"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        for prompt in "1 300 301 302" "1 259 260" "$LONG"; do
            echo "prompt $prompt"
            "$DIR/logits" "$DIR/m.gguf" $NGEN $prompt 2>/dev/null > "$DIR/out"
            case $type in F32|F16) grep '^logits' "$DIR/out" ;; esac
            grep '^greedy' "$DIR/out"
        done
    done
done
