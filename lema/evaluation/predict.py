"""Greedy decoding of a test set: `lema predict` → predictions.parquet.

For every test problem the model gets ``lema.formats.cot_prompt(question)`` as a plain
prompt (the training input format) and decodes greedily (temperature 0, one sample) through
:func:`lema.models.generate` — in-process with transformers (``hf`` backend, the base model
plus an optional LoRA adapter) or from any OpenAI-compatible endpoint (``openai``: e.g.
``vllm serve BASE --enable-lora --lora-modules NAME=ADAPTER_DIR``, where the model name sent is
the adapter's served NAME). Every completion goes through the shared response cache, so a
rerun after a crash decodes only what is missing.

The output has one row per problem: ``id, question, gold, completion, extracted, correct,
level, subject`` (+ ``timed_out``, ``correct_paper``), graded with :mod:`lema.grading` (see
lema.evaluation.metrics). A
``predictions.stats.json`` beside it records the decoding settings, time and tokens.

**Samples** (:class:`Samples`; config ``evaluation.samples`` n > 1, the decoding spec's
``samples`` entry, or `lema predict --samples n --temperature t`): besides the greedy
completion, n completions per problem at temperature t (and ``top_p``, ``seed``), asked as
one request of n samples per problem — the path the sampling stage takes — so each sample is
its own entry of the response cache (asking for 8 after 4 decodes only 4 more). They fill the
list column ``samples``, graded into pass@k and maj@k (lema.evaluation.metrics). The greedy
completion and its pass@1 do not change.

An evaluation-only benchmark's table (``data/raw/{benchmark}/test.parquet``) is decoded the same
way, with the training task's prompt; its ``answer_type`` and ``choices`` columns are kept in
the predictions, and each row is graded as its ``answer_type`` says (AQuA's question already
lists its options).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import DataError, LemaError
from lema.evaluation.metrics import DEFAULT_TIMEOUT_S, compute_metrics, grade_frame
from lema.formats import cot_prompt
from lema.io import write_json, write_parquet
from lema.models import Usage, call_model
from lema.tables import (
    ANSWER_TYPE,
    CHOICES,
    COMPLETION,
    GOLD,
    ID,
    LEVEL,
    QUESTION,
    SAMPLES,
    SUBJECT,
    read_table,
)

# Greedy decoding stops here too: base models tend to go on with a new few-shot question.
STOP = ["\nQuestion:"]
# New tokens per completion unless the command says otherwise.
DEFAULT_MAX_TOKENS = {"gsm8k": 512, "math": 768}


#: the decoding spec's entry that asks for samples (lema.config.decode_spec)
SAMPLES_KEY = "samples"


@dataclass(frozen=True)
class Samples:
    """How many completions to sample per problem beside the greedy one, and how."""

    n: int
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.n < 2:
            raise LemaError(f"samples: n must be at least 2, got {self.n}")
        if self.temperature <= 0:
            raise LemaError(f"samples: temperature must be above 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise LemaError(f"samples: top_p must be in (0, 1], got {self.top_p}")

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> tuple[dict[str, Any], Samples | None]:
        """A decoding spec without its ``samples`` entry, and that entry (None when the spec
        asks for none)."""
        rest = {k: v for k, v in spec.items() if k != SAMPLES_KEY}
        entry = spec.get(SAMPLES_KEY)
        if not entry:
            return rest, None
        if not isinstance(entry, dict) or "n" not in entry:
            raise LemaError(f"--spec: '{SAMPLES_KEY}' must be a mapping with 'n', got {entry!r}")
        unknown = set(entry) - {"n", "temperature", "top_p", "seed"}
        if unknown:
            raise LemaError(f"--spec: unknown '{SAMPLES_KEY}' key(s) {', '.join(sorted(unknown))}")
        return rest, cls(**entry)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def decode_samples(
    spec: dict[str, Any],
    questions: list[tuple[str, str]],
    samples: Samples,
    *,
    max_tokens: int,
    cache: str | bool | None,
    progress: bool = False,
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """``samples.n`` sampled completions per (id, question) pair, one request each; returns
    id -> completions (sample-index order) and token totals."""
    requests = [
        {
            "id": qid,
            "prompt": cot_prompt(q),
            "n": samples.n,
            "temperature": samples.temperature,
            "top_p": samples.top_p,
            "seed": samples.seed,
            "max_tokens": max_tokens,
            "stop": STOP,
        }
        for qid, q in questions
    ]
    usage = Usage()
    got = call_model(spec, requests, cache, usage, progress=progress and "samples")
    return {qid: list(c[: samples.n]) for qid, c in got.items()}, usage.tokens()


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
    samples: Samples | None = None,
) -> pl.DataFrame:
    """Decode ``test`` with ``spec`` (greedy, and ``samples`` when given: the spec's own
    ``samples`` entry otherwise), grade, write ``output`` (Parquet); return the table."""
    spec, from_spec = Samples.from_spec(spec)
    samples = samples or from_spec
    frame = load_test(test, limit)
    questions = list(zip(frame["id"].to_list(), frame["question"].to_list(), strict=True))
    started = time.perf_counter()
    completions, tokens = decode(
        spec, questions, max_tokens=max_tokens, cache=cache, progress=progress
    )
    decode_s = time.perf_counter() - started
    sampled: dict[str, list[str]] = {}
    sample_record: dict[str, Any] = {}
    if samples is not None:
        started = time.perf_counter()
        sampled, sample_tokens = decode_samples(
            spec, questions, samples, max_tokens=max_tokens, cache=cache, progress=progress
        )
        sample_record = {
            **samples.as_dict(),
            "tokens": sample_tokens,
            "decode_seconds": round(time.perf_counter() - started, 2),
        }
    table = prediction_table(frame, completions, sampled if samples is not None else None)
    started = time.perf_counter()
    graded = grade_frame(table, task, workers=workers, timeout_s=grade_timeout_s)
    grade_s = time.perf_counter() - started
    write_parquet(output, graded)
    if stats is not None:
        timing = {"tokens": tokens, "decode_s": decode_s, "grade_s": grade_s}
        write_json(stats, _stats(graded, task, spec, max_tokens, timing, samples, sample_record))
    return graded


def prediction_table(
    frame: pl.DataFrame, completions: dict[str, str], sampled: dict[str, list[str]] | None
) -> pl.DataFrame:
    """The ungraded predictions of ``frame``'s problems: the greedy completion, the sampled
    ones when there are any, and a benchmark row's answer type and choices."""
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
    if sampled is not None:
        table = table.with_columns(
            pl.Series(SAMPLES, [sampled[i] for i in table[ID].to_list()], pl.List(pl.String))
        )
    return table.with_columns(frame[c] for c in (ANSWER_TYPE, CHOICES) if c in frame.columns)


def _stats(
    graded: pl.DataFrame,
    task: str,
    spec: dict[str, Any],
    max_tokens: int,
    timing: dict[str, Any],
    samples: Samples | None,
    sample_record: dict[str, Any],
) -> dict[str, Any]:
    """predictions.stats.json: the decoding settings (no key), tokens, times and headline
    figures."""
    public = {k: v for k, v in spec.items() if k not in ("api_key", "api_key_env")}
    m = compute_metrics(graded)
    tokens, decode_s = timing["tokens"], timing["decode_s"]
    out = {
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
        "grade_seconds": round(timing["grade_s"], 2),
        "pass@1": m["pass@1"],
        "pass@1_paper_rule": m["pass@1_paper_rule"],
    }
    if samples is not None:
        out["samples"] = sample_record
        out[f"pass@{samples.n}"] = m["pass@k"][str(samples.n)]["value"]
        out[f"maj@{samples.n}"] = m["maj@k"][str(samples.n)]["value"]
    return out
