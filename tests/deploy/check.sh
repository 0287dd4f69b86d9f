#!/bin/sh
# tests/deploy/check.sh: the container and Kubernetes checks CI runs without a Docker engine
# (see check.mjs). Needs node, tests/web's npm packages (yaml) and tests/deploy's (schemas).
set -eu
cd "$(dirname "$0")/../.."
if [ ! -d tests/web/node_modules/yaml ]; then
    npm ci --prefix tests/web --no-audit --no-fund >/dev/null
fi
# The schema validators (kubernetes-models, Ajv), from tests/deploy's committed lock.
if [ ! -f tests/deploy/node_modules/.package-lock.json ] || [ tests/deploy/package-lock.json -nt tests/deploy/node_modules/.package-lock.json ]; then
    npm ci --prefix tests/deploy --no-audit --no-fund --loglevel=error >/dev/null
fi
exec node tests/deploy/check.mjs
