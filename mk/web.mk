# mk/web.mk: the browser playground's test and the container/Kubernetes checks.
#   make test-web     headless Debian chromium (apt: chromium chromium-driver) drives the
#                     playground against the real server; screenshots in $(BUILD)/web-shots/
#   make test-deploy  YAML parses, Dockerfile/compose/nginx/k8s agree (no Docker engine needed)
# Both use tests/web's npm packages (playwright-core, yaml), installed from the committed lock.

WEB_NODE_STAMP := tests/web/node_modules/.package-lock.json

# npm ci: exactly the lock file; playwright-core never downloads a browser (we use /usr/bin/chromium).
$(WEB_NODE_STAMP): tests/web/package.json tests/web/package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/web --no-audit --no-fund

.PHONY: test-deploy
test-web: all $(WEB_NODE_STAMP)
	BUILD=$(BUILD) LMSERVE_BIN=$(abspath $(LMSERVE)) node tests/web/playground.test.mjs

test-deploy: $(WEB_NODE_STAMP)
	sh tests/deploy/check.sh
