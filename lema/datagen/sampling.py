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

import argparse
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_ws
from lema.grading import grade_batch
from lema.models import Usage, call_model, is_gold, make_request
from lema.models.cli import model_call
from lema.tables import (
    GOLD,
    ID,
    KEPT,
    PATH_SCHEMA,
    QUESTION,
    SOLUTION,
    read_table,
    rows_with_gold,
    stats_path_for,
    write_table,
)


def load_questions(path: str) -> pl.DataFrame:
    """Questions with a reference answer: a raw table (data/raw/…) or evolved questions
    (only rows with ``kept`` true). Rows without a reference answer (two MATH train rows have
    an empty \\boxed{}) are left out. Columns returned: id, question, gold, solution."""
    frame = read_table(path, required=(ID, QUESTION, GOLD))
    if KEPT in frame.columns:
        frame = frame.filter(pl.col(KEPT))
    frame = rows_with_gold(frame)
    if SOLUTION not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(SOLUTION))
    return frame.select(ID, QUESTION, GOLD, SOLUTION)


def sample_paths(
    questions: pl.DataFrame,
    task: str,
    spec: dict[str, Any],
    *,
    k: int,
    temperature: float,
    top_p: float,
    max_tokens: int,
    seed: int,
    prompt: str,
    cache: str | None,
    workers: int = 1,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], Funnel, Usage]:
    if is_gold(spec):
        from lema.errors import LemaError

        raise LemaError("the 'gold' backend is a corrector, it cannot sample paths")
    template = load_prompt(prompt, ("question",))
    name = spec.get("name", spec.get("model", "model"))
    usage = Usage()
    requests = [
        make_request(
            spec,
            str(q["id"]),
            render(template, question=q["question"]),
            n=k,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            stop=["\n\nQuestion:", "\nQuestion:"],
        )
        for q in questions.iter_rows(named=True)
    ]
    completions = call_model(spec, requests, cache, usage, progress=progress)
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
                }
            )
    # MATH grading is sympy-bound: several processes for big batches (lema.grading.batch)
    graded = grade_batch([(r["path"], r[GOLD], task) for r in rows], workers=workers)
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
    return rows, funnel, usage


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


# --------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=["gsm8k", "math"])
    parser.add_argument("--questions", help="raw train table or evolved questions parquet")
    parser.add_argument("--spec", help="the generator's model spec (JSON)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default=None, help="prompt file (default sample_{task}.txt)")
    parser.add_argument("--cache", default=None, help="response cache path")
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output (cache path, model knobs; lema.workflow)",
    )
    parser.add_argument("--threads", type=int, default=1, help="grading worker processes")
    parser.add_argument("--paths", help="(mistakes) the graded paths parquet")
    parser.add_argument("--max-per-question", type=int, default=None)
    parser.add_argument("--output", required=True)
    parser.add_argument("--stats", default=None)
    parser.add_argument("--progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    """`lema sample` (paths) or `lema mistakes` (wrong paths), chosen by the command name."""
    stats = args.stats or stats_path_for(args.output)
    if args.command == "mistakes":
        paths = read_table(args.paths, required=PATH_SCHEMA)
        mistakes, funnel = select_mistakes(paths, args.max_per_question)
        funnel.meta["task"] = args.task
        if not funnel.meta.get("generator"):
            funnel.meta["generator"] = Path(args.paths).name.split(".")[0]
        from lema.io import write_parquet

        write_parquet(args.output, mistakes)
        funnel.write(stats)
        return 0
    from lema.errors import LemaError

    if not args.questions or not args.spec:
        raise LemaError("--questions and --spec are required")
    spec, cache = model_call(args)
    questions = load_questions(args.questions)
    rows, funnel, usage = sample_paths(
        questions,
        args.task,
        spec,
        k=args.k,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        prompt=args.prompt or f"sample_{args.task}.txt",
        cache=cache,
        workers=max(1, min(args.threads, os.cpu_count() or 1)),
        progress=args.progress,
    )
    write_table(args.output, rows, PATH_SCHEMA)
    funnel.write(stats, usage)
    return 0
