#!/usr/bin/env python3
"""Reference figures for scripts/bench-gpt2.sh and bench-llama.sh: transformers / PyTorch on a decoder folder,
float32, batch 1, on a fixed number of threads.

Prints `key: value` lines:
  prompt8_ids / prompt128_ids   the token ids of the two prompts (and writes their texts next to --out)
  hf_decode_tok_s               generate(do_sample=False, use_cache=True), max_new_tokens new tokens:
                                new tokens / (time of generate - time of the prompt's forward pass)
  torch_prefill_tok_s           one forward pass over the 128-token prompt (use_cache=True), full logits
  torch_prefill_last_tok_s      the same with logits_to_keep=1 (what generate's prefill computes)
  torch_sgemv_gbs               torch.mv over a 256 MB float32 matrix (bytes of matrix read per second)
Each figure is the best of --repeats runs after a warm-up.
"""
import argparse, os, sys, time

import torch
from transformers import AutoModelForCausalLM
from tokenizers import Tokenizer

PROMPT8 = "The quick brown fox jumps over the lazy"
TEXT = ("Love is patient, love is kind. It does not envy, it does not boast, it is not proud. "
        "It is not rude, it is not self-seeking, it is not easily angered, it keeps no record of wrongs. "
        "Fortune favors the bold, and the early bird gets the worm, but the second mouse gets the cheese. ") * 4


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", required=True, help="folder for prompt8.txt and prompt128.txt")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    ids8 = tok.encode(PROMPT8).ids
    assert len(ids8) == 8, ids8
    ids128 = tok.encode(TEXT).ids[:128]
    text128 = tok.decode(ids128)
    assert tok.encode(text128).ids == ids128, "128-token prompt does not round-trip"
    os.makedirs(args.out, exist_ok=True)
    open(os.path.join(args.out, "prompt8.txt"), "w").write(PROMPT8)
    open(os.path.join(args.out, "prompt128.txt"), "w").write(text128)
    print("prompt8_ids:", " ".join(map(str, ids8)))
    print("prompt128_ids:", " ".join(map(str, ids128)))

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    x8 = torch.tensor([ids8]); x128 = torch.tensor([ids128])
    mask8 = torch.ones_like(x8)
    with torch.inference_mode():
        prefill8 = best(lambda: model(x8, use_cache=True), args.repeats)
        gen = best(lambda: model.generate(x8, attention_mask=mask8, do_sample=False, max_new_tokens=args.new_tokens,
                                          min_new_tokens=args.new_tokens, use_cache=True,
                                          pad_token_id=model.config.eos_token_id), args.repeats)
        print(f"hf_generate_s: {gen:.4f}")
        print(f"hf_decode_tok_s: {args.new_tokens / (gen - prefill8):.2f}")
        full = best(lambda: model(x128, use_cache=True), args.repeats + 2)
        print(f"torch_prefill_tok_s: {128 / full:.2f}")
        try:
            last = best(lambda: model(x128, use_cache=True, logits_to_keep=1), args.repeats + 2)
            print(f"torch_prefill_last_tok_s: {128 / last:.2f}")
        except TypeError:
            pass
        w = torch.randn(256 * 1000 * 1000 // 4 // 4096, 4096)
        v = torch.randn(4096)
        t = best(lambda: torch.mv(w, v), 5)
        print(f"torch_sgemv_gbs: {w.numel() * 4 / t / 1e9:.2f}")


if __name__ == "__main__":
    main()
