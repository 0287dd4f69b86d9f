#!/bin/sh
# docker/replicas.sh: compose's "replicas" profile (docker/compose.yaml): 3 replicas of the
# image behind nginx answer, spread over the replicas; with one replica killed, requests
# through nginx keep succeeding. Uses Compose v2 (`docker compose`) when there, else v1.29
# (`docker-compose`, Debian's). Where no Docker engine answers: "skipped: no engine", exit 0.
# Usage: sh docker/replicas.sh        (IMAGE=... DOCKER=... to override)
set -eu

IMAGE=${IMAGE:-lmserve:latest}
DOCKER=${DOCKER:-docker}
PROJECT=lmserve-replicas-$$
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}
N=12   # requests per round

if ! $DOCKER info >/dev/null 2>&1; then
    echo "docker replicas: skipped: no engine"
    exit 0
fi
if $DOCKER compose version >/dev/null 2>&1; then
    compose() { $DOCKER compose -p "$PROJECT" -f docker/compose.yaml "$@"; }
elif command -v docker-compose >/dev/null 2>&1; then
    compose() { docker-compose -p "$PROJECT" -f docker/compose.yaml "$@"; }
else
    echo "docker replicas: no Docker Compose (tools/deps.sh docker installs docker-compose)" >&2
    exit 1
fi
cd "$(dirname "$0")/.."

# A free loopback port for nginx, so the test never clashes with a running lmserve.
LB_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export LMSERVE_IMAGE="$IMAGE" LMSERVE_LB_PORT="$LB_PORT"
cleanup() { compose --profile replicas down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT INT TERM

fail=0 pass=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

compose config -q && ok "compose.yaml loads ($(compose version --short 2>/dev/null || true))" || bad "compose.yaml does not load"
# The lb image (Debian's nginx) is built locally; the lmserve image is the one under test.
if ! compose --profile replicas build lb >/tmp/$PROJECT-build.log 2>&1; then
    tail -n 20 /tmp/$PROJECT-build.log
    bad "build of the nginx image"
fi
rm -f /tmp/$PROJECT-build.log
# docker-compose 1.29 on a busy engine once failed one replica's start (2 of 3 came up, CI
# 2026-12-06 05:33; the rerun passed): say why, tear down, and try once more before failing.
up() { compose --profile replicas up -d --no-build --scale replica=3 replica lb >/tmp/$PROJECT-up.log 2>&1; }
if ! up; then
    echo "docker replicas: compose up failed once, retrying:"; tail -n 5 /tmp/$PROJECT-up.log || true
    cleanup
    up || { bad "compose up"; tail -n 20 /tmp/$PROJECT-up.log; compose --profile replicas logs --tail 20; exit 1; }
fi
rm -f /tmp/$PROJECT-up.log
URL=http://127.0.0.1:$LB_PORT

i=0
until curl -fs -o /dev/null "$URL/ready" 2>/dev/null; do
    i=$((i + 1))
    [ "$i" -gt "$((READY_TIMEOUT_S * 2))" ] && break
    sleep 0.5
done
n=$(compose --profile replicas ps -q replica | wc -l)
[ "$n" -eq 3 ] && ok "3 replicas running" || bad "$n replicas running"

# One round of N scoring requests through nginx; prints how many answered 2xx.
round() {
    okn=0
    for _ in $(seq "$N"); do
        curl -fsS -o /dev/null -H 'Content-Type: application/json' \
            -d '{"model":"kjv-ngram","input":"and god said let there be light"}' "$URL/v1/score" 2>/dev/null \
            && okn=$((okn + 1))
    done
    echo "$okn"
}
got=$(round)
[ "$got" -eq "$N" ] && ok "$N/$N requests through nginx answered" || bad "$got/$N requests through nginx answered"
sleep 1   # the access log is flushed in batches
spread=""
for c in $(compose --profile replicas ps -q replica); do
    spread="$spread $($DOCKER logs "$c" 2>&1 | grep -c '"path":"/v1/score"' || true)"
done
busy=0
for k in $spread; do [ "$k" -gt 0 ] && busy=$((busy + 1)); done
[ "$busy" -ge 2 ] && ok "requests spread over the replicas:$spread" || bad "requests not spread:$spread"

# Kill one replica (SIGKILL: no drain); nginx retries the others and requests keep succeeding.
victim=$(compose --profile replicas ps -q replica | head -n 1)
$DOCKER kill "$victim" >/dev/null
got=$(round)
[ "$got" -eq "$N" ] && ok "one replica killed: $N/$N requests still answered" || bad "one replica killed: $got/$N answered"

echo "docker replicas: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
