#!/usr/bin/env bash
# The test suite under sanitizers (debug builds, each in its own scratch folder):
#  - AddressSanitizer + UndefinedBehaviorSanitizer: the whole suite (.build-asan);
#  - ThreadSanitizer: the threaded parts: batch tokenization, parallel loading and word counting, the
#    thread pool, embedding, generation, training, the server's batch scheduler (.build-tsan).
#   scripts/sanitize.sh [asan|tsan]...   (default both)
# A sanitizer report fails the test that triggered it (halt_on_error) and so the run; logs go to
# .build-asan/test.log and .build-tsan/test.log. Heavy: run it niced, on a machine with time to spare.
set -uo pipefail
cd "$(dirname "$0")/.."
kinds=("$@")
[ ${#kinds[@]} -eq 0 ] && kinds=(asan tsan)
export SWIFT_BACKTRACE=enable=no
status=0
threaded='BatchSchedulerTests|ThreadPoolTests|EncodingTests|ParallelLoadingTests|LineBatchTests|TrainerTests|WordCountsFileTests|BERTTests|GenerationConcurrencyTests|TrainingTests|EmbedClassifyCLITests|TrainCommandTests'
for kind in "${kinds[@]}"; do
    case $kind in
        # swiftc has no UndefinedBehaviorSanitizer on Linux (Swift traps on overflow and bounds itself):
        # UBSan instruments the C targets, its handlers come with the AddressSanitizer runtime.
        asan) flags=(--sanitize=address -Xcc -fsanitize=undefined); filter=(); scratch=.build-asan
              export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ;;
        tsan) flags=(--sanitize=thread); filter=(--filter "$threaded"); scratch=.build-tsan
              export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ;;
        *) echo "sanitize.sh: unknown kind $kind (asan or tsan)" >&2; exit 2 ;;
    esac
    mkdir -p "$scratch"
    nice -n 10 swift build --build-tests --scratch-path "$scratch" "${flags[@]}" > "$scratch/build.log" 2>&1 \
        || { tail -20 "$scratch/build.log"; echo "sanitize.sh: the $kind build failed" >&2; status=1; continue; }
    nice -n 10 swift test --skip-build --scratch-path "$scratch" "${flags[@]}" "${filter[@]}" > "$scratch/test.log" 2>&1
    s=$?
    reports=$(grep -cE '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|UndefinedBehavior)Sanitizer)|runtime error:' "$scratch/test.log")
    echo "$kind: $(grep -E 'Executed [0-9]+ tests' "$scratch/test.log" | tail -1 | sed 's/^[[:space:]]*//'); sanitizer reports: $reports"
    if [ "$s" -ne 0 ] || [ "$reports" -ne 0 ]; then
        grep -E -A12 '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer)|runtime error:|error: .*(failed|XCTAssert)' "$scratch/test.log" | head -80
        status=1
    fi
done
exit $status
