#!/usr/bin/env bash
# A stress run of the line commands: `verba tokenize`, `embed` and `classify` fed MB megabytes of mixed
# valid and invalid UTF-8 (empty lines, short lines, random bytes, lines of up to BIG megabytes). Each
# must print exactly one output line per input line, in order, and keep its peak memory (maximum
# resident set, /usr/bin/time -v) within a bound that does not grow with the input.
#   scripts/stress.sh [MB] [BIG]      (default 256 MB of input, lines up to 50 MB)
# SHORT=N sets the number of short lines (default 20000); SAMPLE=N feeds embed and classify only the
# first N lines and the last two.
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

# The input: chunks of marked short lines (empty, ASCII, multi-byte UTF-8, invalid bytes), each
# followed by one huge line, until MB megabytes. The huge lines cycle through BIG MB of words with
# invalid bytes sprinkled in, BIG/2 MB of random bytes, and 1 to BIG MB of words: so most of the size
# is in the huge lines (which the encoders truncate to their context) and the line count stays
# near SHORT (default 20000), which keeps embed and classify at minutes for gigabytes.
make_input() {  # out, megabytes, biggest line in MB
    local out=$1 target=$(( $2 * 1048576 )) n=0 chunk=0 size
    # Chunks needed: the huge lines average about 2/3 of BIG.
    local per=$(( ${SHORT:-20000} * 2 * big / (3 * $2) + 1 ))
    : > "$out"
    while [ "$(stat -c %s "$out")" -lt "$target" ]; do
        LC_ALL=C awk -v start=$n -v seed=$chunk -v count=$per 'BEGIN { srand(seed + 1)
            split("the cat sat on a mat naïve café 日本語 🙂 Ünïcödé ﬁ", w, " ")
            for (i = 0; i < count; i++) { r = rand(); line = "L" (start + i) " "
                if (r < 0.1) { print ""; continue }
                k = int(rand() * 60); for (j = 0; j < k; j++) line = line w[int(rand() * 10) + 1] " "
                if (r > 0.8) line = line "\377\376 \303( \342\202"    # invalid sequences
                print line } }' >> "$out"
        n=$((n + per))
        case $((chunk % 3)) in
            0) size=$big ;;
            1) size=$(( big > 1 ? big / 2 : 1 )) ;;
            2) size=$(( chunk * 7919 % (big > 1 ? big : 1) + 1 )) ;;
        esac
        if [ $((chunk % 3)) -eq 1 ]; then
            head -c $((size * 1048576)) /dev/urandom | tr -d '\n' >> "$out"
        else
            yes $'the quick brown fox naïve café 日本語 🙂 \xff\xfe \xc3( jumps over\t' | tr -d '\n' | head -c $((size * 1048576)) >> "$out"
        fi
        echo >> "$out"
        n=$((n + 1)); chunk=$((chunk + 1))
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

# Bounded memory: a fixed amount plus a few copies of the longest line, whatever the input's size.
bounded() {  # name
    [ "$rss" -lt $(( 400 * 1024 + 24 * longest / 1024 )) ] || fail "$1: peak RSS $((rss / 1024)) MB for lines of at most $((longest / 1048576)) MB"
}

# tokenize: every line, ids decoded back to the marker.
measure tokenize "$work/in.txt" "$work/ids.txt" tokenize --tokenizer "$tok"
[ "$(wc -l < "$work/ids.txt")" -eq "$lines" ] || fail "tokenize: $(wc -l < "$work/ids.txt") output lines for $lines"
echo "tokenize: $lines lines in $seconds, peak RSS $((rss / 1024)) MB"
bounded tokenize
"$verba" decode --tokenizer "$tok" < "$work/ids.txt" > "$work/decoded.txt" 2> /dev/null
expected=$(LC_ALL=C awk '{ if (match($0, /^L[0-9]+ /)) print NR ":" substr($0, 1, RLENGTH) }' "$work/in.txt" | md5sum)
actual=$(LC_ALL=C awk '{ if (match($0, /^L[0-9]+ /)) print NR ":" substr($0, 1, RLENGTH) }' "$work/decoded.txt" | md5sum)
[ "$expected" = "$actual" ] || fail "tokenize: the decoded lines are not the input's, in order"

# embed and classify: the whole input (SAMPLE=N: its first N lines and the last two); lines are cut to
# the model's length.
if [ -n "${SAMPLE:-}" ]; then
    head -n "$SAMPLE" "$work/in.txt" > "$work/small.txt"
    tail -n 2 "$work/in.txt" >> "$work/small.txt"
else
    ln -s "$work/in.txt" "$work/small.txt"
fi
small=$(wc -l < "$work/small.txt")
measure embed "$work/small.txt" "$work/vectors.txt" embed --model downloads/minilm
[ "$(wc -l < "$work/vectors.txt")" -eq "$small" ] || fail "embed: $(wc -l < "$work/vectors.txt") output lines for $small"
echo "embed: $small lines in $seconds, peak RSS $((rss / 1024)) MB"
bounded embed
for n in 1 17 $((small / 2)) $((small - 1)); do
    sed -n "${n}p" "$work/small.txt" | "$verba" embed --model downloads/minilm > "$work/one.txt" 2> /dev/null
    awk -v n="$n" 'NR == n' "$work/vectors.txt" | awk -F'[ \t,]+' -v f="$work/one.txt" 'BEGIN { getline line < f; split(line, b, /[ \t,]+/) }
        { for (i = 1; i <= NF; i++) if ($i + 0 - b[i] > 1e-4 || b[i] - $i > 1e-4) { bad = 1 } } END { exit bad }' \
        || fail "embed: line $n differs from the same line embedded alone"
done
measure classify "$work/small.txt" "$work/labels.txt" classify --model downloads/minilm --labels "animals,religion,weather"
[ "$(wc -l < "$work/labels.txt")" -eq "$small" ] || fail "classify: $(wc -l < "$work/labels.txt") output lines for $small"
echo "classify (zero-shot): $small lines in $seconds, peak RSS $((rss / 1024)) MB"
bounded classify
for n in 5 $((small / 3)) $((small - 1)); do
    one=$(sed -n "${n}p" "$work/small.txt" | "$verba" classify --model downloads/minilm --labels "animals,religion,weather" 2> /dev/null | cut -f1)
    [ "$one" = "$(sed -n "${n}p" "$work/labels.txt" | cut -f1)" ] || fail "classify: line $n's label differs from the line alone"
done

echo "stress.sh: $failures failures"
[ "$failures" -eq 0 ]
