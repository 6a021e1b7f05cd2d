#!/usr/bin/env bash
# The Split regex engine against the hand-written GPT-2 scanner, whole process, same run: `verba tokenize`
# with ../shared/fixtures/gpt2/tokenizer.json (ByteLevel's own split: the scanner) and with a copy whose
# pre-tokenizer is Sequence[Split(the GPT-2 pattern, non-capturing group spelled out so it goes to the
# regex engine), ByteLevel(use_regex false)]. Both must print the same ids; prints MB/s of each (best of
# RUNS, default 5) and the ratio.
#   bash scripts/bench-regex.sh            (VERBA=path/to/verba skips the build; CORPUS=another file)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
if [ -z "${VERBA:-}" ]; then swift build -c release --static-swift-stdlib --product verba >&2; fi
verba=${VERBA:-.build/release/verba}
corpus=${CORPUS:-$(bash scripts/bench/fortunes-corpus.sh)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - ../shared/fixtures/gpt2/tokenizer.json "$work/regex.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
pattern = r"(?:'s|'t|'re|'ve|'m|'ll|'d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
t["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
json.dump(t, open(sys.argv[2], "w"))
PY
best() {  # TOKENIZER OUT: best wall seconds of RUNS whole-process runs
    local b="" s e t
    for _ in $(seq "$RUNS"); do
        s=$EPOCHREALTIME
        "$verba" tokenize --tokenizer "$1" --threads 1 < "$corpus" > "$2"
        e=$EPOCHREALTIME
        t=$(awk -v a="${s/,/.}" -v b="${e/,/.}" 'BEGIN { printf "%.4f", b - a }')
        b=$(awk -v a="$b" -v t="$t" 'BEGIN { print (a == "" || t < a) ? t : a }')
    done
    echo "$b"
}
native=$(best ../shared/fixtures/gpt2/tokenizer.json "$work/native.ids")
engine=$(best "$work/regex.json" "$work/engine.ids")
cmp -s "$work/native.ids" "$work/engine.ids" && same="identical ids" || same="ids DIFFER"
bytes=$(stat -L -c %s "$corpus")
awk -v b="$bytes" -v n="$native" -v e="$engine" -v same="$same" 'BEGIN {
    printf "GPT-2 tokenize --threads 1, %.1f MB, whole process, best of runs: scanner %.1f MB/s, regex engine %.1f MB/s (%.2fx the scanner'"'"'s time); %s\n", b / 1e6, b / 1e6 / n, b / 1e6 / e, e / n, same }'
