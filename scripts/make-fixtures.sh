#!/usr/bin/env bash
# Regenerates the committed test fixtures from the reference implementations.
#
#   bash scripts/make-fixtures.sh              # every scripts/fixtures/*.py (not the _*.py helper modules)
#   bash scripts/make-fixtures.sh tokenizers   # only scripts/fixtures/tokenizers.py
#   PYTHON=/work/pyenv/bin/python bash scripts/make-fixtures.sh   # use an existing Python, install nothing
#
# Without PYTHON, creates .venv (git-ignored) and installs every scripts/fixtures/requirements*.txt into it.
# Each fixture script writes its own Tests/Fixtures/<area>/; review `git diff --stat Tests/Fixtures` after.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
else
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    py=.venv/bin/python
    reqs=(scripts/fixtures/requirements*.txt)
    if [ -e "${reqs[0]}" ]; then
        args=()
        for r in "${reqs[@]}"; do args+=(-r "$r"); done
        "$py" -m pip install -q --disable-pip-version-check "${args[@]}"
    fi
fi

# Assets the scripts read (downloads/: MiniLM, tiktoken rank files). Idempotent.
PYTHON=$py bash scripts/fetch-assets.sh

# -P (Python >= 3.11) keeps scripts/fixtures/ off sys.path, so tokenizers.py cannot shadow the package.
flags=()
if "$py" -P -c pass 2>/dev/null; then flags=(-P); fi

scripts=()
if [ $# -gt 0 ]; then
    for name in "$@"; do scripts+=("scripts/fixtures/${name%.py}.py"); done
else
    for s in scripts/fixtures/*.py; do
        case $(basename "$s") in _*) ;; *) scripts+=("$s") ;; esac  # _*.py are helper modules
    done
fi
for s in "${scripts[@]}"; do
    [ -f "$s" ] || { echo "make-fixtures: no such script: $s" >&2; exit 1; }
    echo "make-fixtures: $s" >&2
    "$py" "${flags[@]}" "$s"
done
git status --short -- Tests/Fixtures >&2 || true
