"""End-to-end test of `verba serve` with the official `openai` client and raw HTTP (http.client).
Run by scripts/test-server.sh, which starts the server; arguments: base URL, API key,
the verba binary and the generation model folder. Prints one line per test and 'N passed, N failed'."""
import concurrent.futures
import http.client
import json
import subprocess
import sys
import time
import traceback

from urllib.parse import urlparse

import openai

BASE, KEY, VERBA, MODEL_DIR = sys.argv[1:5]
MODEL = MODEL_DIR.rstrip("/").split("/")[-1]
EMBED = "minilm"
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=120)
auth = {"Authorization": "Bearer " + KEY}
tests = []


def test(fn):
    tests.append(fn)
    return fn


class Reply:
    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode(errors="replace")

    def json(self):
        return json.loads(self.content)


def connect():
    u = urlparse(BASE)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def request(method, path, body=None, headers=None):
    h = dict(auth) if headers is None else dict(headers)
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    if body is not None:
        h["Content-Type"] = "application/json"
    conn = connect()
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def post(path, body, headers=None):
    return request("POST", path, body, headers)


def get(path, headers=None):
    return request("GET", path, None, headers)


def open_stream(body):
    """Starts a streaming request; returns the connection and the response, read line by line."""
    conn = connect()
    conn.request("POST", "/v1/completions", body=json.dumps(body).encode(),
                 headers=dict(auth, **{"Content-Type": "application/json"}))
    return conn, conn.getresponse()


def greedy(prompt, n=12, **kw):
    return client.completions.create(model=MODEL, prompt=prompt, max_tokens=n, temperature=0, **kw)


def metric(name):
    text = get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def check_error(r, status, code=None, param=None):
    assert r.status_code == status, (r.status_code, r.text)
    e = r.json()["error"]
    assert set(e) == {"message", "type", "param", "code"}, e
    assert isinstance(e["message"], str) and e["message"]
    if code is not None:
        assert e["code"] == code, e
    if param is not None:
        assert e["param"] == param, e


@test
def models_and_health():
    ids = [m.id for m in client.models.list().data]
    assert ids == [MODEL, EMBED], ids
    assert get("/health", headers={}).json() == {"status": "ok"}


@test
def completion_matches_verba_generate():
    r = greedy("The history of the city", n=10)
    c = r.choices[0]
    assert r.object == "text_completion" and c.finish_reason == "length" and c.index == 0
    assert r.usage.completion_tokens == 10 and r.usage.prompt_tokens == 5, r.usage
    assert r.usage.total_tokens == 15
    cli = subprocess.run([VERBA, "generate", "--model", MODEL_DIR, "--prompt", "The history of the city",
                          "--max-tokens", "10", "--temperature", "0", "--ignore-eos"],
                         capture_output=True, text=True, check=True).stdout
    assert c.text == cli, (c.text, cli)


@test
def chat_completion():
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Be brief."},
                                                              {"role": "user", "content": "Hello"}],
                                       max_tokens=6, temperature=0, logprobs=True, top_logprobs=2)
    c = r.choices[0]
    assert r.object == "chat.completion" and c.message.role == "assistant"
    assert c.finish_reason in ("stop", "length") and r.usage.completion_tokens <= 6
    assert len(c.logprobs.content) == r.usage.completion_tokens
    for t in c.logprobs.content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob
        assert t.top_logprobs[0].token == t.token  # greedy takes the most likely token


@test
def streaming_completion_equals_whole():
    whole = greedy("Once upon a time", n=16).choices[0].text
    chunks = list(client.completions.create(model=MODEL, prompt="Once upon a time", max_tokens=16, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == whole, (text, whole)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 16 and chunks[-1].choices == []


@test
def streaming_chat_and_sse_framing():
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=8,
                                            temperature=0, stream=True)
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    whole = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=8,
                                           temperature=0)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == whole.choices[0].message.content
    # Raw: every event is one `data:` line and a blank line, the last is [DONE].
    conn, r = open_stream({"model": MODEL, "prompt": "A", "max_tokens": 3, "stream": True})
    assert r.getheader("content-type").startswith("text/event-stream")
    raw = r.read().decode()
    conn.close()
    events = raw.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]", events[-3:]
    for e in events[:-2]:
        assert e.startswith("data: {") and "\n" not in e, e
        json.loads(e[6:])


@test
def embeddings():
    r = client.embeddings.create(model=EMBED, input=["a cat sat on the mat", "stock markets fell"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 384 and r.usage.prompt_tokens > 4
    f = client.embeddings.create(model=EMBED, input="a cat sat on the mat", encoding_format="float")
    assert max(abs(a - b) for a, b in zip(r.data[0].embedding, f.data[0].embedding)) < 1e-6


@test
def n_choices_and_seeds():
    r = client.completions.create(model=MODEL, prompt="Hello", max_tokens=8, temperature=1.0, n=3, seed=11)
    assert [c.index for c in r.choices] == [0, 1, 2]
    again = client.completions.create(model=MODEL, prompt="Hello", max_tokens=8, temperature=1.0, n=3, seed=11)
    assert [c.text for c in r.choices] == [c.text for c in again.choices]
    assert len({c.text for c in r.choices}) > 1
    assert r.usage.completion_tokens == sum(1 for _ in range(3)) * 8
    g = client.completions.create(model=MODEL, prompt="Hello", max_tokens=8, temperature=0, n=2)
    assert g.choices[0].text == g.choices[1].text


@test
def stop_strings():
    text = greedy("The weather today", n=20).choices[0].text
    stop = text[len(text) // 2:len(text) // 2 + 3]
    r = greedy("The weather today", n=20, stop=[stop, "zzzz"])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == text[:text.index(stop)], (r.choices[0].text, text, stop)


@test
def echo_and_logprobs():
    r = greedy("Hello there", n=3, echo=True, logprobs=2)
    c = r.choices[0]
    assert c.text.startswith("Hello there")
    lp = c.logprobs
    assert lp.token_logprobs[0] is None and len(lp.tokens) == 2 + 3 and len(lp.top_logprobs) == 5
    assert "".join(lp.tokens) == c.text and lp.text_offset[0] == 0


@test
def concurrent_requests_equal_alone():
    prompts = [f"Story number {i}: once" for i in range(8)]
    alone = [greedy(p, n=12).choices[0].text for p in prompts]
    steps_before = metric("verba_decode_steps_total")
    tokens_before = metric("verba_generated_tokens_total")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda p: greedy(p, n=12).choices[0].text, prompts))
    assert together == alone
    steps = metric("verba_decode_steps_total") - steps_before
    tokens = metric("verba_generated_tokens_total") - tokens_before
    assert tokens == 96 and steps < tokens - 8, (steps, tokens)  # decode steps were shared


@test
def client_disconnecting_mid_stream():
    conn, r = open_stream({"model": MODEL, "prompt": "Go on", "max_tokens": 900, "stream": True})
    got = [r.readline() for _ in range(4)]
    assert got[0].startswith(b"data: "), got
    # http.client hands the socket to a response that ends its connection (Connection: close).
    sock = conn.sock if conn.sock is not None else r.fp.raw._sock
    sock.shutdown(2)
    r.close()
    conn.close()
    deadline = time.time() + 10
    while metric("verba_active_slots") != 0:
        assert time.time() < deadline, "the abandoned sequence kept its slot"
        time.sleep(0.1)
    assert greedy("Still there?", n=2).choices[0].text


@test
def bad_requests():
    check_error(post("/v1/completions", b'{"model": "x", "prompt": '), 400, "invalid_json")
    check_error(post("/v1/completions", {"model": MODEL, "prompt": "a", "max_tokens": "many"}), 400, "invalid_type", "max_tokens")
    check_error(post("/v1/completions", {"model": MODEL, "prompt": "a", "bogus": 1}), 400, "unknown_parameter", "bogus")
    check_error(post("/v1/chat/completions", {"model": MODEL, "messages": "hi"}), 400, "invalid_type", "messages")
    check_error(post("/v1/completions", {"model": "gpt-9", "prompt": "a"}), 404, "model_not_found", "model")
    check_error(post("/v1/completions", {"model": MODEL, "prompt": "a", "max_tokens": 5000}), 400, "context_length_exceeded")
    check_error(post("/v1/completions", b'{"model": "' + MODEL.encode() + b'", "prompt": "\xc3\x28"}'), 400, "invalid_json")
    check_error(post("/v1/embeddings", {"model": EMBED, "input": [[1, 2]]}), 400, "invalid_type", "input")
    check_error(post("/v1/completions", {"model": MODEL, "prompt": "a"}, headers={}), 401, "invalid_api_key")
    check_error(post("/v1/completions", {"model": MODEL, "prompt": "a"}, headers={"Authorization": "Bearer nope"}), 401)
    check_error(get("/v1/nothing"), 404)
    with pytest_raises(openai.NotFoundError):
        client.completions.create(model="gpt-9", prompt="a")
    with pytest_raises(openai.BadRequestError):
        client.completions.create(model=MODEL, prompt="a", max_tokens=-3)
    # A 100 MB body is refused (413, or the connection closed while sending), and the server goes on.
    big = b'{"model": "' + MODEL.encode() + b'", "prompt": "' + b"a" * (100 << 20) + b'"}'
    try:
        r = post("/v1/completions", big)
        check_error(r, 413, "request_too_large")
    except OSError:
        pass
    assert greedy("Fine", n=2).choices[0].text


class pytest_raises:
    def __init__(self, kind):
        self.kind = kind

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            raise AssertionError(f"expected {self.kind.__name__}")
        return issubclass(kind, self.kind)


passed = failed = 0
for fn in tests:
    start = time.time()
    try:
        fn()
        passed += 1
        print(f"ok   {fn.__name__} ({time.time() - start:.1f}s)")
    except Exception:
        failed += 1
        print(f"FAIL {fn.__name__}")
        traceback.print_exc()
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
