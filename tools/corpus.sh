#!/bin/sh
# corpus.sh: the King James Bible (Debian's bible-kjv) as a training corpus for the default
# models: one verse per line, reference stripped, lower-cased, only letters, digits and
# apostrophes kept; every 50th verse (lines 50, 100, ...) held out for evaluation.
# Deterministic: the same package version always gives byte-identical files.
# Usage: tools/corpus.sh OUTDIR   -> OUTDIR/kjv.train.txt, OUTDIR/kjv.test.txt
set -eu

HOLDOUT_EVERY=50 # one verse in 50 (~2%) goes to the held-out split
out=${1:?usage: tools/corpus.sh OUTDIR}

if ! command -v bible >/dev/null 2>&1; then
    echo "corpus.sh: 'bible' not found: install the Debian package bible-kjv" >&2
    exit 1
fi
mkdir -p "$out"
tmp="$out/.kjv.$$"
# LC_ALL=C: byte-wise lower-casing and classes, identical on every machine.
bible -f gen1:1-rev22:21 | LC_ALL=C awk -v every="$HOLDOUT_EVERY" \
    -v train="$tmp.train" -v test="$tmp.test" '
{
    sub(/^[^ ]+ /, "")            # the reference, e.g. "Ge1:1"
    $0 = tolower($0)
    gsub(/[^a-z0-9'"'"']+/, " ")
    gsub(/^ +| +$/, "")
    if ($0 == "") next
    if (NR % every == 0) print > test; else print > train
}'
[ -s "$tmp.train" ] && [ -s "$tmp.test" ] || { echo "corpus.sh: empty output" >&2; exit 1; }
mv "$tmp.train" "$out/kjv.train.txt"
mv "$tmp.test" "$out/kjv.test.txt"
