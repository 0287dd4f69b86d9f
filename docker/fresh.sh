#!/bin/sh
# docker/fresh.sh: time `make run` and `make test` as a new user would on a fresh Debian 12:
# a git clone of REF in a container of the bare base image (debian:bookworm-slim, see
# docker/base-image.sh), nothing installed but `make` (apt-get update + install, timed too).
# Each target gets its own new container and its own clone, so neither profits from the other.
# Prints one line per target: wall seconds from `apt-get update` to done
# (make run: until tools/run.sh prints "lmserve is ready", i.e. all three models serve).
# Needs a Docker engine and network access to the apt mirror (and npm for make test).
# Usage: sh docker/fresh.sh [REF] [run|test]...     (default: HEAD, run test)
set -eu
DOCKER=${DOCKER:-docker}
BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}
here=$(cd "$(dirname "$0")/.." && pwd)
ref=${1:-HEAD}
[ $# -gt 0 ] && shift
targets=${*:-run test}

tmp=$(mktemp -d /tmp/lmserve-fresh.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

for t in $targets; do
    rm -rf "$tmp/src"
    git clone -q --no-hardlinks "$here" "$tmp/src"
    git -C "$tmp/src" checkout -q "$(git -C "$here" rev-parse "$ref")"
    rm -rf "$tmp/src/.git"
    case "$t" in
    run) cmd='make run >/tmp/run.log 2>&1 & pid=$!
            until grep -q "lmserve is ready" /tmp/run.log; do
                kill -0 $pid 2>/dev/null || { cat /tmp/run.log; exit 1; }; sleep 0.2; done
            end=$(date +%s.%N); grep "^lmserve: model" /tmp/run.log; tail -n 9 /tmp/run.log' ;;
    test) cmd='make test >/tmp/test.log 2>&1 || { tail -n 40 /tmp/test.log; exit 1; }
            end=$(date +%s.%N); tail -n 5 /tmp/test.log' ;;
    *) echo "fresh.sh: unknown target '$t' (run, test)" >&2; exit 2 ;;
    esac
    echo "fresh: make $t in a new $BASE_IMAGE container, clone of $(git -C "$here" rev-parse --short "$ref")"
    # A TLS-intercepting proxy between this machine and the npm registry needs the host's CA
    # bundle in the container too (NODE_EXTRA_CA_CERTS, as on the host); nothing else is shared.
    ca=${NODE_EXTRA_CA_CERTS:-}
    set --
    [ -n "$ca" ] && [ -f "$ca" ] && set -- -v "$ca:/etc/lmserve-host-ca.crt:ro" -e NODE_EXTRA_CA_CERTS=/etc/lmserve-host-ca.crt
    $DOCKER run --rm "$@" -v "$tmp/src:/src:ro" "$BASE_IMAGE" sh -c '
        set -eu
        cp -a /src /lmserve && cd /lmserve
        start=$(date +%s.%N)
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends make >/dev/null
        '"$cmd"'
        echo "fresh: make '"$t"': $(echo "$end - $start" | awk "{print \$1 - \$3}") s wall" \
            "(apt-get update + install make + make '"$t"'), nproc $(nproc)"
        # (make run: the container ends here, and the server with it)' | tail -n 20
done
