# mk/fuzz.mk: libFuzzer targets (clang), built with ASan+UBSan. `make fuzz` runs every target
# for FUZZ_SECONDS each (short by default; FUZZ_SECONDS=600 for the real run), `make fuzz-NAME`
# one of them. Each starts from its committed seeds (tests/fuzz/seeds-NAME/) and grows its
# corpus under build/fuzz/corpus-NAME/; a finding is written to build/fuzz/NAME-crash-*.
#
# A new target is one line: add NAME to FUZZ_TARGETS, with tests/fuzz/fuzz_NAME.c (defining
# LLVMFuzzerTestOneInput) and a few small seeds in tests/fuzz/seeds-NAME/.
FUZZ_TARGETS := api arpa lmbin vec w2v lmv ckpt tok gguf vocab
FUZZ_SECONDS ?= 20
FUZZ_CC      := clang
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION (libFuzzer's convention): checksums of our binary
# formats are not enforced, so mutations get past them. Never set it outside this file.
# UBSan findings abort, as in `make test-san`, so they count as crashes.
FUZZ_CFLAGS  := -g -O1 -std=c11 -D_GNU_SOURCE -pthread -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC     := $(MODELS_SRC) $(SERVER_SRC)
FUZZ_OBJ     := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(FUZZ_SRC))
FUZZ_LIB     := $(BUILD)/fuzz/libfuzz.a
FUZZ_BINS    := $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
# -timeout: one input running longer is a hang (a finding), not a slow machine.
FUZZ_RUN     := -timeout=10 -print_final_stats=1
FUZZ_ARGS_api := -max_len=4096
FUZZ_ENV_api  := LMSERVE_FUZZ_MODELS=$(BUILD)/fuzz-models

.PHONY: fuzz fuzz-build $(addprefix fuzz-,$(FUZZ_TARGETS))
fuzz-build: $(FUZZ_BINS)

# The sources once, instrumented for coverage (fuzzer-no-link); each target links them.
$(BUILD)/fuzz/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
# The per-file SIMD flags of the Makefile's objects, for the same files (keep in step: the
# Makefile's quant_avx512.o flags arriving without this line broke every fuzz build).
$(BUILD)/fuzz/obj/models/kernels/avx2.o $(BUILD)/fuzz/obj/models/kernels/%_avx2.o: FUZZ_CFLAGS += -mavx2 -mfma -mf16c
$(BUILD)/fuzz/obj/models/kernels/avx512.o: FUZZ_CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl
$(BUILD)/fuzz/obj/models/kernels/%_avx512.o: FUZZ_CFLAGS += -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512vnni
$(FUZZ_LIB): $(FUZZ_OBJ)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ_$*) $(FUZZ_LIB) $(LDLIBS) -o $@
# The api target serves a model of the test-only type (linked as an object: it registers
# itself at start-up).
FUZZ_OBJ_api := $(BUILD)/fuzz/obj/tests/testmodel/testmodel.o
$(BUILD)/fuzz/fuzz_api: $(FUZZ_OBJ_api)

$(BUILD)/fuzz-models/tiny.test: tests/fuzz/models.sh all
	sh tests/fuzz/models.sh $(BUILD)/fuzz-models
fuzz-api: $(BUILD)/fuzz-models/tiny.test

$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(BUILD)/fuzz/corpus-$*
	$(FUZZ_ENV_$*) nice $(BUILD)/fuzz/fuzz_$* $(FUZZ_RUN) $(FUZZ_ARGS_$*) \
		-max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/$*- \
		$(BUILD)/fuzz/corpus-$* tests/fuzz/seeds-$*

fuzz: $(addprefix fuzz-,$(FUZZ_TARGETS))

-include $(shell find $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
