#!/usr/bin/env bash
# Modern tokenizers, one thread, whole process: `verba tokenize --threads 1` against HF `tokenizers` and the
# `sentencepiece` package, measured in the same run, plus the load time of a 128k-vocabulary tokenizer.json.
#
#   bash scripts/bench-modern-tokenizers.sh
#   REPEAT=3 NATIVE=0 PYTHON=/work/pyenv/bin/python bash scripts/bench-modern-tokenizers.sh
#
# Tokenizers (built by scripts/bench/make-bench-tokenizers.py into downloads/bench-tokenizers/, git-ignored):
#   llama3  Llama 3 tokenizer.json (128k byte-level BPE, llama3 split regex), from llama.cpp's vocabulary GGUF
#   qwen2   Qwen2.5 tokenizer.json (152k byte-level BPE, qwen2 split regex), likewise
#   llama2  Llama 2 tokenizer.json (32k SentencePiece BPE, byte fallback), likewise; against HF tokenizers
#   spm-unigram / spm-bpe  sentencepiece .model files (Unigram; BPE with byte fallback), 32k, trained on the
#           Debian fortunes; against the sentencepiece package
# Corpus: every Debian fortunes file (bench-out/fortunes.txt, ~38 MB, a dozen languages), one text a line.
# Timed per tokenizer, each round in turn (a busy machine slows them alike):
#   - `verba tokenize --threads 1` as a whole process (load, stdin -> ids in a file), VERBA_RUNS times;
#   - the reference's per-line loop in one Python process (HF Tokenizer.encode, special tokens as verba adds
#     them; sentencepiece encode), timing the loop only;
#   - the reference's batch call on one thread (HF encode_batch with RAYON_NUM_THREADS=1; sentencepiece
#     encode on a list, num_threads=1), timing the calls only.
# "reference" is the faster of the two, "verba/ref" verba's speed over it (best runs). On a shared machine
# wall time counts other processes' turns, so the same figures are also given in CPU time (user + system:
# verba's whole process from /usr/bin/time; the reference's loop from time.process_time). The ids verba
# printed are checked against the reference on 5,000 lines spread over the corpus.
# Load: `verba tokenize --threads 1` on one empty line, whole process (best of LOAD_RUNS, default 10), and the
# library's load time that --stats reports; HF Tokenizer.from_file in-process beside it.
# Environment: VERBA / VERBA_NATIVE, NATIVE=0 (no -march=native build and runs), SCRATCH, PYTHON, REPEAT
# (default 2), VERBA_RUNS (default 3), LOAD_RUNS, CORPUS, ONLY (space-separated names to run), LOAD_ONLY=1
# (llama3 and qwen2: the load figures alone).
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${REPEAT:-2}
VERBA_RUNS=${VERBA_RUNS:-3}
LOAD_RUNS=${LOAD_RUNS:-10}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/pyenv/bin/python ]; then PYTHON=/work/pyenv/bin/python; else PYTHON=python3; fi
fi
out=bench-out
mkdir -p "$out"
ref=scripts/bench/tokenizers_reference.py
toks=downloads/bench-tokenizers

if [ ! -x /usr/bin/time ]; then
    echo "bench: installing GNU time (for peak RSS)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
"$PYTHON" -c "import tokenizers, sentencepiece, transformers" ||
    { echo "bench: $PYTHON lacks tokenizers/sentencepiece/transformers" >&2; exit 1; }
"$PYTHON" scripts/bench/make-bench-tokenizers.py

. scripts/bench/builds.sh
build_verba_pair

corpus=${CORPUS:-$(bash scripts/bench/fortunes-corpus.sh)}
bytes=$(stat -L -c %s "$corpus")
[ "$bytes" -gt 0 ] || { echo "bench: empty corpus (apt-get install fortunes fortunes-de ...)" >&2; exit 1; }

now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
minof() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || (b != "" && b < a)) print b; else print a }'; }
maxof() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { print (b > a ? b : a) }'; }
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { if (s != "" && s > 0) printf "%.2f", b / 1e6 / s; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && a != "" && b != "" && b > 0) printf "%.2fx", a / b; else print "-" }'; }
field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }

# run_verba BIN NAME TOKENIZER: one whole-process run; sets secs, cpu (user + system seconds), kb, after (MB/s
# after load, from --stats)
run_verba() {
    local bin=$1 name=$2 tok=$3 t0 t1
    rm -f "$out/modern-$name.ids"
    t0=$(now)
    /usr/bin/time -v -o "$out/time.txt" "$bin" tokenize --tokenizer "$tok" --threads 1 --stats \
        < "$corpus" > "$out/modern-$name.ids" 2> "$out/modern-$name.err" ||
        { echo "bench: verba tokenize --tokenizer $tok failed: $(tail -n 3 "$out/modern-$name.err")" >&2; exit 1; }
    t1=$(now)
    secs=$(elapsed "$t0" "$t1")
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.4f", s }' "$out/time.txt")
    after=$(sed -n 's/^tokenize: load .* (\([0-9.]*\) MB\/s).*/\1/p' "$out/modern-$name.err")
}

# run_ref ARGS...: one reference process; sets ref_json, ref_kb
run_ref() {
    ref_json=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false /usr/bin/time -v -o "$out/time.txt" \
        "$PYTHON" "$ref" --corpus "$corpus" "$@")
    ref_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/time.txt")
}

results=$out/modern-tokenizers-results.tsv
printf 'tokenizer\tverba 1T MB/s\tafter load\treference\tref loop MB/s\tref batch 1T MB/s\tverba/ref\tverba CPU MB/s\tref CPU MB/s\tverba/ref CPU\tverba peak MB\tref peak MB\tnative 1T MB/s\t1T vs native\tids check\n' > "$results"

bench_one() {  # NAME TOKENIZER KIND(hf|spm) LABEL
    local name=$1 tok=$2 kind=$3 label=$4
    local best="" bestn="" loop="" batch="" vcpu="" rcpu="" vkb=0 rkb=0 aft=0 check="-" r v
    [ -f "$tok" ] || { echo "bench: missing $tok" >&2; exit 1; }
    for ((r = 0; r < REPEAT; r++)); do
        echo "bench: $name, round $((r + 1)) of $REPEAT" >&2
        for ((v = 0; v < VERBA_RUNS; v++)); do
            run_verba "$verba" "$name" "$tok"
            best=$(minof "$best" "$secs"); vcpu=$(minof "$vcpu" "$cpu"); vkb=$(maxof "$vkb" "$kb"); aft=$(maxof "$aft" "$after")
            if [ -n "$verba_native" ]; then
                run_verba "$verba_native" "$name-native" "$tok"
                bestn=$(minof "$bestn" "$secs")
            fi
        done
        local checkargs=()
        [ "$r" = 0 ] && checkargs=(--check "$out/modern-$name.ids" --check-lines 5000)
        run_ref "--$kind" "$tok" --repeat 1 "${checkargs[@]}"
        loop=$(minof "$loop" "$(field "$ref_json" seconds)"); rkb=$(maxof "$rkb" "$ref_kb")
        rcpu=$(minof "$rcpu" "$(field "$ref_json" cpu_seconds)")
        [ "$r" = 0 ] && check=$(field "$ref_json" check)
        run_ref "--$kind" "$tok" --repeat 1 --batch
        batch=$(minof "$batch" "$(field "$ref_json" seconds)"); rkb=$(maxof "$rkb" "$ref_kb")
        rcpu=$(minof "$rcpu" "$(field "$ref_json" cpu_seconds)")
    done
    if [ -n "$verba_native" ]; then
        if cmp -s "$out/modern-$name.ids" "$out/modern-$name-native.ids"; then check="$check; native ids identical"
        else check="$check; native ids DIFFER"; fi
    fi
    local v1 rl rb rbest n1 vc rc
    v1=$(mbps "$best"); rl=$(mbps "$loop"); rb=$(mbps "$batch"); n1=$(mbps "$bestn"); vc=$(mbps "$vcpu"); rc=$(mbps "$rcpu")
    rbest=$(awk -v a="$rl" -v b="$rb" 'BEGIN { print (b + 0 > a + 0 ? b : a) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$v1" "$aft" "$label" "$rl" "$rb" "$(ratio "$v1" "$rbest")" \
        "$vc" "$rc" "$(ratio "$vc" "$rc")" "$((vkb / 1024))" "$((rkb / 1024))" "$n1" "$(ratio "$v1" "$n1")" "$check" >> "$results"
}

# Load: one empty line through the whole process; the library's own load time from --stats.
bench_load() {  # NAME TOKENIZER
    local name=$1 tok=$2 best="" lib="" bcpu="" t0 t1 i ms c
    for ((i = 0; i < LOAD_RUNS; i++)); do
        t0=$(now)
        printf '\n' | /usr/bin/time -v -o "$out/time.txt" "$verba" tokenize --tokenizer "$tok" --threads 1 --stats > /dev/null 2> "$out/load.err"
        t1=$(now)
        best=$(minof "$best" "$(elapsed "$t0" "$t1")")
        c=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.4f", s }' "$out/time.txt")
        bcpu=$(minof "$bcpu" "$c")
        ms=$(sed -n 's/^tokenize: load \([0-9.]*\) ms.*/\1/p' "$out/load.err")
        lib=$(minof "$lib" "$ms")
    done
    local hf
    hf=$("$PYTHON" -c '
import sys, time
from tokenizers import Tokenizer
best = min((lambda t0: (Tokenizer.from_file(sys.argv[1]), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print("%.0f" % (best * 1000))' "$tok")
    printf '%s\t%.1f\t%.0f\t%s\t%s\n' "$name" "$(awk -v s="$best" 'BEGIN { print s * 1000 }')" "$(awk -v s="$bcpu" 'BEGIN { print s * 1000 }')" \
        "$lib" "$hf" >> "$out/modern-load.tsv"
}

start=$(date +%s)
printf 'tokenizer\twhole process, one empty line (ms)\tits CPU time (ms)\tlibrary load (ms, --stats)\tHF Tokenizer.from_file (ms)\n' > "$out/modern-load.tsv"
only=${ONLY:-llama3 qwen2 llama2 spm-unigram spm-bpe}
for n in $only; do
    case $n in
        llama3) bench_load llama3 "$toks/llama3/tokenizer.json"
                [ "${LOAD_ONLY:-0}" = 1 ] || bench_one llama3 "$toks/llama3/tokenizer.json" hf "HF tokenizers" ;;
        qwen2) bench_load qwen2 "$toks/qwen2/tokenizer.json"
               [ "${LOAD_ONLY:-0}" = 1 ] || bench_one qwen2 "$toks/qwen2/tokenizer.json" hf "HF tokenizers" ;;
        llama2) bench_one llama2 "$toks/llama2/tokenizer.json" hf "HF tokenizers" ;;
        spm-unigram) bench_one spm-unigram "$toks/spm-unigram.model" spm "sentencepiece" ;;
        spm-bpe) bench_one spm-bpe "$toks/spm-bpe.model" spm "sentencepiece" ;;
        *) echo "bench: unknown tokenizer $n" >&2; exit 1 ;;
    esac
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo
echo "CPU: $cpu, $(nproc) cores"
echo "corpus: $corpus, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB, $(wc -l < "$corpus") lines;" \
     "best of $REPEAT rounds (verba: $VERBA_RUNS runs a round); $(($(date +%s) - start)) s"
echo "verba 1T: --threads 1, whole process (load + stdin -> ids in a file); after load: the encoding alone (--stats);" \
     "reference: the faster of its per-line loop and its one-thread batch call, in-process; MB = 10^6 bytes"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes slow every figure; compare ratios)"
echo
column -t -s $'\t' "$results"
echo
column -t -s $'\t' "$out/modern-load.tsv"
