#!/usr/bin/env bash
# Benchmarks the quantized GEMV (batch-1 decode) of VerbaTensor: GB/s of quantized weight bytes read for
# Q8_0, Q4_0, Q4_K and Q6_K at 4096×4096, 576×1536 and 1536×576, against the float32 GEMV's GB/s (the
# bandwidth bound), at 1 and 2 threads, then the batched product (prefill, m = 128) in GFLOP/s (release
# mode, at the CPU level chosen at run time; VERBA_CPU=baseline|avx2|avx512|avx512vnni forces one).
#
#   bash scripts/bench-quant.sh                          # 256 MB sweeps, best of 7
#   bash scripts/bench-quant.sh --megabytes 128 --repetitions 3 --threads 1
#
# The harness is a throw-away package in .build-bench-quant/ (git-ignored) that links the sources of
# Sources/VerbaTensor with scripts/bench/quant/main.swift, so it builds without the rest of Verba.
# Figures depend on the CPU and on what else runs; the first line records the CPU. Compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pkg=.build-bench-quant/pkg
mkdir -p "$pkg/Sources" "$pkg/Bench"
ln -sfn "$root/Sources/VerbaTensor" "$pkg/Sources/VerbaTensor"
ln -sfn "$root/Sources/CBLAS" "$pkg/Sources/CBLAS"
ln -sfn "$root/Sources/CVerbaKernels" "$pkg/Sources/CVerbaKernels"
ln -sfn "$root/Sources/CVerbaSupport" "$pkg/Sources/CVerbaSupport"
ln -sfn "$root/Sources/VerbaSupport" "$pkg/Sources/VerbaSupport"
ln -sfn "$root/scripts/bench/quant/main.swift" "$pkg/Bench/main.swift"
cat > "$pkg/Package.swift" <<'SWIFT'
// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "VerbaTensorBench",
    targets: [
        .target(name: "CBLAS"),
        .target(name: "CVerbaKernels"),
        .target(name: "CVerbaSupport"),
        .target(name: "VerbaSupport", dependencies: ["CVerbaSupport"]),
        .target(name: "VerbaTensor", dependencies: ["CBLAS", "CVerbaKernels", "CVerbaSupport", "VerbaSupport"]),
        .executableTarget(name: "bench-quant", dependencies: ["VerbaTensor", "VerbaSupport"], path: "Bench"),
    ],
    swiftLanguageModes: [.v5]
)
SWIFT
swift build -c release --package-path "$pkg" --scratch-path .build-bench-quant/build >&2
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
.build-bench-quant/build/release/bench-quant "$@"
