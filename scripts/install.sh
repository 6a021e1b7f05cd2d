#!/usr/bin/env bash
# Builds the release `verba` and installs it on the PATH:
#   bash scripts/install.sh                 # /usr/local/bin/verba
#   PREFIX=$HOME/.local bash scripts/install.sh
# The binary is portable: its kernels are chosen at run time for the CPU it runs on (`verba --version`
# names the level), and the Swift runtime is linked in (--static-swift-stdlib), so the one file can be
# copied to any x86-64 Linux machine with libutf8proc and libopenblas (`apt-get install libutf8proc2
# libopenblas0`); OpenBLAS is opened only by the model commands.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
swift build -c release --static-swift-stdlib --product verba
install -d "$prefix/bin"
install -m 0755 .build/release/verba "$prefix/bin/verba"
echo "installed $prefix/bin/verba: $("$prefix/bin/verba" --version)"
