#!/usr/bin/env bash
# GPT-2 124M (float32, batch 1, 2 threads) speed: Verba vs Hugging Face transformers / PyTorch in the same run.
#   decode:  8-token prompt, 128 new tokens (greedy, --ignore-eos): Verba's decode tok/s vs HF generate with its
#            KV cache, and vs this machine's limit = memory bandwidth (best large sgemv, Verba's or OpenBLAS's,
#            and PyTorch's torch.mv) / bytes of weights a decode step reads.
#   prefill: a 128-token prompt in one pass vs one PyTorch forward pass (full logits, and last-position only).
#   memory:  Verba's peak resident set during the decode run vs the weight file (weights are memory-mapped).
# Targets: decode >= 2x HF and >= 80% of the limit; prefill >= 2x PyTorch; peak RSS <= 1.2x the file.
# Needs Python with torch + transformers (PYTHON, default /work/pyenv/bin/python or python3).
# Every Verba figure is also measured with the -march=native build of the same commit (scripts/bench/builds.sh),
# in turn with the portable binary, and printed beside it.
# Usage: bash scripts/bench-gpt2.sh [repeats]     (VERBA=, VERBA_NATIVE= use given binaries; NATIVE=0 skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
threads=2
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/pyenv/bin/python ]; then PYTHON=/work/pyenv/bin/python; else PYTHON=python3; fi
fi
bash scripts/make-gpt2-124m.sh
model=downloads/gpt2-124m
. scripts/bench/builds.sh
build_verba_pair
out=bench-out/gpt2
mkdir -p "$out"

cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
avx512=$(grep -c avx512f /proc/cpuinfo || true)
echo "cpu: $cpu ($(nproc) cores visible, avx512f: $([ "$avx512" -gt 0 ] && echo yes || echo no)); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "reference: transformers/PyTorch, $threads threads ..." >&2
OMP_NUM_THREADS=$threads "$PYTHON" scripts/bench/decoder_reference.py --model "$model" --threads $threads \
    --new-tokens 128 --repeats "$repeats" --out "$out" > "$out/reference.txt"
ref() { grep "^$1:" "$out/reference.txt" | sed 's/^[^:]*: //'; }

echo "verba: bandwidth, decode, prefill ..." >&2
vbw=$("$verba" generate --measure-bandwidth --threads $threads | sed 's/bandwidth: //; s/ GB.s//')
# gen_run BINARY: one decode run (128 new tokens after an 8-token prompt) and one 128-token prefill; sets d, p, kb.
gen_run() {
    /usr/bin/time -f "%M" -o "$out/rss.txt" "$1" generate --model "$model" --prompt "$(cat "$out/prompt8.txt")" \
        --max-tokens 128 --temperature 0 --ignore-eos --stats --threads $threads > "$out/decode-text.txt" 2> "$out/decode-stats.txt"
    d=$(sed -n 's/.*decode: 128 tokens, \([0-9.]*\) tok\/s.*/\1/p' "$out/decode-stats.txt")
    p8=$(sed -n 's/^prefill: \([0-9]*\) tokens.*/\1/p' "$out/decode-stats.txt")
    [ "$p8" = 8 ] || { echo "bench-gpt2: the prompt is $p8 tokens, not 8" >&2; exit 1; }
    kb=$(cat "$out/rss.txt")
    "$1" generate --model "$model" --prompt "$(cat "$out/prompt128.txt")" --max-tokens 1 --temperature 0 \
        --ignore-eos --stats --threads $threads > /dev/null 2> "$out/prefill-stats.txt"
    p=$(sed -n 's/^prefill: 128 tokens, \([0-9.]*\) tok\/s.*/\1/p' "$out/prefill-stats.txt")
    [ -n "$p" ] || { echo "bench-gpt2: the long prompt is not 128 tokens: $(cat "$out/prefill-stats.txt")" >&2; exit 1; }
}
best_decode=0; best_prefill=0; rss=0; native_decode=0; native_prefill=0
for i in $(seq "$repeats"); do
    gen_run "$verba"
    best_decode=$(python3 -c "print(max($best_decode, ${d:-0}))")
    rss=$(python3 -c "print(max($rss, $kb))")
    best_prefill=$(python3 -c "print(max($best_prefill, $p))")
    if [ -n "$verba_native" ]; then
        gen_run "$verba_native"
        native_decode=$(python3 -c "print(max($native_decode, ${d:-0}))")
        native_prefill=$(python3 -c "print(max($native_prefill, $p))")
    fi
done

python3 - "$model" "$vbw" "$best_decode" "$best_prefill" "$rss" "$(ref hf_decode_tok_s)" "$(ref torch_prefill_tok_s)" \
    "$(ref torch_prefill_last_tok_s)" "$(ref torch_sgemv_gbs)" "$native_decode" "$native_prefill" <<'PY'
import json, os, sys
model, vbw, dec, pre, rss_kb, hf_dec, pt_pre, pt_pre_last, pt_bw, n_dec, n_pre = sys.argv[1:]
n_dec, n_pre = float(n_dec), float(n_pre)
vbw, dec, pre, hf_dec, pt_pre, pt_bw = map(float, (vbw, dec, pre, hf_dec, pt_pre, pt_bw))
pt_pre_last = float(pt_pre_last) if pt_pre_last else None
cfg = json.load(open(os.path.join(model, "config.json")))
c, l, v, inner = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg.get("n_inner") or 4 * cfg["n_embd"]
per_block = 4 * c + 3 * c * c + 3 * c + c * c + c + c * inner + inner + inner * c + c
step_bytes = 4 * (l * per_block + 2 * c + v * c)          # weights one decode step reads (LM head = wte)
file_bytes = os.path.getsize(os.path.join(model, "model.safetensors"))
bw = max(vbw, pt_bw)
limit = bw * 1e9 / step_bytes
rss = int(rss_kb) * 1024
print(f"bandwidth: {bw:.1f} GB/s (verba sgemv {vbw:.1f}, torch.mv {pt_bw:.1f}); a decode step reads {step_bytes/1e6:.0f} MB -> limit {limit:.1f} tok/s")
print(f"decode:  verba {dec:.1f} tok/s | HF generate {hf_dec:.1f} tok/s | ratio {dec/hf_dec:.2f}x (target >= 2) | {100*dec/limit:.0f}% of the limit (target >= 80%)")
line = f"prefill: verba {pre:.1f} tok/s | PyTorch forward {pt_pre:.1f} tok/s | ratio {pre/pt_pre:.2f}x (target >= 2)"
if pt_pre_last: line += f" | vs PyTorch last-logits-only {pt_pre_last:.1f} tok/s: {pre/pt_pre_last:.2f}x"
print(line)
if n_dec > 0:
    print(f"-march=native build of the same commit: decode {n_dec:.1f} tok/s, prefill {n_pre:.1f} tok/s;"
          f" portable / native: decode {dec / n_dec:.3f}, prefill {pre / n_pre:.3f}")
print(f"memory:  peak RSS {rss/1e6:.0f} MB | weight file {file_bytes/1e6:.0f} MB | ratio {rss/file_bytes:.2f} (target <= 1.2)")
PY
