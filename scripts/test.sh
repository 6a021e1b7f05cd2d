#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), a release build, the unit and end-to-end tests, the
# consumer package (Examples/VerbaDemo), the portable-binary check (scripts/qemu-check.sh) and the
# command-line contract check. Tests run in release mode:
# several check real models end to end.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
swift build -c release || exit 1
swift test -c release > .build/test-output.txt 2>&1
status=$?
# Failures, skips and the summary; the full log stays in .build/test-output.txt.
grep -vE "^Test Case .* (started|passed)|^\[[0-9]+/[0-9]+\]|^(Building|Compiling|Write|Emitting|Linking)" .build/test-output.txt
if [ "$status" -ne 0 ]; then echo "test.sh: swift test failed (status $status)" >&2; exit "$status"; fi
# The Spark scripts (local[2]) give what single-machine verba gives.
bash scripts/test-spark.sh || { echo "test.sh: the Spark scripts failed" >&2; exit 1; }
# `verba serve` driven by the official openai client and curl.
bash scripts/test-server.sh .build/release/verba || { echo "test.sh: the server test failed" >&2; exit 1; }
# Faults with nothing lost: a full disk and SIGKILL at 5 seeded moments of every writer (README:
# Reliability runs 50), then every fuzz target for 15 seconds from its corpus.
bash scripts/faults.sh 5 || { echo "test.sh: the fault tests failed" >&2; exit 1; }
FUZZ_SEED=1 bash scripts/fuzz.sh 15 || { echo "test.sh: a fuzz target failed" >&2; exit 1; }
# A package that depends on Verba by version builds and runs through the public API.
bash scripts/test-consumer.sh || { echo "test.sh: the consumer package failed" >&2; exit 1; }
# The release binary as an older CPU (qemu, Nehalem: no AVX) and at each kernel level gives the native outputs.
bash scripts/qemu-check.sh .build/release/verba || { echo "test.sh: the portable-binary check failed" >&2; exit 1; }
if [ -x ../shared/bin/contract-check ]; then
    ../shared/bin/contract-check .build/release/verba || exit 1
fi
