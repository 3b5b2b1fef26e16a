"""Greedy decoding of a test set: `lema predict` → predictions.parquet.

For every test problem the model gets ``lema.formats.cot_prompt(question)`` as a plain
prompt (the training input format) and decodes greedily (temperature 0, one sample) through
:func:`lema.models.generate` — in-process with transformers (``hf`` backend, the base model
plus an optional LoRA adapter) or from any OpenAI-compatible endpoint (``openai``: e.g.
``vllm serve BASE --enable-lora --lora-modules NAME=ADAPTER_DIR``, where the model name sent is
the adapter's served NAME). Every completion goes through the shared response cache, so a
rerun after a crash decodes only what is missing.

The output has one row per problem: ``id, question, gold, completion, extracted, correct,
level, subject`` (+ ``timed_out``), graded with :mod:`lema.grading` (see
lema.evaluation.metrics). A
``predictions.stats.json`` beside it records the decoding settings, time and tokens.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import ConfigError, DataError, LemaError
from lema.evaluation.metrics import DEFAULT_TIMEOUT_S, compute_metrics, grade_frame
from lema.formats import cot_prompt
from lema.io import write_json, write_parquet
from lema.models import Usage, call_model
from lema.models.cli import model_call
from lema.tables import COMPLETION, GOLD, ID, LEVEL, QUESTION, SUBJECT, read_table

# Greedy decoding stops here too: base models tend to go on with a new few-shot question.
STOP = ["\nQuestion:"]


def decode_spec(
    config: dict[str, Any],
    task: str,
    backbone: str,
    mix: str,
    model_path: str | None = None,
    *,
    adapter: str | None = None,
) -> dict[str, Any]:
    """The model spec (for lema.models.generate) decoding ``task`` with ``backbone`` + ``mix``.

    ``model_path`` overrides the backbone's model (the folder of a tiny backbone built by the
    graph); ``adapter`` is the mix's adapter folder, loaded by the ``hf`` backend (required
    for every mix but ``base``; lema.workflow.paths.adapter_folder in the rules). With
    ``evaluation.backend: openai`` the served model name is the backbone's ``served_name``
    for mix ``base`` (else its model id), and ``{backbone}-{task}-{mix}``
    (``evaluation.served_name`` pattern) for an adapter.
    """
    if backbone not in config["backbones"]:
        raise ConfigError(f"backbone '{backbone}' is not defined under 'backbones'")
    ev = config["evaluation"]
    bb = config["backbones"][backbone]
    model = model_path or bb.get("model")
    if not model:
        raise ConfigError(f"backbone '{backbone}': no model to evaluate (set 'model' or 'tiny')")
    if ev["backend"] == "openai":
        if not ev.get("base_url"):
            raise ConfigError(
                "config key 'evaluation.base_url': required when evaluation.backend is 'openai'"
            )
        served = (
            model
            if mix == "base"
            else ev["served_name"].format(backbone=backbone, task=task, mix=mix)
        )
        return {
            "name": f"{backbone}/{mix}",
            "backend": "openai",
            "model": served,
            "chat": False,
            "base_url": ev["base_url"],
            "api_key_env": ev["api_key_env"],
            "concurrency": ev["concurrency"],
        }
    spec: dict[str, Any] = {
        "name": f"{backbone}/{mix}",
        "backend": "hf",
        "model": model,
        "chat": False,
        "batch_size": ev["batch_size"],
        "dtype": ev.get("dtype", "auto"),
    }
    if mix != "base":
        if not adapter:
            raise ConfigError(f"decoding {backbone}/{mix} with the hf backend needs its adapter")
        spec["adapter"] = adapter
    return spec


def load_test(path: str | Path, limit: int | None = None) -> pl.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: test set not found")
    frame = read_table(path, required=(ID, QUESTION, GOLD))
    if limit is not None:
        frame = frame.head(limit)
    for col, dtype in ((LEVEL, pl.Int64), (SUBJECT, pl.String)):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(col))
    return frame


def decode(
    spec: dict[str, Any],
    questions: list[tuple[str, str]],
    *,
    max_tokens: int,
    cache: str | bool | None,
    progress: bool = False,
) -> tuple[dict[str, str], dict[str, int]]:
    """Greedy completions for (id, question) pairs; returns id -> completion, token totals."""
    requests = [
        {
            "id": qid,
            "prompt": cot_prompt(q),
            "n": 1,
            "temperature": 0.0,
            "max_tokens": max_tokens,
            "stop": STOP,
        }
        for qid, q in questions
    ]
    usage = Usage()
    got = call_model(spec, requests, cache, usage, progress=progress)
    return {qid: c[0] if c else "" for qid, c in got.items()}, usage.tokens()


def predict(
    test: str | Path,
    task: str,
    spec: dict[str, Any],
    output: str | Path,
    *,
    limit: int | None = None,
    max_tokens: int = 512,
    cache: str | bool | None = None,
    workers: int | None = None,
    grade_timeout_s: float = DEFAULT_TIMEOUT_S,
    stats: str | Path | None = None,
    progress: bool = False,
) -> pl.DataFrame:
    """Decode ``test`` with ``spec``, grade, write ``output`` (Parquet); return the table."""
    frame = load_test(test, limit)
    started = time.perf_counter()
    completions, tokens = decode(
        spec,
        list(zip(frame["id"].to_list(), frame["question"].to_list(), strict=True)),
        max_tokens=max_tokens,
        cache=cache,
        progress=progress,
    )
    decode_s = time.perf_counter() - started
    table = pl.DataFrame(
        {
            ID: frame[ID].cast(pl.String),
            QUESTION: frame[QUESTION],
            GOLD: frame[GOLD].cast(pl.String),
            COMPLETION: pl.Series([completions[i] for i in frame[ID].to_list()], dtype=pl.String),
            LEVEL: frame[LEVEL],
            SUBJECT: frame[SUBJECT].cast(pl.String),
        }
    )
    started = time.perf_counter()
    graded = grade_frame(table, task, workers=workers, timeout_s=grade_timeout_s)
    grade_s = time.perf_counter() - started
    write_parquet(output, graded)
    if stats is not None:
        public = {k: v for k, v in spec.items() if k not in ("api_key", "api_key_env")}
        m = compute_metrics(graded)
        write_json(
            stats,
            {
                "stage": "predict",
                "task": task,
                "spec": public,
                "max_tokens": max_tokens,
                "problems": graded.height,
                "tokens": tokens,
                "decode_seconds": round(decode_s, 2),
                "completion_tokens_per_s": round(tokens["completion"] / decode_s, 1)
                if decode_s > 0
                else None,
                "grade_seconds": round(grade_s, 2),
                "pass@1": m["pass@1"],
            },
        )
    return graded


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=["gsm8k", "math"])
    parser.add_argument("--test", required=True, help="test table (data/raw/{task}/test.parquet)")
    parser.add_argument("--output", "-o", required=True, help="predictions.parquet to write")
    parser.add_argument(
        "--spec", help="model spec as JSON (what the rule passes); overrides the options below"
    )
    parser.add_argument("--backend", choices=["hf", "openai"], default="hf")
    parser.add_argument(
        "--model", help="hf: base model id or folder; openai: the model name to send"
    )
    parser.add_argument("--adapter", help="hf: LoRA adapter folder (omit for the base model)")
    parser.add_argument("--base-url", help="openai: the endpoint, e.g. http://localhost:8000/v1")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="openai: env variable holding the key"
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="hf: prompts per generate() batch"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="openai: requests in flight")
    parser.add_argument("--max-tokens", type=int, default=None, help="default: 512 GSM8K, 768 MATH")
    parser.add_argument("--limit", type=int, default=None, help="decode only the first N problems")
    parser.add_argument(
        "--cache",
        default=None,
        help="response cache (SQLite; default: $LEMA_CACHE or .lema-cache/responses.sqlite)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="decode everything, read and write no cache"
    )
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output (cache, endpoint, batch size): what the "
        "rules pass instead of params (lema.workflow)",
    )
    parser.add_argument("--stats", default=None, help="write decoding stats JSON here")
    parser.add_argument("--workers", type=int, default=None, help="grading processes")
    parser.add_argument(
        "--grade-timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per item"
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def run(args: argparse.Namespace) -> int:
    spec, cache = model_call(args, evaluation=True)
    if spec is None:
        if not args.model:
            raise LemaError("pass --model (or --spec)")
        spec = {"name": args.model, "backend": args.backend, "model": args.model, "chat": False}
        if args.backend == "hf":
            spec["batch_size"] = args.batch_size
            if args.adapter:
                spec["adapter"] = args.adapter
        else:
            if not args.base_url:
                raise LemaError("--backend openai needs --base-url")
            spec.update(
                base_url=args.base_url, api_key_env=args.api_key_env, concurrency=args.concurrency
            )
    max_tokens = args.max_tokens or {"gsm8k": 512, "math": 768}[args.task]
    graded = predict(
        args.test,
        args.task,
        spec,
        args.output,
        limit=args.limit,
        max_tokens=max_tokens,
        cache=False if args.no_cache else cache,
        workers=args.workers,
        grade_timeout_s=args.grade_timeout,
        stats=args.stats,
        progress=args.progress,
    )
    m = compute_metrics(graded)
    print(
        f"lema predict: {args.task} {m['n']} problems, pass@1 {m['pass@1']:.2f}% -> {args.output}"
    )
    return 0
