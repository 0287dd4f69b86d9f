# mk/lint.mk: static checks that need no server: no call cycles between C files
# (tools/lint_cycles.py, from gcc's own call graph), a budget of repeated code in server/ and
# models/ (tools/lint_dups.py, when the duplicates tool is installed) and the api.yaml lint.
.PHONY: lint lint-cycles lint-dups
lint-cycles:
	python3 tools/lint_cycles.py server models
# Non-boilerplate pairs left (2026-12-05 15:25 UTC): 2 in models/kernels (quant_avx2.c's
# Q4/Q5 dots, avx2.c's unrolled F32 GEMM tile) and the tokenizer/vocab destructor idiom
# (docs/notes/2026-12-05-s4/). Lower it as pairs go; never raise it to let a new copy in.
DUPS_BUDGET ?= 3
lint-dups:
	python3 tools/lint_dups.py --budget $(DUPS_BUDGET)
lint: lint-cycles lint-dups lint-api

# `make all` never installs: its full recipe (every step, as if nothing were built) names no
# installer. make deps is the one installing target.
.PHONY: lint-build
lint-build:
	@if $(MAKE) --no-print-directory -n -B all BUILD=$(BUILD)/lint-build | grep -E 'deps\.sh|apt-get|npm '; \
	then echo "lint-build: make all would install (above)"; exit 1; \
	else echo "lint-build: make all installs nothing"; fi
lint: lint-build

# No merge-conflict markers in any tracked file (a conflicted README once landed through a
# merge that built and passed its tests). Outside a git checkout there is nothing to ask.
.PHONY: lint-conflicts
lint-conflicts:
	@if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    echo "lint-conflicts: not a git checkout: skipped"; \
	elif git grep -nE '^(<<<<<<<|>>>>>>>) '; then \
	    echo "lint-conflicts: merge-conflict markers above"; exit 1; \
	else echo "lint-conflicts: no merge-conflict markers"; fi
lint: lint-conflicts
