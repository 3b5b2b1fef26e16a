"""What a stage calls a model with: specs, requests, id -> completions, and token/cost totals.

    from lema.models import Usage, call_model, make_request, parse_spec

    spec = parse_spec('{"backend": "hf", "model": "results/models/tiny", "chat": false}')
    usage = Usage()
    got = call_model(spec, [make_request(spec, "q1", "2+2=", n=4, temperature=0.8)],
                     cache=None, usage=usage)
    got["q1"]         # 4 completions, sample-index order
    usage.as_dict()   # {"tokens": {"prompt", "completion"}, "cost_usd", "requests"}

Every stage that calls a model (sample, correct, evolve, cot, predict) goes through
:func:`call_model`, a thin layer over :func:`lema.models.generate`, usually by way of a
:class:`ModelCall`: the spec, cache and sampling settings one stage shares across its
requests, and the stage's :class:`Usage`::

    model = ModelCall(spec, cache=None, temperature=0.7, max_tokens=1024, seed=0)
    got = model.complete([model.request("q1", "2+2=", n=4, stop=["\n\nQuestion:"])])
    model.usage.as_dict()

The argparse side (the shared options, ``--spec`` with ``--operational``) is
:mod:`lema.models.cli`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lema.errors import LemaError


def parse_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A model spec given as JSON text (what rules pass) or a dict."""
    if isinstance(spec, dict):
        return spec
    try:
        out = json.loads(spec)
    except json.JSONDecodeError as exc:
        raise LemaError(f"--spec is not valid JSON ({exc.msg})") from None
    if not isinstance(out, dict) or "backend" not in out:
        raise LemaError("--spec must be a JSON object with a 'backend' key")
    return out


def is_gold(spec: dict[str, Any]) -> bool:
    """The ``gold`` corrector: no model, the reference solution stands in (lema.datagen)."""
    return spec.get("backend") == "gold"


def make_request(spec: dict[str, Any], rid: str, text: str, **sampling: Any) -> dict[str, Any]:
    """One request for lema.models.generate: chat messages or a plain prompt (spec `chat`)."""
    req: dict[str, Any] = {"id": rid}
    if spec.get("chat", True):
        req["messages"] = [{"role": "user", "content": text}]
    else:
        req["prompt"] = text
    req.update({k: v for k, v in sampling.items() if v is not None})
    return req


class Usage:
    """Token and cost totals of one stage."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.requests = 0

    def add(self, usage: dict[str, Any] | None) -> None:
        self.requests += 1
        if not usage:
            return
        self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
        self.completion_tokens += int(usage.get("completion_tokens") or 0)
        self.cost_usd += float(usage.get("cost_usd") or usage.get("cost") or 0.0)

    def tokens(self) -> dict[str, int]:
        return {"prompt": self.prompt_tokens, "completion": self.completion_tokens}

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens(),
            "cost_usd": round(self.cost_usd, 6),
            "requests": self.requests,
        }


def call_model(
    spec: dict[str, Any],
    requests: list[dict[str, Any]],
    cache: str | bool | None,
    usage: Usage,
    progress: bool | str = True,
) -> dict[str, list[str]]:
    """Run ``requests`` through lema.models.generate; return id -> completions (in order).

    ``cache``: a path, None (the default cache) or False (none); ``usage`` gains each result's
    tokens and cost."""
    if not requests:
        return {}
    from lema.models.core import generate

    results = generate(spec, requests, cache=cache, progress=progress)
    out: dict[str, list[str]] = {}
    for res in results:
        out[str(res.id)] = list(res.completions)
        usage.add(res.usage)
    missing = [r["id"] for r in requests if str(r["id"]) not in out]
    if missing:
        raise LemaError(
            f"model '{spec.get('name', spec.get('model'))}' returned no result for "
            f"{len(missing)} request(s), e.g. {missing[0]}"
        )
    return out


@dataclass(frozen=True)
class ModelCall:
    """How one stage calls its model: the spec, the response cache (a path, None for the
    default cache, False for none), the sampling settings its requests share (``top_p`` and
    ``seed`` left out of a request when None), the progress bar, and the stage's token and
    cost totals (``usage``, which :meth:`complete` fills)."""

    spec: dict[str, Any]
    cache: str | bool | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = None
    top_p: float | None = None
    progress: bool | str = False
    usage: Usage = field(default_factory=Usage)

    def request(self, rid: str, text: str, *, n: int, stop: list[str]) -> dict[str, Any]:
        """One request of ``n`` samples for ``text`` with this call's sampling settings."""
        return make_request(
            self.spec,
            rid,
            text,
            n=n,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=self.seed,
            stop=stop,
        )

    def complete(self, requests: list[dict[str, Any]]) -> dict[str, list[str]]:
        """id -> completions of ``requests`` (:func:`call_model`), counted in ``usage``."""
        return call_model(self.spec, requests, self.cache, self.usage, progress=self.progress)
