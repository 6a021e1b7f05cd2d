#!/usr/bin/env bash
# Tokenizer throughput: `verba tokenize` against the reference implementations, measured in the same run.
#
#   bash scripts/bench-tokenizers.sh
#   REPEAT=3 SCRATCH=.build-me PYTHON=/work/pyenv/bin/python bash scripts/bench-tokenizers.sh
#
# Corpus: every Debian fortunes file (UTF-8 only), concatenated into bench-out/fortunes.txt (~38 MB,
# git-ignored); each line is one text. For cl100k_base, o200k_base (tiktoken rank files), GPT-2
# (tokenizer.json) and BERT uncased (all-MiniLM-L6-v2 tokenizer.json) it times:
#   - `verba tokenize --threads 1` as a whole process: load, stdin -> ids on stdout (to a file);
#   - the reference's per-line loop in one Python process (tiktoken encode_ordinary; HF Tokenizer.encode,
#     special tokens added as `verba tokenize` adds them), timing the loop only;
#   - `verba tokenize --threads <all cores>` (scaling = its speed / the one-thread speed, best runs; paired =
#     the median of one-thread time / all-threads time over the runs made side by side);
#   - <all cores> independent `--threads 1` processes at once (ceiling = their throughput / one alone: what the
#     machine's cores give together, the bound for scaling);
#   - HF encode_batch (all cores) as extra information.
# Best of REPEAT rounds (default 2), each round running verba 1T, the reference, verba all threads in turn
# (so a busy machine slows all three alike), the verba pair VERBA_RUNS times (default 3: a verba run takes
# a second, a reference run up to twenty, and on a shared machine one slow run in five is common); HF
# encode_batch once. Peak RSS from /usr/bin/time -v. The ids verba
# printed are checked against the reference on 5,000 lines spread over the corpus.
# Every round also runs the -march=native build of the same commit (scripts/bench/builds.sh) at 1 and all threads,
# next to the portable runs; "vs native" is portable speed / native speed (best runs).
# Environment: VERBA / VERBA_NATIVE (use these binaries), NATIVE=0 (no native runs), SCRATCH (swift --scratch-path, default .build), PYTHON (default /work/pyenv/bin/python if
# present, else python3), REPEAT, VERBA_RUNS, CORPUS (another corpus file instead of bench-out/fortunes.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
REPEAT=${REPEAT:-2}
VERBA_RUNS=${VERBA_RUNS:-3}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/pyenv/bin/python ]; then PYTHON=/work/pyenv/bin/python; else PYTHON=python3; fi
fi
out=bench-out
mkdir -p "$out"
ref=scripts/bench/tokenizers_reference.py
threads=$(nproc)

if [ ! -x /usr/bin/time ]; then
    echo "bench: installing GNU time (for peak RSS)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is missing (apt-get install time)" >&2; exit 1; }
for f in downloads/tiktoken/cl100k_base.tiktoken downloads/tiktoken/o200k_base.tiktoken \
         downloads/minilm/tokenizer.json ../shared/fixtures/gpt2/tokenizer.json; do
    [ -f "$f" ] || { echo "bench: missing $f (run scripts/fetch-assets.sh)" >&2; exit 1; }
done
"$PYTHON" -c "import tiktoken, tokenizers" || { echo "bench: $PYTHON lacks tiktoken/tokenizers" >&2; exit 1; }

. scripts/bench/builds.sh
build_verba_pair  # the portable one as scripts/demo.sh builds it

corpus=${CORPUS:-$(bash scripts/bench/fortunes-corpus.sh)}
bytes=$(stat -L -c %s "$corpus")
[ "$bytes" -gt 0 ] || { echo "bench: empty corpus (apt-get install fortunes fortunes-de ...)" >&2; exit 1; }

# run_verba NAME THREADS ARGS... : one timed run; sets secs, kb (peak RSS), status. Output: $out/verba-NAME.ids
run_verba() {
    local name=$1 nt=$2; shift 2
    local t0 t1
    status=0
    # A fresh output file: truncating the previous run's 50 MB of ids is file-system work (tens of ms on
    # ext4) that is not verba's and would be timed.
    rm -f "$out/verba-$name.ids"
    # $EPOCHREALTIME (a bash builtin): a `date` process around the run would add its own start and exit.
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$out/time.txt" "${bin:-$verba}" tokenize "$@" --threads "$nt" --stats \
            < "$corpus" > "$out/verba-$name.ids" 2> "$out/verba-$name.err"; then
        status=1
        echo "bench: verba tokenize $* failed: $(tail -n 3 "$out/verba-$name.err")" >&2
        return 0
    fi
    t1=$EPOCHREALTIME
    secs=$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.4f", b - a }')
    kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/time.txt")
    # --stats: the speed of the encoding alone, after the tokenizer is loaded
    after=$(sed -n 's/^tokenize: load .* (\([0-9.]*\) MB\/s).*/\1/p' "$out/verba-$name.err")
}

# run_parallel NAME ARGS... : <threads> independent `--threads 1` processes started together; sets psecs (until the
# last ends). Their throughput over one alone is what this machine gives two busy cores (shared caches, memory,
# clocks, neighbours), the ceiling that --threads <threads> scaling can be held to.
run_parallel() {
    local name=$1; shift
    local t0 t1 i p pids=()
    pstatus=0
    for ((i = 0; i < threads; i++)); do rm -f "$out/verba-$name-p$i.ids"; done
    t0=$EPOCHREALTIME
    for ((i = 0; i < threads; i++)); do
        "$verba" tokenize "$@" --threads 1 < "$corpus" > "$out/verba-$name-p$i.ids" 2> /dev/null &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || pstatus=1; done
    t1=$EPOCHREALTIME
    psecs=$(awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.4f", b - a }')
}

# run_ref ARGS... : one reference process; sets ref_json, ref_kb
run_ref() {
    ref_json=$(/usr/bin/time -v -o "$out/time.txt" "$PYTHON" "$ref" --corpus "$corpus" "$@")
    ref_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$out/time.txt")
}
field() { "$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"; }
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { if (s != "" && s > 0) printf "%.2f", b / 1e6 / s; else print "-" }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2fx", a / b; else print "-" }'; }
minof() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || (b != "" && b < a)) print b; else print a }'; }
maxof() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { print (b > a ? b : a) }'; }

results=$out/tokenizers-results.tsv
runs=$out/tokenizers-runs.tsv  # every timed run: tokenizer, what, seconds
printf 'tokenizer\twhat\tseconds\n' > "$runs"
log() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$runs"; }
# paired NAME: the median over the rounds' pairs (the k-th 1T run with the k-th all-threads run, run next to
# each other) of 1T time / all-threads time. Best-of figures favour the one-thread run (one quiet core is
# easier to catch than two); pairs see the same moment of the machine.
paired() {
    awk -F'\t' -v n="$1" -v w="verba-${threads}T" '$1 == n && $2 == "verba-1T" { one[a++] = $3 } $1 == n && $2 == w { two[b++] = $3 }
        END { m = (a < b ? a : b); for (i = 0; i < m; i++) print one[i] / two[i] }' "$runs" |
        sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2fx", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
printf 'tokenizer\tverba 1T MB/s\treference\tref MB/s\tverba/ref\tverba %dT MB/s\tscaling\tpaired\tceiling\tafter load\tverba peak MB\tref peak MB\tHF batch MB/s\tnative 1T MB/s\t1T vs native\tnative %dT MB/s\t%dT vs native\tids check\n' \
    "$threads" "$threads" "$threads" > "$results"

# Runs alternate (verba 1T, reference, verba all threads) so that both see the same machine load.
bench_one() {  # NAME VERBA_TOKENIZER REF_KIND REF_PATH REF_LABEL
    local name=$1 tok=$2 kind=$3 path=$4 label=$5
    local best1="" bestn="" bestr="" bestp="" native1="" nativen="" vkb=0 rkb=0 check="verba failed" failed=0 batch=- r after1=0 aftern=0
    local refargs=(--tiktoken "$path")
    [ "$kind" = hf ] && refargs=(--hf "$path")
    for ((r = 0; r < REPEAT; r++)); do
        echo "bench: $name, run $((r + 1)) of $REPEAT" >&2
        for ((v = 0; v < VERBA_RUNS; v++)); do
            run_verba "$name" 1 --tokenizer "$tok"
            [ "$status" = 0 ] || failed=1
            if [ "$status" = 0 ]; then best1=$(minof "$best1" "$secs"); vkb=$(maxof "$vkb" "$kb"); log "$name" verba-1T "$secs"; after1=$(maxof "$after1" "$after"); fi
            if [ -n "$verba_native" ]; then
                bin=$verba_native run_verba "$name-native" 1 --tokenizer "$tok"
                if [ "$status" = 0 ]; then native1=$(minof "$native1" "$secs"); log "$name" native-1T "$secs"; fi
                bin=$verba_native run_verba "$name-native-mt" "$threads" --tokenizer "$tok"
                if [ "$status" = 0 ]; then nativen=$(minof "$nativen" "$secs"); log "$name" "native-${threads}T" "$secs"; fi
            fi
            if [ "$v" -lt $((VERBA_RUNS - 1)) ]; then  # the last all-threads run comes after the reference
                run_verba "$name-mt" "$threads" --tokenizer "$tok"
                if [ "$status" = 0 ]; then bestn=$(minof "$bestn" "$secs"); vkb=$(maxof "$vkb" "$kb"); log "$name" "verba-${threads}T" "$secs"; aftern=$(maxof "$aftern" "$after")
                else failed=1; fi
            fi
        done
        local checkargs=()
        if [ "$r" = 0 ] && [ "$failed" = 0 ]; then checkargs=(--check "$out/verba-$name.ids" --check-lines 5000); fi
        run_ref "${refargs[@]}" --repeat 1 "${checkargs[@]}"
        bestr=$(minof "$bestr" "$(field "$ref_json" seconds)"); rkb=$(maxof "$rkb" "$ref_kb")
        log "$name" reference "$(field "$ref_json" seconds)"
        if [ "$r" = 0 ] && [ "$failed" = 0 ]; then check=$(field "$ref_json" check); fi
        run_verba "$name-mt" "$threads" --tokenizer "$tok"
        if [ "$status" = 0 ]; then bestn=$(minof "$bestn" "$secs"); vkb=$(maxof "$vkb" "$kb"); log "$name" "verba-${threads}T" "$secs"; aftern=$(maxof "$aftern" "$after")
        else failed=1; fi
        run_parallel "$name" --tokenizer "$tok"
        if [ "$pstatus" = 0 ]; then bestp=$(minof "$bestp" "$psecs"); log "$name" "verba-1T-x${threads}-at-once" "$psecs"; fi
    done
    if [ "$failed" = 0 ]; then
        if cmp -s "$out/verba-$name.ids" "$out/verba-$name-mt.ids"; then check="$check; ${threads}T output identical"
        else check="$check; ${threads}T output DIFFERS"; fi
    fi
    if [ "$kind" = hf ]; then
        run_ref --hf "$path" --batch --repeat 1
        batch=$(mbps "$(field "$ref_json" seconds)")
        log "$name" hf-batch "$(field "$ref_json" seconds)"
    fi
    local v1 vn rr n1 nn ceiling=-
    v1=$(mbps "$best1"); vn=$(mbps "$bestn"); rr=$(mbps "$bestr"); n1=$(mbps "$native1"); nn=$(mbps "$nativen")
    if [ -n "$verba_native" ]; then
        if cmp -s "$out/verba-$name.ids" "$out/verba-$name-native.ids"; then check="$check; native ids identical"
        else check="$check; native ids DIFFER"; fi
    fi
    if [ -n "$bestp" ] && [ -n "$best1" ]; then
        ceiling=$(awk -v n="$threads" -v a="$best1" -v b="$bestp" 'BEGIN { printf "%.2fx", n * a / b }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$v1" "$label" "$rr" "$(ratio "$v1" "$rr")" \
        "$vn" "$(ratio "$vn" "$v1")" "$(paired "$name")" "$ceiling" "$(ratio "$aftern" "$after1")" "$((vkb / 1024))" "$((rkb / 1024))" "$batch" \
        "$n1" "$(ratio "$v1" "$n1")" "$nn" "$(ratio "$vn" "$nn")" "$check" >> "$results"
}

start=$(date +%s)
bench_one cl100k_base downloads/tiktoken/cl100k_base.tiktoken tiktoken downloads/tiktoken/cl100k_base.tiktoken \
    "tiktoken encode_ordinary"
bench_one o200k_base downloads/tiktoken/o200k_base.tiktoken tiktoken downloads/tiktoken/o200k_base.tiktoken \
    "tiktoken encode_ordinary"
bench_one gpt2 ../shared/fixtures/gpt2/tokenizer.json hf ../shared/fixtures/gpt2/tokenizer.json "HF tokenizers encode"
bench_one bert-uncased downloads/minilm/tokenizer.json hf downloads/minilm/tokenizer.json "HF tokenizers encode"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
avx512=no; grep -q avx512f /proc/cpuinfo && avx512=yes
echo
echo "CPU: $cpu, $threads cores, AVX-512: $avx512"
echo "corpus: $corpus, $(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }') MB, $(wc -l < "$corpus") lines;" \
     "best of $REPEAT rounds (verba: $VERBA_RUNS runs of each a round; HF batch: 1); $(($(date +%s) - start)) s; every run in $runs"
echo "verba 1T: --threads 1, whole process (load + stdin -> ids in a file); ${threads}T: --threads $threads;" \
     "reference: its encode loop only, one Python process; MB = 10^6 bytes"
echo "scaling: ${threads}T speed / 1T speed (best runs); paired: median of 1T time / ${threads}T time over runs made side by side; ceiling: throughput of $threads independent 1T processes run at once / one" \
     "alone (what the machine's cores give together); after load: the same scaling for the encoding alone (--stats)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (other processes slow every figure; compare ratios)"
echo
column -t -s $'\t' "$results"
