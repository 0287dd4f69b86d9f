# lmserve: one non-recursive Makefile (docs/ARCHITECTURE.md, build).
# Targets: deps | all | run | test | test-san | test-web | bench | models | fuzz | install | clean

PREFIX  ?= /usr/local
BUILD   ?= build
CC      := gcc
SAN     ?= 0

# -D_GNU_SOURCE: pthread/mmap/getopt_long/clock_gettime extras beyond strict C11.
# -MMD -MP: header dependencies, so a changed header rebuilds what includes it.
CPPFLAGS += -D_GNU_SOURCE -MMD -MP
# Where `make install` puts the playground; an installed lmserve looks there by default.
CPPFLAGS += -DLMSERVE_WEB_DIR='"$(PREFIX)/share/lmserve/web"'
WARN     := -std=c11 -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
# CI sets CI=true: warnings are errors there, and only there, so a new gcc never blocks a user.
ifneq ($(CI),)
WARN     += -Werror
endif
ifeq ($(SAN),1)
# The sanitizer build: ASan+UBSan, and UBSan findings abort so tests fail on them.
OPT      ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
else
OPT      ?= -O2 -g
LDSAN    :=
endif
CFLAGS   += $(WARN) $(OPT) -pthread
LDLIBS   := -lmicrohttpd -ljansson -lz -lm -lpthread
LDFLAGS  += $(LDSAN) -pthread

MODELS_SRC := $(shell find models -name '*.c' | sort)
SERVER_SRC := $(filter-out server/main.c,$(shell find server -name '*.c' | sort))
TOOLS_SRC  := $(wildcard tools/*.c)
UNIT_SRC   := $(shell find tests/unit -name '*.c' 2>/dev/null | sort)
API_SRC    := $(shell find tests/api -name '*.c' 2>/dev/null | sort)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
MODELS_OBJ := $(call obj,$(MODELS_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
TOOLS_BIN  := $(patsubst tools/%.c,$(BUILD)/bin/%,$(TOOLS_SRC))
LIBMODELS  := $(BUILD)/libmodels.a
LMSERVE    := $(BUILD)/bin/lmserve
# The test binaries add the test-only "test" model type (registered by its own object at
# start-up); the lmserve binary above does not know it.
TESTMODEL_OBJ := $(BUILD)/obj/tests/testmodel/testmodel.o
LMSERVE_TEST  := $(BUILD)/tests/lmserve

test-server: $(LMSERVE_TEST)
.PHONY: test-server
.PHONY: all deps run test test-unit test-api test-san test-web test-contract bench models fuzz install clean lint lint-api
all: $(LMSERVE) $(TOOLS_BIN)

# ---- set-up ----
# deps installs every Debian/npm package the project needs, skipping what is there; it is the
# one installing target: `make all` never installs, `make test` and `make run` depend on the
# stamp (README's two commands work on a fresh machine). The stamp keeps them from asking apt
# again.
# `make run` needs only the build packages, curl and the corpus/fastText (one apt call, no
# nodejs/npm: those are most of a fresh machine's install time); `make test` needs the test
# packages too. Both then build with -j(number of CPUs) unless -j was given.
DEPS_STAMP := $(BUILD)/.deps-stamp
RUN_DEPS_STAMP := $(BUILD)/.deps-run-stamp
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
JOBS_FLAG = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(JOBS))
deps:
	@sh tools/deps.sh build test models
	@mkdir -p $(BUILD) && touch $(DEPS_STAMP) $(RUN_DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh build test models
	@mkdir -p $(BUILD) && touch $@
$(RUN_DEPS_STAMP): tools/deps.sh
	@sh tools/deps.sh build run models
	@mkdir -p $(BUILD) && touch $@

# ---- compile ----
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@
# SIMD flags are per file (docs/ARCHITECTURE.md, kernels): only the tier files of the kernel
# table get them; select.c checks the same CPU flags before any of their code runs.
$(BUILD)/obj/models/kernels/avx2.o $(BUILD)/obj/models/kernels/%_avx2.o: CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/obj/models/kernels/avx512.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl
# the quantized types' AVX-512 tier: + VNNI (vpdpbusd / vpdpwssd); select.c checks it too
$(BUILD)/obj/models/kernels/quant_avx512.o: CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni

$(LIBMODELS): $(MODELS_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
# Server objects are linked as objects, not from an archive: every handler is found.
$(LMSERVE): $(BUILD)/obj/server/main.o $(SERVER_OBJ) $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(LMSERVE_TEST): $(BUILD)/obj/server/main.o $(SERVER_OBJ) $(TESTMODEL_OBJ) $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- tests ----
UNIT_BIN := $(BUILD)/tests/unit
API_BIN  := $(BUILD)/tests/api
$(UNIT_BIN): $(call obj,$(UNIT_SRC)) $(TESTMODEL_OBJ) $(SERVER_OBJ) $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -lcriterion $(LDLIBS) -o $@
$(API_BIN): $(call obj,$(API_SRC)) $(SERVER_OBJ) $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -lcriterion -lcurl $(LDLIBS) -o $@

# Criterion runs tests in parallel; -j2 matches the 2-core CI machine.
CRITERION_FLAGS ?= --jobs 2
test: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory $(JOBS_FLAG) all $(LMSERVE_TEST) $(UNIT_BIN) $(API_BIN)
	python3 tools/check_routes.py server/router.c api.yaml
	LMSERVE_BIN=$(abspath $(LMSERVE_TEST)) LMSERVE_PROD_BIN=$(abspath $(LMSERVE)) LMSERVE_TOOLS=$(abspath $(BUILD)/bin) $(UNIT_BIN) $(CRITERION_FLAGS)
	rm -f $(BUILD)/contract.jsonl
	LMSERVE_BIN=$(abspath $(LMSERVE_TEST)) LMSERVE_PROD_BIN=$(abspath $(LMSERVE)) LMSERVE_TOOLS=$(abspath $(BUILD)/bin) LMSERVE_CONTRACT_LOG=$(abspath $(BUILD))/contract.jsonl $(API_BIN) $(CRITERION_FLAGS)
	node tests/contract/validate.mjs api.yaml $(BUILD)/contract.jsonl
	@# The shipped default Transformer scores the held-out split at its manifest's perplexity
	@# (mk/models.mk; no PyTorch; not under ASan nor the scalar kernels: minutes there).
	@# The trainer's overfit test is a CI step of its own.
	@if [ "$(SAN)" != 1 ] && [ "$${LMSERVE_KERNELS:-}" != ref ]; then \
		$(MAKE) --no-print-directory test-models-shipped; fi

test-san:
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) $(MAKE) BUILD=build/san SAN=1 test

lint-api: $(DEPS_STAMP)
	node tests/contract/lint.mjs api.yaml

# ---- run ----
# make run: install, build, get the default models (mk/models.mk), serve them, and print the
# playground URL and two example requests once they are ready (tools/run.sh). HOST and PORT
# become --host/--port only when given on the command line, so LMSERVE_* work as for lmserve.
arg_if = $(if $(filter command line override file,$(origin $(1))),$(2) $($(1)))
RUN_FLAGS = $(call arg_if,HOST,--host) $(call arg_if,PORT,--port) \
            $(if $(LMSERVE_CONFIG),,--config models/default.json) $(RUN_ARGS)
run: $(RUN_DEPS_STAMP)
	@$(MAKE) --no-print-directory $(JOBS_FLAG) all models
	@sh tools/run.sh $(LMSERVE) $(RUN_FLAGS)

bench: all $(LMSERVE_TEST)
	sh bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/lmserve/web
	install -m 0755 $(LMSERVE) $(TOOLS_BIN) $(DESTDIR)$(PREFIX)/bin/
	cp -R web/. $(DESTDIR)$(PREFIX)/share/lmserve/web/

clean:
	rm -rf $(BUILD) build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# mk/ by concern: bench.mk (every benchmark), test.mk (contract, openai, web, deploy tests),
# lint.mk (call cycles, api.yaml), models.mk (the default models), fuzz.mk (libFuzzer).
-include $(wildcard mk/*.mk)
