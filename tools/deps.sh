#!/bin/sh
# deps.sh GROUP...: install the Debian (and npm) packages a group needs, skipping what is
# already installed. Groups: build (compile), run (make run), test (make test), models (make
# models: the corpus and fastText, no PyTorch), train (make models-train and the trainer's test: PyTorch
# with OpenBLAS, ~11x faster than the reference BLAS it would pick otherwise), web (make
# test-web), bench (make bench), docker (make test-image, used by .ci/run only). Works as
# root on a fresh Debian 12.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs_build="gcc make pkg-config libmicrohttpd-dev libjansson-dev zlib1g-dev"
# run: what tools/run.sh uses to wait for /ready (make run: build run models).
pkgs_run="curl"
pkgs_test="libcriterion-dev libcurl4-openssl-dev curl python3 python3-numpy nodejs npm prometheus"
pkgs_models="bible-kjv fasttext"
pkgs_train="bible-kjv sentencepiece python3-torch python3-numpy libopenblas0-pthread"
pkgs_web="chromium chromium-driver nodejs npm"
# docker: the engine, Compose v1 (the one Debian ships) and debootstrap for the local base image.
pkgs_docker="docker.io docker-compose debootstrap curl"
pkgs_bench="wrk nginx-light hyperfine python3-numpy libopenblas0-pthread python3-faiss"

want=""
npm_dirs=""
for g in "$@"; do
    case "$g" in
    build) want="$want $pkgs_build" ;;
    run) want="$want $pkgs_run" ;;
    test) want="$want $pkgs_test"; npm_dirs="$npm_dirs tests/contract tests/openai tests/vocab" ;;
    models) want="$want $pkgs_models" ;;
    train) want="$want $pkgs_train" ;;
    web) want="$want $pkgs_web"; npm_dirs="$npm_dirs tests/web" ;;
    bench) want="$want $pkgs_bench" ;;
    docker) want="$want $pkgs_docker" ;;
    *) echo "deps.sh: unknown group '$g'" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    # node/npm may come from elsewhere (e.g. a NodeSource nodejs that bundles npm and
    # conflicts with Debian's npm): a working command is enough.
    case "$p" in nodejs) command -v node >/dev/null 2>&1 && continue ;; npm) command -v npm >/dev/null 2>&1 && continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac
    fi
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

for d in $npm_dirs; do
    if [ -f "$here/$d/package-lock.json" ] && [ ! -d "$here/$d/node_modules" ]; then
        echo "deps: npm ci in $d"
        (cd "$here/$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
