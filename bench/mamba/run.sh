#!/bin/sh
# bench/mamba/run.sh: Mamba decode and prompt tokens/s, lmserve against llama.cpp's
# llama-bench on the same files, interleaved (file by file, threads innermost, one repetition
# of each side per round) so both see the same machine load. Files written by
# `lmserve-gguf random --arch mamba` (F32 and Q8_0; dim 384, 8 layers, d_inner 768,
# d_state 16, dt_rank 24, tied output) with the GPT-NeoX BPE vocabulary real Mamba models
# use (../shared/vocab/ggml-vocab-gpt-neox.gguf; a 50,280-token synthetic one without it).
# Then the memory of one sequence: the server's RSS after scoring 16 and 4,000 tokens.
#   usage: [LLAMA_BENCH=...] [ROUNDS=3] [PROMPT=128] [DECODE=64] [PORT=18510] sh bench/mamba/run.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-mamba}
ROUNDS=${ROUNDS:-3}
PROMPT=${PROMPT:-128}
DECODE=${DECODE:-64}
PORT=${PORT:-18510}
LLAMA_BENCH=${LLAMA_BENCH:-/work/ref/llama.cpp/build/bin/llama-bench}
NEOX=${NEOX:-../shared/vocab/ggml-vocab-gpt-neox.gguf}
mkdir -p "$DATA"
# always make: an existing binary may be older than the sources (the sixth session measured
# a stale one at first); make only rebuilds what changed
make -s BUILD="$BUILD" "$BIN/lmserve-bench-transformer" "$BIN/lmserve-gguf" "$BIN/lmserve" || exit 1
VOCAB="--vocab 50280"
[ -f "$NEOX" ] && VOCAB="--vocab-from $NEOX"
FILES=""
for q in F32 Q8_0; do
    f="$DATA/mamba-random-$q.gguf"
    [ -f "$f" ] || "$BIN/lmserve-gguf" random -o "$f" --arch mamba --type $q --dim 384 --layers 8 \
        --dt-rank 24 --ctx 8192 --tied --seed 1 $VOCAB >/dev/null
    FILES="$FILES $f"
done
WARMUP=${WARMUP:-3}
. bench/lib.sh
bench_vs_llama "$DATA/results.jsonl" "mamba-random-" "$FILES" "1 2"
# memory per sequence: RSS of the server after /v1/score on 16 and on 4,000 tokens of text
f="$DATA/mamba-random-Q8_0.gguf"
"$BIN/lmserve" --port "$PORT" --model "m=transformer:$f" >/dev/null 2>&1 &
pid=$!
i=0
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.2; i=$((i+1)); done
rss() { sed -n 's/^VmRSS:[[:space:]]*//p' /proc/$pid/status; }
score() {
    python3 -c "import json,sys; n=int(sys.argv[1]); print(json.dumps({'model':'m','input':[' '.join(['the'] * n)]}))" "$1" |
        curl -sf -H 'content-type: application/json' -d @- "http://127.0.0.1:$PORT/v1/score" |
        python3 -c "import json,sys; d=json.load(sys.stdin)['data'][0]; print(d.get('tokens', d.get('n_tokens', '?')))"
}
echo "# idle RSS $(rss)"
for n in 16 4000 16 4000; do
    toks=$(score $n)
    echo "# after scoring $n words ($toks tokens): RSS $(rss)"
done
curl -sf "http://127.0.0.1:$PORT/v1/models/m" | python3 -c "import json,sys; print('# details.ssm', json.load(sys.stdin)['details']['ssm'])"
kill $pid
wait $pid 2>/dev/null
