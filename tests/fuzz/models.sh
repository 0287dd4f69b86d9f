#!/bin/sh
# models.sh DIR: tiny models for the fuzzers (test type always; the others when tools exist).
set -eu
dir=$1
mkdir -p "$dir"
echo lmserve-test-model > "$dir/tiny.test"
cat > "$dir/tiny.arpa" <<'ARPA'
\data\
ngram 1=4
ngram 2=2

\1-grams:
-1.0	<unk>	0
-0.5	<s>	-0.3
-0.7	</s>	0
-0.6	a	-0.2

\2-grams:
-0.2	<s> a
-0.3	a </s>

\end\
ARPA
printf '3 2\na 0.1 0.2\nb 0.3 -0.4\nc -1 0.5\n' > "$dir/tiny.vec"
# A small random Transformer (legacy format) and its tokenizer, from the project's generator.
tools=${LMSERVE_TOOLS:-$(dirname "$0")/../../build/bin}
"$tools/lmserve-ckpt-gen" -o "$dir/tiny.bin" --tokenizer "$dir/tiny.tok" --dim 32 --hidden 64 \
    --layers 1 --heads 4 --kv-heads 2 --vocab 300 --seq 64 --seed 7 >/dev/null
# A tiny BERT encoder and a BERT reranker (random weights) with the bge WordPiece vocabulary,
# when ../shared/vocab has it: /v1/embeddings, /v1/rerank and the encoder's refusals.
vocab=${LMSERVE_SHARED_VOCAB:-$(dirname "$0")/../../../shared/vocab}/ggml-vocab-bert-bge.gguf
if [ -f "$vocab" ]; then
    "$tools/lmserve-gguf" random -o "$dir/tiny-bert.gguf" --arch bert --vocab-from "$vocab" \
        --dim 32 --hidden 64 --layers 1 --heads 4 --ctx 64 --seed 7 >/dev/null
    "$tools/lmserve-gguf" random -o "$dir/tiny-rerank.gguf" --arch bert --vocab-from "$vocab" \
        --dim 32 --hidden 64 --layers 1 --heads 4 --ctx 64 --seed 8 --pooling rank >/dev/null
fi
