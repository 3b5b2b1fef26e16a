"""Step 5 of LeMa: chain-of-thought data in the step format.

``lema cot`` writes, per training question:

- the **gold solution** reformatted to "Step 1: … The answer is X." (GSM8K: one step per line,
  calculator annotations removed; MATH: one step per sentence outside math mode, ``\\boxed``
  removed) — always kept;
- ``--n`` **corrector-written paths** (prompt ``cot_{task}.txt``) that reach the gold answer,
  normalised to the step format. Dropped: ``empty``, ``no_answer``, ``wrong_answer``,
  ``duplicate`` (same normalised text as another path of the question).

With the ``gold`` corrector (no model) only the gold solutions are written; the stats say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.gold_corrector import gsm8k_gold_steps, math_gold_steps
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_ws
from lema.formats import cot_completion, cot_prompt, split_steps
from lema.models import ModelCall, is_gold
from lema.tables import GOLD

_ANSWER_TAIL = re.compile(r"(?is)\n?[^\n]*\bthe\s+(?:final\s+)?answer\s+is\b[^\n]*$")


def gold_cot(solution: str, answer: str, task: str) -> str:
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
    }


def gold_rows(questions: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """One kept row per question: its gold solution in the step format."""
    return [
        {
            **_cot_row(q, task, f"{q['id']}:gold", "gold", q["solution"], None),
            "prompt": cot_prompt(q["question"]),
            "completion": gold_cot(q["solution"], q[GOLD], task),
        }
        for q in questions
    ]


def path_drop_reason(path: str, gold: str, task: str, seen: set[str]) -> str | None:
    """Why a corrector-written path is dropped (None: kept); a kept path's key joins ``seen``."""
    from lema.grading import equivalent, extract_answer

    pred = extract_answer(path, task) if path else None
    if not path:
        return "empty"
    if pred is None:
        return "no_answer"
    if not equivalent(pred, gold, task):
        return "wrong_answer"
    key = norm_ws(to_step_format(path, gold))
    reason = "duplicate" if key in seen else None
    seen.add(key)
    return reason


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
    for q in questions:
        seen = {norm_ws(gold_cot(q["solution"], q[GOLD], task))}  # not a copy of the gold row
        for j, raw in enumerate(got[f"cot:{q['id']}"][:n]):
            path = clean_path(raw)
            reason = path_drop_reason(path, q[GOLD], task, seen)
            kept = reason is None
            funnel.record(kept, reason)
            rows.append(
                {
                    **_cot_row(q, task, f"{q['id']}:corrector:{j}", "corrector", raw, reason),
                    "prompt": cot_prompt(q["question"]) if kept else None,
                    "completion": to_step_format(path, q[GOLD]) if kept else None,
                }
            )
    return rows


def build_cot(
    questions: pl.DataFrame, task: str, model: ModelCall | None, *, n: int, prompt: str
) -> tuple[list[dict[str, Any]], Funnel]:
    """The CoT rows of ``questions``: gold solutions, then ``n`` corrector paths each from
    ``model`` (None: no corrector model; tokens and cost in ``model.usage``)."""
    name = (model.spec if model is not None else {}).get("name", "corrector")
    funnel = Funnel("cot", task=task, corrector=name)
    qs = list(questions.iter_rows(named=True))
    rows = gold_rows(qs, task)
    funnel.keep(len(rows))
    funnel.extra["gold"] = len(qs)
    if model is None or is_gold(model.spec) or n == 0:
        funnel.extra["corrector_paths"] = "skipped: " + (
            "cot.corrector_paths is 0" if n == 0 else "the gold corrector cannot write paths"
        )
        return rows, funnel
    got = solve_questions(model, prompt, qs, "cot", n=n)
    paths = corrector_rows(qs, task, got, n, funnel)
    funnel.extra["corrector_kept"] = sum(r["kept"] for r in paths)
    return rows + paths, funnel
