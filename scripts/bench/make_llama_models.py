#!/usr/bin/env python3
"""Random-weight Llama-family model folders at the real models' shapes, for scripts/bench-llama.sh.

  smollm2-135m  SmolLM2-135M: LlamaForCausalLM, 30 layers, hidden 576, MLP 1536, 9 heads / 3 kv heads,
                tied embeddings, rope_theta 1e5
  qwen25-05b    Qwen2.5-0.5B: Qwen2ForCausalLM, 24 layers, hidden 896, MLP 4864, 14 heads / 2 kv heads,
                q/k/v bias, tied embeddings, rope_theta 1e6, vocabulary 151,936

Both ship GPT-2's byte-level tokenizer (../shared/fixtures/gpt2), which llama.cpp's converter recognises,
so the 135M shape uses GPT-2's 50,257-token vocabulary (SmolLM2's is 49,152: 2% fewer embedding rows);
the Qwen shape keeps its 151,936 rows (ids past the tokenizer's are never produced by it).
Weights are seeded normal values (numpy PCG64), float32, written with transformers' save_pretrained;
`--bf16` also writes a bfloat16 copy of each folder (NAME-bf16) for the memory check.
Usage: python scripts/bench/make_llama_models.py --out downloads/bench-llama [--bf16] [NAME...]
"""
import argparse, json, os, shutil

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
GPT2 = os.path.abspath(os.path.join(ROOT, "..", "shared", "fixtures", "gpt2"))

COMMON = {"hidden_act": "silu", "max_position_embeddings": 8192, "initializer_range": 0.02,
          "tie_word_embeddings": True, "use_cache": True, "torch_dtype": "float32",
          "bos_token_id": 50256, "eos_token_id": 50256}
CONFIGS = {
    "smollm2-135m": dict(COMMON, architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=50257,
                         hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, rms_norm_eps=1e-5,
                         rope_theta=100000.0),
    "qwen25-05b": dict(COMMON, architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=151936,
                       hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6,
                       rope_theta=1000000.0, use_sliding_window=False, sliding_window=32768,
                       max_window_layers=21),
}


def build(name, out, seed, bf16):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    folder = os.path.join(out, name)
    if os.path.exists(os.path.join(folder, "model.safetensors")) and (not bf16 or os.path.exists(folder + "-bf16")):
        return
    cfg = AutoConfig.for_model(**{k: v for k, v in CONFIGS[name].items() if k != "model_type"},
                               model_type=CONFIGS[name]["model_type"])
    torch.manual_seed(seed)
    with torch.no_grad():
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32)
        rng = np.random.default_rng(seed)
        for pname, p in sorted(model.named_parameters()):
            if "norm" in pname:
                w = 1.0 + 0.1 * rng.standard_normal(tuple(p.shape), dtype=np.float32)
            elif pname.endswith(".bias"):
                w = 0.1 * rng.standard_normal(tuple(p.shape), dtype=np.float32)
            else:
                w = (1.0 / np.sqrt(p.shape[-1])) * rng.standard_normal(tuple(p.shape), dtype=np.float32)
            p.copy_(torch.from_numpy(w))
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    for f in ("tokenizer.json", "vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(GPT2, f), os.path.join(folder, f))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as fh:
        json.dump({"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>",
                   "eos_token": "<|endoftext|>", "model_max_length": 8192}, fh)
    if bf16:
        model.to(torch.bfloat16).save_pretrained(folder + "-bf16", safe_serialization=True)
        for f in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
            shutil.copyfile(os.path.join(folder, f), os.path.join(folder + "-bf16", f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    for name in args.names or CONFIGS:
        build(name, args.out, args.seed, args.bf16)
        print(f"model: {os.path.join(args.out, name)}")


if __name__ == "__main__":
    main()
