#!/usr/bin/env python3
"""lint_dups.py: a ratchet on repeated code in server/ and models/ (issue 11: "at most 3 pairs
of places that share 6 or more identical or same-shape non-boilerplate lines").

Runs the `duplicates` tool over the checkout (when it is on PATH; otherwise says so and
passes), keeps the pairs whose both sides are in server/ or models/ and that it does not mark
boilerplate, prints them, and fails when there are more than --budget. Lower the budget as
pairs are merged; a new pair then fails `make lint` where it is written.

    python3 tools/lint_dups.py --budget N [--seconds S]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROW = re.compile(r"^(D\d+) (\S+?):(\d+)-(\d+) ~ (\S+?):(\d+)-(\d+)(.*)$")
AREAS = ("server/", "models/")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, required=True)
    ap.add_argument("--seconds", type=int, default=300)
    a = ap.parse_args()
    tool = shutil.which("duplicates")
    if not tool:
        print("lint-dups: the duplicates tool is not installed here: skipped")
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([tool, "--repo", root, "--most", "200", "--seconds", str(a.seconds)],
                         capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        m = ROW.match(line)
        if not m or "boilerplate" in m.group(8):
            continue
        if m.group(2).startswith(AREAS) and m.group(5).startswith(AREAS):
            rows.append(line)
    for line in out.splitlines():
        if line.startswith("incomplete:"):
            print("lint-dups: " + line + " (the count below is a lower bound)")
    for r in rows:
        print("  " + r)
    verdict = "ok" if len(rows) <= a.budget else "over budget"
    print(f"lint-dups: {len(rows)} non-boilerplate pair(s) in server/ and models/, budget {a.budget}: {verdict}")
    return 0 if len(rows) <= a.budget else 1


if __name__ == "__main__":
    sys.exit(main())
