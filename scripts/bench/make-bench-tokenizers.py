#!/usr/bin/env python3
"""Builds the tokenizers of the modern-tokenizer benchmark into downloads/bench-tokenizers/ (never committed).

    /work/pyenv/bin/python scripts/bench/make-bench-tokenizers.py [--force]

From llama.cpp's vocabulary GGUFs (downloads/llama.cpp/models, fetched by scripts/fetch-assets.sh),
converted to Hugging Face fast tokenizers by `transformers` (AutoTokenizer.from_pretrained with gguf_file,
then save_pretrained):
  llama3/tokenizer.json   ggml-vocab-llama-bpe.gguf (Llama 3: 128k byte-level BPE, llama3 split regex)
  qwen2/tokenizer.json    ggml-vocab-qwen2.gguf (Qwen2.5: 152k byte-level BPE, qwen2 split regex)
  llama2/tokenizer.json   ggml-vocab-llama-spm.gguf (Llama 2: 32k SentencePiece BPE with byte fallback)
Trained with `sentencepiece` on the Debian fortunes files (package fortunes + fortunes-*), every
language, one thread, a fixed input order:
  spm-unigram.model       Unigram, vocab 32000, sentencepiece's default normalization (nmt_nfkc,
                          remove_extra_whitespaces), as T5/ALBERT-style models are trained
  spm-bpe.model           BPE, vocab 32000, byte_fallback, identity normalization, whitespace kept,
                          digits split (Llama 2's settings)
Files already present are kept unless --force.
"""

import glob
import os
import sys
import tempfile

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "downloads", "bench-tokenizers")
GGUF = os.path.join(ROOT, "downloads", "llama.cpp", "models")
FORCE = "--force" in sys.argv


def from_gguf(name, gguf):
    target = os.path.join(OUT, name)
    if os.path.exists(os.path.join(target, "tokenizer.json")) and not FORCE:
        return
    from transformers import AutoTokenizer
    path = os.path.join(GGUF, gguf)
    if not os.path.exists(path):
        sys.exit("make-bench-tokenizers.py: missing %s (run scripts/fetch-assets.sh)" % path)
    tok = AutoTokenizer.from_pretrained(GGUF, gguf_file=gguf)
    os.makedirs(target, exist_ok=True)
    tok.save_pretrained(target)
    print("wrote %s (%d tokens)" % (os.path.join(target, "tokenizer.json"), len(tok)), file=sys.stderr)


def corpus_lines(limit=300000):
    lines = []
    for path in sorted(glob.glob("/usr/share/games/fortunes/*")):
        if path.endswith(".dat") or os.path.isdir(path):
            continue
        with open(path, "rb") as f:
            for raw in f:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if line and line != "%":
                    lines.append(line)
    if not lines:
        sys.exit("make-bench-tokenizers.py: no fortunes (apt-get install fortunes fortunes-de ...)")
    step = max(1, len(lines) // limit)
    return lines[::step][:limit]


def train(name, **options):
    import sentencepiece as spm
    target = os.path.join(OUT, name + ".model")
    if os.path.exists(target) and not FORCE:
        return
    with tempfile.TemporaryDirectory() as d:
        corpus = os.path.join(d, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(corpus_lines()) + "\n")
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(d, "m"), vocab_size=32000,
                                       character_coverage=0.9995, num_threads=2, minloglevel=2,
                                       shuffle_input_sentence=False, **options)
        os.makedirs(OUT, exist_ok=True)
        with open(os.path.join(d, "m.model"), "rb") as src, open(target + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.replace(target + ".tmp", target)
    print("wrote %s" % target, file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    from_gguf("llama3", "ggml-vocab-llama-bpe.gguf")
    from_gguf("qwen2", "ggml-vocab-qwen2.gguf")
    from_gguf("llama2", "ggml-vocab-llama-spm.gguf")
    train("spm-unigram", model_type="unigram")
    train("spm-bpe", model_type="bpe", byte_fallback=True, split_digits=True,
          normalization_rule_name="identity", remove_extra_whitespaces=False)


if __name__ == "__main__":
    main()
