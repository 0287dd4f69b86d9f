#!/bin/sh
# Makes tests/unit/models/gguf/llamacpp_gpt2_ref.txt: llama.cpp's logits and greedy ids on
# random GPT-2 GGUF files written by `lmserve-gguf random --arch gpt2` (F32, F16 and Q8_0;
# separate and tied output; multi-query heads; a prompt longer than one 64-token batch) with
# the writer's small byte-level BPE vocabulary, for test_gguf_llamacpp.c, which writes the
# same files again and compares. Run by hand, outside `make`, with a llama.cpp built at
# LLAMA (default /work/ref/llama.cpp, c392e50):
#   sh tests/ref/llamacpp_gpt2.sh build/bin/lmserve-gguf > tests/unit/models/gguf/llamacpp_gpt2_ref.txt
# llama.cpp (c392e50) requires output.weight for gpt2, so no tied file is compared here (the
# loader's tied path is tests/unit/models/transformer/test_gpt2.c's).
# With a second argument it writes GPT-2's real vocabulary case instead (when
# ../shared/vocab/ggml-vocab-gpt-2.gguf exists): llama-tokenize's ids of a text, the first
# 1,000 logits (a 50,257-wide line per prompt would be 600 KB) and the greedy ids:
#   sh tests/ref/llamacpp_gpt2.sh build/bin/lmserve-gguf vocab > tests/unit/models/gguf/llamacpp_gpt2_vocab_ref.txt
. "$(dirname "$0")/llamacpp_prologue.sh"
if [ "${2:-}" = vocab ]; then
    VOCAB=../shared/vocab/ggml-vocab-gpt-2.gguf
    echo "# llama.cpp (1 thread) on lmserve-gguf random GPT-2 files with GPT-2's vocabulary"
    echo "# made by tests/ref/llamacpp_gpt2.sh ... vocab; logits_head: the first 1,000 logits"
    for type in F32 Q8_0; do
        args="--arch gpt2 --type $type --dim 64 --layers 2 --heads 4 --ctx 128 --seed 5 --vocab-from $VOCAB"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        for text in "Hello world, the violence of the war" "GPT-2 byte-level BPE: ünïcödé and 123 numbers!"; do
            ids=$("$LLAMA/build/bin/llama-tokenize" -m "$VOCAB" -p "$text" --ids --log-disable 2>/dev/null | tail -1 | tr -d '[],')
            echo "text $text"
            echo "prompt $ids"
            "$DIR/logits" "$DIR/m.gguf" $NGEN $ids 2>/dev/null > "$DIR/out"
            case $type in F32) grep '^logits' "$DIR/out" | awk '{ printf "logits_head"; for (i = 2; i <= 1001; i++) printf " %s", $i; print "" }' ;; esac
            grep '^greedy' "$DIR/out"
        done
    done
    exit 0
fi
LONG=$(awk 'BEGIN { s = "358"; for (i = 0; i < 69; i++) s = s " " (32 + (i * 37) % 300); print s }')
echo "# llama.cpp (1 thread) on lmserve-gguf random GPT-2 files"
echo "# made by tests/ref/llamacpp_gpt2.sh; 'logits' only for the float types"
for shape in "--dim 64 --layers 2 --heads 4" "--dim 128 --hidden 320 --layers 3 --heads 4 --kv-heads 1"; do
    for type in F32 F16 Q8_0; do
        args="--arch gpt2 --type $type $shape --ctx 128 --seed 5"
        "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
        echo "model $args"
        ref_prompts "$type" "F32 F16" "358 300 301 302" "33 71 80 90 100 256" "$LONG"
    done
done
