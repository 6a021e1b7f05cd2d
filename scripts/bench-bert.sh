#!/usr/bin/env bash
# Sentence-embedding speed: `verba embed` (a whole process, model loading included) against PyTorch
# in-process (model loading excluded): HF transformers at batch 32 in input order, and
# sentence-transformers encode (batch 32, sorted by length), on 2,000 varied lines from the fortunes
# corpus with all-MiniLM-L6-v2, all in the same run on THREADS threads (default 2). Also measures this
# machine's OpenBLAS sgemm peak (2048^3 on THREADS threads) and reports the encoder's GFLOP/s against it.
#
# Usage: scripts/bench-bert.sh            (builds verba in release mode, portable and -march=native)
#        VERBA=path/to/verba VERBA_NATIVE=path/to/native-verba THREADS=2 RUNS=3 scripts/bench-bert.sh
# The portable binary and the -march=native build of the same commit (scripts/bench/builds.sh) run in
# turn, RUNS times each; both figures are printed with their ratio.
# Needs downloads/minilm (scripts/fetch-assets.sh) and /work/pyenv or PYTHON= with torch, transformers,
# sentence-transformers. Verba's time is the best of RUNS whole-process runs; each reference is timed
# once after a warm-up pass.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-/work/pyenv/bin/python}
MODEL=downloads/minilm
[ -f "$MODEL/model.safetensors" ] || { echo "bench-bert: $MODEL missing; run scripts/fetch-assets.sh" >&2; exit 1; }
. scripts/bench/builds.sh
SCRATCH=${SCRATCH:-.build-bench} build_verba_pair
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no), threads: $THREADS"
"$PYTHON" scripts/bench/bert_reference.py lines "$MODEL" "$TMP/lines.txt" --count 2000

# sgemm peak of the OpenBLAS verba links, same run.
cat > "$TMP/sgemm.c" <<'C'
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    int n = 2048, threads = atoi(argv[1]);
    openblas_set_num_threads(threads);
    float *a = malloc(4L * n * n), *b = malloc(4L * n * n), *c = malloc(4L * n * n);
    for (long i = 0; i < (long)n * n; i++) { a[i] = (i % 7) * 1e-3f; b[i] = (i % 5) * 1e-3f; }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
        double g = 2.0 * n * n * n / (now() - t) / 1e9;
        if (g > best) best = g;
    }
    printf("%.1f\n", best);
    return 0;
}
C
SGEMM=$(cc -O2 "$TMP/sgemm.c" -o "$TMP/sgemm" -lopenblas && "$TMP/sgemm" "$THREADS" || echo 0)

# embed_once BINARY OUTPUT: one timed whole-process run; prints its seconds.
embed_once() {
    local s e
    s=$(date +%s.%N)
    "$1" embed --model "$MODEL" --threads "$THREADS" --stats < "$TMP/lines.txt" > "$2" 2> "$TMP/stats.txt"
    e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}
best=""; native_best=""
for r in $(seq "$RUNS"); do
    t=$(embed_once "$verba" "$TMP/verba.jsonl")
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; cp "$TMP/stats.txt" "$TMP/best-stats.txt"; fi
    if [ -n "$verba_native" ]; then
        t=$(embed_once "$verba_native" "$TMP/native.jsonl")
        if [ -z "$native_best" ] || [ "$(echo "$t < $native_best" | bc -l)" = 1 ]; then native_best=$t; fi
    fi
done
"$PYTHON" scripts/bench/bert_reference.py bench "$MODEL" "$TMP/lines.txt" --threads "$THREADS" --compare "$TMP/verba.jsonl" > "$TMP/ref.txt"

"$PYTHON" - "$best" "$SGEMM" "$TMP/ref.txt" "$TMP/best-stats.txt" "$native_best" <<'PY'
import re, sys
verba_s, sgemm = float(sys.argv[1]), float(sys.argv[2])
native_s = float(sys.argv[5]) if sys.argv[5] else None
ref = dict(line.split(" ", 1) for line in open(sys.argv[3]).read().splitlines())
stats = open(sys.argv[4]).read()
lines = int(ref["lines"])
hf, st = float(ref["hf_seconds"]), float(ref["st_seconds"])
m = re.search(r"encoder ([0-9.]+) s \(([0-9.]+) GFLOP, ([0-9.]+) GFLOP/s\)", stats)
enc_s, gflop, gflops = (float(x) for x in m.groups())
print(f"lines: {lines}, tokens: {ref['tokens'].strip()} (all-MiniLM-L6-v2, {ref['torch'].strip()})")
print(f"verba embed (whole process, best of runs):  {verba_s:7.3f} s  {lines / verba_s:7.1f} sentences/s")
if native_s:
    print(f"same commit, -march=native build:          {native_s:7.3f} s  {lines / native_s:7.1f} sentences/s"
          f"  (portable / native speed: {native_s / verba_s:.3f})")
print(f"PyTorch HF transformers, batch 32:          {hf:7.3f} s  {lines / hf:7.1f} sentences/s")
print(f"sentence-transformers encode, batch 32:     {st:7.3f} s  {lines / st:7.1f} sentences/s")
print(f"ratio verba / HF transformers: {hf / verba_s:.2f}x   verba / sentence-transformers: {st / verba_s:.2f}x")
print(f"encoder: {gflop:.1f} GFLOP in {enc_s:.3f} s = {gflops:.1f} GFLOP/s; sgemm 2048^3 peak here: {sgemm:.1f} GFLOP/s "
      f"({100 * gflops / sgemm:.0f}% of peak)" if sgemm > 0 else "sgemm peak: not measured (no C compiler)")
print(f"max |verba - sentence-transformers| over all vectors: {ref['verba_vs_st_maxdiff'].strip()}")
print(f"verba stats: {stats.strip()}")
PY
