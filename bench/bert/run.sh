#!/bin/sh
# bench/bert/run.sh: BERT sentence embeddings per second, lmserve against llama.cpp's
# llama-embedding on the same files and texts, interleaved (file by file, batch and threads
# innermost, one repetition of each side per round) so both see the same machine load.
# Files: `lmserve-gguf random --arch bert` in the bge-small shape (dim 384, 12 layers, 12
# heads, FFN 1536, context 512), F32 and Q8_0, with the bge WordPiece vocabulary
# (../shared/vocab/ggml-vocab-bert-bge.gguf, required). Texts: 32 English sentences of 15-30
# words (bench/bert/texts.txt). Batch 1 embeds the first text; batch 32 all of them in one
# request. lmserve: tokenize + one encoder pass + pooling + L2 in-process (lmserve-bench-bert,
# no HTTP); llama.cpp: llama-embedding's own "prompt eval time" (the encoder calls, without
# its process start and model load).
#   usage: [LLAMA=/work/ref/llama.cpp] [ROUNDS=5] [WARMUP=3] sh bench/bert/run.sh [BUILD]
set -u
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${DATA:-$BUILD/bench-bert}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-3} # lmserve's unmeasured requests (the thread team settles; see bench_bert.c)
LLAMA=${LLAMA:-/work/ref/llama.cpp}
EMB=$LLAMA/build/bin/llama-embedding
VOCAB=${VOCAB:-../shared/vocab/ggml-vocab-bert-bge.gguf}
TEXTS=bench/bert/texts.txt
[ -f "$VOCAB" ] || { echo "bench-bert: $VOCAB absent"; exit 1; }
mkdir -p "$DATA"
# always make: an existing binary may be older than the sources (the sixth session measured
# a stale one at first); make only rebuilds what changed
make -s BUILD="$BUILD" "$BIN/lmserve-bench-bert" "$BIN/lmserve-gguf" "$BIN/lmserve" || exit 1
FILES=""
for q in F32 Q8_0; do
    f="$DATA/bert-small-$q.gguf"
    [ -f "$f" ] || "$BIN/lmserve-gguf" random -o "$f" --arch bert --type $q --dim 384 \
        --hidden 1536 --layers 12 --heads 12 --ctx 512 --seed 1 --vocab-from "$VOCAB" >/dev/null
    FILES="$FILES $f"
done
head -1 "$TEXTS" > "$DATA/texts1.txt"
OUT="$DATA/results.jsonl"
: > "$OUT"
echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cpus; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
for r in $(seq "$ROUNDS"); do
    for f in $FILES; do
        name=$(basename "$f" .gguf | sed 's/bert-small-//')
        for b in 1 32; do
            for t in 1 2; do
                "$BIN/lmserve-bench-bert" --threads $t --batch $b --reps 1 --warmup "$WARMUP" \
                    "$f" "$TEXTS" |
                    sed "s/^{/{\"side\":\"lmserve\",\"file\":\"$name\",\"round\":$r,/" | tee -a "$OUT"
                if [ -x "$EMB" ]; then
                    in=$TEXTS
                    [ $b = 1 ] && in=$DATA/texts1.txt
                    "$EMB" -m "$f" -t $t -c 2048 -b 2048 -ub 2048 -f "$in" \
                        --embd-output-format json >/dev/null 2>"$DATA/emb.err"
                    sed -n 's/.*prompt eval time = *\([0-9.]*\) ms \/ *\([0-9]*\) tokens.*/\1 \2/p' \
                        "$DATA/emb.err" | while read -r ms tok; do
                        echo "{\"side\":\"llama.cpp\",\"file\":\"$name\",\"round\":$r,\"threads\":$t,\"batch\":$b,\"tokens\":$tok,\"ms\":$ms}"
                    done | tee -a "$OUT"
                fi
            done
        done
    done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med, alone = {}, {}
for r in rows:
    key = (r["file"], r["batch"], r["threads"], r["side"])
    med.setdefault(key, []).append(r["batch"] / (r["ms"] / 1000.0))
    if r["side"] == "lmserve": # rounds whose request ran some dispatches without the helpers
        alone[key[:3]] = alone.get(key[:3], 0) + (r.get("team_alone", 0) > 0)
print("| file | batch | threads | lmserve texts/s | llama.cpp texts/s | ratio | lmserve rounds partly alone |")
print("|---|---|---|---|---|---|---|")
for f in sorted({k[0] for k in med}):
    for b in (1, 32):
        for t in (1, 2):
            a = med.get((f, b, t, "lmserve")); c = med.get((f, b, t, "llama.cpp"))
            if not a:
                continue
            ma = statistics.median(a)
            mc = statistics.median(c) if c else float("nan")
            al = f"{alone.get((f, b, t), 0)}/{len(a)}" if t > 1 else "-"
            print(f"| {f} | {b} | {t} | {ma:.1f} | {mc:.1f} | {ma / mc:.2f}x | {al} |")
PY
