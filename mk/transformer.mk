# mk/transformer.mk: the Transformer area's additions to the top Makefile.

# bench-transformer: decode / prompt tokens/s on random 15M and 110M checkpoints
# (RUNC=/path/to/llama2.c/run for run.c side by side; medians go to bench/RESULTS.md).
.PHONY: bench-transformer
bench-transformer: all $(BUILD)/bin/lmserve-bench-transformer
	sh bench/transformer/run.sh $(BUILD)

$(BUILD)/bin/lmserve-bench-transformer: $(BUILD)/obj/bench/transformer/bench_transformer.o $(LIBMODELS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
