#!/usr/bin/env bash
# Tokenizer training speed: `verba tokenizer train` (whole process) against HF tokenizers' BpeTrainer and
# WordPieceTrainer (in-process, training only) on the same corpus, same run, same threads (2).
#   corpus: every UTF-8 fortunes file (all languages) concatenated, ~38 MB, bench-out/fortunes.txt (git-ignored)
#   prints seconds, peak RSS, the ratio, and whether both learned the same merges / tokens.
# The -march=native build of the same commit (scripts/bench/builds.sh) trains right after the portable binary;
# both are printed. VERBA=path/to/verba (and VERBA_NATIVE=) skip the builds, NATIVE=0 the native run. Needs: a Python with `tokenizers` (PYTHON=..., default .venv/bin/python made by scripts/make-fixtures.sh,
# or /work/pyenv/bin/python), GNU time (apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
. scripts/bench/builds.sh
build_verba_pair 2>/dev/null
mkdir -p bench-out
corpus=$(bash scripts/bench/fortunes-corpus.sh)   # the same corpus as scripts/bench-tokenizers.sh
mb=$(du -m "$corpus" | cut -f1)
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
avx512=$(grep -q avx512f /proc/cpuinfo && echo yes || echo no)
echo "corpus: $corpus (${mb} MB); CPU: $cpu (AVX-512: $avx512); threads: 2"
export RAYON_NUM_THREADS=2
run() {  # label, then the command; prints wall seconds and peak RSS
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o bench-out/time.txt "$@" > bench-out/out.txt 2>bench-out/err.txt
    read -r secs kb < bench-out/time.txt
    echo "$label $secs $((kb / 1024))"
}
printf "%-28s %10s %10s %10s\n" "trainer" "seconds" "peak MB" "speed-up"
for kind in bpe wordpiece; do
    if [ $kind = bpe ]; then size=32000; args=(--model bpe --byte-level); else size=30000; args=(--model wordpiece --lowercase); fi
    read -r _ hf_total hf_mb < <(run hf "$PY" scripts/bench/train_tokenizer_reference.py $kind $size "$corpus" bench-out/hf-$kind.json)
    hf_secs=$(grep -o "[0-9.]*" bench-out/out.txt | head -1)
    read -r _ v_secs v_mb < <(run verba "$verba" tokenizer train "${args[@]}" --vocab-size $size --threads 2 --quiet --output bench-out/verba-$kind.json "$corpus")
    ratio=$(python3 -c "print(f'{$hf_secs/$v_secs:.2f}x')")
    printf "%-28s %10s %10s %10s\n" "HF $kind $size (train only)" "$hf_secs" "$hf_mb" ""
    printf "%-28s %10s %10s %10s\n" "verba $kind $size (process)" "$v_secs" "$v_mb" "$ratio"
    if [ -n "$verba_native" ]; then
        read -r _ n_secs n_mb < <(run native "$verba_native" tokenizer train "${args[@]}" --vocab-size $size --threads 2 --quiet --output bench-out/native-$kind.json "$corpus")
        printf "%-28s %10s %10s %10s\n" "  -march=native build" "$n_secs" "$n_mb" "portable/native speed $(portable_vs_native "$n_secs" "$v_secs")"
    fi
    "$PY" - bench-out/hf-$kind.json bench-out/verba-$kind.json $kind <<'PYEOF'
import json, sys
a, b, kind = json.load(open(sys.argv[1]))["model"], json.load(open(sys.argv[2]))["model"], sys.argv[3]
if kind == "bpe":
    norm = lambda ms: [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in ms]
    same = a["vocab"] == b["vocab"] and norm(a["merges"]) == norm(b["merges"])
    print(f"  same vocab and merges in the same order as HF: {same}")
else:
    print(f"  same token set as HF: {set(a['vocab']) == set(b['vocab'])} ({len(a['vocab'])} vs {len(b['vocab'])})")
PYEOF
done
