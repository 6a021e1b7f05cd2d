#!/usr/bin/env bash
# Compares `verba tokenize` with tiktoken / HF tokenizers on every line of a corpus, using the reference
# ids written by scripts/fixtures/bpe_corpus_ids.py (large, not committed, so not part of the test suite).
#
#   /work/pyenv/bin/python scripts/fixtures/bpe_corpus_ids.py /tmp/bpe-corpus [FILES...]
#   bash scripts/check-bpe-corpus.sh /tmp/bpe-corpus
#
# Exit status 1 and the first differing lines when any line's ids differ.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: check-bpe-corpus.sh REFERENCE_FOLDER}
swift build -c release --product verba >/dev/null
verba=.build/release/verba
status=0
for pair in cl100k:downloads/tiktoken/cl100k_base.tiktoken o200k:downloads/tiktoken/o200k_base.tiktoken \
            gpt2:../shared/fixtures/gpt2/tokenizer.json; do
    name=${pair%%:*} tokenizer=${pair#*:}
    got=$(mktemp)
    "$verba" tokenize --tokenizer "$tokenizer" --no-special-tokens --format ids < "$dir/corpus.txt" > "$got"
    lines=$(wc -l < "$dir/corpus.txt")
    if cmp -s "$got" "$dir/$name.ids"; then
        echo "$name: $lines lines, all ids equal"
    else
        echo "$name: ids differ on $(diff "$got" "$dir/$name.ids" | grep -c '^<') of $lines lines; first:"
        diff "$got" "$dir/$name.ids" | head -8
        status=1
    fi
    rm -f "$got"
done
exit $status
