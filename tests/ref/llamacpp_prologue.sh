# tests/ref/llamacpp_prologue.sh: sourced (`. "$(dirname "$0")/llamacpp_prologue.sh"`) by the
# scripts here that run llama.cpp on random GGUF files written by lmserve-gguf; not run alone.
# With the tool's path as the caller's $1 it sets TOOL, LLAMA (a llama.cpp build, default
# /work/ref/llama.cpp, commit c392e50), HERE and a temporary DIR removed on exit, and builds
# $DIR/logits (llamacpp_logits.c against LLAMA's libraries).
set -e
TOOL=$(realpath "$1")
LLAMA=${LLAMA:-/work/ref/llama.cpp}
HERE=$(dirname "$0")
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
gcc -O2 -o "$DIR/logits" "$HERE/llamacpp_logits.c" -I"$LLAMA/include" -I"$LLAMA/ggml/include" \
    -L"$LLAMA/build/bin" -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA/build/bin"
NGEN=12

# ref_prompts TYPE LOGIT_TYPES PROMPT...: for each prompt (one argument, ids separated by
# spaces) of the model in $DIR/m.gguf, a "prompt" line, llama.cpp's "logits" line when TYPE is
# one of LOGIT_TYPES (or LOGIT_TYPES is "all") and its "greedy" line.
# LLAMACPP_KV (f16 by default, or q8_0) is the KV cache type llamacpp_logits.c asks for.
ref_prompts() {
    _type=$1 _logit_types=$2
    shift 2
    for _prompt in "$@"; do
        echo "prompt $_prompt"
        "$DIR/logits" "$DIR/m.gguf" $NGEN $_prompt 2>/dev/null > "$DIR/out"
        case " $_logit_types " in *" all "*|*" $_type "*) grep '^logits' "$DIR/out" ;; esac
        grep '^greedy' "$DIR/out"
    done
}
