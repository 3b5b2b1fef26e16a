"""The backend-independent part of generate(): requests -> cache lookups -> backend -> results."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lema.errors import LemaError
from lema.models.cache import cache_key, open_cache
from lema.models.types import BudgetExceeded, GenerationStats, Request, Result, Sampling

# backend name -> module with identity(spec) and run(spec, jobs, sink, stats, progress)
BACKENDS: dict[str, str] = {
    "hf": "lema.models.hf",
    "openai": "lema.models.openai_backend",
}

# Spec defaults (the config schema's `model` defaults, for specs built by hand)
SPEC_DEFAULTS: dict[str, Any] = {
    "chat": True,
    "base_url": None,
    "api_key_env": "OPENAI_API_KEY",
    "concurrency": 16,
    "timeout_s": 120.0,
    "max_retries": 8,
    "price_per_1k_prompt": 0.0,
    "price_per_1k_completion": 0.0,
    "max_cost_usd": None,
    "batch_size": 16,
    "dtype": "auto",
    "adapter": None,
}


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(spec, Mapping) or "backend" not in spec:
        raise LemaError("model spec must be a mapping with a 'backend' key")
    out = dict(SPEC_DEFAULTS)
    out.update({k: v for k, v in spec.items() if v is not None or k not in SPEC_DEFAULTS})
    return out


def model_name(spec: Mapping[str, Any]) -> str:
    """What messages and progress bars call the model of ``spec``: its name, else its model."""
    return str(spec.get("name") or spec.get("model"))


def required(spec: Mapping[str, Any], key: str, backend: str) -> Any:
    """``spec[key]``; LemaError when it is missing or empty (``backend`` needs it)."""
    value = spec.get(key)
    if not value:
        raise LemaError(f"model '{spec.get('name', '?')}': backend '{backend}' needs '{key}'")
    return value


def progress_bar(spec: Mapping[str, Any], progress: bool | str, total: int, unit: str) -> Any:
    """A tqdm bar over ``total`` ``unit``s, described by ``progress`` when that is a string
    (else by the model's name); None when ``progress`` is off."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    desc = progress if isinstance(progress, str) else model_name(spec)
    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def to_requests(
    requests: Sequence[Request | Mapping[str, Any]], default: Sampling | None = None
) -> list[Request]:
    out: list[Request] = []
    seen: set[str] = set()
    for r in requests:
        req = r if isinstance(r, Request) else Request.from_dict(r, default)
        if req.id in seen:
            raise LemaError(f"duplicate request id '{req.id}'")
        seen.add(req.id)
        out.append(req)
    return out


@dataclass
class Job:
    """One request and the state of its samples."""

    pos: int
    request: Request
    keys: list[str]
    completions: list[str | None]
    metas: list[dict[str, Any] | None]
    cached: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def missing(self) -> list[int]:
        return [i for i, c in enumerate(self.completions) if c is None]

    def done(self) -> bool:
        return all(c is not None for c in self.completions)


class Sink:
    """Where backends deliver samples: each goes into its job and the cache at once."""

    def __init__(self, cache: Any, stats: GenerationStats) -> None:
        self.cache = cache
        self.stats = stats

    def store(self, job: Job, index: int, text: str, meta: dict[str, Any]) -> None:
        self.store_many([(job, index, text, meta)])

    def store_many(self, items: Sequence[tuple[Job, int, str, dict[str, Any]]]) -> None:
        rows = []
        for job, index, text, meta in items:
            if job.completions[index] is not None:
                continue
            job.completions[index] = text
            job.metas[index] = meta
            rows.append((job.keys[index], text, meta))
        self.stats.samples_generated += len(rows)
        self.cache.put_many(rows)


def usage_of(metas: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    calls: dict[str, int] = {}
    completion = 0.0
    cost = 0.0
    for m in metas:
        if not m:
            continue
        calls[str(m.get("call", id(m)))] = int(m.get("prompt_tokens", 0) or 0)
        completion += float(m.get("completion_tokens", 0) or 0)
        cost += float(m.get("cost_usd", 0) or 0)
    return {
        "prompt_tokens": sum(calls.values()),
        "completion_tokens": int(round(completion)),
        "cost_usd": round(cost, 8),
    }


def backend_module(name: str) -> Any:
    if name not in BACKENDS:
        known = ", ".join(sorted([*BACKENDS, "file"]))
        raise LemaError(f"unknown model backend '{name}' (known: {known})")
    return importlib.import_module(BACKENDS[name])


def register_backend(name: str, module: str) -> None:
    """Add a backend: ``module`` defines ``identity(spec)`` and
    ``run(spec, jobs, sink, stats, progress)``."""
    BACKENDS[name] = module


def generate(
    spec: Mapping[str, Any],
    requests: Sequence[Request | Mapping[str, Any]],
    *,
    cache: Any = None,
    progress: bool | str | None = None,
    stats: GenerationStats | None = None,
    sampling: Sampling | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Result]:
    """Completions for ``requests`` with the model ``spec`` (a config `models` entry).

    ``requests``: :class:`Request` objects or dicts ``{"id", "messages"|"prompt", [sampling
    keys n, temperature, top_p, max_tokens, stop, seed], ["sampling": {...}]}``; ``sampling``
    gives the defaults for dicts. ``cache``: a path, None (``$LEMA_CACHE`` or
    ``.lema-cache/responses.sqlite``) or False (no cache). ``progress``: a progress bar
    (True/False, a description string, None = only on a terminal). ``stats``: filled with
    counters. Results come back in request order. Raises BudgetExceeded when the spending cap
    stops the run (everything paid for is cached), LemaError for anything else.
    """
    t0 = time.monotonic()
    stats = stats if stats is not None else GenerationStats()
    spec = normalize_spec(spec)
    reqs = to_requests(requests, sampling)
    backend = spec["backend"]
    if backend == "file":
        from lema.models.file_backend import generate_from_file

        results = generate_from_file(spec, reqs)
        stats.wall_s = time.monotonic() - t0
        return results
    module = backend_module(backend)
    if not reqs:
        return []
    identity = module.identity(spec)
    store, close = open_cache(cache)
    try:
        jobs = make_jobs(identity, reqs)
        stats.cache_hits += fill_from_cache(store, jobs)
        todo = [j for j in jobs if not j.done()]
        if todo:
            if progress is None:
                progress = sys.stderr.isatty()
            from lema.serving import served

            try:
                with served(spec) as live:  # a spec with `serve`: its server runs meanwhile
                    module.run(live, todo, Sink(store, stats), stats, progress)
            except BudgetExceeded as exc:
                exc.results = finished_results(jobs)
                raise
        failed = [j for j in jobs if not j.done()]
        if failed:
            raise LemaError(
                f"model '{model_name(spec)}': {len(failed)} request(s) got no "
                f"completion, e.g. '{failed[0].request.id}': {failed[0].error or 'unknown error'}"
            )
        return [job_result(j) for j in jobs]
    finally:
        stats.wall_s = time.monotonic() - t0
        if close:
            store.close()


def make_jobs(identity: dict[str, Any], reqs: Sequence[Request]) -> list[Job]:
    """One job per request, with the cache key of each of its samples and nothing filled."""
    jobs: list[Job] = []
    for pos, req in enumerate(reqs):
        content = req.content()
        skey = req.sampling.key_dict()
        keys = [cache_key(identity, content, skey, i) for i in range(req.sampling.n)]
        jobs.append(Job(pos, req, keys, [None] * len(keys), [None] * len(keys)))
    return jobs


def fill_from_cache(store: Any, jobs: Sequence[Job]) -> int:
    """Fill the jobs' samples found in the cache ``store``; returns how many were found."""
    hits = store.get_many(k for j in jobs for k in j.keys)
    for job in jobs:
        for i, k in enumerate(job.keys):
            if k in hits:
                job.completions[i], job.metas[i] = hits[k]
                job.cached += 1
    return sum(j.cached for j in jobs)


def job_result(job: Job) -> Result:
    """The Result of a job (a sample still missing reads as "")."""
    return Result(
        id=job.request.id,
        completions=[c or "" for c in job.completions],
        usage=usage_of(job.metas),
        finish_reasons=[(m or {}).get("finish_reason") for m in job.metas],
        cached=job.cached,
    )


def finished_results(jobs: Sequence[Job]) -> dict[str, Result]:
    """The Results of the jobs that are done, by request id."""
    return {j.request.id: job_result(j) for j in jobs if j.done()}


def render_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text rendering of chat messages, for models without a chat template."""
    parts = []
    for m in messages:
        role = str(m.get("role", "user"))
        content = m.get("content", "")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        parts.append(f"{role.capitalize()}: {content}")
    return "\n\n".join(parts) + "\n\nAssistant:"
