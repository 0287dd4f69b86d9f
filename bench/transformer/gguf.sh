#!/bin/sh
# bench/transformer/gguf.sh: GGUF decode and prompt tokens/s, lmserve against llama.cpp's
# llama-bench on the same files, interleaved (file by file, threads innermost, one repetition
# of each side per round) so both see the same machine load. Files: the stories15M shape in
# F32 (lmserve-gguf random), and ../shared's llama.cpp-quantized Q8_0, Q4_0 and Q4_K_M.
#   usage: [LLAMA_BENCH=/path/to/llama-bench] [ROUNDS=3] [PROMPT=128] [DECODE=64]
#          sh bench/transformer/gguf.sh [BUILD]
# Prints one JSON line per measurement, then the medians as a table.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-gguf}
ROUNDS=${ROUNDS:-3}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-64}
LLAMA_BENCH=${LLAMA_BENCH:-/work/ref/llama.cpp/build/bin/llama-bench}
SHARED=${SHARED:-../shared/models/gguf}
mkdir -p "$DATA"
[ -x "$BIN/lmserve-bench-transformer" ] || make -s "$BIN/lmserve-bench-transformer" "$BIN/lmserve-gguf"
f32="$DATA/stories15M-random-F32.gguf"
[ -f "$f32" ] || "$BIN/lmserve-gguf" random -o "$f32" --type F32 --dim 288 --hidden 768 \
    --layers 6 --heads 6 --kv-heads 6 --vocab 32000 --ctx 256 --seed 1 >/dev/null
FILES="$f32"
for q in Q8_0 Q4_0 Q4_K_M; do
    [ -f "$SHARED/stories15M-random-$q.gguf" ] && FILES="$FILES $SHARED/stories15M-random-$q.gguf"
done
. bench/lib.sh
bench_vs_llama "$DATA/results.jsonl" "stories15M-random-" "$FILES" "1 2"
