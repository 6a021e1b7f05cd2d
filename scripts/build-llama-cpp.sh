#!/usr/bin/env bash
# Builds the peer that Verba's generation, quantization and server benchmarks measure against:
# llama.cpp from the sources in PyPI's llama-cpp-python sdist (fetched by scripts/fetch-assets.sh into
# downloads/llama.cpp), with cmake from PyPI, tuned for this machine's CPU (GGML_NATIVE) as its users
# build it. Binaries land in downloads/llama.cpp-build/bin: llama-bench, llama-perplexity,
# llama-quantize, llama-server, llama-cli. Idempotent.
#   bash scripts/build-llama-cpp.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-assets.sh
cmake_bin=$(command -v cmake || true)
if [ -z "$cmake_bin" ]; then
    py=${PYTHON:-python3}
    "$py" -m pip install -q --target downloads/cmake-pypi cmake
    cmake_bin=$(ls downloads/cmake-pypi/bin/cmake)
fi
out=downloads/llama.cpp-build
if [ -x "$out/bin/llama-server" ] && [ -x "$out/bin/llama-bench" ]; then
    echo "llama.cpp: built in $out/bin" >&2
    exit 0
fi
"$cmake_bin" -S downloads/llama.cpp -B "$out" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON >&2
"$cmake_bin" --build "$out" -j "$(nproc)" --target llama-bench llama-perplexity llama-quantize \
    llama-server llama-cli >&2
echo "llama.cpp: built in $out/bin" >&2
