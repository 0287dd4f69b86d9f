#!/bin/sh
# bench/embed/run.sh BENCH_BIN DIR: the word-vector benchmark of issue 4 (make bench-embed).
# 1. bench_embed: a random N x D matrix (fixed seed) as .vec, .lmv (float32/float16/int8) and
#    raw float32; text and .lmv load times; lmserve alone at 1 and 2 threads.
# 2. compare.py: lmserve, NumPy+OpenBLAS and faiss IndexFlatIP interleaved query by query,
#    with the memory-bandwidth floor probed in the same rounds.
# Sizes from the environment: N D Q B (defaults 200000 300 200 64). Needs Debian's
# python3-numpy, libopenblas0-pthread and python3-faiss (tools/deps.sh bench).
set -eu
bin=$1
dir=$2
N=${N:-200000}
D=${D:-300}
Q=${Q:-200}
B=${B:-64}
mkdir -p "$dir"
echo "# bench-embed $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" "$dir" "$N" "$D" "$Q" "$B"
/usr/bin/python3 "$(dirname "$0")/compare.py" "$dir" "$N" "$D" "$Q" "$B"
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
