# mk/web.mk: the browser playground's test and the container/Kubernetes checks.
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
