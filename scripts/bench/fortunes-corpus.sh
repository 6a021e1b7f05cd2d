#!/usr/bin/env bash
# Prints the path of the benchmark corpus, building it first if needed: every Debian fortunes file that
# is valid UTF-8 (all languages, symlinks followed), concatenated in sorted order into
# bench-out/fortunes.txt (~38 MB, git-ignored). Used by the tokenizer and tokenizer-training benchmarks.
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=bench-out/fortunes.txt
if [ ! -s "$corpus" ]; then
    mkdir -p bench-out
    echo "bench: building $corpus" >&2
    : > "$corpus.tmp"
    (cd /usr/share/games/fortunes && find -L . -type f ! -name '*.dat' | LC_ALL=C sort) | while read -r f; do
        p=/usr/share/games/fortunes/$f
        if iconv -f UTF-8 -t UTF-8 "$p" >/dev/null 2>&1; then cat "$p" >> "$corpus.tmp"; fi
    done
    mv "$corpus.tmp" "$corpus"
fi
echo "$corpus"
