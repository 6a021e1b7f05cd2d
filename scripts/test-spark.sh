#!/usr/bin/env bash
# The Spark scripts against single-machine verba, with a local[2] master (run by scripts/test.sh):
#  1. scripts/spark-train-tokenizer.py on the UTF-8 fortunes corpus cut into 8 shards gives, byte for byte,
#     the tokenizer.json of `verba tokenizer train` on the whole corpus (byte-level BPE and WordPiece);
#  2. scripts/spark-classify.py gives the labels of `verba classify` and embeddings within 1e-5 of
#     `verba embed` (MiniLM) on 300 fortunes lines in 4 partitions, each row joined to its own output.
# VERBA=path (default .build/release/verba); SPARK_PYTHON=a python with pyspark (default: the venv
# scripts/setup.sh makes, downloads/spark-venv, else python3). Needs Java 17.
set -euo pipefail
cd "$(dirname "$0")/.."
verba=${VERBA:-.build/release/verba}
py=${SPARK_PYTHON:-$( [ -x downloads/spark-venv/bin/python ] && echo downloads/spark-venv/bin/python || echo python3 )}
export PYSPARK_PYTHON=$py PYSPARK_DRIVER_PYTHON=$py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "test-spark: FAIL: $*" >&2; exit 1; }

corpus=$(bash scripts/bench/fortunes-corpus.sh)
mkdir "$work/shards"
split -n l/8 -d "$corpus" "$work/shards/part-"
cat "$work"/shards/part-* | cmp -s - "$corpus" || fail "the shards do not make the corpus"

train_case() {  # name, then verba tokenizer train arguments
    local name=$1; shift
    "$verba" tokenizer train --quiet --threads 2 "$@" --output "$work/$name-local.json" "$corpus"
    "$py" scripts/spark-train-tokenizer.py --master 'local[2]' --verba "$verba" \
        --output "$work/$name-spark.json" "$work/shards" -- "$@" 2> "$work/$name-spark.log" \
        || { tail -20 "$work/$name-spark.log" >&2; fail "$name: spark-train-tokenizer.py failed"; }
    cmp "$work/$name-local.json" "$work/$name-spark.json" || fail "$name: Spark's tokenizer.json differs from one machine's"
    echo "test-spark: $name: Spark (8 shards, local[2]) = one machine, byte for byte"
}
train_case bpe --model bpe --byte-level --vocab-size 4000
train_case wordpiece --model wordpiece --lowercase --vocab-size 4000

model=downloads/minilm
grep -v '^%' "$corpus" | awk 'length > 20' | head -300 > "$work/lines.txt"
labels=love,money,computers,politics,food
"$verba" classify --model "$model" --labels "$labels" < "$work/lines.txt" > "$work/classify-local.tsv"
"$verba" embed --model "$model" < "$work/lines.txt" > "$work/embed-local.jsonl"
for command in classify embed; do
    extra=(); [ $command = classify ] && extra=(--labels "$labels")
    "$py" scripts/spark-classify.py --master 'local[2]' --command $command --verba "$verba" --model "$model" \
        --partitions 4 --single-file --output "$work/$command-spark.out" "$work/lines.txt" -- "${extra[@]}" \
        2> "$work/$command-spark.log" || { tail -20 "$work/$command-spark.log" >&2; fail "spark-classify.py --command $command failed"; }
done
"$py" - "$work" <<'EOF' || fail "spark-classify.py differs from single-process verba"
import json, sys
w = sys.argv[1]
lines = open(f"{w}/lines.txt", encoding="utf-8").read().split("\n")[:-1]
local = open(f"{w}/classify-local.tsv", encoding="utf-8").read().split("\n")[:-1]
spark = open(f"{w}/classify-spark.out", encoding="utf-8").read().split("\n")[:-1]
assert len(spark) == len(lines) == len(local), (len(spark), len(lines), len(local))
for text, want, row in zip(lines, local, spark):
    got_text, label, score = row.rsplit("\t", 2)
    assert got_text == text, (got_text, text)
    want_label, want_score = want.split("\t")
    assert label == want_label, (text, label, want_label)
    assert abs(float(score) - float(want_score)) <= 1e-5, (text, score, want_score)
vectors = [json.loads(l) for l in open(f"{w}/embed-local.jsonl")]
rows = [json.loads(l) for l in open(f"{w}/embed-spark.out", encoding="utf-8")]
assert len(rows) == len(lines)
worst = 0.0
for text, want, row in zip(lines, vectors, rows):
    assert row["text"] == text
    assert len(row["embedding"]) == len(want)
    worst = max(worst, max(abs(a - b) for a, b in zip(row["embedding"], want)))
assert worst <= 1e-5, worst
print(f"test-spark: classify: {len(lines)} labels identical; embed: largest difference {worst:.2e}")
EOF
echo "test-spark: all passed"
