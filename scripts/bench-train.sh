#!/usr/bin/env bash
# Training speed: verba train lm vs PyTorch (transformers GPT2LMHeadModel + torch.optim.AdamW) on the
# default GPT's configuration (read from models/gpt-kjv-fortunes/config.json: 6 layers, width 192, 6 heads,
# context 128, vocabulary 4096), batch 16 x 128 tokens, one optimizer step = forward + backward + clipping + AdamW,
# same thread count, measured in the same run. Prints tokens/s for both and the ratio.
# The -march=native build of the same commit (scripts/bench/builds.sh) trains the same steps right after, and
# its figure is printed beside the portable one.
# Usage: bash scripts/bench-train.sh [THREADS] [STEPS]      (defaults: 2 threads, 30 steps; VERBA=, VERBA_NATIVE=, NATIVE=0)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
steps=${2:-30}
py=${PYTHON:-/work/pyenv/bin/python}
. scripts/bench/builds.sh
build_verba_pair
[ -s downloads/corpus-en/kjv.txt ] || bash scripts/make-gpt-corpus.sh >&2
tok=models/gpt-kjv-fortunes/tokenizer.json
cfg=models/gpt-kjv-fortunes/config.json
field() { grep -o "\"$1\" *: *[0-9]*" "$cfg" | grep -o '[0-9]*$'; }
layers=$(field n_layer) heads=$(field n_head) dim=$(field n_embd) context=$(field n_positions) batch=16
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, avx512f: $(grep -c avx512f /proc/cpuinfo || true); threads $threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "config: $layers layers, dim $dim, $heads heads, context $context, batch $batch, vocab $(grep -o '"vocab_size" *: *[0-9]*' models/gpt-kjv-fortunes/config.json | grep -o '[0-9]*$')"

# verba: the last progress line's tok/s is the mean over all timed steps (excluding tokenization and export).
train_tps() {  # BINARY NAME: tokens/s of one training run
    "$1" train lm --tokenizer "$tok" --corpus downloads/corpus-en/kjv.txt --layers $layers --heads $heads --dim $dim \
        --context $context --batch-size $batch --steps "$steps" --lr 1e-3 --warmup 5 --eval-every 0 --checkpoint-every 0 \
        --validation-every 0 --threads "$threads" --output "$work/$2" 2> "$work/$2.log"
    grep -o '| [0-9]* tok/s' "$work/$2.log" | tail -1 | grep -o '[0-9]*'
}
verba_tps=$(train_tps "$verba" verba)
native_tps=
[ -n "$verba_native" ] && native_tps=$(train_tps "$verba_native" native)

vocab=$(grep -o '"vocab_size" *: *[0-9]*' models/gpt-kjv-fortunes/config.json | grep -o '[0-9]*$')
torch_tps=$("$py" - "$threads" "$steps" $layers $heads $dim $context $batch "$vocab" <<'PY' 2>/dev/null
import os, sys, time
sys.path = [p for p in sys.path if p not in ("", os.getcwd())]
import torch
from transformers import GPT2Config, GPT2LMHeadModel
threads, steps, L, H, C, T, B, V = map(int, sys.argv[1:])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = GPT2Config(vocab_size=V, n_positions=T, n_embd=C, n_layer=L, n_head=H, activation_function="gelu_new",
                 resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
model = GPT2LMHeadModel(cfg).train()
decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3)
g = torch.Generator().manual_seed(1)
elapsed, timed = 0.0, 0
for step in range(steps):
    x = torch.randint(0, V, (B, T + 1), generator=g)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    logits = model(input_ids=x[:, :-1]).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), x[:, 1:].reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    dt = time.perf_counter() - t0
    if step >= 2:   # like verba's figure, skip nothing but the first two warm-up steps
        elapsed += dt; timed += 1
print(int(B * T * timed / elapsed))
PY
)
echo "verba:   $verba_tps tokens/s"
[ -n "$native_tps" ] && echo "verba -march=native build of the same commit: $native_tps tokens/s (portable / native: $(portable_vs_native "$verba_tps" "$native_tps"))"
echo "PyTorch: $torch_tps tokens/s ($("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null))"
awk -v a="$verba_tps" -v b="$torch_tps" 'BEGIN { printf "ratio verba/PyTorch: %.2f\n", a / b }'
