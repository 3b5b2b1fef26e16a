"""Step 2 of LeMa: sample reasoning paths from a generator and keep the wrong ones.

``lema sample``: k step-by-step paths per question (few-shot prompt ``sample_{task}.txt``:
"Step 1: … The answer is X."), each graded against the question's reference answer with
:func:`lema.grading.grade_batch`. Output ``paths.parquet``: one row per sampled path.

``lema mistakes``: the wrong paths, de-duplicated per question (normalised text) and optionally
capped per question. Policy for odd paths (recorded in the stats):

- an empty completion is dropped (``empty``): there is nothing to correct;
- a non-empty path with no extractable final answer *is* a mistake (it never reaches the
  answer) and is kept; the stats count it as ``no_answer_kept``;
- a path that is a duplicate of an earlier wrong path of the same question is dropped
  (``duplicate``); beyond ``--max-per-question`` distinct wrong paths, ``over_cap``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_ws
from lema.grading import grade_batch
from lema.models import ModelCall, is_gold
from lema.tables import (
    CHOICES,
    GOLD,
    ID,
    KEPT,
    QUESTION,
    SOLUTION,
    choices_of,
    read_table,
    rows_with_gold,
)


def load_questions(path: str) -> pl.DataFrame:
    """Questions with a reference answer: a raw table (data/raw/…) or evolved questions
    (only rows with ``kept`` true). Rows without a reference answer (two MATH train rows have
    an empty \\boxed{}) are left out. Columns returned: id, question, gold, solution, choices
    (a multiple-choice question's candidates, else null)."""
    frame = read_table(path, required=(ID, QUESTION, GOLD))
    if KEPT in frame.columns:
        frame = frame.filter(pl.col(KEPT))
    frame = rows_with_gold(frame)
    if SOLUTION not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(SOLUTION))
    if CHOICES not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias(CHOICES))
    return frame.select(ID, QUESTION, GOLD, SOLUTION, CHOICES)


def sample_paths(
    questions: pl.DataFrame,
    task: str,
    model: ModelCall,
    *,
    k: int,
    prompt: str,
    workers: int = 1,
) -> tuple[list[dict[str, Any]], Funnel]:
    """``k`` paths per question from ``model`` (tokens and cost in ``model.usage``), each
    graded against the question's reference answer; the funnel counts them."""
    if is_gold(model.spec):
        from lema.errors import LemaError

        raise LemaError("the 'gold' backend is a corrector, it cannot sample paths")
    template = load_prompt(prompt, ("question",))
    name = model.spec.get("name", model.spec.get("model", "model"))
    requests = [
        model.request(
            str(q["id"]),
            render(template, question=q["question"]),
            n=k,
            stop=["\n\nQuestion:", "\nQuestion:"],
        )
        for q in questions.iter_rows(named=True)
    ]
    completions = model.complete(requests)
    rows: list[dict[str, Any]] = []
    for q in questions.iter_rows(named=True):
        for i, text in enumerate(completions[str(q["id"])][:k]):
            path = clean_path(text)
            rows.append(
                {
                    "path_id": f"{q['id']}:{name}:{i}",
                    "question_id": str(q["id"]),
                    "task": task,
                    "question": q["question"],
                    "solution": q.get("solution"),
                    GOLD: str(q[GOLD]),
                    "generator": name,
                    "sample": i,
                    "completion": text,
                    "path": path,
                    CHOICES: q.get(CHOICES),
                }
            )
    # MATH grading is sympy-bound: several processes for big batches (lema.grading.batch)
    items = [(r["path"], r[GOLD], task, choices_of(r)) for r in rows]
    graded = grade_batch(items, workers=workers)
    funnel = Funnel("paths", task=task, generator=name)
    for row, (pred, ok, _timed_out) in zip(rows, graded, strict=True):
        row["pred_answer"] = pred
        row["correct"] = ok
        funnel.record(True, None)
    funnel.extra = {
        "questions": questions.height,
        "k": k,
        "correct": sum(r["correct"] for r in rows),
        "wrong": sum(not r["correct"] for r in rows),
        "empty": sum(not r["path"].strip() for r in rows),
        "no_answer": sum(r["pred_answer"] is None for r in rows),
    }
    return rows, funnel


def select_mistakes(
    paths: pl.DataFrame, max_per_question: int | None
) -> tuple[pl.DataFrame, Funnel]:
    """The wrong paths, de-duplicated per question, capped; the funnel counts every path."""
    task = paths["task"][0] if paths.height else ""
    gen = paths["generator"][0] if paths.height else ""
    funnel = Funnel("mistakes", task=task, generator=gen)
    keep: list[int] = []
    seen: dict[str, set[str]] = defaultdict(set)
    no_answer_kept = 0
    for idx, row in enumerate(paths.sort(["question_id", "sample"]).iter_rows(named=True)):
        if row["correct"]:
            funnel.drop("correct")
            continue
        if not (row["path"] or "").strip():
            funnel.drop("empty")
            continue
        key = norm_ws(row["path"])
        bucket = seen[row["question_id"]]
        if key in bucket:
            funnel.drop("duplicate")
            continue
        if max_per_question is not None and len(bucket) >= max_per_question:
            funnel.drop("over_cap")
            continue
        bucket.add(key)
        keep.append(idx)
        no_answer_kept += row["pred_answer"] is None
        funnel.keep()
    mistakes = paths.sort(["question_id", "sample"])[keep] if keep else paths.clear()
    funnel.extra = {
        "questions_with_mistakes": len([b for b in seen.values() if b]),
        "no_answer_kept": no_answer_kept,
        "max_per_question": max_per_question,
    }
    return mistakes, funnel
