#!/usr/bin/env bash
# Llama-family decoders (batch 1, float32, 2 threads): Verba vs transformers/PyTorch and llama.cpp, same run.
# Models: random weights at the real shapes of SmolLM2-135M and Qwen2.5-0.5B (scripts/bench/make_llama_models.py,
# into downloads/bench-llama; never committed). For each:
#   decode:  8-token prompt, 128 new tokens greedy: Verba's tok/s vs HF generate (KV cache), vs llama.cpp's
#            llama-bench tg128 on the same weights converted to an f32 GGUF (its convert_hf_to_gguf.py), and vs
#            this machine's limit = read bandwidth (best large sgemv) / bytes of weights a decode step reads;
#   prefill: a 128-token prompt in one pass vs one PyTorch forward pass and llama-bench pp128;
#   memory:  peak RSS of a decode run of the bfloat16 copy vs its weight file (weights are memory-mapped).
# Targets (issue 19): decode >= 90% of the limit, >= 2x PyTorch, >= 1.0x llama.cpp; prefill >= 2x PyTorch,
# >= 1.1x llama.cpp; bf16 peak RSS <= 1.2x the file.
# Needs Python with torch + transformers (PYTHON, default /work/pyenv/bin/python or python3) and llama.cpp
# built by scripts/build-llama-cpp.sh (LLAMA_CPP=0 skips it).
# Usage: bash scripts/bench-llama.sh [repeats] [NAME...]    (VERBA= uses a given binary)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}; shift || true
names=${*:-smollm2-135m qwen25-05b}
threads=2
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/pyenv/bin/python ]; then PYTHON=/work/pyenv/bin/python; else PYTHON=python3; fi
fi
NATIVE=0
. scripts/bench/builds.sh
build_verba_pair
if [ "${LLAMA_CPP:-1}" != 0 ]; then
    bash scripts/build-llama-cpp.sh
    lcpp=downloads/llama.cpp-build/bin
fi
"$PYTHON" scripts/bench/make_llama_models.py --out downloads/bench-llama --bf16 $names >&2

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
avx512=$(grep -c avx512f /proc/cpuinfo || true)
echo "cpu: $cpu ($(nproc) cores visible, avx512f: $([ "$avx512" -gt 0 ] && echo yes || echo no)); verba: $("$verba" --version)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
vbw=$("$verba" generate --measure-bandwidth --threads $threads | sed 's/bandwidth: //; s/ GB.s//')

for name in $names; do
    model=downloads/bench-llama/$name
    out=bench-out/llama/$name
    mkdir -p "$out"
    echo "== $name" 
    echo "reference: transformers/PyTorch, $threads threads ..." >&2
    OMP_NUM_THREADS=$threads "$PYTHON" scripts/bench/decoder_reference.py --model "$model" --threads $threads \
        --new-tokens 128 --repeats "$repeats" --out "$out" > "$out/reference.txt"
    ref() { grep "^$1:" "$out/reference.txt" | sed 's/^[^:]*: //'; }

    lc_pp=0; lc_tg=0
    if [ -n "${lcpp:-}" ]; then
        gguf=$out/model-f32.gguf
        # Verba's own writer (verba quantize --type f32) when llama.cpp's converter does not recognise the
        # tokenizer (its Qwen2 path hashes the pre-tokenizer and knows only Qwen's own).
        if [ ! -f "$gguf" ] && ! "$PYTHON" downloads/llama.cpp/convert_hf_to_gguf.py "$model" --outtype f32 \
            --outfile "$gguf" > "$out/convert.log" 2>&1; then
            echo "llama.cpp's converter refused $name (see $out/convert.log); writing the GGUF with verba quantize" >&2
            "$verba" quantize --type f32 "$model" "$gguf" 2>> "$out/convert.log"
        fi
        "$lcpp/llama-bench" -m "$gguf" -p 128 -n 128 -t $threads -r "$repeats" -o json > "$out/llama-bench.json" \
            2> "$out/llama-bench.log"
        read -r lc_pp lc_tg < <("$PYTHON" -c "
import json,sys
rows=json.load(open('$out/llama-bench.json'))
pp=[r['avg_ts'] for r in rows if r['n_prompt']>0 and r['n_gen']==0]
tg=[r['avg_ts'] for r in rows if r['n_gen']>0 and r['n_prompt']==0]
print(pp[0], tg[0])")
    fi

    echo "verba: decode, prefill ..." >&2
    best_d=0; best_p=0
    for i in $(seq "$repeats"); do
        "$verba" generate --model "$model" --prompt "$(cat "$out/prompt8.txt")" --max-tokens 128 --temperature 0 \
            --ignore-eos --stats --threads $threads > /dev/null 2> "$out/decode-stats.txt"
        d=$(sed -n 's/.*decode: 128 tokens, \([0-9.]*\) tok\/s.*/\1/p' "$out/decode-stats.txt")
        "$verba" generate --model "$model" --prompt "$(cat "$out/prompt128.txt")" --max-tokens 1 --temperature 0 \
            --ignore-eos --stats --threads $threads > /dev/null 2> "$out/prefill-stats.txt"
        p=$(sed -n 's/^prefill: 128 tokens, \([0-9.]*\) tok\/s.*/\1/p' "$out/prefill-stats.txt")
        [ -n "$d" ] && [ -n "$p" ] || { echo "bench-llama: no figures: $(cat "$out"/*-stats.txt)" >&2; exit 1; }
        best_d=$(python3 -c "print(max($best_d, $d))"); best_p=$(python3 -c "print(max($best_p, $p))")
    done
    /usr/bin/time -f "%M" -o "$out/rss.txt" "$verba" generate --model "$model-bf16" \
        --prompt "$(cat "$out/prompt8.txt")" --max-tokens 32 --temperature 0 --ignore-eos --threads $threads > /dev/null

    python3 - "$model" "$vbw" "$best_d" "$best_p" "$(ref hf_decode_tok_s)" "$(ref torch_prefill_tok_s)" \
        "$(ref torch_sgemv_gbs)" "$lc_pp" "$lc_tg" "$(cat "$out/rss.txt")" <<'PY'
import json, os, struct, sys
model, vbw, dec, pre, hf_dec, pt_pre, pt_bw, lc_pp, lc_tg, rss_kb = sys.argv[1:]
vbw, dec, pre, hf_dec, pt_pre, pt_bw, lc_pp, lc_tg = map(float, (vbw, dec, pre, hf_dec, pt_pre, pt_bw, lc_pp, lc_tg))
cfg = json.load(open(os.path.join(model, "config.json")))
def tensor_bytes(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: v["data_offsets"][1] - v["data_offsets"][0] for k, v in header.items() if k != "__metadata__"}
sizes = tensor_bytes(os.path.join(model, "model.safetensors"))
step = sum(sizes.values())
if not cfg.get("tie_word_embeddings", False):
    step -= sizes.get("model.embed_tokens.weight", 0)      # a lookup reads one row
bw = max(vbw, pt_bw)
limit = bw * 1e9 / step
bf16_file = os.path.getsize(os.path.join(model + "-bf16", "model.safetensors"))
rss = int(rss_kb) * 1024
print(f"weights read per decode step: {step/1e6:.0f} MB; bandwidth {bw:.1f} GB/s (verba sgemv {vbw:.1f}, torch.mv {pt_bw:.1f}) -> limit {limit:.1f} tok/s")
line = f"decode:  verba {dec:.1f} tok/s | {100*dec/limit:.0f}% of the limit (>= 90) | HF generate {hf_dec:.1f}: {dec/hf_dec:.2f}x (>= 2)"
if lc_tg > 0: line += f" | llama.cpp tg128 {lc_tg:.1f}: {dec/lc_tg:.2f}x (>= 1.0)"
print(line)
line = f"prefill: verba {pre:.1f} tok/s | PyTorch forward {pt_pre:.1f}: {pre/pt_pre:.2f}x (>= 2)"
if lc_pp > 0: line += f" | llama.cpp pp128 {lc_pp:.1f}: {pre/lc_pp:.2f}x (>= 1.1)"
print(line)
print(f"memory (bf16 copy): peak RSS {rss/1e6:.0f} MB | weight file {bf16_file/1e6:.0f} MB | ratio {rss/bf16_file:.2f} (<= 1.2)")
PY
done
