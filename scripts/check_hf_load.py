#!/usr/bin/env python3
"""Checks that a model folder written by `verba train lm` / `verba train classifier` loads in Hugging Face
transformers unchanged and computes what verba computes.

  /work/pyenv/bin/python scripts/check_hf_load.py MODEL_DIR [--verba .build/release/verba] [--tsv dev.tsv]

For a language-model folder (model_type gpt2 or llama, as `verba train lm --arch gpt2|llama` writes):

1. AutoModelForCausalLM.from_pretrained(MODEL_DIR) loads the class config.json names (GPT2LMHeadModel,
   LlamaForCausalLM) with no missing or unexpected weights (lm_head.weight may be absent only when tied),
   and the tokenizer.json loads in `tokenizers`.
2. Perplexity of a few texts (shorter than the context) from transformers (float32) equals
   `verba perplexity --model MODEL_DIR` within 1e-4 relative.
3. Greedy continuations (20 tokens) from transformers equal `verba generate --temperature 0`.
For a classifier folder (model_type bert): BertForSequenceClassification loads with no missing or
unexpected weights; on TSV lines (label<TAB>text; default: a few built-in lines) its label probabilities
equal `verba classify --model MODEL_DIR --format jsonl` within 1e-4, and its accuracy is printed.
Exits 1 on any mismatch. (The Swift tests TrainingTests.testExportedGPTFolderMatchesTrainerForward and
LlamaTrainingTests.testExportedLlamaFolderMatchesTrainerForward check that verba's inference gives the
trainer's own logits within 1e-4.)
"""
import argparse, math, os, subprocess, sys

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

TEXTS = [
    "In the beginning God created the heaven and the earth.",
    "A man's gotta do what a man's gotta do, said the programmer to his cat.",
    "And the LORD spake unto Moses, saying, Speak unto the children of Israel.",
]
PROMPTS = ["And it came to pass", "The computer", "Love is"]


def check_classifier(a):
    import json
    from transformers import BertForSequenceClassification
    model, info = BertForSequenceClassification.from_pretrained(a.model, output_loading_info=True, torch_dtype=torch.float32)
    model.eval()
    ok = not info["missing_keys"] and not info["unexpected_keys"]
    print(f"load: missing {sorted(info['missing_keys'])}, unexpected {sorted(info['unexpected_keys'])}")
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    if a.tsv:
        rows = [l.rstrip("\n").split("\t", 1) for l in open(a.tsv, encoding="utf-8") if "\t" in l][: a.limit]
    else:
        rows = [["en", "The quick brown fox jumps over the lazy dog."], ["de", "Wer zuletzt lacht, lacht am besten."],
                ["ru", "Тише едешь, дальше будешь."], ["zh", "学而时习之，不亦说乎"]]
    labels = model.config.id2label
    hf_probs = []
    with torch.no_grad():
        for _, text in rows:
            enc = tok.encode(text)   # padding/truncation as the tokenizer.json says; padding is masked out
            n = model.config.max_position_embeddings
            logits = model(torch.tensor([enc.ids[:n]]), attention_mask=torch.tensor([enc.attention_mask[:n]])).logits[0]
            hf_probs.append(torch.softmax(logits.double(), -1).tolist())
    correct = sum(labels[max(range(len(p)), key=p.__getitem__)] == lab for (lab, _), p in zip(rows, hf_probs))
    print(f"transformers accuracy {correct / len(rows):.4f} on {len(rows)} lines")
    out = subprocess.run([a.verba, "classify", "--model", a.model, "--format", "jsonl"],
                         input="".join(t + "\n" for _, t in rows).encode(), capture_output=True)
    if out.returncode != 0:
        print("verba classify failed:", out.stderr.decode()[:500]); return False
    worst = 0.0
    for line, p in zip(out.stdout.decode().splitlines(), hf_probs):
        mine = json.loads(line)
        scores = mine.get("scores", mine) if isinstance(mine, dict) else mine
        for i, name in labels.items():
            worst = max(worst, abs(float(scores[name]) - p[int(i)]))
    print(f"verba classify vs transformers: max probability difference {worst:.2e}")
    return ok and worst <= 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--verba", default=".build/release/verba")
    ap.add_argument("--tsv")
    ap.add_argument("--limit", type=int, default=1000)
    a = ap.parse_args()
    import json
    if json.load(open(os.path.join(a.model, "config.json"))).get("model_type") == "bert":
        ok = check_classifier(a)
        print("OK" if ok else "MISMATCH")
        sys.exit(0 if ok else 1)
    model, info = AutoModelForCausalLM.from_pretrained(a.model, output_loading_info=True, torch_dtype=torch.float32)
    model.eval()
    print(f"class {type(model).__name__}, {sum(p.numel() for p in model.parameters())} parameters")
    tied = model.config.tie_word_embeddings
    bad = [k for k in info["missing_keys"] if not (tied and k == "lm_head.weight")] + list(info["unexpected_keys"])
    ok = not bad
    print(f"load: missing {sorted(info['missing_keys'])}, unexpected {sorted(info['unexpected_keys'])}")
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    for text in TEXTS:
        ids = tok.encode(text, add_special_tokens=False).ids
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        nll = torch.nn.functional.cross_entropy(logits[:-1].double(), torch.tensor(ids[1:]), reduction="mean").item()
        hf = math.exp(nll)
        out = subprocess.run([a.verba, "perplexity", "--model", a.model], input=text.encode(), capture_output=True)
        line = [l for l in out.stdout.decode().splitlines() if l.startswith("perplexity:")]
        if out.returncode != 0 or not line:
            print("verba perplexity failed:", out.stderr.decode()); ok = False; continue
        mine = float(line[0].split()[1])
        rel = abs(mine - hf) / hf
        print(f"perplexity hf {hf:.6f} verba {mine:.6f} rel {rel:.2e}  ({len(ids)} tokens)")
        ok &= rel <= 1e-4
    for prompt in PROMPTS:
        ids = tok.encode(prompt, add_special_tokens=False).ids
        with torch.no_grad():
            gen = model.generate(torch.tensor([ids]), max_new_tokens=20, do_sample=False, pad_token_id=0,
                                 eos_token_id=None)[0][len(ids):].tolist()
        hf = tok.decode(gen, skip_special_tokens=True)   # verba generate prints no special tokens
        out = subprocess.run([a.verba, "generate", "--model", a.model, "--prompt", prompt, "--max-tokens", "20",
                              "--temperature", "0", "--ignore-eos"], capture_output=True)
        mine = out.stdout.decode()
        same = out.returncode == 0 and mine == hf
        print(f"greedy {'same' if same else 'DIFFERENT'}: {prompt!r} -> hf {hf!r} verba {mine!r}")
        ok &= same
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
