#!/bin/sh
# selftest.sh: tests the contract tools themselves on fixtures (no server needed):
# tools/check_routes.py, tests/contract/validate.mjs and tests/contract/lint.mjs.
# Run from anywhere: sh tests/contract/selftest.sh   (needs node_modules: npm ci --prefix tests/contract)
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
FIX="$HERE/fixtures"
SPEC="$FIX/api.yaml" # a frozen copy: the live api.yaml is linted by `make lint-api`
PY=${PYTHON:-python3}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
pass=0
fail=0

# expect NAME WANT_RC GREP_PATTERN -- command...: the command's exit code must be WANT_RC and
# its output must contain GREP_PATTERN (a fixed string; empty = no check).
expect() {
    name=$1 want=$2 pattern=$3
    shift 4
    "$@" >"$TMP/out" 2>&1
    rc=$?
    if [ "$rc" -eq "$want" ] && { [ -z "$pattern" ] || grep -qF -- "$pattern" "$TMP/out"; }; then
        pass=$((pass + 1))
        echo "ok   $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name (exit $rc, want $want; want output containing '$pattern'):"
        sed 's/^/     /' "$TMP/out"
    fi
}

# --- check_routes.py ---
expect "routes: fixture router matches api.yaml" 0 "routes: 17 passed, 0 failed" -- \
    "$PY" "$ROOT/tools/check_routes.py" "$FIX/router_ok.c" "$SPEC"
expect "routes: drift is reported (extra route)" 1 "missing from $SPEC: PUT /v1/extra" -- \
    "$PY" "$ROOT/tools/check_routes.py" "$FIX/router_drift.c" "$SPEC"
expect "routes: drift is reported (missing route)" 1 "POST /v1/similarity" -- \
    "$PY" "$ROOT/tools/check_routes.py" "$FIX/router_drift.c" "$SPEC"
expect "routes: drift summary" 1 "routes: 16 passed, 2 failed" -- \
    "$PY" "$ROOT/tools/check_routes.py" "$FIX/router_drift.c" "$SPEC"
expect "routes: reader skips options and non-path keys" 0 "" -- \
    "$PY" "$ROOT/tools/check_routes.py" --list-api "$FIX/api_small.yaml"
"$PY" "$ROOT/tools/check_routes.py" --list-api "$FIX/api_small.yaml" >"$TMP/list" 2>&1
printf 'GET /health\nGET /v1/models/{id}\nDELETE /v1/models/{id}\n' >"$TMP/want"
expect "routes: reader output is exact" 0 "" -- cmp "$TMP/list" "$TMP/want"
printf 'int x;\n' >"$TMP/norouter.c"
expect "routes: a file without ROUTES fails" 1 "no \`ROUTES[] = {\` table" -- \
    "$PY" "$ROOT/tools/check_routes.py" "$TMP/norouter.c" "$SPEC"

# --- validate.mjs ---
expect "validate: conforming responses pass" 0 "contract: 29 passed, 0 failed" -- \
    node "$HERE/validate.mjs" "$SPEC" "$FIX/good.jsonl"
expect "validate: every bad response fails" 1 "contract: 0 passed, 14 failed" -- \
    node "$HERE/validate.mjs" "$SPEC" "$FIX/bad.jsonl"
expect "validate: failures name method, path, status" 1 "FAIL GET /health -> 200 [GET /health]: (root) must NOT have additional properties 'extra'" -- \
    node "$HERE/validate.mjs" "$SPEC" "$FIX/bad.jsonl"
: >"$TMP/empty.jsonl"
expect "validate: an empty log fails" 1 "no responses in the log" -- \
    node "$HERE/validate.mjs" "$SPEC" "$TMP/empty.jsonl"

# --- lint.mjs ---
expect "lint: the spec is clean" 0 "lint: 1 passed, 0 failed" -- \
    node "$HERE/lint.mjs" "$SPEC"
sed 's/additionalProperties: false/additionalproperties: false/' "$SPEC" >"$TMP/typo.yaml"
expect "lint: a keyword typo fails" 1 'unknown keyword: "additionalproperties"' -- \
    node "$HERE/lint.mjs" "$TMP/typo.yaml"
sed "s|schemas/Health'|schemas/Healthy'|" "$SPEC" >"$TMP/ref.yaml"
expect "lint: a dangling \$ref fails" 1 "does not resolve" -- \
    node "$HERE/lint.mjs" "$TMP/ref.yaml"
awk '/^  \/metrics:$/ {m=1; print; next} m && /^  \// {m=0} m && /^    / {print "  " $0; next} {print}' \
    "$SPEC" >"$TMP/layout.yaml"
expect "lint: a layout check_routes.py cannot read fails" 1 "check_routes.py does not see GET /metrics" -- \
    node "$HERE/lint.mjs" "$TMP/layout.yaml"
printf 'openapi: 3.1.0\nopenapi: 3.1.0\n' >"$TMP/dup.yaml"
expect "lint: duplicate keys fail" 1 "lint: 0 passed, 1 failed" -- \
    node "$HERE/lint.mjs" "$TMP/dup.yaml"

echo "selftest: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
