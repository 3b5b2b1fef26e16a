"""The `openai` backend: any OpenAI-compatible endpoint (OpenAI, Azure, vllm serve, llama.cpp).

asyncio with at most ``concurrency`` requests in flight. The SDK's own retries are off
(``max_retries=0``); our loop retries 429 / 408 / 409 / 5xx, timeouts, connection errors and
malformed replies with exponential backoff and jitter, honouring ``Retry-After`` (and
``retry-after-ms``). ``n`` samples go out in one call and are cached per sample index; a
server that returns fewer choices is asked again for the rest.

Spending cap: before each call, if (spent this run + worst-case cost of calls in flight +
worst-case cost of this call) would exceed ``max_cost_usd``, no new call starts; the calls in
flight finish and are cached, then BudgetExceeded is raised. Worst case = prompt bytes as
tokens (an upper bound for byte-level BPE) plus n x max_tokens completion tokens.

The API key is read from the environment variable named by ``api_key_env`` and used only in
the client: it is not logged, stored, or part of cache keys.

HTTP: the SDK builds requests (auth headers, base URL) and sends them over its aiohttp
transport (``openai.DefaultAioHttpClient``); we post the body and parse the JSON ourselves,
which keeps the per-request CPU cost well under a millisecond.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from lema.errors import LemaError
from lema.models.core import Job, Sink, model_name, progress_bar, render_messages, required
from lema.models.types import BudgetExceeded, GenerationStats
from lema.serving import server_gone

BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 20.0
RETRY_AFTER_MAX_S = 300.0
RETRYABLE_STATUS = {408, 409, 425, 429}
OFFICIAL_BASE_URL = "https://api.openai.com/v1"


class Malformed(Exception):
    """A 2xx reply that is not a usable completion."""


class Fatal(Exception):
    """An error that every further request would hit too (bad key, unknown model...)."""


def identity(spec: dict[str, Any]) -> dict[str, Any]:
    """What a completion depends on: the model name and endpoint kind, and, for an adapter a
    self-served model loads (``adapter``), the adapter's content, so a retrained adapter is
    asked again rather than answered from the cache."""
    out = {
        "backend": "openai",
        "model": required(spec, "model", "openai"),
        "chat": bool(spec.get("chat", True)),
    }
    if spec.get("adapter"):
        from lema.models.hf import folder_fingerprint

        fp = folder_fingerprint(spec["adapter"])
        if fp is None:
            raise LemaError(
                f"model '{model_name(spec)}': adapter folder {spec['adapter']} not found"
            )
        out["adapter"] = fp
    return out


def api_key(spec: dict[str, Any]) -> str:
    env = spec.get("api_key_env") or "OPENAI_API_KEY"
    key = os.environ.get(env)
    if key:
        return key
    if spec.get("base_url") in (None, "", OFFICIAL_BASE_URL):
        raise LemaError(
            f"model '{model_name(spec)}': the API key environment variable {env} is not set"
        )
    return "EMPTY"  # local servers (vllm, llama.cpp) accept any key


# ------------------------------------------------------------------------------ client
def make_client(spec: dict[str, Any]) -> Any:
    """AsyncOpenAI without SDK retries, on the SDK's aiohttp transport when aiohttp is present
    (the default httpx pool costs ~2.5 ms CPU per request: a bottleneck at concurrency 64)."""
    import httpx2
    import openai

    conc = int(spec.get("concurrency") or 16)
    kwargs: dict[str, Any] = {
        "api_key": api_key(spec),
        "max_retries": 0,
        "timeout": float(spec["timeout_s"]),
    }
    if spec.get("base_url"):
        kwargs["base_url"] = spec["base_url"]
    limits = httpx2.Limits(max_connections=conc, max_keepalive_connections=conc)
    try:
        kwargs["http_client"] = openai.DefaultAioHttpClient(
            timeout=float(spec["timeout_s"]), limits=limits
        )
    except RuntimeError:  # aiohttp not installed: the SDK's default httpx client
        kwargs["http_client"] = openai.DefaultAsyncHttpxClient(
            timeout=float(spec["timeout_s"]), limits=limits
        )
    return openai.AsyncOpenAI(**kwargs)


# ------------------------------------------------------------------------------ helpers
def connect_failure(exc: BaseException) -> str | None:
    """ "connection refused" (or "cannot connect: …") when the chain of causes of ``exc`` shows
    that no connection was made at all, else None. The SDK's aiohttp transport turns a refused
    connect into a ConnectTimeout, which would otherwise read as "no reply within N s"."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if isinstance(node, ConnectionRefusedError):
            return "connection refused"
        if isinstance(node, OSError) and type(node).__name__ in ("gaierror", "herror"):
            return f"cannot connect: cannot resolve the host ({node.strerror or node})"
        node = node.__cause__ or node.__context__
    return None


def retry_after_s(headers: Any) -> float | None:
    """Seconds to wait from Retry-After / retry-after-ms headers, if present."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return min(max(float(ms) / 1000.0, 0.0), RETRY_AFTER_MAX_S)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return min(max(float(ra), 0.0), RETRY_AFTER_MAX_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra).timestamp()
        return min(max(when - time.time(), 0.0), RETRY_AFTER_MAX_S)
    except (TypeError, ValueError, OverflowError):
        return None


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter: attempt 0 -> 0.1-0.2 s, then doubling, capped."""
    return min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2**attempt)) * random.uniform(0.5, 1.0)


def _prompt_bytes(job: Job) -> int:
    req = job.request
    if req.messages is not None:
        return sum(len(str(m.get("content", "")).encode()) + 4 for m in req.messages) + 3
    return len((req.prompt or "").encode()) + 1


def _error_message(exc: Any, secret: str) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    msg = " ".join(str(msg).split())[:200]
    return msg.replace(secret, "***") if secret and secret != "EMPTY" else msg


class Budget:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.pp = float(spec.get("price_per_1k_prompt") or 0.0) / 1000.0
        self.pc = float(spec.get("price_per_1k_completion") or 0.0) / 1000.0
        cap = spec.get("max_cost_usd")
        self.cap = None if cap is None else float(cap)
        self.spent = 0.0
        self.reserved = 0.0
        self.blocked = False

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return prompt_tokens * self.pp + completion_tokens * self.pc

    def worst(self, job: Job, n: int) -> float:
        return self.cost(_prompt_bytes(job), n * job.request.sampling.max_tokens)

    def reserve(self, amount: float) -> bool:
        if self.cap is not None and self.spent + self.reserved + amount > self.cap + 1e-12:
            self.blocked = True
            return False
        self.reserved += amount
        return True


# ------------------------------------------------------------------------------ the run
def run(
    spec: dict[str, Any],
    jobs: Sequence[Job],
    sink: Sink,
    stats: GenerationStats,
    progress: bool | str,
) -> None:
    async def main() -> None:
        await _Run(spec, jobs, sink, stats, progress).run()

    run_to_completion(main)


def run_to_completion(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run the coroutine ``main()`` in a fresh event loop: in this thread, or in a fresh one
    when called from inside a running loop (a notebook, an async caller)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(main())
        return
    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            error.append(exc)

    th = threading.Thread(target=target)
    th.start()
    th.join()
    if error:
        raise error[0]


def request_body(spec: dict[str, Any], job: Job, missing: list[int]) -> dict[str, Any]:
    """The JSON body of one call that asks for the samples ``missing`` of ``job``."""
    req, s = job.request, job.request.sampling
    body: dict[str, Any] = {"model": spec["model"]}
    if bool(spec.get("chat", True)):
        body["messages"] = (
            [dict(m) for m in req.messages]
            if req.messages is not None
            else [{"role": "user", "content": req.prompt}]
        )
    else:
        body["prompt"] = req.prompt if req.prompt is not None else render_messages(req.messages)
    body["temperature"] = s.temperature
    body["top_p"] = s.top_p
    body["max_tokens"] = s.max_tokens
    if len(missing) > 1:
        body["n"] = len(missing)
    if s.stop:
        body["stop"] = list(s.stop)
    if s.seed is not None:
        body["seed"] = s.seed + missing[0]
    return body


def _choice_text(ch: Any, chat: bool) -> str:
    if not isinstance(ch, dict):
        raise Malformed("a choice is not an object")
    if chat:
        msg = ch.get("message")
        if not isinstance(msg, dict):
            raise Malformed("a choice has no 'message'")
        text = msg.get("content")
        if text is None and isinstance(msg.get("refusal"), str):
            text = ""
    else:
        text = ch.get("text")
    if not isinstance(text, str):
        raise Malformed("a choice has no text")
    return text


def parse_reply(
    content: bytes, want: int, chat: bool
) -> tuple[list[tuple[str, str | None]], dict[str, Any]]:
    """([(text, finish reason)] in choice-index order, at most ``want``; the usage object) of
    a 2xx reply; Malformed when it is not a usable completion."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"reply is not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or isinstance(data.get("error"), dict):
        raise Malformed(f"reply has no completion: {str(data)[:120]}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise Malformed("reply has no 'choices'")
    out: list[tuple[int, str, str | None]] = []
    for k, ch in enumerate(choices):
        text = _choice_text(ch, chat)
        idx = ch.get("index", k)
        out.append((idx if isinstance(idx, int) else k, text, ch.get("finish_reason")))
    out.sort(key=lambda t: t[0])
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return [(t, f) for _, t, f in out[:want]], usage


class _Run:
    """One backend run: ``concurrency`` workers take jobs from a queue; each job's calls go
    through the spending cap and the retry loop, and their samples into the sink."""

    def __init__(
        self,
        spec: dict[str, Any],
        jobs: Sequence[Job],
        sink: Sink,
        stats: GenerationStats,
        progress: bool | str,
    ) -> None:
        self.spec, self.jobs, self.sink, self.stats = spec, jobs, sink, stats
        self.client = make_client(spec)
        self.secret = self.client.api_key
        self.base_url = str(self.client.base_url).rstrip("/")
        self.chat = bool(spec.get("chat", True))
        self.path = "/chat/completions" if self.chat else "/completions"
        self.timeout_s = float(spec["timeout_s"])
        self.max_retries = int(spec["max_retries"])
        self.budget = Budget(spec)
        self.queue = deque(jobs)
        self.stop = False
        self.fatal: str | None = None
        total = sum(len(j.missing()) for j in jobs) if progress else 0
        self.bar = progress_bar(spec, progress, total, "sample")

    async def run(self) -> None:
        try:
            n_workers = max(1, min(int(self.spec.get("concurrency") or 16), len(self.jobs)))
            await asyncio.gather(*(self.worker() for _ in range(n_workers)))
        finally:
            if self.bar is not None:
                self.bar.close()
            await self.client.close()
        self.raise_outcome()

    def raise_outcome(self) -> None:
        """A fatal error, or the spending cap, as the exception the caller sees."""
        name = model_name(self.spec)
        if self.fatal is not None:
            raise LemaError(f"model '{name}': {self.fatal}")
        budget = self.budget
        if budget.blocked:
            done = sum(1 for j in self.jobs if j.done())
            raise BudgetExceeded(
                f"model '{name}': spending cap max_cost_usd={budget.cap:g} reached (spent "
                f"${budget.spent:.4f} in this run; {done} of {len(self.jobs)} uncached requests "
                "complete, all paid completions are cached: raise the cap and rerun to continue)",
                spent_usd=budget.spent,
                cap_usd=budget.cap or 0.0,
            )

    async def worker(self) -> None:
        while self.queue and not self.stop:
            job = self.queue.popleft()
            try:
                await self.do_job(job)
            except Fatal as exc:
                self.fatal = self.fatal or str(exc)
                self.stop = True
                job.error = str(exc)

    async def do_job(self, job: Job) -> None:
        while not self.stop:
            missing = job.missing()
            if not missing:
                return
            worst = self.budget.worst(job, len(missing))
            if not self.budget.reserve(worst):
                self.stop = True
                return
            try:
                body = request_body(self.spec, job, missing)
                choices, usage = await self.call(body, len(missing))
            except _Permanent as exc:
                job.error = str(exc)
                return
            finally:
                self.budget.reserved -= worst
            self.store(job, missing, choices, usage)

    def store(
        self,
        job: Job,
        missing: list[int],
        choices: list[tuple[str, str | None]],
        usage: dict[str, Any],
    ) -> None:
        """Account one call's tokens and cost and put its samples into the sink."""
        pt = usage.get("prompt_tokens")
        ct = usage.get("completion_tokens")
        if not isinstance(pt, int | float):
            pt = _prompt_bytes(job) / 4.0
        if not isinstance(ct, int | float):
            ct = sum(len(t) for t, _ in choices) / 4.0
        cost = self.budget.cost(pt, ct)
        self.budget.spent += cost
        self.stats.prompt_tokens += int(pt)
        self.stats.completion_tokens += int(ct)
        self.stats.cost_usd += cost
        k = len(choices)
        call_id = f"{job.keys[missing[0]][:16]}:{time.time_ns()}"
        meta = {"prompt_tokens": int(pt), "completion_tokens": ct / k, "cost_usd": cost / k}
        self.sink.store_many(
            [
                (job, idx, text, {**meta, "call": call_id, "finish_reason": fr})
                for idx, (text, fr) in zip(missing, choices, strict=False)
            ]
        )
        if self.bar is not None:
            self.bar.update(k)

    async def call(
        self, body: dict[str, Any], want: int
    ) -> tuple[list[tuple[str, str | None]], dict[str, Any]]:
        """One call with retries: the parsed reply; Fatal or _Permanent when it gives up."""
        import httpx2
        import openai

        retryable = (
            openai.APIStatusError,
            openai.APITimeoutError,
            TimeoutError,
            openai.APIConnectionError,
            Malformed,
        )
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if self.fatal is not None:
                raise Fatal(self.fatal)
            self.stats.requests_sent += 1
            try:
                async with asyncio.timeout(self.timeout_s + 5.0):
                    resp = await self.client.post(self.path, body=body, cast_to=httpx2.Response)
                return parse_reply(resp.content, want, self.chat)
            except retryable as exc:
                kind, last, wait = self.classify(exc)
            self.stats.fault(kind)
            if attempt == self.max_retries:
                break
            self.stats.retries += 1
            await asyncio.sleep(wait if wait is not None else backoff_s(attempt))
        raise _Permanent(f"gave up after {self.max_retries + 1} attempt(s); last: {last}")

    def classify(self, exc: Exception) -> tuple[str, str, float | None]:
        """(fault kind, message, seconds to wait or None) of a failed attempt that is worth
        retrying; raises Fatal / _Permanent for one that is not."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            last = f"HTTP {status}: {_error_message(exc, self.secret)}"
            if status in (401, 403):
                self.fatal = last
                raise Fatal(last) from None
            if status not in RETRYABLE_STATUS and status < 500:
                raise Fatal(last) if status == 404 else _Permanent(last) from None
            return str(status), last, retry_after_s(exc.response.headers)
        if isinstance(exc, openai.APIConnectionError | TimeoutError):  # timeouts included
            gone = server_gone(self.base_url)
            if gone:  # a self-served model's server died: every further request fails too
                self.fatal = gone
                raise Fatal(gone) from None
            refused = connect_failure(exc)
            if refused:  # the aiohttp transport reports a refused connect as a timeout
                return "connection", f"{refused} at {self.base_url}", None
        if isinstance(exc, openai.APITimeoutError | TimeoutError):
            cause = str(getattr(exc, "__cause__", "") or "")
            if "disconnect" in cause.lower():  # the SDK's aiohttp transport maps it so
                return "connection", f"connection error: {cause[:120]}", None
            return "timeout", f"no reply within {self.timeout_s:g} s", None
        if isinstance(exc, openai.APIConnectionError):
            return "connection", f"connection error: {_error_message(exc, self.secret)}", None
        return "malformed", f"malformed reply: {exc}", None


class _Permanent(Exception):
    """This request failed for good (others may go on)."""
