"""Load driver for an OpenAI-compatible completions server (verba serve, llama-server): C concurrent
streaming greedy requests, each stream sending ROUNDS requests one after another. Prints, for each
concurrency: total generated tokens/s (all streams, wall clock), p50/p99 time to first token, and
p50/p99 per-token latency (gaps between streamed tokens). Standard library only.
Usage: server_load.py URL MODEL CONCURRENCIES(comma-separated) [TOKENS] [ROUNDS]"""
import http.client
import json
import sys
import threading
import time
from urllib.parse import urlparse

url, model, levels = sys.argv[1], sys.argv[2], [int(c) for c in sys.argv[3].split(",")]
tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 64
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 2
host = urlparse(url)


def one(prompt):
    """One streamed request: (time to first token, [gaps between tokens], tokens generated)."""
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=600)
    body = {"model": model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
            "ignore_eos": True}
    start = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200, (r.status, r.read())
    times, usage = [], None
    for line in r:
        line = line.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            usage = event["usage"].get("completion_tokens")
        for c in event.get("choices", []):
            if c.get("text"):
                times.append(time.perf_counter())
    conn.close()
    n = usage if usage else len(times)
    return times[0] - start, [b - a for a, b in zip(times, times[1:])], n


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


one("Warm up")
print(f"{'streams':>7} {'tok/s':>8} {'TTFT p50':>9} {'TTFT p99':>9} {'tok p50':>8} {'tok p99':>8}   (ms; {tokens} tokens x {rounds} rounds per stream)")
for c in levels:
    ttft, gaps, total = [], [], [0]
    lock = threading.Lock()

    def stream(i):
        for r in range(rounds):
            t, g, n = one(f"Stream {i} round {r}: the story begins")
            with lock:
                ttft.append(t); gaps.extend(g); total[0] += n

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(c)]
    start = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - start
    print(f"{c:>7} {total[0] / wall:>8.1f} {percentile(ttft, 50) * 1e3:>9.0f} {percentile(ttft, 99) * 1e3:>9.0f} "
          f"{percentile(gaps, 50) * 1e3:>8.1f} {percentile(gaps, 99) * 1e3:>8.1f}", flush=True)
