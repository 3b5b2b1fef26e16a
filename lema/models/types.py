"""The data types of model access: sampling settings, requests, results, errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lema.errors import LemaError

SAMPLING_KEYS = ("n", "temperature", "top_p", "max_tokens", "stop", "seed")


class BudgetExceeded(LemaError):
    """The spending cap (``max_cost_usd``) would be exceeded by the next request.

    Raised after in-flight requests finished and were cached; ``results`` holds the requests
    that are complete (id -> Result), ``spent_usd`` what this run paid.
    """

    def __init__(
        self,
        message: str,
        *,
        spent_usd: float = 0.0,
        cap_usd: float = 0.0,
        results: dict[str, Result] | None = None,
    ) -> None:
        super().__init__(message)
        self.spent_usd = spent_usd
        self.cap_usd = cap_usd
        self.results = results or {}


class GenerationError(LemaError):
    """A request failed for good (retries exhausted, or an error that retrying cannot fix)."""


@dataclass(frozen=True)
class Sampling:
    """Per-request sampling settings. ``temperature`` 0 means greedy decoding."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        stop = self.stop
        if stop is None:
            stop = ()
        elif isinstance(stop, str):
            stop = (stop,)
        object.__setattr__(self, "stop", tuple(str(s) for s in stop))
        if int(self.n) < 1:
            raise LemaError(f"sampling: n must be >= 1, got {self.n}")
        if float(self.temperature) < 0:
            raise LemaError(f"sampling: temperature must be >= 0, got {self.temperature}")
        if not 0 < float(self.top_p) <= 1:
            raise LemaError(f"sampling: top_p must be in (0, 1], got {self.top_p}")
        if int(self.max_tokens) < 1:
            raise LemaError(f"sampling: max_tokens must be >= 1, got {self.max_tokens}")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "top_p", float(self.top_p))
        object.__setattr__(self, "max_tokens", int(self.max_tokens))
        if self.seed is not None:
            object.__setattr__(self, "seed", int(self.seed))

    def key_dict(self) -> dict[str, Any]:
        """The settings that change a single sample (everything but ``n``): part of cache keys."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
            "seed": self.seed,
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Sampling | None = None) -> Sampling:
        base = base or cls()
        values = {k: getattr(base, k) for k in SAMPLING_KEYS}
        values.update({k: data[k] for k in SAMPLING_KEYS if k in data and data[k] is not None})
        return cls(**values)


@dataclass
class Request:
    """One input: chat ``messages`` ([{"role": ..., "content": ...}]) or a plain ``prompt``."""

    id: str
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None
    sampling: Sampling = field(default_factory=Sampling)

    def __post_init__(self) -> None:
        self.id = str(self.id)
        if (self.messages is None) == (self.prompt is None):
            raise LemaError(f"request '{self.id}': give exactly one of 'messages' or 'prompt'")
        if self.messages is not None:
            if not isinstance(self.messages, list) or not self.messages:
                raise LemaError(f"request '{self.id}': 'messages' must be a non-empty list")
            for m in self.messages:
                if not isinstance(m, Mapping) or "role" not in m or "content" not in m:
                    raise LemaError(
                        f"request '{self.id}': each message needs 'role' and 'content', "
                        f"got {m!r:.80}"
                    )
        elif not isinstance(self.prompt, str):
            raise LemaError(f"request '{self.id}': 'prompt' must be a string")
        if isinstance(self.sampling, Mapping):
            self.sampling = Sampling.from_mapping(self.sampling)

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def content(self) -> dict[str, Any]:
        """The request content as it enters cache keys."""
        if self.messages is not None:
            return {"messages": [dict(m) for m in self.messages]}
        return {"prompt": self.prompt}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any], default: Sampling | None = None) -> Request:
        """From ``{"id", "messages"|"prompt", ["sampling": {...}], [n, temperature, ...]}``;
        flat sampling keys override a nested ``sampling`` dict, which overrides ``default``."""
        if "id" not in row:
            raise LemaError(f"request without an 'id': {json.dumps(row)[:80]}")
        sampling = default or Sampling()
        nested = row.get("sampling")
        if isinstance(nested, Sampling):
            sampling = nested
        elif isinstance(nested, Mapping):
            sampling = Sampling.from_mapping(nested, sampling)
        sampling = Sampling.from_mapping(row, sampling)
        return cls(
            id=row["id"], messages=row.get("messages"), prompt=row.get("prompt"), sampling=sampling
        )


@dataclass
class Result:
    """The completions of one request, in sample-index order, and their token usage.

    ``usage``: prompt_tokens, completion_tokens, cost_usd — what these completions cost when
    they were generated (also when they now come from the cache, so reruns report the same).
    ``cached``: how many of the completions came from the cache in this run.
    """

    id: str
    completions: list[str]
    usage: dict[str, Any] = field(default_factory=dict)
    finish_reasons: list[str | None] = field(default_factory=list)
    cached: int = 0

    # dict-style access, so callers may treat a Result like the JSON row it becomes
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def to_row(self) -> dict[str, Any]:
        """The output row of `lema generate`."""
        return {"id": self.id, "completions": list(self.completions), "usage": dict(self.usage)}


@dataclass
class GenerationStats:
    """Counters of one generate() call (the `lema generate` summary line)."""

    requests_sent: int = 0  # HTTP calls / model forward batches issued (incl. retries)
    retries: int = 0
    cache_hits: int = 0  # samples served from the cache
    samples_generated: int = 0  # samples produced now
    prompt_tokens: int = 0  # tokens of calls made now
    completion_tokens: int = 0
    cost_usd: float = 0.0  # spent now
    wall_s: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def summary(self) -> str:
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return (
            f"requests sent {self.requests_sent}, cache hits {self.cache_hits}, "
            f"generated {self.samples_generated}, retries {self.retries}"
            + (f" ({faults})" if faults else "")
            + f", tokens {self.prompt_tokens} prompt + {self.completion_tokens} completion, "
            f"cost ${self.cost_usd:.4f}, wall {self.wall_s:.2f} s"
        )
