# mk/bench.mk: every benchmark target (make bench runs bench/run.sh over all areas):
#   bench-http, bench-ngram, bench-embed, bench-transformer. Figures go to bench/RESULTS.md.

# ---- HTTP ----
.PHONY: bench-http bench-http-saturated
# HTTP benchmark, lmserve side by side with nginx (see bench/http.sh for the knobs).
bench-http: $(LMSERVE_TEST)
	bash bench/http.sh
bench-http-saturated: $(LMSERVE_TEST)
	bash bench/http.sh --mode saturated


# ---- n-gram ----
# the n-gram benchmark of issue 3 (bench/ngram/). KENLM_BIN=<dir> adds KenLM's
# query side by side (a KenLM built by hand outside the repository; never built here).
BENCH_NGRAM := $(BUILD)/bin/bench_ngram

$(BENCH_NGRAM): $(BUILD)/obj/bench/ngram/bench_ngram.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

.PHONY: bench-ngram
bench-ngram: all $(BENCH_NGRAM)
	BUILD=$(BUILD) KENLM_BIN=$(KENLM_BIN) sh bench/ngram/run.sh

# ---- word vectors ----
# the word-vector benchmark (issue 4). `make bench-embed` builds bench_embed
# (data, load times, compact recall) and a bench-only shared library of models/embed for
# bench/embed/compare.py, which times lmserve, NumPy+OpenBLAS and faiss interleaved.
# Data goes to $(EMBED_BENCH_DIR) (about 1.6 GB for the default 200,000 x 300).
EMBED_BENCH     := $(BUILD)/bin/bench_embed
EMBED_BENCH_DIR ?= $(BUILD)/bench-embed
EMBED_BENCH_SO  := $(EMBED_BENCH_DIR)/libembed_bench.so
# Everything the search needs, minus the registry glue (model.c): the embed folder, the
# kernel table (its SIMD tier files compiled apart with their own flags, as in the Makefile)
# and the util files it uses; one -O2 -fPIC command links the lot.
EMBED_SO_SIMD   := models/kernels/avx2.c models/kernels/quant_avx2.c models/kernels/avx512.c
EMBED_SO_SRC    := $(filter-out models/embed/model.c,$(wildcard models/embed/*.c)) \
                   $(filter-out $(EMBED_SO_SIMD),$(wildcard models/kernels/*.c)) \
                   models/util/status.c models/util/mapfile.c models/util/alloc.c \
                   bench/embed/bw.c
EMBED_SO_FLAGS  := -D_GNU_SOURCE -std=c11 -O2 -fPIC -pthread
EMBED_SO_AVX2   := -mavx2 -mfma -mf16c
EMBED_SO_AVX512 := $(EMBED_SO_AVX2) -mavx512f -mavx512bw -mavx512vl

$(EMBED_BENCH): $(BUILD)/obj/bench/embed/bench_embed.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(EMBED_BENCH_SO): $(EMBED_SO_SRC) $(EMBED_SO_SIMD) $(wildcard models/embed/*.h models/kernels/*.h)
	@mkdir -p $(dir $@) $(BUILD)/so-obj
	$(CC) $(EMBED_SO_FLAGS) $(EMBED_SO_AVX2) -c models/kernels/avx2.c -o $(BUILD)/so-obj/avx2.o
	$(CC) $(EMBED_SO_FLAGS) $(EMBED_SO_AVX2) -c models/kernels/quant_avx2.c -o $(BUILD)/so-obj/quant_avx2.o
	$(CC) $(EMBED_SO_FLAGS) $(EMBED_SO_AVX512) -c models/kernels/avx512.c -o $(BUILD)/so-obj/avx512.o
	$(CC) $(EMBED_SO_FLAGS) -shared $(EMBED_SO_SRC) $(BUILD)/so-obj/avx2.o \
	    $(BUILD)/so-obj/quant_avx2.o $(BUILD)/so-obj/avx512.o -lz -lm -o $@

.PHONY: bench-embed
bench-embed: $(EMBED_BENCH) $(EMBED_BENCH_SO)
	sh bench/embed/run.sh $(EMBED_BENCH) $(EMBED_BENCH_DIR)

# ---- Transformer ----
# the Transformer benchmark.

# bench-transformer: decode / prompt tokens/s on random 15M and 110M checkpoints
# (RUNC=/path/to/llama2.c/run for run.c side by side; medians go to bench/RESULTS.md).
.PHONY: bench-transformer
bench-transformer: all $(BUILD)/bin/lmserve-bench-transformer
	sh bench/transformer/run.sh $(BUILD)

$(BUILD)/bin/lmserve-bench-transformer: $(BUILD)/obj/bench/transformer/bench_transformer.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# ---- BERT sentence embeddings ----
# embeddings/s at batch 1 and 32 on random BERT files (bge-small shape), interleaved with
# llama.cpp's llama-embedding on the same files and texts (bench/bert/run.sh).
.PHONY: bench-bert
bench-bert: all $(BUILD)/bin/lmserve-bench-bert
	sh bench/bert/run.sh $(BUILD)

$(BUILD)/bin/lmserve-bench-bert: $(BUILD)/obj/bench/bert/bench_bert.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
