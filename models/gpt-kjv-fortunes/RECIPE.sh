#!/usr/bin/env bash
# Recreates models/gpt-kjv-fortunes: a small GPT-2-style model trained from scratch by verba on the King
# James Bible and the English Debian fortunes. Run from anywhere; the corpus, the token file and the
# checkpoint go to git-ignored downloads/, the model to models/gpt-kjv-fortunes.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product verba
verba=.build/release/verba

# 1. Corpus: KJV (1,189 chapters, one verse per line) + English fortunes ("%"-separated), 6.6 MB.
bash scripts/make-gpt-corpus.sh downloads/corpus-en

# 2. Tokenizer: byte-level BPE (GPT-2 split), 4,096 tokens, <|endoftext|> = id 0.
mkdir -p downloads/train-gpt
$verba tokenizer train --model bpe --byte-level --vocab-size 4096 --special-tokens '<|endoftext|>' \
    --output downloads/train-gpt/tokenizer.json downloads/corpus-en/kjv.txt downloads/corpus-en/fortunes.txt

# 3. Model: 6 layers, width 192, 6 heads, context 128; 2,600 steps of 16 x 128 tokens; AdamW lr 2e-3,
#    150 warmup steps then cosine to 2e-4, weight decay 0.1, clipping 1.0; checkpoint every 100 steps
#    (add --resume to continue after an interruption); weights stored as float16.
$verba train lm --tokenizer downloads/train-gpt/tokenizer.json \
    --corpus downloads/corpus-en/kjv.txt downloads/corpus-en/fortunes.txt \
    --layers 6 --heads 6 --dim 192 --context 128 --batch-size 16 --steps 2600 --lr 2e-3 --warmup 150 \
    --eval-every 250 --eval-batches 8 --checkpoint-every 100 --threads 2 --seed 1337 --float16 \
    --work-dir downloads/train-gpt --output models/gpt-kjv-fortunes
