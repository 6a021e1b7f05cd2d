#!/usr/bin/env bash
# Same-budget comparison of the two architectures `verba train lm` builds: a GPT-2 and a Llama of the same
# width, depth and (non-embedding) size, trained on the default GPT's corpus and tokenizer
# (models/gpt-kjv-fortunes: KJV + English fortunes, 4,096-token BPE) with the same batches, schedule and
# seed, side by side (one thread each, so both see the same machine load). Prints each model's
# parameters, held-out perplexity (the same held-out blocks) and training seconds.
# The Llama: SwiGLU width 8/3 · dim (512 for width 192: 3 · 192 · 512 = the GPT MLP's 8 · 192²), as many
# key/value heads as heads (KV=H keeps the attention the same size), RoPE instead of learned positions.
# Usage: bash scripts/compare-lm-arch.sh [STEPS] [OUT]   (defaults: 400 steps, /tmp/verba-compare-lm-arch)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-400}
out=${2:-/tmp/verba-compare-lm-arch}
verba=${VERBA:-.build/release/verba}
[ -x "$verba" ] || swift build -c release --product verba
[ -s downloads/corpus-en/kjv.txt ] || bash scripts/make-gpt-corpus.sh >&2
mkdir -p "$out"
common=(--tokenizer models/gpt-kjv-fortunes/tokenizer.json
        --corpus downloads/corpus-en/kjv.txt downloads/corpus-en/fortunes.txt
        --layers 6 --heads 6 --dim 192 --context 128 --batch-size 16 --steps "$steps" --lr 2e-3
        --warmup $((steps * 150 / 2600 + 1)) --eval-every 0 --checkpoint-every 0 --threads 1 --seed 1337)
nice "$verba" train lm "${common[@]}" --arch gpt2 --output "$out/gpt2" 2> "$out/gpt2.log" &
gpt=$!
nice "$verba" train lm "${common[@]}" --arch llama --output "$out/llama" 2> "$out/llama.log" &
llama=$!
wait $gpt
wait $llama
for arch in gpt2 llama; do
    s="$out/$arch/training-summary.json"
    field() { grep -o "\"$1\" *: *[0-9.e+-]*" "$s" | grep -o '[0-9.e+-]*$'; }
    printf '%-6s %9s parameters  held-out perplexity %8.3f  %6.0f s  (%s steps of 16 x 128 tokens)\n' \
        "$arch" "$(field parameters)" "$(field validation_perplexity)" "$(field seconds_this_run)" "$steps"
done
