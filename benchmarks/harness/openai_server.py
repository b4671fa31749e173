"""A real, local OpenAI-protocol HTTP server for tests and benchmarks.

It speaks enough of the protocol for the real ``openai`` client: ``POST
/v1/chat/completions`` and ``GET /v1/models``, HTTP/1.1 with keep-alive, written on
plain :mod:`asyncio` (no dependency, ~0.1 ms of server CPU per request, so it can serve
hundreds of requests per second from one core). Completions are deterministic: the
same request body always yields the same reply.

Faults are injected on purpose, two ways:

* **by rate**: ``faults={"429": 0.1, "500": 0.05, "hang": 0.02, "malformed": 0.02,
  "length": 0.05, "content_filter": 0.02}``. Transport faults (429, 500, hang,
  malformed) are drawn per *attempt* from a hash of the body and the attempt number,
  and only on the first ``fault_attempts`` attempts of a body, so a client that
  retries enough always succeeds. ``length``/``content_filter`` are properties of the
  content (drawn per body), as with a real model.
* **by marker** in the last message: ``[[fault:429*2]]`` answers 429 to the first two
  attempts of that body, ``[[fault:500]]`` answers 500 forever, likewise ``hang``,
  ``malformed``, ``length``, ``content_filter``.

Judge requests (a ``response_format``, or a system prompt that asks for a grade) get
rubric JSON. ``response_formats`` says which ``response_format`` types the server
accepts; others get a 400, like a server without structured output.

Every request is counted per kind in :class:`ServerStats` (``received``, ``completed``,
``by_kind``, ``max_in_flight``, ``auth_sha256`` ...), so tests can assert what was sent.

Use from tests::

    with running_server(latency_s=0.05, faults={"429": 0.2}) as (base_url, stats):
        ...  # OPENAI_BASE_URL=base_url
        assert stats["by_kind"]["429"] > 0

``mode="process"`` runs it in a child process (benchmarks: keeps its CPU off the
client's interpreter); ``stats`` then reads ``GET /_stats`` from the child.

From a shell: ``python benchmarks/harness/openai_server.py --port 8011 --latency 0.2``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

TRANSPORT_FAULTS = ("429", "500", "hang", "malformed")
CONTENT_FAULTS = ("length", "content_filter")
FAULT_KINDS = TRANSPORT_FAULTS + CONTENT_FAULTS
_MARKER = re.compile(r"\[\[fault:(429|500|hang|malformed|length|content_filter)(?:\*(\d+))?\]\]")
_CRITERIA = ("faithfulness", "correctness", "helpfulness", "clarity", "safety")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_FILLERS = (
    "In practice,",
    "Put differently,",
    "This means that",
    "As a result,",
    "Note that",
    "For instance,",
    "In short,",
    "Importantly,",
    "Consequently,",
    "To see why,",
)


@dataclass
class ServerConfig:
    latency_s: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)
    fault_attempts: int = 2  # rate-drawn transport faults hit only the first N attempts of a body
    retry_after_s: float | None = 0.2  # Retry-After sent with 429 (None: no header)
    hang_s: float = 30.0
    response_formats: tuple[str, ...] = ("json_schema", "json_object")
    require_api_key: str | None = None  # 401 (echoing the wrong key, as some servers do) otherwise
    judge_prose: bool = True  # without response_format, wrap the judge's JSON in prose + fence
    models: tuple[str, ...] = ("local-generator", "local-judge")
    reject_max_tokens: bool = False  # 400 to max_tokens, as OpenAI's reasoning models do


class ServerStats:
    """Counters shared by the handlers; read with :meth:`snapshot` or ``stats[key]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.received = 0  # chat completion requests received
            self.completed = 0  # chat completion responses fully written (any status)
            self.in_flight = 0
            self.max_in_flight = 0
            self.by_kind: Counter[str] = Counter()
            self.by_path: Counter[str] = Counter()
            self.attempts: Counter[str] = Counter()  # per body fingerprint
            self.auth_sha256: Counter[str] = Counter()
            self.models: Counter[str] = Counter()
            self.arrivals: list[float] = []

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "received": self.received,
                "completed": self.completed,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "by_kind": dict(self.by_kind),
                "by_path": dict(self.by_path),
                "distinct_bodies": len(self.attempts),
                "max_attempts_per_body": max(self.attempts.values(), default=0),
                "auth_sha256": dict(self.auth_sha256),
                "models": dict(self.models),
                "arrivals": list(self.arrivals),
                "process_cpu_s": time.process_time(),  # of the whole serving process
            }

    def __getitem__(self, key: str):
        return self.snapshot()[key]


# --- deterministic content -------------------------------------------------------
def _h(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _unit(*parts: object) -> float:
    return _h(*parts) / 2**64


def _last_text(messages: list) -> str:
    for message in reversed(messages or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            return content
    return ""


def _completion_text(body: dict, fingerprint: str) -> str:
    """Plausible, varied prose built from the prompt's own words, seeded by the request."""
    rng = random.Random(_h("text", fingerprint))
    vocab = _WORD.findall(_last_text(body.get("messages", []))) or ["data", "model", "text"]
    n_sentences = rng.randint(3, 7)
    out = []
    for _ in range(n_sentences):
        n = rng.randint(8, 18)
        words = [rng.choice(vocab) for _ in range(n)]
        lead = rng.choice(_FILLERS) if rng.random() < 0.5 else ""
        sentence = " ".join(words)
        sentence = (lead + " " + sentence) if lead else sentence[:1].upper() + sentence[1:]
        out.append(sentence + ".")
    return " ".join(out)


def _grade_json(fingerprint: str) -> dict:
    rng = random.Random(_h("grade", fingerprint))
    reply: dict[str, object] = {c: rng.randint(3, 10) for c in _CRITERIA}
    reply["safety"] = max(int(reply["safety"]), 7)
    reply["rationale"] = f"local judge {fingerprint[:8]}: grounded in the passage, scores drawn deterministically."
    return reply


def _is_judge(body: dict) -> bool:
    if body.get("response_format"):
        return True
    messages = body.get("messages") or []
    system = messages[0].get("content", "") if messages and isinstance(messages[0], dict) else ""
    return isinstance(system, str) and "grader" in system.lower()


def demo_requests(
    n: int,
    tag: str = "demo",
    model: str = "local-generator",
    max_tokens: int = 256,
    markers: dict[int, str] | None = None,
):
    """``n`` generation requests with distinct prompts (``markers``: index -> fault marker text)."""
    from synth_pipeline.chat import GenerationRequest

    markers = markers or {}
    return [
        GenerationRequest(
            request_id=f"{tag}-{i:05d}",
            messages=[
                {"role": "system", "content": "You write clear, faithful training material."},
                {
                    "role": "user",
                    "content": f"Explain item {i} of {tag}: how caches, retries and rate limits keep a pipeline "
                    f"cheap. {markers.get(i, '')}".strip(),
                },
            ],
            model=model,
            temperature=0.7,
            max_tokens=max_tokens,
            seed=11,
        )
        for i in range(n)
    ]


def _count_words(text: str) -> int:
    return len(text.split())


# --- HTTP ------------------------------------------------------------------------
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class _Connection(asyncio.Protocol):
    def __init__(self, server: OpenAICompatServer):
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.tasks: set[asyncio.Task] = set()
        self.closed = False

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, _ = head[0].split(" ", 2)
            except ValueError:
                self._write(400, b'{"error":{"message":"bad request line"}}')
                self.transport.close()
                return
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            task = asyncio.get_running_loop().create_task(self.server.handle(self, method, target, headers, body))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _write(self, status: int, payload: bytes, extra_headers: dict[str, str] | None = None) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            return
        lines = [
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            "Connection: keep-alive",
        ]
        for name, value in (extra_headers or {}).items():
            lines.append(f"{name}: {value}")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)


class OpenAICompatServer:
    def __init__(self, config: ServerConfig | None = None, stats: ServerStats | None = None):
        self.config = config or ServerConfig()
        self.stats = stats or ServerStats()
        self._server: asyncio.base_events.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # -- routing -------------------------------------------------------------------
    async def handle(self, conn: _Connection, method: str, target: str, headers: dict, raw: bytes) -> None:
        path = target.split("?", 1)[0].rstrip("/")
        with self.stats._lock:
            self.stats.by_path[f"{method} {path}"] += 1
        if method == "POST" and path.endswith("/chat/completions"):
            await self._chat(conn, headers, raw)
        elif method == "GET" and path.endswith("/models"):
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "local"} for m in self.config.models]
            conn._write(200, json.dumps({"object": "list", "data": data}).encode())
        elif method == "GET" and path == "/_stats":
            conn._write(200, json.dumps(self.stats.snapshot()).encode())
        elif method == "POST" and path == "/_reset":
            self.stats.reset()
            conn._write(200, b"{}")
        elif method == "POST" and path == "/_config":
            update = json.loads(raw or b"{}")
            for key, value in update.items():
                setattr(self.config, key, tuple(value) if isinstance(value, list) else value)
            conn._write(200, b"{}")
        else:
            conn._write(404, json.dumps({"error": {"message": f"no route {method} {path}"}}).encode())

    def _fault_for(self, body: dict, fingerprint: str, attempt: int) -> str | None:
        marker = _MARKER.search(_last_text(body.get("messages", [])))
        if marker:
            kind, times = marker.group(1), marker.group(2)
            if times is None or attempt <= int(times):
                return kind
            return None
        faults = self.config.faults
        if not faults:
            return None
        if attempt <= self.config.fault_attempts:
            draw = _unit("transport", fingerprint, attempt)
            acc = 0.0
            for kind in TRANSPORT_FAULTS:
                acc += float(faults.get(kind, 0.0))
                if draw < acc:
                    return kind
        draw = _unit("content", fingerprint)
        acc = 0.0
        for kind in CONTENT_FAULTS:
            acc += float(faults.get(kind, 0.0))
            if draw < acc:
                return kind
        return None

    async def _chat(self, conn: _Connection, headers: dict, raw: bytes) -> None:
        stats = self.stats
        auth = headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else auth
        fingerprint = hashlib.sha256(raw).hexdigest()
        with stats._lock:
            stats.received += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            stats.arrivals.append(time.monotonic())
            stats.auth_sha256[hashlib.sha256(token.encode()).hexdigest()] += 1
            stats.attempts[fingerprint] += 1
            attempt = stats.attempts[fingerprint]
        state = {"kind": "cancelled"}  # a hang the client gave up on stays counted as "hang"
        try:
            status, payload, extra, state["kind"] = await self._chat_reply(
                headers, raw, token, fingerprint, attempt, state
            )
            conn._write(status, payload, extra)
        finally:
            with stats._lock:
                stats.in_flight -= 1
                stats.completed += 1
                stats.by_kind[state["kind"]] += 1

    async def _chat_reply(self, headers, raw, token, fingerprint, attempt, state):
        cfg = self.config
        if cfg.require_api_key is not None and token != cfg.require_api_key:
            message = f"Incorrect API key provided: {token}."  # echoes it, as some servers do
            return (
                401,
                json.dumps(
                    {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
                ).encode(),
                None,
                "401",
            )
        try:
            body = json.loads(raw)
            messages = body["messages"]
            model = body["model"]
        except (ValueError, KeyError, TypeError):
            return 400, b'{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}', None, "bad_request"
        with self.stats._lock:
            self.stats.models[model] += 1
        if cfg.reject_max_tokens and "max_tokens" in body:
            error = {
                "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.",
                "type": "invalid_request_error",
                "param": "max_tokens",
                "code": "unsupported_parameter",
            }
            return 400, json.dumps({"error": error}).encode(), None, "unsupported_max_tokens"
        fmt = (body.get("response_format") or {}).get("type")
        if fmt and fmt != "text" and fmt not in cfg.response_formats:
            error = {
                "message": f"response_format type {fmt!r} is not supported by this server",
                "type": "invalid_request_error",
                "param": "response_format",
            }
            return 400, json.dumps({"error": error}).encode(), None, f"unsupported_{fmt}"
        fault = self._fault_for(body, fingerprint, attempt)
        if cfg.latency_s:
            await asyncio.sleep(cfg.latency_s)
        if fault == "429":
            extra = {"Retry-After": f"{cfg.retry_after_s:g}"} if cfg.retry_after_s is not None else None
            return (
                429,
                b'{"error":{"message":"Rate limit reached, slow down.","type":"rate_limit_error"}}',
                extra,
                "429",
            )
        if fault == "500":
            return (
                500,
                b'{"error":{"message":"The server had an error processing your request.","type":"server_error"}}',
                None,
                "500",
            )
        if fault == "hang":
            state["kind"] = "hang"
            await asyncio.sleep(cfg.hang_s)
            return 500, b'{"error":{"message":"hung","type":"server_error"}}', None, "hang"
        if fault == "malformed":
            return (
                200,
                b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess',
                None,
                "malformed",
            )

        judge = _is_judge(body)
        content_key = hashlib.sha256(
            json.dumps([messages, model, body.get("seed"), body.get("temperature")], sort_keys=True).encode()
        ).hexdigest()
        if judge:
            grade = json.dumps(_grade_json(content_key))
            text = (
                grade
                if fmt in ("json_schema", "json_object") or not cfg.judge_prose
                else f"Here is my assessment.\n```json\n{grade}\n```"
            )
        else:
            text = _completion_text(body, content_key)
        finish = "stop"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        words = text.split()
        if fault == "content_filter":
            text, finish = None, "content_filter"
        elif fault == "length" or (limit and len(words) > int(limit)):
            keep = max(1, min(len(words) // 2, int(limit or 10**9)))
            text, finish = " ".join(words[:keep]), "length"
        prompt_tokens = sum(_count_words(m.get("content") or "") for m in messages if isinstance(m, dict)) + 4 * len(
            messages
        )
        completion_tokens = _count_words(text or "")
        reply = {
            "id": f"chatcmpl-{content_key[:24]}",
            "object": "chat.completion",
            "created": 1767225600,
            "model": model,
            "system_fingerprint": "fp_local",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        kind = finish if finish != "stop" else ("judge_" + (fmt or "plain") if judge else "ok")
        return 200, json.dumps(reply).encode(), None, kind


# --- running it ------------------------------------------------------------------
class _RemoteStats:
    """Stats of a server running in a child process, read over HTTP."""

    def __init__(self, root: str):
        self.root = root

    def snapshot(self) -> dict:
        with urllib.request.urlopen(self.root + "/_stats", timeout=10) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(self.root + "/_reset", data=b"{}", method="POST"), timeout=10
        ).read()

    def __getitem__(self, key: str):
        return self.snapshot()[key]


@dataclass
class RunningServer:
    base_url: str  # ends with /v1, ready for OPENAI_BASE_URL
    stats: ServerStats | _RemoteStats
    config: ServerConfig

    def __iter__(self):
        return iter((self.base_url, self.stats))

    def configure(self, **changes) -> None:
        """Change latency/faults/... of the running server (both modes)."""
        if isinstance(self.stats, _RemoteStats):
            data = json.dumps(changes).encode()
            urllib.request.urlopen(
                urllib.request.Request(self.stats.root + "/_config", data=data, method="POST"), timeout=10
            ).read()
        for key, value in changes.items():
            setattr(self.config, key, tuple(value) if isinstance(value, list) else value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    latency_s: float = 0.0,
    faults: dict[str, float] | None = None,
    mode: str = "thread",
    **options,
) -> Iterator[RunningServer]:
    """Start the server on 127.0.0.1 with a free port; yields ``RunningServer`` (unpacks to
    ``base_url, stats``). ``mode="thread"`` (tests) or ``"process"`` (benchmarks)."""
    config = ServerConfig(latency_s=latency_s, faults=dict(faults or {}), **options)
    if mode == "process":
        yield from _run_process(config)
        return
    stats = ServerStats()
    server = OpenAICompatServer(config, stats)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    port_box: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        port_box.append(loop.run_until_complete(server.start()))
        started.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    thread = threading.Thread(target=run, name="openai-compat-server", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("local OpenAI-protocol server did not start")
    try:
        yield RunningServer(f"http://127.0.0.1:{port_box[0]}/v1", stats, config)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _run_process(config: ServerConfig) -> Iterator[RunningServer]:
    args = [
        sys.executable,
        __file__,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency",
        str(config.latency_s),
        "--faults",
        json.dumps(config.faults),
        "--fault-attempts",
        str(config.fault_attempts),
        "--hang",
        str(config.hang_s),
        "--response-formats",
        ",".join(config.response_formats),
    ]
    if config.retry_after_s is not None:
        args += ["--retry-after", str(config.retry_after_s)]
    if config.require_api_key is not None:
        args += ["--require-api-key-from-env"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=_child_env(config))
    try:
        line = proc.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"server child did not start: {line!r}")
        base_url = line.split()[1]
        root = base_url.rsplit("/v1", 1)[0]
        yield RunningServer(base_url, _RemoteStats(root), config)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _child_env(config: ServerConfig) -> dict[str, str]:
    import os

    env = dict(os.environ)
    if config.require_api_key is not None:
        env["LOCAL_SERVER_EXPECTED_KEY"] = config.require_api_key
    return env


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--faults", default="{}", help='JSON, e.g. {"429": 0.1, "500": 0.05}')
    parser.add_argument("--fault-attempts", type=int, default=2)
    parser.add_argument("--retry-after", type=float, default=None)
    parser.add_argument("--hang", type=float, default=30.0)
    parser.add_argument("--response-formats", default="json_schema,json_object")
    parser.add_argument("--require-api-key-from-env", action="store_true", help="expect $LOCAL_SERVER_EXPECTED_KEY")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("this test server only listens on the loopback interface")
    config = ServerConfig(
        latency_s=args.latency,
        faults=json.loads(args.faults),
        fault_attempts=args.fault_attempts,
        retry_after_s=args.retry_after,
        hang_s=args.hang,
        response_formats=tuple(f for f in args.response_formats.split(",") if f),
        require_api_key=os.environ.get("LOCAL_SERVER_EXPECTED_KEY") if args.require_api_key_from_env else None,
    )

    async def serve() -> None:
        server = OpenAICompatServer(config)
        port = await server.start(args.host, args.port)
        print(f"LISTENING http://{args.host}:{port}/v1", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
