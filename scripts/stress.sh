#!/usr/bin/env bash
# A stress run of the line commands: `verba tokenize`, `embed` and `classify` fed MB megabytes of mixed
# valid and invalid UTF-8 (empty lines, short lines, random bytes, lines of up to BIG megabytes). Each
# must print exactly one output line per input line, in order, and keep its peak memory (maximum
# resident set, /usr/bin/time -v) within a bound that does not grow with the input.
#   scripts/stress.sh [MB] [BIG]      (default 256 MB of input, lines up to 50 MB; SAMPLE=6000 lines for embed/classify)
# Order is checked through the text: every line but the huge ones starts with a marker "L<n> ", and
# the ids `tokenize` prints decode back to it; embed and classify are checked against runs of sampled
# lines alone. Needs downloads/minilm (scripts/fetch-assets.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
mb=${1:-256}
big=${2:-50}
verba=${VERBA:-.build/release/verba}
[ -x "$verba" ] || verba=.build/debug/verba
work=$(mktemp -d "${TMPDIR:-/tmp}/verba-stress.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "stress.sh: FAIL: $*" >&2; failures=$((failures + 1)); }

# The input: blocks of 2000 marked lines (empty, ASCII, multi-byte UTF-8, invalid bytes), with one huge
# line of random bytes every few blocks, until MB megabytes.
make_input() {  # out, megabytes, biggest line in MB
    local out=$1 target=$(( $2 * 1048576 )) n=0 block=0
    : > "$out"
    while [ "$(stat -c %s "$out")" -lt "$target" ]; do
        LC_ALL=C awk -v start=$n -v seed=$block 'BEGIN { srand(seed + 1)
            split("the cat sat on a mat naïve café 日本語 🙂 Ünïcödé ﬁ", w, " ")
            for (i = 0; i < 2000; i++) { r = rand(); line = "L" (start + i) " "
                if (r < 0.1) { print ""; continue }
                k = int(rand() * 60); for (j = 0; j < k; j++) line = line w[int(rand() * 10) + 1] " "
                if (r > 0.8) line = line "\377\376 \303( \342\202"    # invalid sequences
                print line } }' >> "$out"
        n=$((n + 2000)); block=$((block + 1))
        if [ $((block % 4)) -eq 1 ]; then
            local size=$(( (block * 7919 % (big > 1 ? big : 1)) + 1 ))
            head -c $((size * 1048576)) /dev/urandom | tr -d '\n' >> "$out"; echo >> "$out"
            [ "$size" -lt "$big" ] && { head -c $((big * 1048576)) /dev/urandom | tr -d '\n' >> "$out"; echo >> "$out"; }
            n=$((n + 2 - (size >= big)))
        fi
    done
}

# Runs verba with /usr/bin/time -v; sets rss (KB) and seconds.
measure() {  # name, input, output, args...
    local name=$1 in=$2 out=$3; shift 3
    /usr/bin/time -v "$verba" "$@" < "$in" > "$out" 2> "$work/$name.err"
    local status=$?
    rss=$(grep 'Maximum resident set size' "$work/$name.err" | grep -o '[0-9]*$')
    seconds=$(grep 'Elapsed (wall clock)' "$work/$name.err" | grep -oE '[0-9:.]+$')
    [ "$status" -eq 0 ] || fail "$name: status $status: $(grep 'verba: error' "$work/$name.err" | head -1)"
}

make_input "$work/in.txt" "$mb"
lines=$(wc -l < "$work/in.txt")
longest=$(LC_ALL=C awk '{ if (length($0) > m) m = length($0) } END { print m }' "$work/in.txt")
echo "input: $(( $(stat -c %s "$work/in.txt") / 1048576 )) MB, $lines lines, the longest $((longest / 1048576)) MB"
tok=Tests/Fixtures/gpt2-small/tokenizer.json

# tokenize: every line, ids decoded back to the marker. Memory against a run on a tenth of the input.
measure tokenize "$work/in.txt" "$work/ids.txt" tokenize --tokenizer "$tok"
[ "$(wc -l < "$work/ids.txt")" -eq "$lines" ] || fail "tokenize: $(wc -l < "$work/ids.txt") output lines for $lines"
echo "tokenize: $lines lines in $seconds, peak RSS $((rss / 1024)) MB"
# Bounded: a fixed amount plus a few copies of the longest line, whatever the input's size.
[ "$rss" -lt $(( 400 * 1024 + 24 * longest / 1024 )) ] || fail "tokenize: peak RSS $((rss / 1024)) MB for lines of at most $((longest / 1048576)) MB"
"$verba" decode --tokenizer "$tok" < "$work/ids.txt" > "$work/decoded.txt" 2> /dev/null
expected=$(LC_ALL=C awk '{ if (match($0, /^L[0-9]+ /)) print NR ":" substr($0, 1, RLENGTH) }' "$work/in.txt" | md5sum)
actual=$(LC_ALL=C awk '{ if (match($0, /^L[0-9]+ /)) print NR ":" substr($0, 1, RLENGTH) }' "$work/decoded.txt" | md5sum)
[ "$expected" = "$actual" ] || fail "tokenize: the decoded lines are not the input's, in order"

# embed and classify: a sample of the input (BERT is slow on CPU); lines are cut to the model's length.
head -c $(( mb * 1048576 / 8 )) "$work/in.txt" | head -n "${SAMPLE:-6000}" > "$work/small.txt"
tail -c $(( big * 1048576 + 100 )) "$work/in.txt" | tail -n 2 >> "$work/small.txt"
small=$(wc -l < "$work/small.txt")
measure embed "$work/small.txt" "$work/vectors.txt" embed --model downloads/minilm
[ "$(wc -l < "$work/vectors.txt")" -eq "$small" ] || fail "embed: $(wc -l < "$work/vectors.txt") output lines for $small"
echo "embed: $small lines in $seconds, peak RSS $((rss / 1024)) MB"
for n in 1 17 $((small / 2)) $((small - 1)); do
    sed -n "${n}p" "$work/small.txt" | "$verba" embed --model downloads/minilm > "$work/one.txt" 2> /dev/null
    awk -v n="$n" 'NR == n' "$work/vectors.txt" | awk -F'[ \t,]+' -v f="$work/one.txt" 'BEGIN { getline line < f; split(line, b, /[ \t,]+/) }
        { for (i = 1; i <= NF; i++) if ($i + 0 - b[i] > 1e-4 || b[i] - $i > 1e-4) { bad = 1 } } END { exit bad }' \
        || fail "embed: line $n differs from the same line embedded alone"
done
measure classify "$work/small.txt" "$work/labels.txt" classify --model downloads/minilm --labels "animals,religion,weather"
[ "$(wc -l < "$work/labels.txt")" -eq "$small" ] || fail "classify: $(wc -l < "$work/labels.txt") output lines for $small"
echo "classify (zero-shot): $small lines in $seconds, peak RSS $((rss / 1024)) MB"
for n in 5 $((small / 3)) $((small - 1)); do
    one=$(sed -n "${n}p" "$work/small.txt" | "$verba" classify --model downloads/minilm --labels "animals,religion,weather" 2> /dev/null | cut -f1)
    [ "$one" = "$(sed -n "${n}p" "$work/labels.txt" | cut -f1)" ] || fail "classify: line $n's label differs from the line alone"
done

echo "stress.sh: $failures failures"
[ "$failures" -eq 0 ]
