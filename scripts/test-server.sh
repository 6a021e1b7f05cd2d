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
    echo "ok   busy server answers 503 with Retry-After"; passed=1
else
    echo "FAIL busy server: status $code"; cat "$LOG/busy.json"; fail=1; passed=0
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
echo "$passed passed, $((2 - passed)) failed"
exit $fail
