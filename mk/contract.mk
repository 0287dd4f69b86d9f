# mk/contract.mk: the API contract's tools (api.yaml checks) and the HTTP benchmark.
# Included by the top Makefile. Node packages live in tests/contract/node_modules,
# installed exactly from the committed package-lock.json.

CONTRACT_NODE := tests/contract/node_modules/.package-lock.json

.PHONY: contract-deps contract-selftest bench-http bench-http-saturated

# npm ci rebuilds node_modules from the lock file; npm writes .package-lock.json last.
$(CONTRACT_NODE): tests/contract/package.json tests/contract/package-lock.json
	npm ci --prefix tests/contract --no-audit --no-fund
	@touch $@
contract-deps: $(CONTRACT_NODE)

# The contract tools tested on fixtures (no server needed).
contract-selftest: $(CONTRACT_NODE)
	sh tests/contract/selftest.sh

# HTTP benchmark, lmserve side by side with nginx (see bench/http.sh for the knobs).
bench-http: $(LMSERVE)
	bash bench/http.sh
bench-http-saturated: $(LMSERVE)
	bash bench/http.sh --mode saturated

# make test validates with these packages: reinstall them whenever the lock file changes.
test: $(CONTRACT_NODE)
