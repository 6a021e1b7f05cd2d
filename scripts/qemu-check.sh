#!/usr/bin/env bash
# Checks that the release `verba` runs on a CPU without AVX and gives the same results there as natively:
# the binary runs under `qemu-x86_64 -cpu Nehalem` (SSE4.2, no AVX, so the kernels take the baseline level)
# and natively; then natively at every VERBA_CPU level this machine has. Compared:
#   tokenize (cl100k, a few hundred lines): ids identical;
#   embed (downloads/minilm): every float within 1e-4;
#   generate (downloads/gpt2-124m, greedy, a few tokens): the same text.
# Installs Debian's qemu-user when qemu-x86_64 is missing. Builds nothing: run
# `swift build -c release --product verba` first (or pass the binary as $1).
#
#   bash scripts/qemu-check.sh [path/to/verba]
set -euo pipefail
cd "$(dirname "$0")/.."
verba=${1:-.build/release/verba}
[ -x "$verba" ] || { echo "no binary at $verba: swift build -c release --product verba" >&2; exit 1; }
if ! command -v qemu-x86_64 >/dev/null; then
    echo "installing qemu-user" >&2
    if [ "$(id -u)" = 0 ]; then apt-get install -y qemu-user >/dev/null; else sudo apt-get install -y qemu-user >/dev/null; fi
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A few hundred non-empty lines of text: the fortune files if present, else the README.
if [ -d /usr/share/games/fortunes ]; then
    find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' -exec cat {} + > "$work/all.txt" 2>/dev/null || true
fi
[ -s "$work/all.txt" ] || cat README.md > "$work/all.txt"
grep -av '^[[:space:]]*%*[[:space:]]*$' "$work/all.txt" | sed -n '1,300p' > "$work/lines.txt"
sed -n '1,40p' "$work/lines.txt" > "$work/embed.txt"

# run NAME PREFIX...: the three commands' outputs into $work/NAME.{tok,emb,gen}.
run() {
    local name=$1; shift
    "$@" "$verba" tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken --threads 1 < "$work/lines.txt" > "$work/$name.tok"
    "$@" "$verba" embed --model downloads/minilm --threads 1 < "$work/embed.txt" > "$work/$name.emb"
    "$@" "$verba" generate --model downloads/gpt2-124m --prompt "Hello, my name is" --max-tokens 8 --temperature 0 \
        --threads 1 < /dev/null > "$work/$name.gen" 2>/dev/null
}

# compare A B: ids and text identical, embeddings within 1e-4.
failures=0
compare() {
    local a=$1 b=$2
    if cmp -s "$work/$a.tok" "$work/$b.tok"; then echo "  tokenize: ids identical ($(wc -l < "$work/$a.tok") lines)"
    else echo "  tokenize: DIFFERENT"; failures=$((failures + 1)); fi
    local diff
    diff=$(awk 'NR == FNR { for (i = 1; i <= NF; i++) v[FNR, i] = $i; n[FNR] = NF; next }
                { if (NF != n[FNR]) { print "shape"; exit }
                  for (i = 1; i <= NF; i++) { d = $i - v[FNR, i]; if (d < 0) d = -d; if (d > m) m = d } }
                END { printf "%.3g\n", m }' FS='[][, ]+' "$work/$a.emb" "$work/$b.emb")
    if [ "$diff" != shape ] && awk -v d="$diff" 'BEGIN { exit !(d <= 1e-4) }'; then echo "  embed: max |difference| $diff"
    else echo "  embed: DIFFERENT (max |difference| $diff)"; failures=$((failures + 1)); fi
    if cmp -s "$work/$a.gen" "$work/$b.gen"; then echo "  generate: same text: $(tr '\n' ' ' < "$work/$a.gen" | head -c 80)"
    else echo "  generate: DIFFERENT: '$(tr '\n' ' ' < "$work/$a.gen")' vs '$(tr '\n' ' ' < "$work/$b.gen")'"; failures=$((failures + 1)); fi
}

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "native run (kernels at the best level)..."
run native
echo "Nehalem run under qemu (no AVX; slow)..."
# OpenBLAS's own run-time dispatch picks an AVX kernel under qemu's emulated Nehalem (it misreads the emulated
# CPU), so its core type is named; Verba's kernels choose their level themselves.
run nehalem env OPENBLAS_CORETYPE=Nehalem qemu-x86_64 -cpu Nehalem
echo "native vs qemu Nehalem:"
compare native nehalem

for level in baseline avx2 avx512; do
    # Levels this CPU lacks fall back (with a warning), which would compare the best level with itself.
    if echo probe | VERBA_CPU=$level "$verba" embed --model downloads/minilm 2>&1 >/dev/null | grep -q 'not supported'; then
        echo "VERBA_CPU=$level: not supported by this CPU, skipped"
        continue
    fi
    run "$level" env VERBA_CPU=$level
    echo "native vs VERBA_CPU=$level:"
    compare native "$level"
done

if [ "$failures" -gt 0 ]; then echo "FAILED: $failures comparisons differ"; exit 1; fi
echo "all comparisons agree"
