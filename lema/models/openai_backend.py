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
from collections.abc import Sequence
from typing import Any

from lema.errors import LemaError
from lema.models.core import Job, Sink, render_messages
from lema.models.types import BudgetExceeded, GenerationStats

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
    if not spec.get("model"):
        raise LemaError(f"model '{spec.get('name', '?')}': backend 'openai' needs 'model'")
    return {"backend": "openai", "model": spec["model"], "chat": bool(spec.get("chat", True))}


def api_key(spec: dict[str, Any]) -> str:
    env = spec.get("api_key_env") or "OPENAI_API_KEY"
    key = os.environ.get(env)
    if key:
        return key
    if spec.get("base_url") in (None, "", OFFICIAL_BASE_URL):
        raise LemaError(
            f"model '{spec.get('name') or spec.get('model')}': the API key environment variable "
            f"{env} is not set"
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
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run(spec, jobs, sink, stats, progress))
        return
    # called from inside an event loop (a notebook, an async caller): use a fresh thread
    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(_run(spec, jobs, sink, stats, progress))
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            error.append(exc)

    th = threading.Thread(target=target)
    th.start()
    th.join()
    if error:
        raise error[0]


async def _run(
    spec: dict[str, Any],
    jobs: Sequence[Job],
    sink: Sink,
    stats: GenerationStats,
    progress: bool | str,
) -> None:
    import httpx2
    import openai

    client = make_client(spec)
    secret = client.api_key
    base_url = str(client.base_url).rstrip("/")
    chat = bool(spec.get("chat", True))
    path = "/chat/completions" if chat else "/completions"
    timeout_s = float(spec["timeout_s"])
    max_retries = int(spec["max_retries"])
    budget = Budget(spec)
    queue = deque(jobs)
    state: dict[str, Any] = {"stop": False, "fatal": None}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=sum(len(j.missing()) for j in jobs),
            desc=progress if isinstance(progress, str) else f"{spec.get('name') or spec['model']}",
            unit="sample",
            leave=False,
        )

    def body_for(job: Job, missing: list[int]) -> dict[str, Any]:
        req, s = job.request, job.request.sampling
        body: dict[str, Any] = {"model": spec["model"]}
        if chat:
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

    def parse(resp: Any, want: int) -> tuple[list[tuple[str, str | None]], dict[str, Any]]:
        try:
            data = json.loads(resp.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise Malformed(f"reply is not JSON ({type(exc).__name__})") from None
        if not isinstance(data, dict) or isinstance(data.get("error"), dict):
            raise Malformed(f"reply has no completion: {str(data)[:120]}")
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            raise Malformed("reply has no 'choices'")
        out: list[tuple[int, str, str | None]] = []
        for k, ch in enumerate(choices):
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
            idx = ch.get("index", k)
            out.append((idx if isinstance(idx, int) else k, text, ch.get("finish_reason")))
        out.sort(key=lambda t: t[0])
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        return [(t, f) for _, t, f in out[:want]], usage

    async def call(job: Job, body: dict[str, Any], want: int):  # noqa: ANN202
        last = "no attempt"
        for attempt in range(max_retries + 1):
            if state["fatal"] is not None:
                raise Fatal(state["fatal"])
            stats.requests_sent += 1
            wait = None
            try:
                async with asyncio.timeout(timeout_s + 5.0):
                    resp = await client.post(path, body=body, cast_to=httpx2.Response)
                return parse(resp, want)
            except openai.APIStatusError as exc:
                status = exc.status_code
                last = f"HTTP {status}: {_error_message(exc, secret)}"
                if status in (401, 403):
                    state["fatal"] = last
                    raise Fatal(last) from None
                if status not in RETRYABLE_STATUS and status < 500:
                    raise Fatal(last) if status == 404 else _Permanent(last) from None
                kind = str(status)
                wait = retry_after_s(exc.response.headers)
            except (openai.APITimeoutError, TimeoutError) as exc:
                cause = str(getattr(exc, "__cause__", "") or "")
                refused = connect_failure(exc)
                if refused:  # the aiohttp transport reports a refused connect as a timeout
                    kind, last = "connection", f"{refused} at {base_url}"
                elif "disconnect" in cause.lower():  # the SDK's aiohttp transport maps it so
                    kind, last = "connection", f"connection error: {cause[:120]}"
                else:
                    kind, last = "timeout", f"no reply within {timeout_s:g} s"
            except openai.APIConnectionError as exc:
                refused = connect_failure(exc)
                kind, last = (
                    "connection",
                    (
                        f"{refused} at {base_url}"
                        if refused
                        else f"connection error: {_error_message(exc, secret)}"
                    ),
                )
            except Malformed as exc:
                kind, last = "malformed", f"malformed reply: {exc}"
            stats.fault(kind)
            if attempt == max_retries:
                break
            stats.retries += 1
            await asyncio.sleep(wait if wait is not None else backoff_s(attempt))
        raise _Permanent(f"gave up after {max_retries + 1} attempt(s); last: {last}")

    async def do_job(job: Job) -> None:
        while not state["stop"]:
            missing = job.missing()
            if not missing:
                return
            worst = budget.worst(job, len(missing))
            if not budget.reserve(worst):
                state["stop"] = True
                return
            try:
                choices, usage = await call(job, body_for(job, missing), len(missing))
            except _Permanent as exc:
                job.error = str(exc)
                return
            finally:
                budget.reserved -= worst
            pt = usage.get("prompt_tokens")
            ct = usage.get("completion_tokens")
            if not isinstance(pt, int | float):
                pt = _prompt_bytes(job) / 4.0
            if not isinstance(ct, int | float):
                ct = sum(len(t) for t, _ in choices) / 4.0
            cost = budget.cost(pt, ct)
            budget.spent += cost
            stats.prompt_tokens += int(pt)
            stats.completion_tokens += int(ct)
            stats.cost_usd += cost
            k = len(choices)
            call_id = f"{job.keys[missing[0]][:16]}:{time.time_ns()}"
            sink.store_many(
                [
                    (
                        job,
                        idx,
                        text,
                        {
                            "prompt_tokens": int(pt),
                            "completion_tokens": ct / k,
                            "cost_usd": cost / k,
                            "call": call_id,
                            "finish_reason": fr,
                        },
                    )
                    for idx, (text, fr) in zip(missing, choices, strict=False)
                ]
            )
            if bar is not None:
                bar.update(k)

    async def worker() -> None:
        while queue and not state["stop"]:
            job = queue.popleft()
            try:
                await do_job(job)
            except Fatal as exc:
                state["fatal"] = state["fatal"] or str(exc)
                state["stop"] = True
                job.error = str(exc)

    try:
        n_workers = max(1, min(int(spec.get("concurrency") or 16), len(jobs)))
        await asyncio.gather(*(worker() for _ in range(n_workers)))
    finally:
        if bar is not None:
            bar.close()
        await client.close()
    name = spec.get("name") or spec["model"]
    if state["fatal"] is not None:
        raise LemaError(f"model '{name}': {state['fatal']}")
    if budget.blocked:
        done = sum(1 for j in jobs if j.done())
        raise BudgetExceeded(
            f"model '{name}': spending cap max_cost_usd={budget.cap:g} reached (spent "
            f"${budget.spent:.4f} in this run; {done} of {len(jobs)} uncached requests complete, "
            "all paid completions are cached: raise the cap and rerun to continue)",
            spent_usd=budget.spent,
            cap_usd=budget.cap or 0.0,
        )


class _Permanent(Exception):
    """This request failed for good (others may go on)."""
