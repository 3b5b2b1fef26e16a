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

import argparse
import re
from collections.abc import Iterable
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.gold_corrector import gsm8k_gold_steps, math_gold_steps
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_ws
from lema.formats import cot_completion, cot_prompt, split_steps
from lema.models import Usage, call_model, is_gold, make_request
from lema.models.cli import add_model_call_arguments, model_call
from lema.tables import (
    COT_SCHEMA,
    GOLD,
    ID,
    QUESTION,
    SOLUTION,
    read_table,
    rows_with_gold,
    stats_path_for,
    write_table,
)

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
    ``prompt``; returns "<id_prefix>:<id>" -> completions. Also what evolution votes with."""
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
    questions: pl.DataFrame,
    task: str,
    spec: dict[str, Any] | None,
    *,
    n: int,
    prompt: str,
    temperature: float,
    max_tokens: int,
    seed: int,
    cache: str | None,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], Funnel, Usage]:
    """The CoT rows of ``questions``: gold solutions, then ``n`` corrector paths each."""
    usage = Usage()
    name = (spec or {}).get("name", "corrector")
    funnel = Funnel("cot", task=task, corrector=name)
    qs = list(questions.iter_rows(named=True))
    rows = gold_rows(qs, task)
    funnel.keep(len(rows))
    funnel.extra["gold"] = len(qs)
    if spec is None or is_gold(spec) or n == 0:
        funnel.extra["corrector_paths"] = "skipped: " + (
            "cot.corrector_paths is 0" if n == 0 else "the gold corrector cannot write paths"
        )
        return rows, funnel, usage
    got = solve_questions(
        spec,
        prompt,
        qs,
        "cot",
        n=n,
        temperature=temperature,
        max_tokens=max_tokens,
        seed=seed,
        cache=cache,
        usage=usage,
        progress=progress,
    )
    paths = corrector_rows(qs, task, got, n, funnel)
    funnel.extra["corrector_kept"] = sum(r["kept"] for r in paths)
    return rows + paths, funnel, usage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=["gsm8k", "math"])
    parser.add_argument("--questions", required=True, help="raw train table")
    parser.add_argument("--spec", default=None, help="the corrector's model spec (JSON)")
    parser.add_argument("--n", type=int, default=1, help="corrector paths per question")
    parser.add_argument("--prompt", default=None, help="default cot_{task}.txt")
    add_model_call_arguments(parser, temperature=0.7)


def run(args: argparse.Namespace) -> int:
    questions = read_table(args.questions, required=(ID, QUESTION, SOLUTION, GOLD))
    questions = rows_with_gold(questions)
    spec, cache = model_call(args)
    rows, funnel, usage = build_cot(
        questions,
        args.task,
        spec,
        n=args.n,
        prompt=args.prompt or f"cot_{args.task}.txt",
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        cache=cache,
        progress=args.progress,
    )
    write_table(args.output, rows, COT_SCHEMA)
    funnel.write(args.stats or stats_path_for(args.output), usage)
    return 0
