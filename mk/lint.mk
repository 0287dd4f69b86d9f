# mk/lint.mk: static checks that need no server: no call cycles between C files
# (tools/lint_cycles.py, from gcc's own call graph) and the api.yaml lint.
.PHONY: lint lint-cycles
lint-cycles:
	python3 tools/lint_cycles.py server models
lint: lint-cycles lint-api

# `make all` never installs: its full recipe (every step, as if nothing were built) names no
# installer. make deps is the one installing target.
.PHONY: lint-build
lint-build:
	@if $(MAKE) --no-print-directory -n -B all BUILD=$(BUILD)/lint-build | grep -E 'deps\.sh|apt-get|npm '; \
	then echo "lint-build: make all would install (above)"; exit 1; \
	else echo "lint-build: make all installs nothing"; fi
lint: lint-build
