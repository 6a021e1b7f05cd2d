#!/usr/bin/env bash
# Faults during every writer of verba, with nothing lost:
#  1. a full disk (a small tmpfs, filled; without mount rights, a file-size limit, `ulimit -f`) during
#     `tokenizer train`, `train lm`, `train classifier` and `quantize`: each must exit 1 with one
#     "verba: error:" line, leave the previous output byte for byte, and leave no temporary file;
#  2. SIGKILL at KILLS seeded moments of each writer: the output is always the previous file or a
#     complete new one (byte-identical to an uninterrupted run's), and a killed training resumed with
#     --resume ends byte-identical to an uninterrupted one.
#   scripts/faults.sh [KILLS] [SEED]       (default 50 kills, seed 1; scripts/test.sh runs 5)
# VERBA names the binary (default .build/release/verba, else .build/debug/verba).
set -uo pipefail
cd "$(dirname "$0")/.."
kills=${1:-50}
seed=${2:-1}
verba=${VERBA:-.build/release/verba}
[ -x "$verba" ] || verba=.build/debug/verba
verba=$(cd "$(dirname "$verba")" && pwd)/$(basename "$verba")
work=$(mktemp -d "${TMPDIR:-/tmp}/verba-faults.XXXXXX")
mounted=""
cleanup() { [ -n "$mounted" ] && umount "$mounted" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
failures=0
fail() { echo "faults.sh: FAIL: $*" >&2; failures=$((failures + 1)); }

# Inputs: a small corpus, a tokenizer trained on it, labelled TSV files.
words=(the cat sat on a mat and dog ran to house with light in beginning was word god said let there be good night day of)
awk -v n=${#words[@]} -v w="${words[*]}" 'BEGIN { split(w, a, " "); s = 42
    for (d = 0; d < 120; d++) { line = ""; for (i = 0; i < 25 + d % 13; i++) { s = (s * 1103515245 + 12345) % 2147483648; line = line a[int(s / 65536) % n + 1] " " }
        print line; if (d % 5 == 4) print "%" } }' > "$work/corpus.txt"
for i in $(seq 0 47); do
    echo -e "animal\tthe cat sat on a mat $((i % 5))"; echo -e "scripture\tgod said let there be light $((i % 7))"
done > "$work/train.tsv"
head -12 "$work/train.tsv" > "$work/dev.tsv"
"$verba" tokenizer train --model bpe --byte-level --vocab-size 300 --quiet --output "$work/tok.json" "$work/corpus.txt" \
    || { echo "faults.sh: cannot train the input tokenizer" >&2; exit 1; }

# Each writer: a command line with OUT for its output (a file or a folder), and the output files to check.
tok_cmd() { echo tokenizer train --model bpe --byte-level --vocab-size "${2:-280}" --quiet --output "$1/tok.json" "$work/corpus.txt"; }
lm_cmd() { echo train lm --tokenizer "$work/tok.json" --corpus "$work/corpus.txt" --layers 1 --heads 2 --dim 16 --context 16 \
    --batch-size 4 --steps "${2:-60}" --lr 3e-3 --warmup 5 --eval-every 20 --eval-batches 2 --checkpoint-every 7 \
    --validation-every 3 --threads 1 --seed 7 --output "$1/lm"; }
clf_cmd() { echo train classifier --from-scratch --tokenizer "$work/tok.json" --layers 1 --heads 2 --dim 16 --max-length 16 \
    --train "$work/train.tsv" --eval "$work/dev.tsv" --epochs "${2:-3}" --batch-size 4 --lr 3e-3 --threads 1 \
    --checkpoint-every 5 --output "$1/clf"; }
quant_cmd() { echo quantize --type "${2:-q8_0}" Tests/Fixtures/gpt2-small "$1/model.gguf"; }
writers=(tok lm clf quant)
outputs_tok="tok.json"; outputs_lm="lm/model.safetensors lm/config.json lm/tokenizer.json"
outputs_clf="clf/model.safetensors clf/config.json clf/tokenizer.json"; outputs_quant="model.gguf"
# A second variant of each run, so that "previous" and "new" outputs differ.
variant_tok=300; variant_lm=40; variant_clf=2; variant_quant=f16

outputs() { local v="outputs_$1"; echo "${!v}"; }
variant() { local v="variant_$1"; echo "${!v}"; }

# Reference outputs: the previous (variant) run and the new (default) run of each writer.
for w in "${writers[@]}"; do
    mkdir -p "$work/old-$w" "$work/new-$w"
    $verba $(${w}_cmd "$work/old-$w" "$(variant $w)") > /dev/null 2>&1 || fail "$w: the reference run failed"
    $verba $(${w}_cmd "$work/new-$w") > /dev/null 2>&1 || fail "$w: the reference run failed"
done

# 1. A full disk: filled, then with 16 KB to 1 MB free, so that each writer of a run (token
# file, checkpoint, export, tokenizer) meets the full disk in turn. A run that fits must write the new
# outputs whole; one that does not must fail cleanly with the previous outputs intact.
disk=$work/disk
mkdir -p "$disk"
if mount -t tmpfs -o size=4m tmpfs "$disk" 2>/dev/null; then mounted=$disk; how="tmpfs"; else how="ulimit -f"; fi
full_disk_runs=0
for w in "${writers[@]}"; do
    for free in 0 16 48 128 256 512 1024; do
        rm -rf "${disk:?}"/*
        cp -r "$work/old-$w/." "$disk/"
        rm -f "$disk"/*/checkpoint.safetensors "$disk"/*/tokens.bin
        before=$(cd "$disk" && find . -type f | sort)
        if [ -n "$mounted" ]; then
            dd if=/dev/zero of="$disk/filler" bs=4096 2>/dev/null
            truncate -s "-${free}K" "$disk/filler"
            $verba $(${w}_cmd "$disk") > /dev/null 2> "$work/err.txt"
            status=$?
            rm -f "$disk/filler"
        else
            (ulimit -f $((free * 2 + 2)); trap '' XFSZ; exec $verba $(${w}_cmd "$disk")) > /dev/null 2> "$work/err.txt"
            status=$?
        fi
        full_disk_runs=$((full_disk_runs + 1))
        after=$(cd "$disk" && find . -type f | sort)
        what="$w with ${free} KB free ($how)"
        if echo "$after" | grep -q '\.tmp-'; then fail "$what: temporary files left: $(echo "$after" | grep '\.tmp-' | tr '\n' ' ')"; fi
        if [ "$status" -eq 0 ]; then
            for f in $(outputs $w); do
                cmp -s "$disk/$f" "$work/new-$w/$f" || fail "$what: the run succeeded but $f is not the complete new file"
            done
            echo "full disk: $what: fits, new outputs whole"
            continue
        fi
        [ "$status" -eq 1 ] || fail "$what: status $status, expected 1"
        [ "$(grep -c '^verba: error: ' "$work/err.txt")" -eq 1 ] || fail "$what: no single error line: $(cat "$work/err.txt")"
        grep -qiE 'space|too large' "$work/err.txt" || fail "$what: the error does not say why: $(cat "$work/err.txt")"
        # Training may add its work files (tokens.bin, checkpoint); the outputs are the previous ones.
        for f in $(outputs $w); do
            cmp -s "$disk/$f" "$work/old-$w/$f" || fail "$what: $f is not the previous file"
        done
        echo "full disk: $what: $(grep '^verba: error: ' "$work/err.txt" | sed "s|$disk/||")"
    done
done
if [ -n "$mounted" ]; then umount "$disk"; mounted=""; fi

# 2. SIGKILL at seeded moments (milliseconds into the run, up to the reference run's length).
RANDOM=$seed
kill_runs=0
for w in "${writers[@]}"; do
    start=$(date +%s%N)
    $verba $(${w}_cmd "$work/time-$w") > /dev/null 2>&1
    span=$(( ($(date +%s%N) - start) / 1000000 + 1 ))
    kept=0; whole=0; partial=0; resumed=0
    for k in $(seq 1 "$kills"); do
        moment=$(( (RANDOM * 32768 + RANDOM) % span ))
        dir=$work/kill
        rm -rf "$dir"; mkdir -p "$dir"; cp -r "$work/old-$w/." "$dir/"
        rm -f "$dir"/*/checkpoint.safetensors "$dir"/*/tokens.bin  # the previous run's state is not this run's
        $verba $(${w}_cmd "$dir") > /dev/null 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((moment / 1000)) $((moment % 1000)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        kill_runs=$((kill_runs + 1))
        # Each output file is the previous one or the new one, whole (training exports: the previous
        # one or a complete model of some step, which generate loads).
        n_new=0; n_old=0; n_other=0
        for f in $(outputs $w); do
            if cmp -s "$dir/$f" "$work/new-$w/$f"; then n_new=$((n_new + 1)); continue; fi
            if cmp -s "$dir/$f" "$work/old-$w/$f"; then n_old=$((n_old + 1)); continue; fi
            n_other=$((n_other + 1))
            case $w in
                lm) echo "the" | $verba generate --model "$dir/lm" --max-tokens 1 --temperature 0 > /dev/null 2>&1 \
                        || fail "lm killed at ${moment} ms: $f is neither a previous nor a loadable model" ;;
                clf) echo "the cat" | $verba classify --model "$dir/clf" > /dev/null 2>&1 \
                        || fail "clf killed at ${moment} ms: $f is neither a previous nor a loadable model" ;;
                *) fail "$w killed at ${moment} ms: $f is neither the previous nor the new file" ;;
            esac
        done
        if [ $n_other -eq 0 ] && [ $n_new -eq 0 ]; then kept=$((kept + 1)); elif [ $n_other -eq 0 ] && [ $n_old -eq 0 ]; then whole=$((whole + 1)); else partial=$((partial + 1)); fi
        # Training resumes to the uninterrupted result, byte for byte.
        if [ "$w" = lm ] || [ "$w" = clf ]; then
            $verba $(${w}_cmd "$dir") --resume > /dev/null 2> "$work/err.txt" || fail "$w killed at ${moment} ms: resume failed: $(tail -1 "$work/err.txt")"
            same=1
            for f in $(outputs $w); do
                cmp -s "$dir/$f" "$work/new-$w/$f" || { same=0; fail "$w killed at ${moment} ms: resumed $f differs from the uninterrupted run's"; }
            done
            resumed=$((resumed + same))
        fi
    done
    echo "SIGKILL: $w: $kills moments in 0-$span ms: all outputs previous $kept, all complete new $whole, others (a model of an earlier step that loads, or a mix of previous and new files) $partial; resumed byte-identical: $resumed"
done

echo "faults.sh: $full_disk_runs full-disk runs, $kill_runs kills (seed $seed): $failures failures"
echo "$((full_disk_runs + kill_runs - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
