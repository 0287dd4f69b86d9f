#!/bin/sh
# docker/smoke.sh: build the image, start it, check /ready and one request per model type.
# Where no Docker engine answers (these build machines), it says so and exits 0 ("skipped").
# Usage: sh docker/smoke.sh            (from the repository root; IMAGE=... to name the tag)
set -eu

IMAGE=${IMAGE:-lmserve:smoke}
NAME=lmserve-smoke-$$
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}   # loading the default models takes seconds, not minutes

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    echo "docker smoke: no Docker engine present; skipped"
    exit 0
fi

cd "$(dirname "$0")/.."
docker build -f docker/Dockerfile -t "$IMAGE" .

# Publish on a free host port chosen by the engine.
docker run -d --name "$NAME" -p 127.0.0.1::8080 "$IMAGE" >/dev/null
trap 'docker rm -f "$NAME" >/dev/null 2>&1 || true' EXIT INT TERM
PORT=$(docker port "$NAME" 8080/tcp | head -n 1 | sed 's/.*://')
URL=http://127.0.0.1:$PORT

fail=0 pass=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

i=0
until curl -fsS "$URL/ready" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt "$READY_TIMEOUT_S" ]; then break; fi
    sleep 1
done
if curl -fsS "$URL/ready" >/dev/null; then ok "/ready"; else bad "/ready after ${READY_TIMEOUT_S}s"; docker logs "$NAME" | tail -n 20; fi
curl -fsS "$URL/health" | grep -q '"ok"' && ok "/health" || bad "/health"
curl -fsS "$URL/" | grep -q 'lmserve' && ok "/ (playground)" || bad "/ (playground)"

post() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
post /v1/score '{"model":"kjv-ngram","input":"in the beginning god created the heaven and the earth"}' \
    | grep -q '"perplexity"' && ok "ngram: /v1/score" || bad "ngram: /v1/score"
post /v1/neighbors '{"model":"kjv-vectors","word":"king","top_k":5}' \
    | grep -q '"score"' && ok "embedding: /v1/neighbors" || bad "embedding: /v1/neighbors"
post /v1/completions '{"model":"kjv-tiny","prompt":"And God said","max_tokens":16,"temperature":0}' \
    | grep -q '"text_completion"' && ok "transformer: /v1/completions" || bad "transformer: /v1/completions"

# The image runs as a non-root user and stops cleanly on SIGTERM (exec-form entrypoint).
[ "$(docker exec "$NAME" id -u)" != 0 ] && ok "non-root user" || bad "runs as root"
docker stop -t 30 "$NAME" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] && ok "SIGTERM: drained and exited 0" || bad "SIGTERM: exit status $code"

echo "smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
