# mk/test.mk: the test targets beyond the C suites of the top Makefile: the API contract's
# tools, the official openai client, the browser playground and the deployment checks.
# Their npm packages install from the committed lock files (make test may install; make all
# never does).

# ---- API contract ----
# the API contract's tools (api.yaml checks) 
# Included by the top Makefile. Node packages live in tests/contract/node_modules,
# installed exactly from the committed package-lock.json.

CONTRACT_NODE := tests/contract/node_modules/.package-lock.json

.PHONY: contract-deps contract-selftest

# npm ci rebuilds node_modules from the lock file; npm writes .package-lock.json last.
$(CONTRACT_NODE): tests/contract/package.json tests/contract/package-lock.json
	npm ci --prefix tests/contract --no-audit --no-fund
	@touch $@
contract-deps: $(CONTRACT_NODE)

# The contract tools tested on fixtures (no server needed).
contract-selftest: $(CONTRACT_NODE)
	sh tests/contract/selftest.sh

# make test validates with these packages: reinstall them whenever the lock file changes.
test: $(CONTRACT_NODE)

# ---- openai client ----
# the official `openai` npm client, unchanged, against the real server
# (tests/openai/client.test.mjs: chat plain and streamed, completions, errors). make test
# runs it; its one package is installed exactly from the committed lock file.

OPENAI_NODE := tests/openai/node_modules/.package-lock.json

.PHONY: test-openai
# npm ci rebuilds node_modules from the lock file; npm writes .package-lock.json last.
$(OPENAI_NODE): tests/openai/package.json tests/openai/package-lock.json
	npm ci --prefix tests/openai --no-audit --no-fund --loglevel=error
	@touch $@

test-openai: all $(OPENAI_NODE)
	LMSERVE_BIN=$(abspath $(LMSERVE)) LMSERVE_TOOLS=$(abspath $(BUILD)/bin) node --test tests/openai/

test: test-openai

# ---- playground and deployment ----
# the browser playground's test and the container/Kubernetes checks.
#   make test-web     headless Debian chromium drives the playground against the real server
#                     (tests/web/playground.test.mjs); screenshots in $(BUILD)/web-shots/
#   make test-deploy  YAML parses, Dockerfile/compose/nginx/k8s agree (no Docker engine needed)
# Both use tests/web's npm packages (playwright-core, yaml), installed from the committed lock.

# tools/deps.sh's "web" group: chromium, chromium-driver, node/npm, and npm ci in tests/web.
WEB_DEPS_STAMP := $(BUILD)/.deps-web-stamp
$(WEB_DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh web
	@mkdir -p $(BUILD) && touch $@

# Re-install when the lock changes. playwright-core never downloads a browser: /usr/bin/chromium.
WEB_NODE_STAMP := tests/web/node_modules/.package-lock.json
$(WEB_NODE_STAMP): tests/web/package.json tests/web/package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/web --no-audit --no-fund --loglevel=error

.PHONY: test-deploy
test-web: all $(WEB_DEPS_STAMP) $(WEB_NODE_STAMP)
	BUILD=$(BUILD) LMSERVE_BIN=$(abspath $(LMSERVE)) node tests/web/playground.test.mjs

test-deploy: $(WEB_NODE_STAMP)
	sh tests/deploy/check.sh
