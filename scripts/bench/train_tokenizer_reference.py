#!/usr/bin/env python3
"""HF tokenizers' trainers on a corpus, timed in-process (the reference side of scripts/bench-train-tokenizer.sh).
usage: train_tokenizer_reference.py bpe|wordpiece VOCAB_SIZE CORPUS OUT_JSON
Prints 'seconds: X' (training only, the Python start-up excluded)."""
import os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != here]
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, normalizers, decoders

kind, vocab_size, corpus, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if kind == "bpe":
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
else:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
start = time.perf_counter()
tok.train([corpus], trainer)
seconds = time.perf_counter() - start
tok.save(out)
print(f"seconds: {seconds:.3f}")
