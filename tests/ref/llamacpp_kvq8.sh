#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_kvq8_ref.txt: llama.cpp's logits and greedy ids with a
# Q8_0 KV cache (-ctk q8_0 -ctv q8_0 -fa) on random GGUF files written by lmserve-gguf (head
# size 64), for test_gguf_llamacpp.c, which runs the same files with kv_type q8_0. Run by
# hand, outside `make`, with a llama.cpp built at LLAMA (default /work/ref/llama.cpp, c392e50):
#   sh tests/ref/llamacpp_kvq8.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_kvq8_ref.txt
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
echo "# llama.cpp with a Q8_0 KV cache (-ctk q8_0 -ctv q8_0 -fa, 1 thread) on lmserve-gguf random files"
echo "# made by tests/ref/llamacpp_kvq8.sh; compared with kv_type q8_0"
for arch in llama qwen2; do
    extra=""
    [ "$arch" = qwen2 ] && extra="--tied"
    for type in F32 Q8_0 Q4_K; do
        args="--arch $arch --type $type $SHAPE --seed 7 $extra"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        echo "kv_type q8_0"
        for prompt in "1 300 301 302" "1 259 260" "1 280 290 300 310 270 260 3"; do
            echo "prompt $prompt"
            LLAMACPP_KV=q8_0 "$DIR/logits" "$DIR/m.gguf" $NGEN $prompt 2>/dev/null > "$DIR/out"
            grep '^logits' "$DIR/out"
            grep '^greedy' "$DIR/out"
        done
    done
done
