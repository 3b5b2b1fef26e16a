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
from typing import Any

import polars as pl

from lema.datagen.common import (
    Funnel,
    Usage,
    add_model_call_arguments,
    clean_path,
    is_gold,
    model_call,
    norm_ws,
    solve_questions,
)
from lema.datagen.gold_corrector import gsm8k_gold_steps, math_gold_steps
from lema.formats import cot_completion, cot_prompt, split_steps
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
    from lema.grading.answers import equivalent, extract_answer

    usage = Usage()
    name = (spec or {}).get("name", "corrector")
    funnel = Funnel("cot", task=task, corrector=name)
    rows: list[dict[str, Any]] = []
    qs = list(questions.iter_rows(named=True))
    for q in qs:
        rows.append(
            {
                "cot_id": f"{q['id']}:gold",
                "question_id": q["id"],
                "task": task,
                "question": q["question"],
                GOLD: q[GOLD],
                "source": "gold",
                "raw": q["solution"],
                "kept": True,
                "reason": None,
                "prompt": cot_prompt(q["question"]),
                "completion": gold_cot(q["solution"], q[GOLD], task),
            }
        )
        funnel.keep()
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
    n_kept = 0
    for q in qs:
        seen = {norm_ws(gold_cot(q["solution"], q[GOLD], task))}  # not a copy of the gold row
        for j, raw in enumerate(got[f"cot:{q['id']}"][:n]):
            path = clean_path(raw)
            reason = None
            pred = extract_answer(path, task) if path else None
            if not path:
                reason = "empty"
            elif pred is None:
                reason = "no_answer"
            elif not equivalent(pred, q[GOLD], task):
                reason = "wrong_answer"
            else:
                key = norm_ws(to_step_format(path, q[GOLD]))
                if key in seen:
                    reason = "duplicate"
                seen.add(key)
            kept = reason is None
            funnel.record(kept, reason)
            n_kept += kept
            rows.append(
                {
                    "cot_id": f"{q['id']}:corrector:{j}",
                    "question_id": q["id"],
                    "task": task,
                    "question": q["question"],
                    GOLD: q[GOLD],
                    "source": "corrector",
                    "raw": raw,
                    "kept": kept,
                    "reason": reason,
                    "prompt": cot_prompt(q["question"]) if kept else None,
                    "completion": to_step_format(path, q[GOLD]) if kept else None,
                }
            )
    funnel.extra["corrector_kept"] = n_kept
    return rows, funnel, usage


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
