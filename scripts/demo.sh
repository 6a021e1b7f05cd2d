#!/usr/bin/env bash
# The main job: set up, build in release mode, and run verba on real inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release
verba=.build/release/verba
echo "== tokenize (GPT-2)" >&2
printf 'Hello world\nVerba tokenizes text in native Swift.\n' | $verba tokenize --tokenizer ../shared/fixtures/gpt2 || true
