#!/usr/bin/env python3
"""Times a reference tokenizer over a corpus, one line at a time, in this one process.

    tokenizers_reference.py --corpus FILE --tiktoken downloads/tiktoken/cl100k_base.tiktoken [--repeat N]
    tokenizers_reference.py --corpus FILE --hf tokenizer.json [--no-special-tokens] [--batch] [--repeat N]
        [--check VERBA_IDS --check-lines N]
    tokenizers_reference.py --corpus FILE --spm tokenizer.model [--batch] [--repeat N] [--check ...]

Lines are the corpus split on \\n only (as `verba tokenize` reads them), decoded as UTF-8 before the clock
starts. Timed: the encode loop only (tiktoken encode_ordinary per line; HF Tokenizer.encode per line, or
encode_batch over chunks of 10,000 lines with --batch, which uses all cores unless RAYON_NUM_THREADS=1;
sentencepiece SentencePieceProcessor.encode per line, or on chunks of 10,000 lines with --batch, one thread). Truncation and padding
are disabled (all-MiniLM's tokenizer.json pads to 128 otherwise). Prints one JSON object on stdout:
{"seconds": best, "runs": [...], "cpu_seconds": best CPU time of this process, "bytes", "lines", "tokens", "check": ...}. With --check, --check-lines
lines spread over the corpus are compared with a `verba tokenize` output file (one line of ids per line).
"""

import argparse
import json
import os
import sys
import time

# This folder is not a package; keep it off the import path anyway (no shadowing of `tokenizers`).
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

# Encodings whose pattern and special tokens come from tiktoken_ext.openai_public.
ENCODINGS = ("r50k_base", "p50k_base", "cl100k_base", "o200k_base")


def tiktoken_encoder(path):
    import tiktoken
    import tiktoken.load as load
    import tiktoken_ext.openai_public as public
    name = os.path.basename(path).split(".")[0]
    if name not in ENCODINGS:
        sys.exit("tokenizers_reference.py: unknown tiktoken encoding %r (file name must start with it)" % name)
    ranks = load.load_tiktoken_bpe(path)
    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *a, **k: ranks  # no network: answer tiktoken_ext with the local file
    try:
        spec = getattr(public, name)()
    finally:
        public.load_tiktoken_bpe = original
    enc = tiktoken.Encoding(name, pat_str=spec["pat_str"], mergeable_ranks=ranks,
                            special_tokens=spec["special_tokens"])
    return enc.encode_ordinary, None


def hf_encoder(path, special):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    one = lambda text: tok.encode(text, add_special_tokens=special).ids
    batch = lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=special)]
    return one, batch


def spm_encoder(path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=path)
    one = lambda text: sp.encode(text)
    batch = lambda texts: sp.encode(texts, num_threads=1)
    return one, batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--tiktoken")
    ap.add_argument("--hf")
    ap.add_argument("--spm")
    ap.add_argument("--no-special-tokens", action="store_true")
    ap.add_argument("--batch", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check")
    ap.add_argument("--check-lines", type=int, default=20000)
    args = ap.parse_args()

    data = open(args.corpus, "rb").read()
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    lines = [l.decode("utf-8", errors="replace") for l in raw]

    if args.tiktoken:
        one, batch = tiktoken_encoder(args.tiktoken)
    elif args.hf:
        one, batch = hf_encoder(args.hf, not args.no_special_tokens)
    elif args.spm:
        one, batch = spm_encoder(args.spm)
    else:
        sys.exit("tokenizers_reference.py: give --tiktoken FILE, --hf tokenizer.json or --spm FILE.model")
    if args.batch and batch is None:
        sys.exit("tokenizers_reference.py: --batch is for --hf and --spm")

    runs, cpu, tokens = [], [], 0
    for _ in range(max(1, args.repeat)):
        tokens = 0
        start, start_cpu = time.perf_counter(), time.process_time()
        if args.batch:
            for i in range(0, len(lines), 10000):
                for ids in batch(lines[i:i + 10000]):
                    tokens += len(ids)
        else:
            for line in lines:
                tokens += len(one(line))
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)

    result = {"seconds": min(runs), "runs": runs, "cpu_seconds": min(cpu), "bytes": len(data), "lines": len(lines), "tokens": tokens}
    if args.check:  # --check-lines lines spread evenly over the corpus
        got = open(args.check, "rb").read().split(b"\n")
        n = min(args.check_lines, len(lines))
        picked = sorted({i * len(lines) // n for i in range(n)})
        bad = [i for i in picked
               if i >= len(got) or got[i].decode("utf-8", "replace") != " ".join(str(x) for x in one(lines[i]))]
        result["check"] = "ok (%d lines)" % len(picked) if not bad else \
            "MISMATCH on %d of %d lines (first: line %d)" % (len(bad), len(picked), bad[0] + 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
