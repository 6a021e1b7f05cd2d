#!/usr/bin/env bash
# Benchmarks VerbaTensor's kernels against OpenBLAS and their reference versions, in one run (release mode): thread-pool overhead, sgemm GFLOP/s on BERT/GPT-2 shapes (our pool-split single-threaded
# OpenBLAS vs OpenBLAS's own threads), gemv GB/s vs cblas_sgemv, a GPT-2 124M decode step's weight streaming
# as a fraction of the measured bandwidth bound, and the elementwise kernels vs their references
# (at the CPU level chosen at run time; VERBA_CPU=baseline|avx2|avx512 forces one).
#
#   bash scripts/bench-tensor.sh            # full run (a few minutes on 2 cores)
#   bash scripts/bench-tensor.sh --quick    # fewer repetitions
#
# The harness is a throw-away package in .build-bench-tensor/ (git-ignored) that links the sources of
# Sources/VerbaTensor with scripts/bench/tensor/main.swift, so it builds without the rest of Verba.
# Figures depend on the CPU and on what else runs; the first line records the CPU. Compare ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pkg=.build-bench-tensor/pkg
mkdir -p "$pkg/Sources" "$pkg/Bench"
ln -sfn "$root/Sources/VerbaTensor" "$pkg/Sources/VerbaTensor"
ln -sfn "$root/Sources/CBLAS" "$pkg/Sources/CBLAS"
ln -sfn "$root/Sources/CVerbaKernels" "$pkg/Sources/CVerbaKernels"
ln -sfn "$root/Sources/CVerbaSupport" "$pkg/Sources/CVerbaSupport"
ln -sfn "$root/Sources/VerbaSupport" "$pkg/Sources/VerbaSupport"
ln -sfn "$root/scripts/bench/tensor/main.swift" "$pkg/Bench/main.swift"
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
        // The harness calls OpenBLAS directly as well (VerbaTensor opens the same library at first use).
        .executableTarget(name: "bench-tensor", dependencies: ["VerbaTensor", "CBLAS"], path: "Bench",
                          linkerSettings: [.linkedLibrary("openblas")]),
    ],
    swiftLanguageModes: [.v5]
)
SWIFT
swift build -c release --package-path "$pkg" --scratch-path .build-bench-tensor/build >&2
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
.build-bench-tensor/build/release/bench-tensor "$@"
