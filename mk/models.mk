# mk/models.mk: `make models` trains the three default models from the King James Bible
# (Debian bible-kjv) into build/models/, listed by models/default.json (paths relative to
# that file). Each model has a stamp, so a re-run is instant; nothing here is committed.
#   kjv-ngram    order-5 modified Kneser-Ney, lmserve-ngram-train -> lmserve-ngram-build .lmb
#   kjv-vectors  fastText skipgram dim 100 (seeded, one thread) -> lmserve-vec-build .lmv
#   kjv-tiny     SentencePiece BPE + a ~1.1M-parameter Llama trained with PyTorch (bounded
#                by MODELS_TINY_SECONDS) -> llama2.c "ak42" v1 (float32) and v2 (Q8_0)
# Tests: the n-gram trainer's checks are Criterion tests (tests/unit/tools/, run by
# `make test`); `make test-models-overfit` (about a minute, needs torch, skips cleanly
# without it) overfits a tiny Transformer and checks greedy completions through lmserve.

MODELS_DIR          := build/models
MODELS_PY           := /usr/bin/python3
MODELS_NGRAM_ORDER  ?= 5
# SentencePiece pieces, 259 of them specials and bytes.
MODELS_TINY_VOCAB   ?= 2048
# Wall-time budget of the Transformer's training, so the whole `make models` stays < 10 min.
MODELS_TINY_SECONDS ?= 420
# Upper bound on steps: a fast machine stops here, step-for-step reproducibly.
MODELS_TINY_STEPS   ?= 700
MODELS_TINY_ARGS    ?= --dim 128 --layers 5 --heads 4 --kv-heads 2 --hidden 384 --seq-len 128 \
                       --batch 16 --lr 3e-3 --warmup 30 --seed 1337 --threads 2
MODELS_FT_ARGS      ?= -dim 100 -ws 5 -epoch 5 -minCount 3 -neg 5 -maxn 0 -thread 1 -seed 1

MODELS_CORPUS := $(MODELS_DIR)/corpus/kjv.train.txt
MODELS_STAMPS := $(MODELS_DIR)/kjv-ngram/.stamp $(MODELS_DIR)/kjv-vectors/.stamp \
                 $(MODELS_DIR)/kjv-tiny/.stamp
MODELS_DEPS   := $(MODELS_DIR)/.deps-stamp

.PHONY: models models-deps models-clean test-models-overfit

models: $(MODELS_STAMPS)
	@echo "models: ready in $(MODELS_DIR) (config: models/default.json)"

# The training tools are Debian packages (bible-kjv fasttext sentencepiece python3-torch).
models-deps: $(MODELS_DEPS)
$(MODELS_DEPS): tools/deps.sh
	@sh tools/deps.sh models
	@mkdir -p $(dir $@) && touch $@

$(MODELS_CORPUS): tools/corpus.sh | $(MODELS_DEPS)
	sh tools/corpus.sh $(MODELS_DIR)/corpus

# Binaries are order-only prerequisites: relinking them after an unrelated library change
# must not retrain a model.
$(MODELS_DIR)/kjv-ngram/.stamp: $(MODELS_CORPUS) tools/lmserve-ngram-train.c \
		| $(BUILD)/bin/lmserve-ngram-train $(BUILD)/bin/lmserve-ngram-build
	@mkdir -p $(dir $@)
	$(BUILD)/bin/lmserve-ngram-train -o $(MODELS_NGRAM_ORDER) < $(MODELS_CORPUS) \
		> $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa.tmp
	mv $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa.tmp $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa
	$(BUILD)/bin/lmserve-ngram-build $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa \
		$(dir $@)kjv.$(MODELS_NGRAM_ORDER).lmb
	@touch $@

# fastText writes OUT.bin (its own format, unused) and OUT.vec; only the .vec is kept.
$(MODELS_DIR)/kjv-vectors/.stamp: $(MODELS_CORPUS) | $(BUILD)/bin/lmserve-vec-build
	@mkdir -p $(dir $@)
	fasttext skipgram -input $(MODELS_CORPUS) -output $(dir $@)kjv $(MODELS_FT_ARGS) -verbose 1
	rm -f $(dir $@)kjv.bin
	$(BUILD)/bin/lmserve-vec-build $(dir $@)kjv.vec $(dir $@)kjv.lmv
	@touch $@

$(MODELS_DIR)/kjv-tiny/.stamp: $(MODELS_CORPUS) tools/train/spm_tokenizer.py \
		tools/train/tiny_llama.py
	@mkdir -p $(dir $@)
	$(MODELS_PY) tools/train/spm_tokenizer.py train $(MODELS_CORPUS) $(MODELS_TINY_VOCAB) \
		$(dir $@)tokenizer
	$(MODELS_PY) tools/train/tiny_llama.py --train $(MODELS_CORPUS) \
		--valid $(MODELS_DIR)/corpus/kjv.test.txt --tokenizer $(dir $@)tokenizer \
		--out $(dir $@) --steps $(MODELS_TINY_STEPS) --max-seconds $(MODELS_TINY_SECONDS) \
		$(MODELS_TINY_ARGS)
	@touch $@

models-clean:
	rm -rf $(MODELS_DIR)

# ---- tests ----
# A tiny Transformer overfit on a few lines must reproduce them greedily through lmserve.
test-models-overfit: $(LMSERVE)
	LMSERVE_BIN=$(abspath $(LMSERVE)) $(MODELS_PY) tests/models/overfit.py
