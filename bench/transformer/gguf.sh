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
OUT="$DATA/results.jsonl"
: > "$OUT"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
for r in $(seq "$ROUNDS"); do
    for f in $FILES; do
        name=$(basename "$f" .gguf | sed 's/stories15M-random-//')
        for t in 1 2; do
            "$BIN/lmserve-bench-transformer" --threads $t --prompt "$PROMPT" --decode "$DECODE" \
                --reps 1 "$f" 2>/dev/null |
                sed "s/^{/{\"side\":\"lmserve\",\"file\":\"$name\",\"round\":$r,/" | tee -a "$OUT"
            if [ -x "$LLAMA_BENCH" ]; then
                "$LLAMA_BENCH" -m "$f" -t $t -p "$PROMPT" -n "$DECODE" -r 1 -o jsonl 2>/dev/null |
                    sed "s/^{/{\"side\":\"llama.cpp\",\"file\":\"$name\",\"round\":$r,\"threads\":$t,/" |
                    tee -a "$OUT"
            fi
        done
    done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
for r in rows:
    key = (r["file"], r["threads"])
    if r["side"] == "lmserve":
        med.setdefault(key + ("ours", "decode"), []).append(r["decode_tok_s"])
        med.setdefault(key + ("ours", "prompt"), []).append(r["prompt_tok_s"])
    else:
        kind = "prompt" if r.get("n_prompt", 0) > 0 else "decode"
        med.setdefault(key + ("llama", kind), []).append(r["avg_ts"])
print("| file | threads | decode lmserve | decode llama.cpp | ratio | prompt lmserve | prompt llama.cpp | ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for f, t in sorted({(r["file"], r["threads"]) for r in rows}, key=lambda k: (["F32", "Q8_0", "Q4_0", "Q4_K_M"].index(k[0]) if k[0] in ["F32", "Q8_0", "Q4_0", "Q4_K_M"] else 9, k[1])):
    g = lambda side, kind: statistics.median(med.get((f, t, side, kind), [float("nan")]))
    od, ld, op, lp = g("ours", "decode"), g("llama", "decode"), g("ours", "prompt"), g("llama", "prompt")
    print(f"| {f} | {t} | {od:.0f} | {ld:.0f} | {od/ld:.2f} | {op:.0f} | {lp:.0f} | {op/lp:.2f} |")
PY
