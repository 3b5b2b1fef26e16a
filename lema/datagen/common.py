"""Helpers shared by the data-generation stages (sample, correct, evolve, cot, mix).

- prompt templates: packaged files in ``lema/prompts/`` or a user's own file path;
- model calls: one place that turns rendered prompts into requests for
  :func:`lema.models.generate` and collects completions, token usage and cost;
- stage statistics: every stage writes a small JSON (in, kept, dropped by reason, tokens, cost);
- text normalisation used for de-duplication and contamination checks.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from lema.errors import ConfigError, LemaError
from lema.io import write_json

PROMPTS_DIR = Path(str(resources.files("lema") / "prompts"))


# --------------------------------------------------------------------------- prompts
def prompt_path(name: str) -> Path:
    """Resolve a prompt: an existing file path (the user's own) or a packaged prompt name."""
    path = Path(name)
    if path.is_file():
        return path
    packaged = PROMPTS_DIR / name
    if packaged.is_file():
        return packaged
    available = ", ".join(sorted(p.name for p in PROMPTS_DIR.glob("*.txt")))
    raise ConfigError(f"prompt '{name}': no such file, and not one of lema's prompts ({available})")


def load_prompt(name: str, placeholders: Sequence[str] = ("question",)) -> str:
    """The template text; every placeholder ``{name}`` in ``placeholders`` must appear in it."""
    path = prompt_path(name)
    text = path.read_text()
    for key in placeholders:
        if "{" + key + "}" not in text:
            raise ConfigError(f"prompt {path}: the placeholder {{{key}}} is missing")
    return text


def render(template: str, **values: str) -> str:
    """Fill ``{name}`` placeholders by plain replacement (LaTeX braces stay untouched)."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value.strip())
    return out


# --------------------------------------------------------------------------- model calls
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


def model_call(args: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The model spec (``--spec`` with ``--operational``'s knobs merged back in) and the
    response cache path of a model-calling command."""
    from lema import workflow as operational

    ops = operational.parse(getattr(args, "operational", None))
    spec = operational.with_operational(parse_spec(args.spec), ops) if args.spec else None
    return spec, operational.cache_path(args.cache, ops)


def is_gold(spec: dict[str, Any]) -> bool:
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "tokens": {"prompt": self.prompt_tokens, "completion": self.completion_tokens},
            "cost_usd": round(self.cost_usd, 6),
            "requests": self.requests,
        }


def call_model(
    spec: dict[str, Any],
    requests: list[dict[str, Any]],
    cache: str | None,
    usage: Usage,
    progress: bool | str = True,
) -> dict[str, list[str]]:
    """Run ``requests`` through lema.models.generate; return id -> completions (in order)."""
    if not requests:
        return {}
    from lema import models  # imported late: torch/transformers only when a model is called

    results = models.generate(spec, requests, cache=cache, progress=progress)
    out: dict[str, list[str]] = {}
    for res in results:
        out[str(res.id)] = list(res.completions)
        usage.add(res.usage)
    missing = [r["id"] for r in requests if str(r["id"]) not in out]
    if missing:
        raise LemaError(
            f"model '{spec.get('name')}' returned no result for {len(missing)} request(s), "
            f"e.g. {missing[0]}"
        )
    return out


# --------------------------------------------------------------------------- stats
class Funnel:
    """Counts of one stage: items in, kept, dropped by reason (in == kept + sum(dropped))."""

    def __init__(self, stage: str, **meta: Any) -> None:
        self.stage = stage
        self.meta = meta
        self.n_in = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}

    def keep(self, n: int = 1) -> None:
        self.n_in += n
        self.kept += n

    def drop(self, reason: str, n: int = 1) -> None:
        self.n_in += n
        self.dropped[reason] += n

    def record(self, kept: bool, reason: str | None) -> None:
        if kept:
            self.keep()
        else:
            self.drop(reason or "unknown")

    def as_dict(self, usage: Usage | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, **self.meta}
        out.update(
            {"in": self.n_in, "kept": self.kept, "dropped": dict(sorted(self.dropped.items()))}
        )
        if usage is not None:
            out.update(usage.as_dict())
        else:
            out.update({"tokens": {"prompt": 0, "completion": 0}, "cost_usd": 0.0, "requests": 0})
        out.update(self.extra)
        return out

    def write(self, path: str | Path | None, usage: Usage | None = None) -> dict[str, Any]:
        data = self.as_dict(usage)
        if path:
            write_json(path, data)
        return data


def solve_questions(
    spec: dict[str, Any],
    prompt: str,
    items: Iterable[dict[str, Any]],
    id_prefix: str,
    *,
    n: int,
    temperature: float,
    max_tokens: int,
    seed: int,
    cache: str | None,
    usage: Usage,
    progress: bool | str = True,
) -> dict[str, list[str]]:
    """``n`` step-by-step solutions per item (``id``, ``question``) with the CoT prompt
    ``prompt``; returns "<id_prefix>:<id>" -> completions."""
    template = load_prompt(prompt, ("question",))
    requests = [
        make_request(
            spec,
            f"{id_prefix}:{item['id']}",
            render(template, question=item["question"]),
            n=n,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            stop=["\n\nQuestion:"],
        )
        for item in items
    ]
    return call_model(spec, requests, cache, usage, progress=progress)


# --------------------------------------------------------------------------- text
_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")


def norm_ws(text: str) -> str:
    """Lower-case, NFKC and whitespace-collapsed text (de-duplication of paths)."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def norm_words(text: str) -> str:
    """Lower-case alphanumeric words only (contamination matching)."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text or "").lower()).split())


_QUESTION_CUT = re.compile(r"\n\s*(?:Question|Problem|Q)\s*:", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"(?im)^.*\bthe\s+(?:final\s+)?answer\s+is\b.*$")


def clean_path(completion: str) -> str:
    """A sampled path without what follows it: a new few-shot 'Question:' or chatter after
    the line that states the answer."""
    text = completion or ""
    cut = _QUESTION_CUT.search(text)
    if cut:
        text = text[: cut.start()]
    m = _ANSWER_LINE.search(text)
    if m:
        text = text[: m.end()]
    return text.strip()


def progress_flag(args: Any) -> bool:
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def add_model_call_arguments(parser: Any, temperature: float, max_tokens: int = 1024) -> None:
    """The options every model-calling stage shares: sampling, cache, output, stats."""
    parser.add_argument("--temperature", type=float, default=temperature)
    parser.add_argument("--max-tokens", type=int, default=max_tokens)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="response cache path")
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output (cache path, model knobs): what the rules "
        "pass instead of params (lema.workflow)",
    )
    parser.add_argument("--output", required=True)
    parser.add_argument("--stats", default=None)
    parser.add_argument("--progress", action="store_true")
