#!/usr/bin/env python3
"""Reference side of scripts/bench-bert.sh: sentence embeddings with PyTorch.

  bert_reference.py lines MODEL_DIR OUT.txt [--count 2000]   writes the benchmark's varied input lines
  bert_reference.py bench MODEL_DIR LINES.txt [--threads 2] [--compare VERBA.jsonl]  times HF transformers (batch 32, in order,
                                                             tokenization included) and
                                                             sentence-transformers encode (batch 32), both
                                                             in-process with model loading excluded;
                                                             prints `key value` lines
The lines are 2,000 varied lines from the fortunes corpus (every language folder), chosen with a fixed
seed: single lines, so short and medium texts dominate, as in a stream of sentences.
"""
import glob
import os
import random
import sys
import time

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_lines(out, count):
    files = sorted(p for p in glob.glob("/usr/share/games/fortunes/**/*", recursive=True)
                   if os.path.isfile(p) and not p.endswith(".dat") and not os.path.islink(p))
    lines = []
    for p in files:
        try:
            text = open(p, "rb").read().decode("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.split("\n"):
            s = " ".join(line.split())
            if len(s) >= 2 and s != "%":
                lines.append(s)
    rng = random.Random(2000)
    picked = rng.sample(lines, count)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(picked) + "\n")


def bench(model_dir, lines_path, threads, compare=None):
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer
    torch.set_num_threads(threads)
    lines = open(lines_path, encoding="utf-8").read().split("\n")[:-1]
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def hf_run(batch_size=32):
        out = []
        with torch.inference_mode():
            for i in range(0, len(lines), batch_size):
                enc = tok(lines[i:i + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
                h = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(v, dim=-1))
        return torch.cat(out)

    hf_run()  # warm-up (allocator, thread pool), not timed
    t = time.perf_counter()
    hf = hf_run()
    hf_s = time.perf_counter() - t

    st = SentenceTransformer(model_dir, device="cpu")
    st.encode(lines[:64], batch_size=32)
    t = time.perf_counter()
    emb = st.encode(lines, batch_size=32, convert_to_numpy=True)
    st_s = time.perf_counter() - t

    tokens = sum(len(x) for x in tok(lines, truncation=True, max_length=256)["input_ids"])
    print(f"lines {len(lines)}")
    print(f"tokens {tokens}")
    print(f"hf_seconds {hf_s:.4f}")
    print(f"st_seconds {st_s:.4f}")
    print(f"hf_vs_st_maxdiff {float((hf - torch.from_numpy(emb)).abs().max()):.2e}")
    print(f"torch {torch.__version__}")
    if compare:
        import json
        import numpy as np
        ours = np.array([json.loads(line) for line in open(compare)], dtype=np.float32)
        print(f"verba_vs_st_maxdiff {float(np.abs(ours - emb).max()):.2e}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "lines":
        count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 2000
        make_lines(sys.argv[3], count)
    elif cmd == "bench":
        threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
        compare = sys.argv[sys.argv.index("--compare") + 1] if "--compare" in sys.argv else None
        bench(sys.argv[2], sys.argv[3], threads, compare)
    else:
        sys.exit(f"unknown command {cmd}")
