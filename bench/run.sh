#!/bin/sh
# bench/run.sh: run every area's benchmark (make bench). Each writes its own figures; copy the
# medians into bench/RESULTS.md with the date and machine. Areas: http, ngram, embed, transformer.
set -u
cd "$(dirname "$0")/.."
only=${1:-all}
for area in http ngram embed transformer; do
    [ "$only" = all ] || [ "$only" = "$area" ] || continue
    if [ -f "bench/$area.sh" ]; then
        echo "==== bench/$area.sh"
        sh "bench/$area.sh"
    elif [ -f "bench/$area/run.sh" ]; then
        echo "==== bench/$area/run.sh"
        sh "bench/$area/run.sh"
    fi
done
