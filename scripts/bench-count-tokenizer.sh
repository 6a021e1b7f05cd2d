#!/usr/bin/env bash
# Word counting for distributed tokenizer training: `verba tokenizer count` speed per core (one thread;
# MB per second of wall time and per CPU second, user + system, which a loaded machine leaves closer to
# the truth), then the whole count / merge-counts / train --from-counts path on the corpus cut into 8
# shards against HF tokenizers' BpeTrainer and WordPieceTrainer on the corpus (training in-process,
# 2 threads), and whether the tokenizer.json files of both verba paths are the same bytes.
#   corpus: bench-out/fortunes.txt (scripts/bench/fortunes-corpus.sh, ~38 MB)
# VERBA=path (default .build/release/verba); PYTHON= a Python with `tokenizers`.
set -euo pipefail
cd "$(dirname "$0")/.."
verba=${VERBA:-.build/release/verba}
PY=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
corpus=$(bash scripts/bench/fortunes-corpus.sh)
bytes=$(stat -c %s "$corpus")
cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "corpus: $corpus ($((bytes / 1000000)) MB); CPU: $cpu; load: $(cut -d' ' -f1-3 /proc/loadavg)"
work=bench-out/counts
rm -rf "$work"; mkdir -p "$work/shards"
timed() {  # prints "wall cpu peakMB" of the command
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" > /dev/null 2> "$work/err" || { cat "$work/err" >&2; exit 1; }
    read -r wall user sys kb < "$work/time"
    echo "$wall $(python3 -c "print(round($user + $sys, 2))") $((kb / 1024))"
}
printf "%-34s %8s %8s %12s %12s %8s\n" "count --threads 1" "wall s" "cpu s" "MB/s wall" "MB/s per cpu" "peak MB"
for pre in gpt2 cl100k o200k bert metaspace; do
    read -r wall cpus mb < <(timed "$verba" tokenizer count --pre-tokenizer $pre --threads 1 --quiet --output "$work/all.$pre" "$corpus")
    printf "%-34s %8s %8s %12s %12s %8s\n" "$pre" "$wall" "$cpus" \
        "$(python3 -c "print(round($bytes / 1e6 / $wall, 1))")" "$(python3 -c "print(round($bytes / 1e6 / $cpus, 1))")" "$mb"
done

split -n l/8 -d "$corpus" "$work/shards/part-"
export RAYON_NUM_THREADS=2
for kind in bpe wordpiece; do
    if [ $kind = bpe ]; then pre=gpt2; size=32000; args=(--model bpe --byte-level); else pre="bert --lowercase"; size=30000; args=(--model wordpiece --lowercase); fi
    total=0
    rm -f "$work"/shards/*.counts
    for shard in "$work"/shards/part-??; do
        read -r wall _ _ < <(timed "$verba" tokenizer count --pre-tokenizer $pre --threads 1 --quiet --output "$shard.counts" "$shard")
        total=$(python3 -c "print($total + $wall)")
    done
    read -r merge _ _ < <(timed "$verba" tokenizer merge-counts --quiet --output "$work/merged.counts" "$work"/shards/part-*.counts)
    read -r train _ mb < <(timed "$verba" tokenizer train "${args[@]}" --vocab-size $size --threads 2 --quiet --from-counts "$work/merged.counts" --output "$work/counts-$kind.json")
    "$verba" tokenizer train "${args[@]}" --vocab-size $size --threads 2 --quiet --output "$work/direct-$kind.json" "$corpus"
    same=$(cmp -s "$work/counts-$kind.json" "$work/direct-$kind.json" && echo yes || echo NO)
    hf=$("$PY" scripts/bench/train_tokenizer_reference.py $kind $size "$corpus" "$work/hf-$kind.json" | grep -o "[0-9.]*" | head -1)
    echo "$kind $size: 8 shards counted one after the other ${total} s (sum), merge ${merge} s, train --from-counts ${train} s (${mb} MB); HF trainer ${hf} s; same tokenizer.json as training on the corpus: $same"
done
