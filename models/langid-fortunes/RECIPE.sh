#!/usr/bin/env bash
# Recreates models/langid-fortunes: a small BERT-style language identifier trained from scratch by verba
# on single lines of the Debian fortunes packages (12 languages). Run from anywhere; writes the training
# data and the tokenizer to git-ignored downloads/, the model to models/langid-fortunes.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product verba
verba=.build/release/verba

# 1. Data: label<TAB>line, lines of >= 20 characters, dev held out by a hash of the line (3,852 dev lines).
bash scripts/make-langid-data.sh downloads/langid

# 2. Tokenizer: cased WordPiece (BertNormalizer without lowercasing or accent stripping, so diacritics
#    stay; Chinese characters split one per token), 8,000 tokens, [CLS] A [SEP] template.
mkdir -p downloads/train-langid
$verba tokenizer train --model wordpiece --vocab-size 8000 --vocab-files \
    --output downloads/train-langid/tokenizer.json downloads/langid/corpus.txt

# 3. Model: 2 layers, width 128, 4 heads, MLP 512, 64 positions; 2 epochs, batch 32, AdamW lr 1e-3
#    (6% warmup, cosine to 0), weight decay 0.01, clipping 1.0; weights stored as float16.
$verba train classifier --from-scratch --tokenizer downloads/train-langid/tokenizer.json \
    --layers 2 --heads 4 --dim 128 --max-length 64 \
    --train downloads/langid/train.tsv --eval downloads/langid/dev.tsv \
    --epochs 2 --batch-size 32 --lr 1e-3 --threads 1 --float16 --output models/langid-fortunes
