#!/usr/bin/env bash
# Load benchmark of `verba serve` on downloads/gpt2-124m (float32, 2 threads): 1, 4, 8 and 16 concurrent
# greedy streams of 64 tokens (scripts/bench/server_load.py), printing total tokens/s and p50/p99 time
# to first token and per-token latency. Target: 8 streams decode >= 4x one stream. With PEER=1 (and
# llama.cpp built by scripts/build-llama-cpp.sh), the same load against llama.cpp's llama-server on the
# same model converted to an f32 GGUF, with the same number of slots.
# Usage: bash scripts/bench-server.sh [TOKENS] [ROUNDS]     (VERBA= uses a given binary)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-64}
rounds=${2:-2}
levels=1,4,8,16
slots=16
model=downloads/gpt2-124m
verba=${VERBA:-.build/release/verba}
[ -n "${VERBA:-}" ] || swift build -c release >&2
bash scripts/make-gpt2-124m.sh
out=bench-out/server
mkdir -p "$out"
cpu=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "cpu: $cpu ($(nproc) cores, avx512f: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)); load average: $(cut -d' ' -f1-3 /proc/loadavg)"

pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; }
trap cleanup EXIT
# wait_port PORT: until /health answers.
wait_port() {
    for _ in $(seq 1 600); do
        curl -sf "http://127.0.0.1:$1/health" >/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

port=18431
echo "verba serve --parallel $slots --threads 2 ($verba)"
"$verba" serve --model "$model" --port $port --parallel $slots --threads 2 --context 1024 2> "$out/verba.err" &
pid=$!
wait_port $port || { cat "$out/verba.err" >&2; exit 1; }
python3 scripts/bench/server_load.py "http://127.0.0.1:$port" gpt2-124m "$levels" "$tokens" "$rounds" | tee "$out/verba.txt"
kill "$pid"; wait "$pid" || true; pid=

one=$(awk '$1 == 1 {print $2}' "$out/verba.txt"); eight=$(awk '$1 == 8 {print $2}' "$out/verba.txt")
echo "8 streams / 1 stream: $(python3 -c "print(f'{$eight / $one:.2f}x (target >= 4x)')")"

if [ "${PEER:-0}" = 1 ]; then
    server=downloads/llama.cpp-build/bin/llama-server
    [ -x "$server" ] || bash scripts/build-llama-cpp.sh
    gguf=downloads/gpt2-124m-f32.gguf
    if [ ! -f "$gguf" ]; then
        py=${PYTHON:-python3}
        [ -x /work/pyenv/bin/python ] && [ -z "${PYTHON:-}" ] && py=/work/pyenv/bin/python
        PYTHONPATH=downloads/llama.cpp/gguf-py "$py" downloads/llama.cpp/convert_hf_to_gguf.py "$model" \
            --outtype f32 --outfile "$gguf" > "$out/convert.log" 2>&1
    fi
    port=18432
    echo "llama-server --parallel $slots --threads 2 (context 512 per slot)"
    "$server" -m "$gguf" --port $port --parallel $slots --threads 2 -c $((512 * slots)) --no-warmup > "$out/llama.err" 2>&1 &
    pid=$!
    wait_port $port || { tail "$out/llama.err" >&2; exit 1; }
    python3 scripts/bench/server_load.py "http://127.0.0.1:$port" gpt2-124m "$levels" "$tokens" "$rounds" | tee "$out/llama.txt"
    kill "$pid"; wait "$pid" || true; pid=
    peer=$(awk '$1 == 8 {print $2}' "$out/llama.txt")
    echo "verba / llama-server at 8 streams: $(python3 -c "print(f'{$eight / $peer:.2f}x (target >= 1.2x)')")"
fi
