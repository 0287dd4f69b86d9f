#!/bin/sh
# bench/transformer/compare.sh: the issue-13 ratio table in one run: lmserve against llama.cpp's
# llama-bench on the same GGUF files, shapes 15M and 110M (llama2.c's stories shapes, random
# weights, context 1024 so pp512 fits), types F32 / Q8_0 / Q4_0 / Q4_K_M, 1 and 2 threads:
# decode (tg), pp128 and pp512 tokens/s, medians of ROUNDS, interleaved (per round, per file,
# per thread count: lmserve's runs, then llama-bench's) so both see the same machine load.
#
#   usage: LLAMA_BENCH=/path/to/llama-bench [LLAMA_QUANTIZE=/path/to/llama-quantize]
#          [ROUNDS=3] [SHAPES="15M 110M"] [TYPES="F32 Q8_0 Q4_0 Q4_K_M"] [THREADS="1 2"]
#          [DECODE=128] [LM_REPS=3] [LMSERVE_KERNELS=avx2] sh bench/transformer/compare.sh [BUILD]
#
# The F32 files come from `lmserve-gguf random`; the quantized ones from llama.cpp's own
# quantizer (LLAMA_QUANTIZE, default: next to LLAMA_BENCH), as a llama.cpp user would make
# them; without it, lmserve-gguf's own Q8_0/Q4_0/Q4_K writer (Q4_K_M is then Q4_K). Nothing of
# llama.cpp is in this repository: build it by hand and pass its path.
# lmserve's decode is timed after its pp128 (position 128..), llama-bench's tg from position 0.
# lmserve runs LM_REPS repetitions per measurement and reports their median (llama-bench runs a
# warm-up first); its adaptive thread team starts with the helpers and probes working alone
# (1-2 windows of up to 128 dispatches, every 8-64 windows), standing the helpers down only if
# they are slower; team_stood_down in each JSON line counts the dispatches run alone.
# Prints one JSON line per measurement (also in $DATA/compare.jsonl), then the table.
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-compare}
ROUNDS=${ROUNDS:-3}
SHAPES=${SHAPES:-15M 110M}
TYPES=${TYPES:-F32 Q8_0 Q4_0 Q4_K_M}
THREADS=${THREADS:-1 2}
DECODE=${DECODE:-128}
LM_REPS=${LM_REPS:-3}
LLAMA_BENCH=${LLAMA_BENCH:-}
if [ -z "$LLAMA_BENCH" ] || [ ! -x "$LLAMA_BENCH" ]; then
    echo "compare.sh: set LLAMA_BENCH=/path/to/llama-bench (built by hand, outside the repo)" >&2
    exit 2
fi
LLAMA_QUANTIZE=${LLAMA_QUANTIZE:-$(dirname "$LLAMA_BENCH")/llama-quantize}
mkdir -p "$DATA"
[ -x "$BIN/lmserve-bench-transformer" ] && [ -x "$BIN/lmserve-gguf" ] ||
    make -s "$BIN/lmserve-bench-transformer" "$BIN/lmserve-gguf" || exit 1

shape_args() {
    case $1 in
    15M) echo "--dim 288 --hidden 768 --layers 6 --heads 6 --kv-heads 6" ;;
    110M) echo "--dim 768 --hidden 2048 --layers 12 --heads 12 --kv-heads 12" ;;
    *) echo "compare.sh: unknown shape $1" >&2; exit 2 ;;
    esac
}

# the file of (shape, type), made once and kept in $DATA
file_of() {
    f32="$DATA/stories$1-random-F32.gguf"
    if [ ! -f "$f32" ]; then
        # shellcheck disable=SC2046
        "$BIN/lmserve-gguf" random -o "$f32" --type F32 $(shape_args "$1") --vocab 32000 \
            --ctx 1024 --seed 1 >/dev/null || exit 1
    fi
    [ "$2" = F32 ] && { echo "$f32"; return; }
    out="$DATA/stories$1-random-$2.gguf"
    if [ ! -f "$out" ]; then
        if [ -x "$LLAMA_QUANTIZE" ]; then
            "$LLAMA_QUANTIZE" "$f32" "$out" "$2" >/dev/null 2>&1 || exit 1
        else
            t=$2; [ "$t" = Q4_K_M ] && t=Q4_K
            # shellcheck disable=SC2046
            "$BIN/lmserve-gguf" random -o "$out" --type "$t" $(shape_args "$1") --vocab 32000 \
                --ctx 1024 --seed 1 >/dev/null || exit 1
        fi
    fi
    echo "$out"
}

OUT="$DATA/compare.jsonl"
: > "$OUT"
: > "$DATA/lmserve.err"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1); llama-bench: $LLAMA_BENCH"
for r in $(seq "$ROUNDS"); do
    for s in $SHAPES; do
        for ty in $TYPES; do
            f=$(file_of "$s" "$ty") || exit 1
            for t in $THREADS; do
                tag="\"side\":\"lmserve\",\"shape\":\"$s\",\"type\":\"$ty\",\"round\":$r"
                LMSERVE_KERNEL_THREADS=$t "$BIN/lmserve-bench-transformer" --threads "$t" \
                    --prompt 128 --decode "$DECODE" --reps "$LM_REPS" "$f" 2>>"$DATA/lmserve.err" |
                    sed "s/^{/{$tag,\"test\":\"pp128+tg\",/" | tee -a "$OUT"
                LMSERVE_KERNEL_THREADS=$t "$BIN/lmserve-bench-transformer" --threads "$t" \
                    --prompt 512 --decode 1 --reps "$LM_REPS" "$f" 2>/dev/null |
                    sed "s/^{/{$tag,\"test\":\"pp512\",/" | tee -a "$OUT"
                "$LLAMA_BENCH" -m "$f" -t "$t" -p 128,512 -n "$DECODE" -r 1 -o jsonl 2>/dev/null |
                    sed "s/^{/{\"side\":\"llama.cpp\",\"shape\":\"$s\",\"type\":\"$ty\",\"round\":$r,\"threads\":$t,/" |
                    tee -a "$OUT"
            done
        done
    done
done
# the kernel tier lmserve ran (LMSERVE_KERNELS=ref|avx2|avx512 forces one; default: the best)
sed -n 's/^lmserve: kernels: \([^ ]*\) .*/# lmserve kernel tier: \1/p' "$DATA/lmserve.err" | sort -u
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
v = {}
for r in rows:
    k = (r["shape"], r["type"], r["threads"])
    if r["side"] == "lmserve":
        if r["test"] == "pp512":
            v.setdefault(k + ("ours", "pp512"), []).append(r["prompt_tok_s"])
        else:
            v.setdefault(k + ("ours", "pp128"), []).append(r["prompt_tok_s"])
            v.setdefault(k + ("ours", "tg"), []).append(r["decode_tok_s"])
    else:
        kind = "tg" if r.get("n_prompt", 0) == 0 else "pp%d" % r["n_prompt"]
        v.setdefault(k + ("llama", kind), []).append(r["avg_ts"])
med = lambda k: statistics.median(v[k]) if k in v else float("nan")
print()
print("| shape | type | threads | decode lmserve | llama.cpp | ratio | pp128 lmserve | llama.cpp | ratio | pp512 lmserve | llama.cpp | ratio |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
order = ["F32", "Q8_0", "Q4_0", "Q4_K_M"]
for s, ty, t in sorted({(r["shape"], r["type"], r["threads"]) for r in rows},
                       key=lambda k: (k[0] != "15M", order.index(k[1]) if k[1] in order else 9, k[2])):
    cells = []
    for kind in ("tg", "pp128", "pp512"):
        o, l = med((s, ty, t, "ours", kind)), med((s, ty, t, "llama", kind))
        cells.append(f"{o:.1f} | {l:.1f} | {o / l:.2f}")
    print(f"| {s} | {ty} | {t} | " + " | ".join(cells) + " |")
n = len({r["round"] for r in rows})
print(f"\n(medians of {n} round(s); ratio = lmserve / llama.cpp, > 1: lmserve faster)")
PY
