#!/usr/bin/env bash
# Builds downloads/gpt2-124m/: a GPT-2 124M model folder (the real GPT-2 configuration and tokenizer,
# random float32 weights from a fixed seed, ~500 MB, git-ignored) for the GPT-2 tests and
# scripts/bench-gpt2.sh. Needs Python with numpy (and, with --expected, torch + transformers);
# set PYTHON to choose the interpreter (default: /work/pyenv/bin/python when present, else python3).
# Idempotent: does nothing when the folder exists. Tests skip the 124M checks when it is absent.
#   bash scripts/make-gpt2-124m.sh              # the model folder
#   bash scripts/make-gpt2-124m.sh --expected   # also rewrite Tests/Fixtures/gpt2-124m-expected.json
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    if [ -x /work/pyenv/bin/python ]; then PYTHON=/work/pyenv/bin/python; else PYTHON=python3; fi
fi
if [ -f downloads/gpt2-124m/model.safetensors ] && [ "${1:-}" != "--expected" ]; then
    echo "assets: downloads/gpt2-124m" >&2
    exit 0
fi
if ! "$PYTHON" -c "import numpy" 2>/dev/null; then
    echo "make-gpt2-124m: $PYTHON lacks numpy; skipping (GPT-2 124M tests will be skipped)" >&2
    exit 0
fi
"$PYTHON" scripts/fixtures/gpt2.py 124m --out downloads/gpt2-124m "$@"
echo "assets: downloads/gpt2-124m" >&2
