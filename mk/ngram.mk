# mk/ngram.mk: the n-gram benchmark of issue 3 (bench/ngram/). KENLM_BIN=<dir> adds KenLM's
# query side by side (a KenLM built by hand outside the repository; never built here).
BENCH_NGRAM := $(BUILD)/bin/bench_ngram

$(BENCH_NGRAM): $(BUILD)/obj/bench/ngram/bench_ngram.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

.PHONY: bench-ngram
bench-ngram: all $(BENCH_NGRAM)
	BUILD=$(BUILD) KENLM_BIN=$(KENLM_BIN) sh bench/ngram/run.sh
