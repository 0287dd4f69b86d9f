#!/usr/bin/env python3
"""check_routes.py: the router table and api.yaml must list the same routes (docs/ARCHITECTURE.md, routing).

usage: check_routes.py [server/router.c] [api.yaml]
       check_routes.py --list-api api.yaml      (print "METHOD /path" per operation)
       check_routes.py --list-router router.c   (print "METHOD /path" per ROUTES row)

Reads the rows of `ROUTES[]` in router.c, e.g.
    { .method = "GET", .path = "/v1/models/{id}", .handler = api_models_get, .cost = COST_INLINE },
and the paths and methods of api.yaml (OPTIONS ignored: the router answers preflight for
every path). Path parameter names do not matter ({id} equals {model}; the router's
rest-of-path {path*} is api.yaml's {path} on a path item with `x-wildcard: true`). Prints each route
found on one side only and exits 1 on any drift, else prints `routes: N passed, 0 failed`.
Standard library only: api.yaml is read with a small indentation-based reader that relies
on the file's style (paths at 2 spaces, methods at 4; tests/contract/lint.mjs checks that
this reader sees exactly what a YAML parser sees).
"""
import re
import sys

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
IGNORED = {"OPTIONS"}

PATH_KEY = re.compile(r"""^  (['"]?)(/[^'"]*)\1:\s*(#.*)?$""")
METHOD_KEY = re.compile(r"^    (" + "|".join(METHODS) + r"):\s*(#.*)?$")
ROUTES_START = re.compile(r"\bROUTES\s*\[\s*\w*\s*\]\s*=\s*\{")
FIELD = re.compile(r"\.(method|path)\s*=\s*\"((?:[^\"\\]|\\.)*)\"")


def strip_c_comments(text):
    """Blank out /* */ and // comments, keeping newlines (so line numbers stay right)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _row(path, text, start, end):
    """(METHOD, path, line) of one table row text[start..end], or None for a sentinel."""
    fields = dict(FIELD.findall(text[start:end]))
    line = text.count("\n", 0, start) + 1
    if not fields:
        return None  # e.g. a { 0 } sentinel
    if "method" not in fields or "path" not in fields:
        raise ValueError(f"{path}:{line}: a ROUTES row without .method and .path")
    return fields["method"].upper(), fields["path"], line


def read_router(path):
    """[(METHOD, path, line)] from ROUTES[] in router.c."""
    with open(path, encoding="utf-8") as f:
        text = strip_c_comments(f.read())
    m = ROUTES_START.search(text)
    if not m:
        raise ValueError(f"{path}: no `ROUTES[] = {{` table found")
    rows = []
    depth, i, row_start = 1, m.end(), None
    while i < len(text) and depth:
        c = text[i]
        if c == '"':  # skip string literals: paths hold braces ({id})
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
            if depth == 2:
                row_start = i
        elif c == "}":
            depth -= 1
            if depth == 1 and row_start is not None:
                rows.append(_row(path, text, row_start, i))
                row_start = None
        i += 1
    if depth:
        raise ValueError(f"{path}: ROUTES[] table is not closed")
    rows = [r for r in rows if r]
    if not rows:
        raise ValueError(f"{path}: ROUTES[] has no rows")
    return rows


def read_api(path):
    """[(METHOD, path, line)] from the `paths:` section of api.yaml."""
    routes = []
    in_paths = False
    current = None
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line.startswith(" "):  # a top-level key
                in_paths = line.split("#")[0].strip() == "paths:"
                current = None
                continue
            if not in_paths:
                continue
            if line.startswith("  ") and not line.startswith("   "):
                m = PATH_KEY.match(line)
                if not m:
                    raise ValueError(f"{path}:{number}: expected a path key at 2 spaces, got {line.strip()!r}")
                current = m.group(2)
                continue
            m = METHOD_KEY.match(line)
            if m and current:
                routes.append((m.group(1).upper(), current, number))
    if not routes:
        raise ValueError(f"{path}: no operations under `paths:`")
    return routes


def key(method, route_path):
    """Route identity: method plus the path with parameter names erased."""
    return method, re.sub(r"\{[^}]*\}", "{}", route_path)


def main(argv):
    if len(argv) == 3 and argv[1] in ("--list-api", "--list-router"):
        try:
            rows = read_api(argv[2]) if argv[1] == "--list-api" else read_router(argv[2])
        except (OSError, ValueError) as e:
            print(e, file=sys.stderr)
            return 2
        for method, route_path, _ in rows:
            if method not in IGNORED:
                print(f"{method} {route_path}")
        return 0
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) > 3 or (len(argv) > 1 and argv[1].startswith("-")):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    router_path = argv[1] if len(argv) > 1 else "server/router.c"
    api_path = argv[2] if len(argv) > 2 else "api.yaml"
    try:
        router = read_router(router_path)
        api = read_api(api_path)
    except (OSError, ValueError) as e:
        print(f"check_routes: {e}")
        print("routes: 0 passed, 1 failed")
        return 1

    failed = 0
    seen = {}
    for method, route_path, line in router:
        k = key(method, route_path)
        if k in seen:
            print(f"duplicate in {router_path}:{line}: {method} {route_path} (first at line {seen[k]})")
            failed += 1
        seen[k] = line
    api_keys = {}
    for method, route_path, line in api:
        if method in IGNORED:
            continue
        api_keys.setdefault(key(method, route_path), (route_path, line))
    router_keys = {key(m, p): (p, line) for m, p, line in router if m not in IGNORED}

    passed = 0
    for k, (route_path, line) in sorted(router_keys.items(), key=lambda kv: kv[1][1]):
        if k in api_keys:
            passed += 1
            if api_keys[k][0] != route_path.replace("*}", "}"):
                print(f"note: {k[0]} {route_path} is {api_keys[k][0]} in {api_path} (parameter names differ)")
        else:
            print(f"missing from {api_path}: {k[0]} {route_path} ({router_path}:{line})")
            failed += 1
    for k, (route_path, line) in sorted(api_keys.items(), key=lambda kv: kv[1][1]):
        if k not in router_keys:
            print(f"missing from {router_path}: {k[0]} {route_path} ({api_path}:{line})")
            failed += 1
    print(f"routes: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
