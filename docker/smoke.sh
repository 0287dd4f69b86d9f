#!/bin/sh
# docker/smoke.sh: one container of the image (made by `make image`): /ready and the time from
# `docker run` to it, one request per model type (OpenAI and KServe V2 routes), the playground,
# non-root user, no compiler or Python in the image, the shell-less healthcheck (also on a
# moved port), flags after the image name keep the default models, image size, and SIGTERM
# -> exit 0. Where no Docker engine answers it prints "skipped: no engine" and exits 0.
# Usage: sh docker/smoke.sh        (IMAGE=... DOCKER=... to override)
set -eu

IMAGE=${IMAGE:-lmserve:latest}
DOCKER=${DOCKER:-docker}
NAME=lmserve-smoke-$$
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}   # loading the default models takes seconds, not minutes
IMAGE_MAX_MB=${IMAGE_MAX_MB:-150}         # runtime only: ~75 MB base + libraries + binary + models

if ! $DOCKER info >/dev/null 2>&1; then
    echo "docker smoke: skipped: no engine"
    exit 0
fi
if ! $DOCKER image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "docker smoke: no image $IMAGE (make image)" >&2
    exit 1
fi

fail=0 pass=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
now_ms() { date +%s%3N; }
cleanup() { $DOCKER rm -f "$NAME" "$NAME-port" "$NAME-flags" >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

# Wait until URL answers 200 (0.05 s steps); 0 when it did within READY_TIMEOUT_S.
wait_200() {
    deadline=$(($(now_ms) + READY_TIMEOUT_S * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        curl -fs -o /dev/null --max-time 2 "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
host_port() { $DOCKER port "$1" "$2/tcp" | head -n 1 | sed 's/.*://'; }
health() { $DOCKER inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1"; }
wait_healthy() {
    i=0
    while [ "$i" -lt 60 ]; do
        [ "$(health "$1")" = healthy ] && return 0
        i=$((i + 1))
        sleep 0.5
    done
    return 1
}

size=$($DOCKER image inspect -f '{{.Size}}' "$IMAGE")
mb=$((size / 1000000))
[ "$mb" -le "$IMAGE_MAX_MB" ] && ok "image size ${mb} MB (<= ${IMAGE_MAX_MB} MB)" || bad "image size ${mb} MB > ${IMAGE_MAX_MB} MB"
hc=$($DOCKER image inspect -f '{{json .Config.Healthcheck.Test}}' "$IMAGE")
case "$hc" in *'"--healthcheck"'*) ok "HEALTHCHECK is lmserve --healthcheck (no shell)" ;; *) bad "HEALTHCHECK $hc" ;; esac
# Runtime only: no compiler, no Python (so no PyTorch), no make.
if $DOCKER run --rm --entrypoint /bin/sh "$IMAGE" -c 'for c in gcc cc make python3; do command -v $c && exit 1; done; exit 0' >/dev/null 2>&1; then
    ok "no compiler, make or python in the image"
else
    bad "build tools in the runtime image"
fi

# Publish on a free host port chosen by the engine; the health interval is shortened only
# so the test need not wait 10 s for the first probe.
t0=$(now_ms)
$DOCKER run -d --name "$NAME" --read-only --cap-drop ALL --security-opt no-new-privileges \
    --health-interval 1s -p 127.0.0.1::8080 "$IMAGE" >/dev/null
URL=http://127.0.0.1:$(host_port "$NAME" 8080)
if wait_200 "$URL/ready"; then
    ok "/ready $(($(now_ms) - t0)) ms after docker run"
else
    bad "/ready after ${READY_TIMEOUT_S}s"
    $DOCKER logs "$NAME" 2>&1 | tail -n 20
fi
curl -fsS "$URL/health" | grep -q '"ok"' && ok "/health" || bad "/health"
page=$(curl -fsS "$URL/" 2>/dev/null || true)
case "$page" in *lmserve*) ok "/ (playground)" ;; *) bad "/ (playground)" ;; esac

post() { curl -fsS -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
post /v1/score '{"model":"kjv-ngram","input":"in the beginning god created the heaven and the earth"}' \
    | grep -q '"perplexity"' && ok "ngram: /v1/score" || bad "ngram: /v1/score"
post /v1/neighbors '{"model":"kjv-vectors","word":"king","top_k":5}' \
    | grep -q '"score"' && ok "embedding: /v1/neighbors" || bad "embedding: /v1/neighbors"
post /v1/completions '{"model":"kjv-tiny","prompt":"And God said","max_tokens":16,"temperature":0}' \
    | grep -q '"text_completion"' && ok "transformer: /v1/completions" || bad "transformer: /v1/completions"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2")" = 200 ]; then
    post /v2/models/kjv-ngram/infer '{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["and god said"]}]}' \
        | grep -q '"FP32"' && ok "KServe V2: /v2/models/kjv-ngram/infer" || bad "KServe V2: /v2/models/kjv-ngram/infer"
    post /v2/models/kjv-tiny/generate '{"text_input":"And God said","parameters":{"max_tokens":8,"temperature":0}}' \
        | grep -q '"text_output"' && ok "KServe V2: /v2/models/kjv-tiny/generate" || bad "KServe V2: /v2/models/kjv-tiny/generate"
fi

# The image runs as a non-root user; the healthcheck goes healthy with no shell involved.
[ "$($DOCKER exec "$NAME" id -u)" != 0 ] && ok "non-root user (uid $($DOCKER exec "$NAME" id -u))" || bad "runs as root"
wait_healthy "$NAME" && ok "healthcheck healthy" || bad "healthcheck: $(health "$NAME")"

# Issue 17, 2: a moved port (flag after the image name) is still healthy.
$DOCKER run -d --name "$NAME-port" --health-interval 1s "$IMAGE" --port 9000 >/dev/null
wait_healthy "$NAME-port" && ok "healthcheck healthy with --port 9000" || bad "healthcheck with --port 9000: $(health "$NAME-port")"
# Issue 17, 5: flags after the image name add to the defaults (LMSERVE_* in the image) and
# keep the models.
$DOCKER run -d --name "$NAME-flags" -p 127.0.0.1::8080 "$IMAGE" --log-format json >/dev/null
URL2=http://127.0.0.1:$(host_port "$NAME-flags" 8080)
if wait_200 "$URL2/ready" && curl -fsS "$URL2/ready" | grep -q '"kjv-tiny"'; then
    ok "docker run IMAGE --log-format json still serves the default models"
else
    bad "docker run IMAGE --log-format json: $(curl -s "$URL2/ready")"
fi
$DOCKER rm -f "$NAME-port" "$NAME-flags" >/dev/null 2>&1 || true

# SIGTERM: lmserve (PID 1) drains and exits 0.
t0=$(now_ms)
$DOCKER stop -t 30 "$NAME" >/dev/null
code=$($DOCKER inspect -f '{{.State.ExitCode}}' "$NAME")
[ "$code" = 0 ] && ok "SIGTERM: drained and exited 0 in $(($(now_ms) - t0)) ms" || bad "SIGTERM: exit status $code"

echo "docker smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
