"""Step 5 of LeMa: chain-of-thought data in the step format.

``lema cot`` writes, per training question:

- the **gold solution** reformatted to "Step 1: … The answer is X." (GSM8K: one step per line,
  calculator annotations removed; MATH: one step per sentence outside math mode, ``\\boxed``
  removed) — always kept;
- ``--n`` **corrector-written paths** (prompt ``cot_{task}.txt``) that reach the gold answer,
  normalised to the step format. Dropped: ``empty``, ``no_answer``, ``wrong_answer``,
  ``duplicate`` (same normalised text as another path of the question).

With the ``gold`` corrector (no model) only the gold solutions are written; the stats say so.

``lema cot-augment`` is the paper's CoT data augmentation, run after the pool exists (so the
DAG knows both sizes): the size-matched control ``cot_matched`` needs as many CoT rows as
``lema`` has, and the CoT stage alone cannot know that number. For every decontaminated
training question it asks the corrector for ``--paths`` more paths (``auto``: enough for
the deficit |lema| − |cot| at the CoT stage's keep rate, plus ``--margin`` per question, at
most ``--max-paths``), with the CoT stage's prompt and sampling settings: samples
``0..n-1`` are the CoT stage's own (response-cache hits, never paid twice) and the new ones
are samples ``n, n+1, …``. Paths are kept by the same rule (gold answer, step format) and
de-duplicated against every kept CoT row of their question. Written to
``results/{task}/cot/augmented.parquet`` (the CoT table's schema, ``source`` ``augment``).
With the ``gold`` corrector nothing can be sampled: the table is empty and its stats say why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.gold_corrector import gsm8k_gold_steps, math_gold_steps
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_ws
from lema.formats import cot_completion, cot_prompt, split_steps
from lema.models import ModelCall, is_gold
from lema.tables import CHOICES, GOLD, choices_of

_ANSWER_TAIL = re.compile(r"(?is)\n?[^\n]*\bthe\s+(?:final\s+)?answer\s+is\b[^\n]*$")


def has_gold_cot(task: str) -> bool:
    """Whether ``task``'s questions come with gold solutions for the gold CoT rows: not a
    multiple-choice task's (kind ``csqa``), whose CoT data are the corrector's paths alone."""
    from lema.tasks import kind_of, multiple_choice

    return not multiple_choice(kind_of(task))


def gold_cot(solution: str, answer: str, task: str) -> str:
    from lema.tasks import kind_of

    task = kind_of(task)  # a task of tasks_defined: its solution split as its kind's is
    steps = gsm8k_gold_steps(solution) if task == "gsm8k" else math_gold_steps(solution)
    return cot_completion(steps, answer)


def to_step_format(path: str, answer: str) -> str:
    """A model-written path in the step format, ending in 'The answer is <answer>.'"""
    body = _ANSWER_TAIL.sub("", path.strip()).strip()
    steps = split_steps(body) if body else []
    return cot_completion(steps, answer)


def solve_questions(
    model: ModelCall, prompt: str, items: Iterable[dict[str, Any]], id_prefix: str, *, n: int
) -> dict[str, list[str]]:
    """``n`` step-by-step solutions per item (``id``, ``question``) with the CoT prompt
    ``prompt``; returns "<id_prefix>:<id>" -> completions. Also what evolution votes with."""
    template = load_prompt(prompt, ("question",))
    requests = [
        model.request(
            f"{id_prefix}:{item['id']}",
            render(template, question=item["question"]),
            n=n,
            stop=["\n\nQuestion:"],
        )
        for item in items
    ]
    return model.complete(requests)


def _cot_row(
    q: dict[str, Any], task: str, cot_id: str, source: str, raw: str, reason: str | None
) -> dict[str, Any]:
    choices = choices_of(q)
    return {
        "cot_id": cot_id,
        "question_id": q["id"],
        "task": task,
        "question": q["question"],
        GOLD: q[GOLD],
        "source": source,
        "raw": raw,
        "kept": reason is None,
        "reason": reason,
        CHOICES: list(choices) if choices else None,
    }


def gold_rows(questions: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """One kept row per question: its gold solution in the step format."""
    from lema.datagen.gold_corrector import require_solutions

    require_solutions(questions, task, "the gold CoT")
    return [
        {
            **_cot_row(q, task, f"{q['id']}:gold", "gold", q["solution"], None),
            "prompt": cot_prompt(q["question"]),
            "completion": gold_cot(q["solution"], q[GOLD], task),
        }
        for q in questions
    ]


def path_drop_reason(
    path: str, gold: str, task: str, seen: set[str], choices: Sequence[str] | None = None
) -> str | None:
    """Why a corrector-written path is dropped (None: kept); a kept path's key joins ``seen``.
    ``choices``: a multiple-choice question's candidates."""
    from lema.grading import equivalent, extract_answer

    pred = extract_answer(path, task, choices) if path else None
    if not path:
        return "empty"
    if pred is None:
        return "no_answer"
    if not equivalent(pred, gold, task, choices):
        return "wrong_answer"
    key = norm_ws(to_step_format(path, gold))
    reason = "duplicate" if key in seen else None
    seen.add(key)
    return reason


def path_rows(
    q: dict[str, Any],
    task: str,
    raws: list[str],
    *,
    start: int,
    source: str,
    seen: set[str],
    funnel: Funnel,
) -> list[dict[str, Any]]:
    """Rows of the corrector's paths ``raws`` of question ``q`` (samples ``start``, ``start+1``,
    …; ids ``<question>:<source>:<sample>``), each kept or dropped with its reason (``seen``:
    the normalised kept CoT texts of the question, extended here) and counted in ``funnel``."""
    rows: list[dict[str, Any]] = []
    for j, raw in enumerate(raws, start):
        path = clean_path(raw)
        reason = path_drop_reason(path, q[GOLD], task, seen, choices_of(q))
        kept = reason is None
        funnel.record(kept, reason)
        rows.append(
            {
                **_cot_row(q, task, f"{q['id']}:{source}:{j}", source, raw, reason),
                "prompt": cot_prompt(q["question"]) if kept else None,
                "completion": to_step_format(path, q[GOLD]) if kept else None,
            }
        )
    return rows


def corrector_rows(
    questions: list[dict[str, Any]],
    task: str,
    got: dict[str, list[str]],
    n: int,
    funnel: Funnel,
) -> list[dict[str, Any]]:
    """Rows of the corrector's paths (``got``: "cot:<id>" -> completions), each kept or
    dropped with its reason and counted in ``funnel``."""
    rows: list[dict[str, Any]] = []
    gold = has_gold_cot(task)
    for q in questions:
        # not a copy of the gold row (a multiple-choice task has none)
        seen = {norm_ws(gold_cot(q["solution"], q[GOLD], task))} if gold else set()
        raws = got[f"cot:{q['id']}"][:n]
        rows += path_rows(q, task, raws, start=0, source="corrector", seen=seen, funnel=funnel)
    return rows


def build_cot(
    questions: pl.DataFrame, task: str, model: ModelCall | None, *, n: int, prompt: str
) -> tuple[list[dict[str, Any]], Funnel]:
    """The CoT rows of ``questions``: gold solutions, then ``n`` corrector paths each from
    ``model`` (None: no corrector model; tokens and cost in ``model.usage``)."""
    name = (model.spec if model is not None else {}).get("name", "corrector")
    funnel = Funnel("cot", task=task, corrector=name)
    qs = list(questions.iter_rows(named=True))
    gold = has_gold_cot(task)
    rows = gold_rows(qs, task) if gold else []
    funnel.keep(len(rows))
    funnel.extra["gold"] = len(rows)
    if not gold:
        funnel.extra["gold_rows"] = "none: a multiple-choice task has no gold solutions"
    if model is None or is_gold(model.spec) or n == 0:
        funnel.extra["corrector_paths"] = "skipped: " + (
            "cot.corrector_paths is 0" if n == 0 else "the gold corrector cannot write paths"
        )
        return rows, funnel
    got = solve_questions(model, prompt, qs, "cot", n=n)
    paths = corrector_rows(qs, task, got, n, funnel)
    funnel.extra["corrector_kept"] = sum(r["kept"] for r in paths)
    return rows + paths, funnel


# ------------------------------------------------------------------------- augmentation
AUTO = "auto"


def augment_count(
    deficit: int, questions: int, keep_rate: float | None, *, margin: int, max_paths: int
) -> int:
    """Extra paths per question for ``deficit`` more rows over ``questions`` questions when a
    path is kept with probability ``keep_rate`` (None: not measured yet, taken as 1), plus
    ``margin``, at most ``max_paths``; 0 when nothing is missing."""
    if deficit <= 0 or questions <= 0:
        return 0
    rate = max(keep_rate if keep_rate is not None else 1.0, 0.1)
    return min(max_paths, math.ceil(deficit / (questions * rate)) + margin)


def augment_questions(cot: pl.DataFrame, pool: pl.DataFrame) -> list[dict[str, Any]]:
    """The decontaminated training questions (those of the pool's CoT rows), each with its
    question text, gold answer and the normalised texts of its kept CoT rows (``seen``)."""
    in_pool = set(pool.filter(pl.col("kind") == "cot")["question_id"].to_list())
    kept = cot.filter(pl.col("kept") & pl.col("question_id").is_in(list(in_pool)))
    out: dict[str, dict[str, Any]] = {}
    for r in kept.sort("cot_id").iter_rows(named=True):
        q = out.setdefault(
            r["question_id"],
            {
                "id": r["question_id"],
                "question": r["question"],
                GOLD: r[GOLD],
                CHOICES: r.get(CHOICES),
                "seen": set(),
            },
        )
        q["seen"].add(norm_ws(r["completion"]))
    return [out[k] for k in sorted(out)]


def augment_cot(
    cot: pl.DataFrame,
    pool: pl.DataFrame,
    task: str,
    model: ModelCall | None,
    *,
    paths: int | str,
    base_n: int,
    margin: int,
    max_paths: int,
    prompt: str,
) -> tuple[list[dict[str, Any]], Funnel]:
    """Extra CoT rows for ``cot_matched`` (see the module docstring): ``paths`` more corrector
    paths per decontaminated question (``auto``: :func:`augment_count` for the deficit of the
    pool's CoT rows against the pool's size, which is the size of ``lema``); ``base_n``: the
    paths the CoT stage sampled per question (cot.corrector_paths)."""
    name = (model.spec if model is not None else {}).get("name", "corrector")
    funnel = Funnel("cot_augment", task=task, corrector=name)
    qs = augment_questions(cot, pool)
    target, have = pool.height, int((pool["kind"] == "cot").sum()) if pool.height else 0
    sampled = cot.filter(pl.col("source") == "corrector")
    rate = float(sampled["kept"].mean()) if sampled.height else None  # type: ignore[arg-type]
    deficit = max(0, target - have)
    if paths == AUTO:
        n = augment_count(deficit, len(qs), rate, margin=margin, max_paths=max_paths)
    else:
        n = int(paths)
    funnel.extra = {
        "target_rows": target,
        "cot_rows": have,
        "deficit": deficit,
        "questions": len(qs),
        "cot_keep_rate": None if rate is None else round(rate, 4),
        "augment_paths": paths,
        "paths_per_question": n,
    }
    if model is None or is_gold(model.spec):
        funnel.extra["paths_per_question"] = 0
        funnel.extra["skipped"] = "the gold corrector cannot write CoT paths"
        return [], funnel
    if n == 0:
        funnel.extra["skipped"] = (
            "no rows missing: cot is as large as lema" if deficit == 0 else "cot.augment_paths is 0"
        )
        return [], funnel
    got = solve_questions(model, prompt, qs, "cot", n=base_n + n)
    rows: list[dict[str, Any]] = []
    for q in qs:
        raws = got[f"cot:{q['id']}"][base_n : base_n + n]
        rows += path_rows(
            q, task, raws, start=base_n, source="augment", seen=q["seen"], funnel=funnel
        )
    funnel.extra["augment_kept"] = sum(r["kept"] for r in rows)
    return rows, funnel
