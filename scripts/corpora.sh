#!/usr/bin/env bash
# Public English text from Debian packages, for training Verba's shipped tokenizer and default GPT.
# Writes (git-ignored) downloads/corpora/:
#   kjv.txt          the King James Bible (bible-kjv / bible-kjv-text), one verse per line, no numbers
#   fortunes-en.txt  the English fortunes (/usr/share/games/fortunes top level, UTF-8 files only)
#   english.txt      both together
# Idempotent; installs bible-kjv and fortunes when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
out=downloads/corpora
mkdir -p "$out"
if ! command -v bible >/dev/null 2>&1 || [ ! -d /usr/share/games/fortunes ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bible-kjv bible-kjv-text fortunes >/dev/null
fi
if [ ! -s "$out/kjv.txt" ]; then
    bible -l100000 "Gen1:1-Rev22:21" | sed -n 's/^ \+[0-9]\+ //p' > "$out/kjv.txt.tmp"
    mv "$out/kjv.txt.tmp" "$out/kjv.txt"
fi
if [ ! -s "$out/fortunes-en.txt" ]; then
    : > "$out/fortunes-en.txt.tmp"
    for f in $(find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' | LC_ALL=C sort); do
        if iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1; then grep -v '^%$' "$f" >> "$out/fortunes-en.txt.tmp" || true; fi
    done
    mv "$out/fortunes-en.txt.tmp" "$out/fortunes-en.txt"
fi
cat "$out/kjv.txt" "$out/fortunes-en.txt" > "$out/english.txt"
wc -c "$out"/*.txt >&2
