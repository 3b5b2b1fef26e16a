"""The command-line side of model access.

- the options every model-calling subcommand shares (sample, correct, evolve, cot, predict):
  :func:`add_model_call_arguments`, and :func:`model_call`, which turns ``--spec`` /
  ``--operational`` / ``--cache`` into a model spec and a response cache path;
- `lema generate`: completions for a JSONL of requests, through the response cache.

`lema generate` input rows: ``{"id": ..., "messages": [...]}`` or ``{"id": ..., "prompt": "..."}``
(a row may carry its own n / temperature / top_p / max_tokens / stop / seed). Output: one row per
input id, in input order, ``{"id": ..., "completions": [...], "usage": {...}}``, written atomically.
A summary line (requests sent, cache hits, retries, tokens, cost, wall time) goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from lema.config.access import TINY_DEFAULTS
from lema.errors import DataError, LemaError
from lema.io import read_jsonl, write_jsonl
from lema.models.calls import parse_spec


# --------------------------------------------------------------------------- shared options
def add_model_call_arguments(
    parser: argparse.ArgumentParser, temperature: float, max_tokens: int = 1024
) -> None:
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


def model_call(
    args: argparse.Namespace, *, evaluation: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """The model spec (``--spec`` with ``--operational``'s knobs merged back in: the model's
    own, or evaluation's for a decoding spec) and the response cache path of a model-calling
    command; the spec is None without ``--spec``."""
    from lema.workflow import knobs as workflow

    ops = workflow.parse(getattr(args, "operational", None))
    spec = (
        workflow.with_operational(parse_spec(args.spec), ops, evaluation=evaluation)
        if args.spec
        else None
    )
    return spec, workflow.cache_path(args.cache, ops)


# --------------------------------------------------------------------------- `lema generate`
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["hf", "openai", "file"], help="model backend")
    p.add_argument("--model", help="HF id or folder (hf), model name (openai)")
    p.add_argument("--config", help="take the model spec from this config.yaml ...")
    p.add_argument("--name", help="... under models.NAME (flags below override it)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    p.add_argument("--input", required=True, help="JSONL of requests")
    p.add_argument("--output", required=True, help="JSONL of completions (written atomically)")
    p.add_argument("--n", type=int, default=None, help="samples per request (default 1)")
    p.add_argument("--temperature", type=float, default=None, help="default 0 (greedy)")
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None, help="default 512")
    p.add_argument("--stop", action="append", default=None, help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--chat",
        dest="chat",
        action="store_true",
        default=None,
        help="openai: use /chat/completions (default)",
    )
    p.add_argument(
        "--no-chat",
        dest="chat",
        action="store_false",
        help="openai: use /completions (a plain-completion model)",
    )
    p.add_argument("--concurrency", type=int, default=None, help="openai: requests in flight")
    p.add_argument("--timeout", type=float, default=None, help="openai: seconds per request")
    p.add_argument("--max-retries", type=int, default=None, help="openai: retries per request")
    p.add_argument(
        "--api-key-env",
        default=None,
        help="openai: environment variable holding the key (default OPENAI_API_KEY)",
    )
    p.add_argument("--price-prompt", type=float, default=None, help="USD per 1K prompt tokens")
    p.add_argument(
        "--price-completion", type=float, default=None, help="USD per 1K completion tokens"
    )
    p.add_argument("--max-cost", type=float, default=None, help="spending cap in USD")
    p.add_argument("--adapter", default=None, help="hf: a LoRA adapter folder")
    p.add_argument("--batch-size", type=int, default=None, help="hf: sequences per batch")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default=None)
    p.add_argument("--device", default=None, help="hf: cpu, cuda, cuda:1 ... (default: auto)")
    p.add_argument("--path", default=None, help="file backend: JSONL of completions")
    p.add_argument(
        "--cache",
        default=None,
        help="response cache (its base file; shards go in the folder beside it, .d appended); "
        "default: config `cache`, $LEMA_CACHE or .lema-cache/responses.sqlite; 'none' "
        "disables it",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_spec(args: argparse.Namespace) -> tuple[dict[str, Any], str | None]:
    spec: dict[str, Any] = {}
    cache = None
    if args.config:
        from lema.config import load_config, model_spec
        from lema.workflow.paths import model_folder

        config = load_config(args.config)
        cache = config.get("cache")
        if args.name:
            spec = model_spec(config, args.name)
            if spec.get("tiny") and not spec.get("model"):
                spec["model"] = model_folder(args.name)
    elif args.name:
        raise LemaError("--name needs --config")
    flags = {
        "backend": args.backend,
        "model": args.model,
        "base_url": args.base_url,
        "chat": args.chat,
        "concurrency": args.concurrency,
        "timeout_s": args.timeout,
        "max_retries": args.max_retries,
        "api_key_env": args.api_key_env,
        "price_per_1k_prompt": args.price_prompt,
        "price_per_1k_completion": args.price_completion,
        "max_cost_usd": args.max_cost,
        "adapter": args.adapter,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "device": args.device,
        "path": args.path,
    }
    spec.update({k: v for k, v in flags.items() if v is not None})
    if not spec.get("backend"):
        raise LemaError("give --backend (or --config and --name)")
    if spec["backend"] in ("hf", "openai") and not spec.get("model"):
        raise LemaError(f"backend '{spec['backend']}' needs --model")
    if spec["backend"] == "file" and not spec.get("path"):
        raise LemaError("backend 'file' needs --path")
    return spec, cache


def read_requests(path: str, default: Any) -> list[Any]:
    from lema.models import Request

    out = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path):
        try:
            req = Request.from_dict(row, default)
        except LemaError as exc:
            raise DataError(f"{path}:{lineno}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}:{lineno}: bad request row ({exc})") from None
        if req.id in seen:
            raise DataError(
                f"{path}:{lineno}: duplicate id '{req.id}' (first on line {seen[req.id]})"
            )
        seen[req.id] = lineno
        out.append(req)
    return out


def run(args: argparse.Namespace) -> int:
    from lema.models import BudgetExceeded, GenerationStats, Sampling, generate

    t0 = time.monotonic()
    spec, config_cache = build_spec(args)
    default = Sampling.from_mapping(
        {
            "n": args.n,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "max_tokens": args.max_tokens,
            "stop": args.stop,
            "seed": args.seed,
        }
    )
    requests = read_requests(args.input, default)
    cache = args.cache if args.cache is not None else config_cache
    stats = GenerationStats()
    try:
        results = generate(
            spec, requests, cache=cache, stats=stats, progress=False if args.no_progress else None
        )
    except BudgetExceeded:
        stats.wall_s = time.monotonic() - t0
        print(f"lema generate: {stats.summary()}", file=sys.stderr)
        raise
    write_jsonl(args.output, (r.to_row() for r in results))
    stats.wall_s = time.monotonic() - t0
    print(f"lema generate: {len(results)} ids -> {args.output}; {stats.summary()}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    from lema.cli import main

    sys.exit(main(["generate", *sys.argv[1:]]))


# `lema tiny-model`
def add_tiny_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", help="text for the tokenizer: .parquet, .jsonl or text files"
    )
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--hidden-size", type=int, default=TINY_DEFAULTS["hidden_size"])
    p.add_argument("--layers", type=int, default=TINY_DEFAULTS["layers"])
    p.add_argument("--heads", type=int, default=TINY_DEFAULTS["heads"])
    p.add_argument("--vocab-size", type=int, default=TINY_DEFAULTS["vocab_size"])
    p.add_argument("--seed", type=int, default=TINY_DEFAULTS["seed"])
    p.add_argument(
        "--warmup",
        action="append",
        default=[],
        metavar="TABLE",
        help="a raw table (`lema data` Parquet) whose gold solutions warm the model up "
        "(repeat for several)",
    )
    p.add_argument(
        "--warmup-steps", type=int, default=TINY_DEFAULTS["warmup_steps"], help="0: no warm-up"
    )
    p.add_argument(
        "--warmup-rows",
        type=int,
        default=TINY_DEFAULTS["warmup_rows"],
        help="rows of each warm-up table to use",
    )


def run_tiny_model(args: argparse.Namespace) -> int:
    from lema.models.tiny import (
        WARMUP_MAX_CHARS,
        build_tiny_model,
        texts_from_files,
        warmup_texts,
    )

    if args.warmup_steps < 0 or args.warmup_rows < 1:
        raise LemaError("tiny model: --warmup-steps must be >= 0 and --warmup-rows >= 1")
    if args.warmup_steps and not args.warmup:
        raise LemaError("tiny model: --warmup-steps needs --warmup TABLE [TABLE ...]")
    texts = (
        warmup_texts(args.warmup, args.warmup_rows, WARMUP_MAX_CHARS) if args.warmup_steps else None
    )
    out = build_tiny_model(
        args.out,
        texts_from_files(args.inputs),
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        vocab_size=args.vocab_size,
        seed=args.seed,
        warmup_texts=texts,
        warmup_steps=args.warmup_steps,
    )
    print(f"lema tiny-model: wrote {out}", flush=True)
    return 0
