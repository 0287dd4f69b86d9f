#!/bin/sh
# run.sh LMSERVE [FLAG...]: what `make run` does after building: start lmserve with the given
# flags (and whatever LMSERVE_* environment is set), wait until every model is ready, then
# print the playground URL and two example requests. Ctrl-C (or SIGTERM) stops the server.
# The printed address follows the same precedence as lmserve: flag, then LMSERVE_HOST /
# LMSERVE_PORT, then 127.0.0.1:8080.
set -u
bin=${1:?usage: tools/run.sh LMSERVE [FLAG...]}
shift

host=${LMSERVE_HOST:-127.0.0.1}
port=${LMSERVE_PORT:-8080}
prev=
for a in "$@"; do
    case "$prev" in --host) host=$a ;; --port) port=$a ;; esac
    case "$a" in --host=*) host=${a#--host=} ;; --port=*) port=${a#--port=} ;; esac
    prev=$a
done
case "$host" in 0.0.0.0 | "") host=127.0.0.1 ;; :: | "[::]") host="[::1]" ;; *:*) host="[$host]" ;; esac
url="http://$host:$port"

"$bin" "$@" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' INT TERM

# /ready is 200 once every configured model is loaded; curl or python3, whichever is there.
ready() {
    if command -v curl >/dev/null 2>&1; then
        curl -sf -o /dev/null "$url/ready"
    elif command -v python3 >/dev/null 2>&1; then
        python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" \
            "$url/ready" 2>/dev/null
    else
        sleep 2
    fi
}
if [ "$port" != 0 ]; then
    i=0
    while kill -0 $pid 2>/dev/null && ! ready; do
        i=$((i + 1))
        [ $i -ge 600 ] && break # 60 s: print anyway; /ready tells which model is late
        sleep 0.1
    done
    if kill -0 $pid 2>/dev/null; then
        cat <<EOF

lmserve is ready: playground at $url/
Try:
  curl -s $url/v1/completions -H 'Content-Type: application/json' \\
       -d '{"model":"kjv-tiny","prompt":"the lord is my shepherd","max_tokens":24,"temperature":0}'
  curl -s $url/v1/score -H 'Content-Type: application/json' \\
       -d '{"model":"kjv-ngram","input":["in the beginning god created the heaven and the earth"]}'
(more in README.md "Using it"; Ctrl-C stops the server)

EOF
    fi
fi
wait $pid
rc=$?
# interrupted by a trapped signal: wait once more for the server's drain to finish
if kill -0 $pid 2>/dev/null; then
    wait $pid
    rc=$?
fi
exit $rc
