#!/usr/bin/python3
"""spm_tokenizer.py: train a SentencePiece BPE vocabulary with Debian's `spm_train` and write
it in llama2.c's tokenizer.bin layout (see ../shared/models/README.md):

  int32 max_token_length, then per id: float32 score, int32 len, len raw bytes.
  id 0 <unk>, id 1 BOS stored as "\\n<s>\\n", id 2 EOS as "\\n</s>\\n", ids 3..258 the byte
  tokens "<0x00>".."<0xFF>", then merged pieces and characters; U+2581 becomes a space.

Usage: spm_tokenizer.py train TEXT VOCAB_SIZE OUT_PREFIX [--soft-limit]
                                                -> OUT_PREFIX.model/.vocab/.bin
       spm_tokenizer.py export MODEL_PREFIX OUT.bin
The vocabulary is read back from spm_train's .vocab file (piece<TAB>score, in id order), so
no Python binding of sentencepiece is needed.
"""
import os
import struct
import subprocess
import sys

SPM_SPACE = "\u2581"
N_SPECIAL = 3          # <unk> <s> </s>
N_BYTES = 256          # byte-fallback tokens <0x00>..<0xFF>
BOS_TEXT = "\n<s>\n"   # llama2.c's spelling of the BOS and EOS pieces
EOS_TEXT = "\n</s>\n"


def train(text, vocab_size, prefix, threads=1, soft_limit=False):
    """Deterministic BPE training: fixed options, one thread, whole input used. soft_limit lets
    a tiny corpus (tests) end with fewer pieces than asked."""
    cmd = [
        "spm_train",
        "--input=" + text,
        "--model_prefix=" + prefix,
        "--model_type=bpe",
        "--vocab_size=%d" % vocab_size,
        "--character_coverage=1.0",
        "--byte_fallback=true",
        "--split_digits=true",
        "--normalization_rule_name=identity",
        "--add_dummy_prefix=true",
        "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=-1",
        "--num_threads=%d" % threads,
        "--input_sentence_size=0",
        "--shuffle_input_sentence=false",
        "--minloglevel=1",
    ]
    if soft_limit:
        cmd.append("--hard_vocab_limit=false")
    subprocess.run(cmd, check=True)


def read_vocab(prefix):
    pieces = []
    with open(prefix + ".vocab", encoding="utf-8") as f:
        for line in f:
            piece, score = line.rstrip("\n").split("\t")
            pieces.append((piece, float(score)))
    return pieces


def export(prefix, out):
    pieces = read_vocab(prefix)
    if len(pieces) < N_SPECIAL + N_BYTES or pieces[0][0] != "<unk>" \
            or pieces[1][0] != "<s>" or pieces[2][0] != "</s>" \
            or pieces[N_SPECIAL][0] != "<0x00>" or pieces[N_SPECIAL + N_BYTES - 1][0] != "<0xFF>":
        raise SystemExit("spm_tokenizer: unexpected vocabulary layout in %s.vocab" % prefix)
    blobs = []
    for i, (piece, score) in enumerate(pieces):
        if i == 1:
            piece = BOS_TEXT
        elif i == 2:
            piece = EOS_TEXT
        blobs.append((score, piece.replace(SPM_SPACE, " ").encode("utf-8")))
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<i", max(len(b) for _, b in blobs)))
        for score, b in blobs:
            f.write(struct.pack("<fi", score, len(b)))
            f.write(b)
    os.replace(tmp, out)
    return len(pieces)


def encode_ids(prefix, text_path):
    """Token ids per line via spm_encode (the same BPE merges the C tokenizer applies)."""
    res = subprocess.run(["spm_encode", "--model=" + prefix + ".model", "--output_format=id",
                          "--input=" + text_path], check=True, stdout=subprocess.PIPE)
    return [[int(t) for t in line.split()] for line in res.stdout.decode().splitlines()]


def main(argv):
    if len(argv) in (5, 6) and argv[1] == "train" and argv[5:] in ([], ["--soft-limit"]):
        train(argv[2], int(argv[3]), argv[4], soft_limit=len(argv) == 6)
        n = export(argv[4], argv[4] + ".bin")
        print("spm_tokenizer: %d pieces -> %s.bin" % (n, argv[4]))
        return 0
    if len(argv) == 4 and argv[1] == "export":
        export(argv[2], argv[3])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
