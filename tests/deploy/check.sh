#!/bin/sh
# tests/deploy/check.sh: the container and Kubernetes checks CI runs without a Docker engine
# (see check.mjs). Needs node and tests/web's npm packages (`npm ci --prefix tests/web`).
set -eu
cd "$(dirname "$0")/../.."
if [ ! -d tests/web/node_modules/yaml ]; then
    npm ci --prefix tests/web --no-audit --no-fund >/dev/null
fi
exec node tests/deploy/check.mjs
