#!/usr/bin/env bash
# Verba's quantized dot-product kernels against llama.cpp's ggml-cpu ones (ggml_vec_dot_*) on the same
# weights, cache-resident, so the figures are compute per weight byte (scripts/bench-quant.sh measures
# decode against memory bandwidth). Needs llama.cpp built by scripts/build-llama-cpp.sh
# (downloads/llama.cpp-build/bin/libggml-cpu.so); VERBA_CPU=baseline|avx2|avx512|avx512vnni picks
# Verba's level.
#
#   bash scripts/bench-quant-vs-ggml.sh
set -euo pipefail
cd "$(dirname "$0")/.."
lib=downloads/llama.cpp-build/bin
[ -f "$lib/libggml-cpu.so" ] || { echo "bench-quant-vs-ggml: $lib/libggml-cpu.so not found (run scripts/build-llama-cpp.sh)" >&2; exit 1; }
k=Sources/CVerbaKernels
mkdir -p .build-bench-quant
clang -O2 -I"$k/include" scripts/bench/quant/vs_ggml.c "$k"/kernels_*.c "$k/dispatch.c" "$k/quants.c" -lm -lpthread \
    -L"$lib" -lggml-cpu -lggml-base -Wl,-rpath,"$(pwd)/$lib" -o .build-bench-quant/vs-ggml
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
.build-bench-quant/vs-ggml
