# mk/models.mk: the three default models of `make run`, listed by models/default.json (paths
# relative to that file).
#   kjv-ngram    order-5 modified Kneser-Ney, built here from the King James Bible (Debian
#                bible-kjv): lmserve-ngram-train -> lmserve-ngram-build .lmb (seconds)
#   kjv-vectors  fastText skipgram dim 100 (seeded, one thread) -> lmserve-vec-build .lmv
#   kjv-tiny     shipped in models/default/kjv-tiny/: a Llama trained by tools/train/tiny_llama.py,
#                llama2.c v2 (Q8_0) + tokenizer; MANIFEST.json says how (`make models-train`).
# `make models` needs no PyTorch; `make models-train` (and only it, with the trainer's test)
# installs the training packages through `make deps-train`. Each model has a stamp, so a
# re-run is instant; nothing under build/ is committed.
# Tests: `make test-models-shipped` (part of `make test`) serves the shipped Transformer and
# scores the held-out split through /v1/score at the manifest's perplexity; `make
# test-models-overfit` (about a minute, needs torch; a CI step of its own) overfits a tiny
# Transformer and checks greedy completions through lmserve.

MODELS_DIR          := build/models
MODELS_PY           := /usr/bin/python3
MODELS_NGRAM_ORDER  ?= 5
MODELS_FT_ARGS      ?= -dim 100 -ws 5 -epoch 5 -minCount 3 -neg 5 -maxn 0 -thread 1 -seed 1
MODELS_SHIPPED      := models/default/kjv-tiny

MODELS_CORPUS := $(MODELS_DIR)/corpus/kjv.train.txt
MODELS_STAMPS := $(MODELS_DIR)/kjv-ngram/.stamp $(MODELS_DIR)/kjv-vectors/.stamp
MODELS_DEPS   := $(MODELS_DIR)/.deps-stamp
TRAIN_DEPS    := $(MODELS_DIR)/.deps-train-stamp

.PHONY: models models-deps deps-train models-train models-clean test-models-overfit \
	test-models-shipped

models: $(MODELS_STAMPS)
	@echo "models: ready in $(MODELS_DIR) and $(MODELS_SHIPPED) (config: models/default.json)"

# The corpus and vector tools (bible-kjv fasttext); no PyTorch.
models-deps: $(MODELS_DEPS)
$(MODELS_DEPS): tools/deps.sh
	@sh tools/deps.sh models
	@mkdir -p $(dir $@) && touch $@
# The Transformer's training packages (python3-torch sentencepiece, OpenBLAS for its speed).
deps-train: $(TRAIN_DEPS)
$(TRAIN_DEPS): tools/deps.sh
	@sh tools/deps.sh train
	@mkdir -p $(dir $@) && touch $@

$(MODELS_CORPUS): tools/corpus.sh | $(MODELS_DEPS)
	sh tools/corpus.sh $(MODELS_DIR)/corpus

# Binaries are order-only prerequisites: relinking them after an unrelated library change
# must not rebuild a model.
$(MODELS_DIR)/kjv-ngram/.stamp: $(MODELS_CORPUS) tools/lmserve-ngram-train.c \
		| $(BUILD)/bin/lmserve-ngram-train $(BUILD)/bin/lmserve-ngram-build
	@mkdir -p $(dir $@)
	@echo "models: kjv-ngram: order-$(MODELS_NGRAM_ORDER) Kneser-Ney from $(MODELS_CORPUS)"
	$(BUILD)/bin/lmserve-ngram-train -o $(MODELS_NGRAM_ORDER) < $(MODELS_CORPUS) \
		> $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa.tmp
	mv $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa.tmp $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa
	$(BUILD)/bin/lmserve-ngram-build $(dir $@)kjv.$(MODELS_NGRAM_ORDER).arpa \
		$(dir $@)kjv.$(MODELS_NGRAM_ORDER).lmb
	@touch $@

# fastText writes OUT.bin (its own format, unused) and OUT.vec; only the .vec is kept.
# -verbose 2 shows its progress (words/s, loss, ETA) while it trains.
$(MODELS_DIR)/kjv-vectors/.stamp: $(MODELS_CORPUS) | $(BUILD)/bin/lmserve-vec-build
	@mkdir -p $(dir $@)
	@echo "models: kjv-vectors: fastText skipgram from $(MODELS_CORPUS) (about a minute)"
	fasttext skipgram -input $(MODELS_CORPUS) -output $(dir $@)kjv $(MODELS_FT_ARGS) -verbose 2
	rm -f $(dir $@)kjv.bin
	$(BUILD)/bin/lmserve-vec-build $(dir $@)kjv.vec $(dir $@)kjv.lmv
	@touch $@

# ---- the default Transformer: reproduce the shipped one ----
# The settings are the ones in $(MODELS_SHIPPED)/MANIFEST.json; the result lands in
# $(MODELS_TRAIN_DIR) (compare it with the shipped file; install it by copying model.v2.bin
# and tokenizer.* into $(MODELS_SHIPPED)). One thread, so the run is step-for-step the same on
# any machine with the same PyTorch; it takes as long as the manifest's wall time says.
MODELS_TRAIN_DIR    := $(MODELS_DIR)/kjv-tiny-train
MODELS_TINY_VOCAB   ?= 2048
MODELS_TINY_ARGS    ?= --dim 192 --layers 6 --heads 6 --kv-heads 2 --hidden 512 --seq-len 128 \
                       --batch 16 --lr 2e-3 --warmup 200 --dropout 0.1 --weight-decay 0.1 \
                       --doc-mask --seed 1337 --threads 1
MODELS_TINY_STEPS   ?= 840
MODELS_TINY_DECAY   ?= 240
MODELS_TINY_STOP    ?=
models-train: $(MODELS_CORPUS) | $(TRAIN_DEPS)
	@mkdir -p $(MODELS_TRAIN_DIR)
	$(MODELS_PY) tools/train/spm_tokenizer.py train $(MODELS_CORPUS) $(MODELS_TINY_VOCAB) \
		$(MODELS_TRAIN_DIR)/tokenizer
	$(MODELS_PY) tools/train/tiny_llama.py --train $(MODELS_CORPUS) \
		--valid $(MODELS_DIR)/corpus/kjv.test.txt --tokenizer $(MODELS_TRAIN_DIR)/tokenizer \
		--out $(MODELS_TRAIN_DIR) --steps $(MODELS_TINY_STEPS) \
		--decay-steps $(MODELS_TINY_DECAY) $(if $(MODELS_TINY_STOP),--stop-at $(MODELS_TINY_STOP)) \
		$(MODELS_TINY_ARGS) \
		--eval-every 250 --ckpt-every 250 $(if $(RESUME),--resume $(MODELS_TRAIN_DIR)/state.pt)
	@echo "models-train: $(MODELS_TRAIN_DIR)/model.v2.bin; shipped: $(MODELS_SHIPPED)/model.v2.bin"
	@cmp $(MODELS_TRAIN_DIR)/model.v2.bin $(MODELS_SHIPPED)/model.v2.bin \
		&& echo "models-train: identical to the shipped weights" \
		|| echo "models-train: differs from the shipped weights (see train.json vs MANIFEST.json)"

models-clean:
	rm -rf $(MODELS_DIR)

# ---- tests ----
# The shipped Transformer loads and scores the held-out split at the manifest's perplexity.
test-models-shipped: $(LMSERVE) $(MODELS_CORPUS)
	LMSERVE_BIN=$(abspath $(LMSERVE)) $(MODELS_PY) tests/models/shipped.py \
		$(MODELS_SHIPPED) $(MODELS_DIR)/corpus/kjv.test.txt

# A tiny Transformer overfit on a few lines must reproduce them greedily through lmserve.
test-models-overfit: $(LMSERVE) | $(TRAIN_DEPS)
	LMSERVE_BIN=$(abspath $(LMSERVE)) $(MODELS_PY) tests/models/overfit.py
