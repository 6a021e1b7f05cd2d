#!/usr/bin/env bash
# Writes the English training text of the default GPT (models/gpt-kjv-fortunes) into a git-ignored folder:
#   OUT/kjv.txt       the King James Bible from Debian's bible-kjv-text (`bible` program), one chapter per
#                     document ("%" lines between chapters), one verse per line, without verse numbers
#   OUT/fortunes.txt  the English fortune files of Debian's `fortunes` + `fortunes-min` (ASCII-art files
#                     left out), fortunes separated by "%" lines as in the originals
# Usage: bash scripts/make-gpt-corpus.sh [OUT]   (default OUT: downloads/corpus-en)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-downloads/corpus-en}
mkdir -p "$out"
command -v bible >/dev/null || { echo "make-gpt-corpus: needs the bible program (apt-get install bible-kjv)" >&2; exit 1; }
# -l100000: no line wrapping, so each verse is one line. Chapter headings ("Genesis 1") start documents.
bible -l100000 "Gen1:1-Rev22:21" 2>/dev/null | awk '
    /^[0-9A-Za-z ]+ [0-9]+$/ && !/^ / { if (n++) print "%"; next }
    /^ *[0-9]+ / { sub(/^ *[0-9]+ /, ""); print; next }
' > "$out/kjv.txt"
: > "$out/fortunes.txt"
for f in $(dpkg -L fortunes fortunes-min | grep '^/usr/share/games/fortunes/[^/]*$' | grep -v '\.dat$\|\.u8$' | sort); do
    case "$(basename "$f")" in art|ascii-art) continue ;; esac
    cat "$f" >> "$out/fortunes.txt"
    # Each file ends its last fortune without a separator: add one.
    printf '%%\n' >> "$out/fortunes.txt"
done
wc -c "$out"/kjv.txt "$out"/fortunes.txt >&2
