#!/bin/sh
# bench/gpt2/run.sh: GPT-2 decode and prompt tokens/s, lmserve against llama.cpp's
# llama-bench on the same files, interleaved (file by file, threads innermost, one repetition
# of each side per round) so both see the same machine load. Files written by
# `lmserve-gguf random --arch gpt2` (F32 and Q8_0; dim 384, 6 layers, 6 heads, MLP 1536,
# 1,024 learned positions, separate output as llama.cpp requires) with GPT-2's own
# vocabulary (../shared/vocab/ggml-vocab-gpt-2.gguf, 50,257 tokens; the writer's small BPE
# vocabulary without it, which makes the classifier, and so the figures, different).
# SHAPE="--dim 768 --layers 12 --heads 12" is GPT-2 small's (124 M parameters).
#   usage: [LLAMA_BENCH=...] [ROUNDS=3] [PROMPT=128] [DECODE=64] [THREADS="1 2"] [SHAPE=...] sh bench/gpt2/run.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-gpt2}
ROUNDS=${ROUNDS:-3}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-64}
THREADS=${THREADS:-1 2}
SHAPE=${SHAPE:---dim 384 --layers 6 --heads 6}
TAG=$(echo "$SHAPE" | tr -dc '0-9 ' | tr -s ' ' '-' | sed 's/^-//; s/-$//')
LLAMA_BENCH=${LLAMA_BENCH:-/work/ref/llama.cpp/build/bin/llama-bench}
GPT2_VOCAB=${GPT2_VOCAB:-../shared/vocab/ggml-vocab-gpt-2.gguf}
mkdir -p "$DATA"
# always make: an existing binary may be older than the sources (the sixth session measured
# a stale one at first); make only rebuilds what changed
make -s BUILD="$BUILD" "$BIN/lmserve-bench-transformer" "$BIN/lmserve-gguf" "$BIN/lmserve" || exit 1
VOCAB=""
[ -f "$GPT2_VOCAB" ] && VOCAB="--vocab-from $GPT2_VOCAB"
FILES=""
for q in F32 Q8_0; do
    f="$DATA/gpt2-random-$TAG-$q.gguf"
    [ -f "$f" ] || "$BIN/lmserve-gguf" random -o "$f" --arch gpt2 --type $q $SHAPE \
        --ctx 1024 --seed 1 $VOCAB >/dev/null
    FILES="$FILES $f"
done
WARMUP=${WARMUP:-3}
. bench/lib.sh
bench_vs_llama "$DATA/results-$TAG.jsonl" "gpt2-random-$TAG-" "$FILES" "$THREADS"
