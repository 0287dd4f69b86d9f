#!/bin/sh
# Makes tests/unit/models/transformer/llamacpp_bert_ref.txt: llama.cpp's sentence embeddings
# (llama-embedding, L2-normalised) of random BERT GGUF files written by
# `lmserve-gguf random --arch bert` with the WordPiece vocabulary of
# ../shared/vocab/ggml-vocab-bert-bge.gguf (F32 and Q8_0; pooling mean, cls and last; one
# text longer than a 64-token block; bert and nomic-bert), the embeddings of decoders with a pooling type (random
# llama/qwen2 files with <arch>.pooling_type; synthetic vocabulary), and the relevance scores of rerankers (pooling rank: the
# classification head) on query/document pairs written "query[SEP]document" (llama.cpp then
# runs [CLS] query [SEP] document [SEP]), for test_bert.c, which writes the same files again
# and compares. Run by hand, outside `make`, with a llama.cpp built at LLAMA (default
# /work/ref/llama.cpp, c392e50):
#   sh tests/ref/llamacpp_bert.sh build/bin/lmserve-gguf ../shared/vocab/ggml-vocab-bert-bge.gguf \
#       > tests/unit/models/transformer/llamacpp_bert_ref.txt
set -e
TOOL=$(realpath "$1")
VOCAB=$(realpath "$2")
LLAMA=${LLAMA:-/work/ref/llama.cpp}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
SHAPE="--arch bert --dim 64 --hidden 128 --layers 2 --heads 4 --ctx 256 --seed 7"
cat > "$DIR/texts" <<'TEXTS'
Hello world, this is a test.
The quick brown fox jumps over the lazy dog!
Café résumé naïve: ÀÉÎ accents are stripped, UPPER CASE is lowered.
北京欢迎你 and some CJK text.
a
In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. And God said, Let there be light: and there was light.
TEXTS
echo "# llama.cpp llama-embedding (1 thread, --embd-normalize 2) on lmserve-gguf random BERT files"
echo "# made by tests/ref/llamacpp_bert.sh; vocabulary: ggml-vocab-bert-bge.gguf"
while read -r line; do echo "text $line"; done < "$DIR/texts"
for case in "F32 mean" "Q8_0 mean" "F32 cls" "F32 last" "F32 mean nomic-bert" "Q8_0 cls nomic-bert"; do
    set -- $case
    args="--type $1 $SHAPE --pooling $2"
    [ -n "${3:-}" ] && args="$args --arch $3"
    "$TOOL" random -o "$DIR/m.gguf" --vocab-from "$VOCAB" $args >/dev/null
    echo "model $args"
    "$LLAMA/build/bin/llama-embedding" -m "$DIR/m.gguf" -t 1 -c 256 -b 256 -ub 256 \
        --pooling "$2" --embd-normalize 2 --embd-output-format json \
        -f "$DIR/texts" 2>"$DIR/err" > "$DIR/out.json" || { cat "$DIR/err" >&2; exit 1; }
    python3 -c '
import json, sys
for d in json.load(open(sys.argv[1]))["data"]:
    print("embd", " ".join("%.7g" % x for x in d["embedding"]))
' "$DIR/out.json"
done
# decoders with a pooling type (<arch>.pooling_type, written by --pooling): the normed final
# hidden states pooled (llama.cpp: --pooling given on its command line)
DSHAPE="--dim 64 --hidden 128 --layers 2 --heads 4 --kv-heads 2 --vocab 512 --ctx 1024 --seed 7"
for case in "qwen2 F32 mean" "llama F32 last" "qwen2 Q8_0 last"; do
    set -- $case
    args="--arch $1 --type $2 $DSHAPE --pooling $3"
    "$TOOL" random -o "$DIR/m.gguf" $args >/dev/null
    echo "model $args"
    "$LLAMA/build/bin/llama-embedding" -m "$DIR/m.gguf" -t 1 -c 1024 -b 1024 -ub 1024 \
        --pooling "$3" --embd-normalize 2 --embd-output-format json \
        -f "$DIR/texts" 2>"$DIR/err" > "$DIR/out.json" || { cat "$DIR/err" >&2; exit 1; }
    python3 -c '
import json, sys
for d in json.load(open(sys.argv[1]))["data"]:
    print("embd", " ".join("%.7g" % x for x in d["embedding"]))
' "$DIR/out.json"
done
cat > "$DIR/pairs" <<'PAIRS'
what is a panda?	hi
what is a panda?	The giant panda is a bear species endemic to China.
Where is Paris?	Paris is the capital of France; Café de Flore is there.
PAIRS
for type in F32 Q8_0; do
    args="--type $type $SHAPE --pooling rank"
    "$TOOL" random -o "$DIR/m.gguf" --vocab-from "$VOCAB" $args >/dev/null
    echo "rankmodel $args"
    tr '\t' '\a' < "$DIR/pairs" | sed 's/\a/[SEP]/' > "$DIR/pairs.txt"
    "$LLAMA/build/bin/llama-embedding" -m "$DIR/m.gguf" -t 1 -c 256 -b 256 -ub 256 \
        --pooling rank --embd-normalize -1 --embd-output-format json \
        -f "$DIR/pairs.txt" 2>"$DIR/err" > "$DIR/out.json" || { cat "$DIR/err" >&2; exit 1; }
    while IFS= read -r line; do echo "pair $line"; done < "$DIR/pairs"
    python3 -c '
import json, sys
for d in json.load(open(sys.argv[1]))["data"]:
    print("score %.7g" % d["embedding"][0])
' "$DIR/out.json"
done
