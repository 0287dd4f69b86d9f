# mk/fuzz.mk: libFuzzer targets (clang), built with ASan+UBSan. `make fuzz` runs each for
# FUZZ_SECONDS; the corpus grows under build/fuzz/corpus-<name>.
FUZZ_SECONDS ?= 60
FUZZ_CC      := clang
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -std=c11 -pthread
FUZZ_SRC     := $(MODELS_SRC) $(SERVER_SRC)
FUZZ_AVX2    := $(filter models/kernels/%avx2.c,$(FUZZ_SRC))

.PHONY: fuzz fuzz-build
fuzz-build: $(BUILD)/fuzz/fuzz_api
fuzz-build: $(BUILD)/fuzz/fuzz_gguf
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(if $(FUZZ_AVX2),-mavx2 -mfma) $< $(FUZZ_SRC) $(LDLIBS) -o $@

fuzz: fuzz-build all
	sh tests/fuzz/models.sh $(BUILD)/fuzz-models
	@mkdir -p $(BUILD)/fuzz/corpus-api $(BUILD)/fuzz/corpus-gguf
	LMSERVE_FUZZ_MODELS=$(BUILD)/fuzz-models $(BUILD)/fuzz/fuzz_api -max_total_time=$(FUZZ_SECONDS) \
		-max_len=4096 $(BUILD)/fuzz/corpus-api tests/fuzz/seeds-api
	$(BUILD)/fuzz/fuzz_gguf -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $(BUILD)/fuzz/corpus-gguf tests/fuzz/seeds-gguf
