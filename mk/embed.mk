# mk/embed.mk: the word-vector benchmark (issue 4). `make bench-embed` builds bench_embed
# (data, load times, compact recall) and a bench-only shared library of models/embed for
# bench/embed/compare.py, which times lmserve, NumPy+OpenBLAS and faiss interleaved.
# Data goes to $(EMBED_BENCH_DIR) (about 1.6 GB for the default 200,000 x 300).
EMBED_BENCH     := $(BUILD)/bin/bench_embed
EMBED_BENCH_DIR ?= $(BUILD)/bench-embed
EMBED_BENCH_SO  := $(EMBED_BENCH_DIR)/libembed_bench.so
# Everything the search needs, minus the registry glue (model.c); embed_avx2.c enables its
# own target ISA with a pragma, so one -O2 -fPIC command builds the lot.
EMBED_SO_SRC    := $(filter-out models/embed/model.c,$(wildcard models/embed/*.c)) \
                   models/kernels/embed_ref.c models/kernels/embed_avx2.c models/util/status.c \
                   bench/embed/bw.c

$(EMBED_BENCH): $(BUILD)/obj/bench/embed/bench_embed.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(EMBED_BENCH_SO): $(EMBED_SO_SRC) $(wildcard models/embed/*.h models/kernels/kernels.h)
	@mkdir -p $(dir $@)
	$(CC) -D_GNU_SOURCE -std=c11 -O2 -fPIC -shared -pthread $(EMBED_SO_SRC) -lz -lm -o $@

.PHONY: bench-embed
bench-embed: $(EMBED_BENCH) $(EMBED_BENCH_SO)
	sh bench/embed/run.sh $(EMBED_BENCH) $(EMBED_BENCH_DIR)
