#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_ref.txt: llama.cpp's logits and greedy ids on random
# GGUF files written by lmserve-gguf (both architectures, every supported tensor type), for
# test_gguf_llamacpp.c, which regenerates the same files and compares. Run by hand, outside
# `make`, with a llama.cpp built at LLAMA (default /work/ref/llama.cpp, commit c392e50):
#   sh tests/ref/llamacpp_compare.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_ref.txt
set -e
TOOL=$(realpath "$1")
LLAMA=${LLAMA:-/work/ref/llama.cpp}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
HERE=$(dirname "$0")
gcc -O2 -o "$DIR/logits" "$HERE/llamacpp_logits.c" -I"$LLAMA/include" -I"$LLAMA/ggml/include" \
    -L"$LLAMA/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA/build/bin"
SHAPE="--dim 256 --hidden 512 --layers 2 --heads 4 --kv-heads 2 --vocab 320 --ctx 128"
NGEN=12
echo "# llama.cpp (llama-context defaults: F16 KV cache, 1 thread) on lmserve-gguf random files"
echo "# made by tests/ref/llamacpp_compare.sh; 'logits' only for the float types"
for arch in llama qwen2; do
    extra=""
    [ "$arch" = qwen2 ] && extra="--tied"
    for type in F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K Q5_K Q6_K; do
        args="--arch $arch --type $type $SHAPE --seed 7 $extra"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        for prompt in "1 300 301 302" "1 259 260" "1 280 290 300 310 270 260 3"; do
            echo "prompt $prompt"
            "$DIR/logits" "$DIR/m.gguf" $NGEN $prompt 2>/dev/null > "$DIR/out"
            case $type in F32|F16|BF16) grep '^logits' "$DIR/out" ;; esac
            grep '^greedy' "$DIR/out"
        done
    done
done
