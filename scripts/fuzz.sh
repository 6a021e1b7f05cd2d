#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/, with AddressSanitizer) and runs each for SECONDS (default 60) or
# 1,000,000 executions, whichever comes first, from its seed corpus in Tests/FuzzCorpus/<target>; new
# inputs go to .build-fuzz/corpus, findings to .build-fuzz/findings/<target>/. Prints one line per
# target (executions, outcome); exits non-zero if any target found a crash, leak, timeout or failed
# property.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# FUZZ_RUNS=N changes the execution cap; FUZZ_SEED=N fixes libFuzzer's random seed (0, the default, picks one).
# A finding is replayed with: VERBA_FUZZ_TARGET=<target> .build-fuzz/release/verba-fuzz <file>
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(tokenizer-json vocab-txt vocab-json-merges tiktoken gguf-vocab gguf-model spm-model safetensors config-json
             chat-template http-body encode-bytelevel-bpe encode-tiktoken encode-wordpiece encode-unigram encode-spm-bpe)
fi
scratch=.build-fuzz
mkdir -p "$scratch"
nice -n 10 swift build -c release --package-path Fuzz --scratch-path "$scratch" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -enable-testing \
    > "$scratch/build.log" 2>&1 || { tail -30 "$scratch/build.log"; echo "fuzz.sh: the fuzz build failed" >&2; exit 1; }
binary="$scratch/release/verba-fuzz"
# The Swift runtime's backtracer would catch the signals libFuzzer and ASan report with.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0}
failed=0
passed=0
printf "%-22s %12s %10s  %s\n" target executions exec/s outcome
for target in "${targets[@]}"; do
    seeds=Tests/FuzzCorpus/$target
    corpus=$scratch/corpus/$target
    findings=$scratch/findings/$target
    mkdir -p "$corpus" "$findings"
    log=$scratch/$target.log
    VERBA_FUZZ_TARGET=$target nice -n 10 "$binary" "$corpus" "$seeds" -max_total_time="$seconds" -runs="${FUZZ_RUNS:-1000000}" -seed="${FUZZ_SEED:-0}" \
        -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$findings/" > "$log" 2>&1 &
    pid=$!
    wait $pid
    status=$?
    rm -rf "/dev/shm/verba-fuzz-$pid" "${TMPDIR:-/tmp}/verba-fuzz-$pid"  # the target's scratch files
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ $status -eq 0 ]; then
        outcome=ok
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        outcome="FAILED (status $status): $(grep -m1 -E 'ERROR: |property failed|Test unit written' "$log") — see $log"
    fi
    printf "%-22s %12s %10s  %s\n" "$target" "${runs:-?}" "${rate:-?}" "$outcome"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
