# mk/openai.mk: the official `openai` npm client, unchanged, against the real server
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
