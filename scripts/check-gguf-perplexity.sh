#!/usr/bin/env bash
# Perplexity of Verba against llama.cpp on the same GGUF files and the same tokens: for each model, Verba
# writes F32, Q8_0, Q4_0 and Q4_K_M GGUFs (`verba quantize`), then `llama-perplexity -c CTX` and
# `verba perplexity --context CTX --chunks` (llama.cpp's chunking: disjoint chunks, second halves scored,
# no BOS) score each file; the two must agree within 0.5%. llama.cpp's own `llama-quantize` output from
# the F32 file is scored too: Verba's file must give the same perplexity within 0.2% (GGUFExportTests
# check that the tensors are byte-identical on the fixtures).
#   bash scripts/check-gguf-perplexity.sh [MODEL_FOLDER...]
# Defaults: models/gpt-kjv-fortunes (a trained 6-layer GPT-2) and downloads/gpt2-124m (random weights,
# GPT-2 124M's shape, so Q4_K and Q6_K blocks fit its rows). Needs downloads/llama.cpp-build
# (scripts/build-llama-cpp.sh) and a release build of verba (swift build -c release).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=downloads/llama.cpp-build/bin
verba=${VERBA:-.build/release/verba}
ctx=${CTX:-128}
threads=${THREADS:-$(nproc)}
[ -x "$bin/llama-perplexity" ] || { echo "check-gguf-perplexity: no $bin/llama-perplexity (run scripts/build-llama-cpp.sh)" >&2; exit 1; }
[ -x "$verba" ] || { echo "check-gguf-perplexity: no $verba (run swift build -c release)" >&2; exit 1; }
export LD_LIBRARY_PATH="$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c "${TEXT_BYTES:-60000}" downloads/corpus-en/fortunes.txt > "$work/text.txt"
# llama-perplexity logs from a background thread, and its last lines are sometimes lost at exit: a run
# that printed no final estimate is repeated (up to three times).
llama_ppl() {
    local out=""
    for _ in 1 2 3; do
        "$bin/llama-perplexity" -m "$1" -f "$work/text.txt" -c "$ctx" -t "$threads" > "$work/llama.log" 2>&1 || true
        out=$(sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p' "$work/llama.log")
        [ -n "$out" ] && break
    done
    echo "${out:-nan}"
}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(models/gpt-kjv-fortunes downloads/gpt2-124m)
status=0
printf "%-20s %-7s %12s %12s %9s %14s %s\n" model type llama.cpp verba diff llama-quantize check
for model in "${models[@]}"; do
    name=$(basename "$model")
    "$verba" quantize --quiet --type f32 "$model" "$work/$name-f32.gguf"
    for type in f32 q8_0 q4_0 q4_k_m; do
        file="$work/$name-$type.gguf"
        [ "$type" = f32 ] || "$verba" quantize --quiet --type "$type" "$model" "$file"
        ref=$(llama_ppl "$file")
        ours=$("$verba" perplexity --model "$file" --context "$ctx" --chunks --threads "$threads" < "$work/text.txt" \
              | sed -n 's/^perplexity: //p')
        lq="-"
        if [ "$type" != f32 ]; then
            "$bin/llama-quantize" "$work/$name-f32.gguf" "$work/$name-$type-llama.gguf" "$(echo "$type" | tr a-z A-Z)" \
                > "$work/quantize.log" 2>&1
            lq=$(llama_ppl "$work/$name-$type-llama.gguf")
        fi
        diff=$(awk -v a="$ref" -v b="$ours" 'BEGIN { d = (b - a) / a * 100; printf "%+.3f%%", d }')
        ok=$(awk -v a="$ref" -v b="$ours" -v q="$lq" -v t="$type" 'BEGIN {
            bad = (b - a) / a; if (bad < 0) bad = -bad
            lbad = 0; if (t != "f32") { lbad = (a - q) / q; if (lbad < 0) lbad = -lbad }
            print (a == "nan" || b == "" || bad > 0.005 || lbad > 0.002 || q == "nan") ? "FAIL" : "ok" }')
        printf "%-20s %-7s %12s %12s %9s %14s %s\n" "$name" "$type" "$ref" "$ours" "$diff" "$lq" "$ok"
        [ "$ok" = ok ] || status=1
    done
done
exit $status
