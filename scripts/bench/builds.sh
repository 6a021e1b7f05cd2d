# Sourced by the bench scripts: builds the two binaries every figure is measured with, from the same commit.
#   $verba         the release binary as users get it (portable: kernels chosen at run time for the CPU);
#   $verba_native  the same commit compiled for this machine's CPU (-march=native for Swift and C),
#                  the yardstick the portable binary must stay within 5% of.
# Environment: VERBA / VERBA_NATIVE (use these binaries, build nothing), SCRATCH (scratch path of the
# portable build, default .build), NATIVE=0 (skip the native build and its columns).
build_verba_pair() {
    if [ -n "${VERBA:-}" ]; then
        verba=$VERBA
    else
        local scratch=${SCRATCH:-.build}
        echo "bench: building verba (release, portable, $scratch)" >&2
        swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product verba >&2
        verba=$scratch/release/verba
    fi
    verba_native=
    [ "${NATIVE:-1}" = 0 ] && return 0
    if [ -n "${VERBA_NATIVE:-}" ]; then
        verba_native=$VERBA_NATIVE
    else
        echo "bench: building verba (release, -march=native, .build-native)" >&2
        swift build -c release --static-swift-stdlib --scratch-path .build-native --product verba \
            -Xcc -march=native -Xswiftc -Xcc -Xswiftc -march=native >&2
        verba_native=.build-native/release/verba
    fi
}

# portable_vs_native PORTABLE NATIVE: "P / N = R" where R is portable over native (higher is better for
# speeds); "-" when either is missing.
portable_vs_native() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'
}
