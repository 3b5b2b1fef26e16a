"""A real, local, OpenAI-compatible HTTP server for tests and benchmarks.

It speaks ``POST /v1/chat/completions`` and ``POST /v1/completions`` (JSON in, JSON out, with
``n`` choices and ``usage``), ``GET /v1/models``, and can inject faults: 429 with Retry-After,
500, malformed JSON, replies slower than the client's timeout, and dropped connections.

Answers come from a pluggable function, so a test can make it play a generator, a corrector
answering from gold data, etc.::

    from tests.openai_server import OpenAIServer

    def answer(body, index):          # body: the request JSON; index: the choice index
        return "The answer is 42."

    with OpenAIServer(answer=answer, latency=0.05, fault_rate=0.1) as server:
        server.url                    # "http://127.0.0.1:PORT/v1"  (use as base_url)
        ...
        server.answered               # {content key: successful replies}   ("answered once")
        server.stats()                # totals: requests, answered, faults by kind, tokens

The *content key* of a request is ``OpenAIServer.key_of(body)``: the last user message (chat)
or the prompt (completions); tests give each id a distinct prompt. Faults are decided by a
hash of (seed, key, attempt number), so a run is reproducible per key.

As a script (benchmarks, manual tests)::

    python tests/openai_server.py --port 8000 --latency 0.1 --fault-rate 0.14

As a self-served model's command (tests/test_serve.py): ``--startup-delay S`` waits S seconds
before it listens (a model that loads slowly); ``--exit-after N`` makes the process exit
(code 3) right after its N-th answer (a server that dies mid-run); ``--model NAME`` and
``--enable-lora --lora-modules NAME=DIR ...`` (vLLM's options) make it serve only those model
names (404 for any other, as vLLM does); ``--ignore-sigterm`` leaves only SIGKILL to stop it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULT_KINDS = ("429", "500", "malformed", "slow", "drop")

AnswerFn = Callable[[dict[str, Any], int], str]
FaultFn = Callable[[dict[str, Any], int], "str | None"]


def request_text(body: dict[str, Any]) -> str:
    """The text a request asks about: the last user message, or the prompt."""
    if "messages" in body:
        users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
        msg = users[-1] if users else (body.get("messages") or [{}])[-1]
        content = msg.get("content", "")
        if isinstance(content, list):  # content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        return str(content)
    prompt = body.get("prompt", "")
    return prompt if isinstance(prompt, str) else json.dumps(prompt)


def default_answer(body: dict[str, Any], index: int) -> str:
    """A deterministic answer: depends on the request text, model, temperature, seed, index."""
    text = request_text(body)
    tag = json.dumps(
        [body.get("model"), text, body.get("temperature"), body.get("seed"), index], sort_keys=True
    )
    h = hashlib.sha256(tag.encode()).hexdigest()[:8]
    return f"Reply {h} #{index} to: {text[:60]}"


def count_tokens(text: str) -> int:
    """Whitespace words: a stand-in tokenizer for usage accounting."""
    return len(text.split())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _send_json(self, code: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(code, json.dumps(obj).encode(), headers)

    def _send_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/").endswith("/models"):
            names = self.server.owner.models or ["fake"]
            data = [{"id": name, "object": "model"} for name in names]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:  # noqa: N802
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?")[0].rstrip("/")
        chat = path.endswith("/chat/completions")
        if not chat and not path.endswith("/completions"):
            self._send_json(404, {"error": {"message": f"unknown path {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, {"error": {"message": "invalid JSON body"}})
            return
        owner._record_auth(self.headers.get("Authorization", ""))
        if (
            owner.api_key is not None
            and self.headers.get("Authorization") != f"Bearer {owner.api_key}"
        ):
            owner._count("unauthorized")
            self._send_json(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
            return
        if owner.models is not None and body.get("model") not in owner.models:
            owner._count("unknown_model")
            message = f"The model `{body.get('model')}` does not exist."
            self._send_json(404, {"error": {"message": message, "type": "NotFoundError"}})
            return
        key = owner.key_of(body)
        attempt = owner._next_attempt(key)
        fault = owner._fault_for(body, key, attempt)
        if owner.latency:
            time.sleep(owner.latency)
        if fault == "drop":
            owner._fault("drop")
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "429":
            owner._fault("429")
            self._send_json(
                429,
                {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                {"Retry-After": owner.retry_after_header},
            )
            return
        if fault == "500":
            owner._fault("500")
            self._send_json(500, {"error": {"message": "internal error", "type": "server_error"}})
            return
        if fault == "malformed":
            owner._fault("malformed")
            self._send_raw(200, b'{"id": "cmpl-broken", "choices": [{"index": 0, "mess')
            return
        if fault == "slow":
            owner._fault("slow")
            time.sleep(owner.slow_s)
        n = int(body.get("n") or 1)
        if not owner.support_n:
            n = 1
        choices, completion_tokens = [], 0
        for i in range(n):
            text = owner.answer(body, i)
            max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
            words = text.split(" ")
            finish = "stop"
            if max_tokens and len(words) > int(max_tokens):
                text, finish = " ".join(words[: int(max_tokens)]), "length"
            completion_tokens += count_tokens(text)
            if chat:
                choices.append(
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                )
            else:
                choices.append(
                    {"index": i, "text": text, "finish_reason": finish, "logprobs": None}
                )
        if chat:
            prompt_tokens = sum(
                count_tokens(str(m.get("content", ""))) + 3 for m in body.get("messages") or []
            )
        else:
            prompt_tokens = count_tokens(request_text(body))
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        reply = {
            "id": f"cmpl-{hashlib.sha256(f'{key}/{attempt}'.encode()).hexdigest()[:16]}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": choices,
            "usage": usage,
        }
        try:
            self._send_json(200, reply)
        except OSError:  # the client hung up (e.g. it timed out on a slow reply)
            owner._count("client_gone")
            return
        if fault != "slow":
            owner._answered(key, n, usage)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    owner: OpenAIServer


class OpenAIServer:
    """A local OpenAI-compatible server in a background thread (use as a context manager).

    Parameters: ``answer(body, index) -> str`` the reply text; ``latency`` seconds added to
    every request; ``fault_rate`` the share of attempts that fail, with a kind drawn from
    ``faults``; or ``fault_fn(body, attempt) -> kind | None`` to script faults exactly
    (attempt counts from 0 per content key); ``retry_after`` the Retry-After header of 429s
    (seconds); ``slow_s`` how long a "slow" reply takes; ``support_n`` False to ignore ``n``
    (reply with one choice, like some servers); ``api_key`` to require that bearer key.
    """

    def __init__(
        self,
        answer: AnswerFn | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULT_KINDS,
        fault_fn: FaultFn | None = None,
        retry_after: float = 0.1,
        slow_s: float = 3.0,
        support_n: bool = True,
        api_key: str | None = None,
        seed: int = 0,
        exit_after: int | None = None,
        models: list[str] | None = None,
    ) -> None:
        unknown = set(faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)} (known: {FAULT_KINDS})")
        self.answer = answer or default_answer
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.fault_fn = fault_fn
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.support_n = support_n
        self.api_key = api_key
        self.seed = seed
        self.exit_after = exit_after
        self.models = models
        self._lock = threading.Lock()
        self.reset()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to give a client (ends in /v1)."""
        return f"http://{self._httpd.server_address[0]}:{self.port}/v1"

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- accounting --------------------------------------------------------------------
    def reset(self) -> None:
        """Forget all counts (e.g. between a run and its rerun)."""
        with self._lock:
            self.requests = 0
            self.attempts: Counter[str] = Counter()
            self.answered: Counter[str] = Counter()
            self.choices_served: Counter[str] = Counter()
            self.fault_counts: Counter[str] = Counter()
            self.other: Counter[str] = Counter()
            self.prompt_tokens = 0
            self.completion_tokens = 0
            self.auth_headers: set[str] = set()

    @staticmethod
    def key_of(body: dict[str, Any]) -> str:
        """The content key that counts attempts and answers (the request's text)."""
        return request_text(body)

    @property
    def retry_after_header(self) -> str:
        ra = self.retry_after
        return str(int(ra)) if float(ra).is_integer() else f"{ra:g}"

    def _next_attempt(self, key: str) -> int:
        with self._lock:
            self.requests += 1
            attempt = self.attempts[key]
            self.attempts[key] += 1
            return attempt

    def _fault_for(self, body: dict[str, Any], key: str, attempt: int) -> str | None:
        if self.fault_fn is not None:
            return self.fault_fn(body, attempt)
        if not self.fault_rate:
            return None
        h = hashlib.sha256(f"{self.seed}\0{key}\0{attempt}".encode()).digest()
        rng = random.Random(h)
        if rng.random() < self.fault_rate:
            return rng.choice(self.faults)
        return None

    def _fault(self, kind: str) -> None:
        with self._lock:
            self.fault_counts[kind] += 1

    def _count(self, what: str) -> None:
        with self._lock:
            self.other[what] += 1

    def _record_auth(self, header: str) -> None:
        with self._lock:
            self.auth_headers.add(header)

    def _answered(self, key: str, n: int, usage: dict[str, int]) -> None:
        with self._lock:
            self.answered[key] += 1
            self.choices_served[key] += n
            self.prompt_tokens += usage["prompt_tokens"]
            self.completion_tokens += usage["completion_tokens"]
            if self.exit_after is not None and sum(self.answered.values()) >= self.exit_after:
                print(f"exiting after {self.exit_after} answers", file=sys.stderr, flush=True)
                os._exit(3)  # a crash: no cleanup, connections in flight are cut

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "answered": sum(self.answered.values()),
                "keys_answered": len(self.answered),
                "max_answers_per_key": max(self.answered.values(), default=0),
                "choices_served": sum(self.choices_served.values()),
                "faults": dict(self.fault_counts),
                "other": dict(self.other),
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="A local OpenAI-compatible server (for tests/benchmarks)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    p.add_argument("--fault-rate", type=float, default=0.0, help="share of attempts that fail")
    p.add_argument("--faults", default=",".join(FAULT_KINDS), help="comma-separated fault kinds")
    p.add_argument("--retry-after", type=float, default=0.1, help="Retry-After of 429 replies (s)")
    p.add_argument("--slow", type=float, default=3.0, help="duration of a 'slow' reply (s)")
    p.add_argument("--no-n", action="store_true", help="ignore n (always one choice)")
    p.add_argument("--api-key", default=None, help="require this bearer key")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--startup-delay", type=float, default=0.0, help="seconds before listening")
    p.add_argument("--exit-after", type=int, default=None, help="exit after N answers")
    p.add_argument("--ignore-sigterm", action="store_true", help="only SIGKILL stops it")
    p.add_argument("--model", default=None, help="serve only this model name (and LoRA modules)")
    p.add_argument("--enable-lora", action="store_true", help="accepted, as vLLM's")
    p.add_argument("--lora-modules", nargs="*", default=[], metavar="NAME=DIR")
    a = p.parse_args(argv)
    if a.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    models = [a.model] if a.model else None
    if a.lora_modules:
        if not a.enable_lora:
            p.error("--lora-modules needs --enable-lora")
        models = (models or []) + [m.split("=", 1)[0] for m in a.lora_modules]
    if a.startup_delay:
        print(f"loading for {a.startup_delay:g} s", file=sys.stderr, flush=True)
        time.sleep(a.startup_delay)
    server = OpenAIServer(
        host=a.host,
        port=a.port,
        latency=a.latency,
        fault_rate=a.fault_rate,
        faults=tuple(f for f in a.faults.split(",") if f),
        retry_after=a.retry_after,
        slow_s=a.slow,
        support_n=not a.no_n,
        api_key=a.api_key,
        seed=a.seed,
        exit_after=a.exit_after,
        models=models,
    )
    print(f"serving on {server.url}", file=sys.stderr, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(json.dumps(server.stats()), file=sys.stderr, flush=True)
        server._httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
