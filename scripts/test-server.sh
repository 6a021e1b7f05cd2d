#!/usr/bin/env bash
# End-to-end test of `verba serve` on loopback: the official `openai` client and curl against a server
# over downloads/gpt2-124m (and downloads/minilm for embeddings) — scripts/server_test.py — then a
# one-slot server for the busy answer (503 + Retry-After) and SIGTERM (the in-flight request finishes,
# exit status 0). Usage: scripts/test-server.sh [VERBA_BINARY] (default .build/release/verba).
set -uo pipefail
cd "$(dirname "$0")/.."
VERBA=${1:-.build/release/verba}
MODEL=downloads/gpt2-124m
KEY=test-key-$RANDOM
LOG=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$LOG"; }
trap cleanup EXIT

# Starts a server on a free port in the background; sets PORT and PID.
start() {
    local name=$1; shift
    "$VERBA" serve --model "$MODEL" --port 0 "$@" 2> "$LOG/$name.err" &
    PID=$!
    pids+=("$PID")
    for _ in $(seq 1 600); do
        PORT=$(sed -n 's|.*on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$LOG/$name.err")
        [ -n "$PORT" ] && return 0
        kill -0 "$PID" 2>/dev/null || { cat "$LOG/$name.err" >&2; return 1; }
        sleep 0.1
    done
    echo "test-server: $name did not start" >&2; return 1
}

fail=0
start main --embedding-model downloads/minilm --parallel 8 --api-key "$KEY" --context 1024 || exit 1
python3 scripts/server_test.py "http://127.0.0.1:$PORT" "$KEY" "$VERBA" "$MODEL" || fail=1

# A client that gives up on a whole (non-streamed) answer: its sequence leaves the batch at once.
passed=0
curl -s --max-time 1 -o /dev/null -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/v1/completions" \
    -d '{"model":"gpt2-124m","prompt":"Long","max_tokens":900,"temperature":0,"ignore_eos":true}'
freed=no
for _ in $(seq 1 40); do
    curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/metrics" | grep -q '^verba_active_slots 0' && { freed=yes; break; }
    sleep 0.05
done
if [ $freed = yes ]; then
    echo "ok   a non-streamed request whose client disconnects frees its slot"; passed=$((passed + 1))
else
    echo "FAIL the disconnected non-streamed request still holds a slot: $(curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/metrics" | grep active)"; fail=1
fi

# One slot, no queue: a second request while the first streams gets 503 with Retry-After.
start busy --parallel 1 --queue 0 --shutdown-timeout 60 || exit 1
BUSY=$PID
curl -sN "http://127.0.0.1:$PORT/v1/completions" -d '{"model":"gpt2-124m","prompt":"Slow","max_tokens":40,"temperature":0}' \
    > "$LOG/inflight.json" &
curl_pid=$!
for _ in $(seq 1 100); do
    curl -s "http://127.0.0.1:$PORT/metrics" | grep -q '^verba_active_slots 1' && break
    sleep 0.05
done
code=$(curl -s -o "$LOG/busy.json" -D "$LOG/busy.headers" -w '%{http_code}' "http://127.0.0.1:$PORT/v1/completions" \
    -d '{"model":"gpt2-124m","prompt":"Me too","max_tokens":4}')
if [ "$code" = 503 ] && grep -qi '^retry-after: 1' "$LOG/busy.headers" && grep -q '"code":"server_busy"' "$LOG/busy.json"; then
    echo "ok   busy server answers 503 with Retry-After"; passed=$((passed + 1))
else
    echo "FAIL busy server: status $code"; cat "$LOG/busy.json"; fail=1
fi
# SIGTERM while the first request is in flight: it completes, the server exits 0.
kill -TERM "$BUSY"
wait "$BUSY"; status=$?
wait "$curl_pid"
if [ "$status" = 0 ] && grep -q '"finish_reason":"length"' "$LOG/inflight.json" && grep -q '"completion_tokens":40' "$LOG/inflight.json"; then
    echo "ok   SIGTERM finishes the in-flight request and exits 0"; passed=$((passed + 1))
else
    echo "FAIL SIGTERM: exit status $status, in-flight response: $(cat "$LOG/inflight.json")"; fail=1
fi
if curl -s -o /dev/null "http://127.0.0.1:$PORT/health"; then echo "FAIL the stopped server still answers"; fail=1; fi

# A GGUF file served as it is: its name is the model id, its vocabulary encodes the prompt, and greedy
# output equals `verba generate` on the same file.
GGUF=Tests/Fixtures/gguf/qwen25-f16.gguf
MODEL=$GGUF start gguf --parallel 2 || exit 1
want=$("$VERBA" generate --model "$GGUF" --prompt "Hello there" --max-tokens 8 --temperature 0 --ignore-eos 2>/dev/null)
got=$(curl -s "http://127.0.0.1:$PORT/v1/completions" \
    -d '{"model":"qwen25-f16","prompt":"Hello there","max_tokens":8,"temperature":0,"ignore_eos":true}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"], end="")')
listed=$(curl -s "http://127.0.0.1:$PORT/v1/models")
if [ -n "$want" ] && [ "$got" = "$want" ] && echo "$listed" | grep -q '"id":"qwen25-f16"'; then
    echo "ok   a GGUF file serves greedy text equal to verba generate on it"; passed=$((passed + 1))
else
    echo "FAIL GGUF serve: got '$got', verba generate gave '$want', models: $listed"; fail=1
fi
kill "$PID"; wait "$PID" 2>/dev/null
echo "$passed passed, $((4 - passed)) failed"
exit $fail
