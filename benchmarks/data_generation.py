"""Benchmark of the model-free parts of data generation on the shared data (../shared/data):

- contamination check: building the n-gram index of a test set and matching every training
  question against it (exact + near-duplicate), per task;
- the gold corrector: corrections per second for perturbed gold solutions (a wrong number in
  a random step), with parsing and grading, and how often the first wrong step is located.

    .venv/bin/python benchmarks/data_generation.py [--data ../shared/data] [--n 500]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from pathlib import Path

from lema.datagen.correction import judge, parse_correction
from lema.datagen.gold_corrector import (
    first_wrong_step,
    gold_correction,
    gsm8k_gold_steps,
    math_gold_steps,
)
from lema.datagen.mixes import ContaminationIndex
from lema.formats import cot_completion
from lema.grading import gold_answer


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open() if line.strip()]


def contamination(data: Path) -> None:
    for task, key in (("gsm8k", "question"), ("math", "problem")):
        train = [r[key] for r in _rows(data / task / "train.jsonl")]
        test = {str(i): r[key] for i, r in enumerate(_rows(data / task / "test.jsonl"))}
        t0 = time.perf_counter()
        index = ContaminationIndex(test, n=5, threshold=0.9)
        t1 = time.perf_counter()
        hits = [index.match(q) for q in train]
        t2 = time.perf_counter()
        exact = sum(h is not None and h[0] == "exact" for h in hits)
        near = sum(h is not None and h[0] == "near" for h in hits)
        print(
            f"contamination {task}: {len(train)} train x {len(test)} test: index {t1 - t0:.2f} s, "
            f"match {t2 - t1:.2f} s ({len(train) / (t2 - t1):,.0f} questions/s); "
            f"hits exact {exact}, near {near}"
        )


def _perturb(steps: list[str], rng: random.Random) -> tuple[int, list[str]] | None:
    j = rng.randrange(len(steps))
    nums = list(re.finditer(r"(?<![\\a-z])\d+", steps[j]))
    if not nums:
        return None
    m = nums[-1]
    bad = steps[j][: m.start()] + str(int(m.group()) + 7) + steps[j][m.end() :]
    return j, [*steps[:j], bad, *steps[j + 1 :]]


def gold_corrector(data: Path, n: int) -> None:
    rng = random.Random(0)
    for task, key in (("gsm8k", "question"), ("math", "problem")):
        rows = rng.sample(_rows(data / task / "train.jsonl"), n)
        items = []
        for r in rows:
            sol = r["answer"] if task == "gsm8k" else r["solution"]
            ans = gold_answer(sol, task)
            if ans is None:
                continue
            steps = gsm8k_gold_steps(sol) if task == "gsm8k" else math_gold_steps(sol)
            p = _perturb(steps, rng)
            if p is None:
                continue
            j, wrong = p
            items.append((r[key], sol, ans, j, cot_completion(wrong, "1234567")))
        t0 = time.perf_counter()
        kept = located = 0
        for q, sol, ans, j, path in items:
            located += first_wrong_step(q, sol, ans, path, task) == j
            parsed = parse_correction(gold_correction(q, sol, ans, path, task), task)
            kept += judge(parsed, ans, task)[0]
        dt = time.perf_counter() - t0
        print(
            f"gold corrector {task}: {len(items)} paths in {dt:.2f} s ({len(items) / dt:,.0f}/s); "
            f"kept {kept}/{len(items)}; first wrong step located {located}/{len(items)}"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument(
        "--n", type=int, default=500, help="training problems per task (gold corrector)"
    )
    args = ap.parse_args()
    contamination(Path(args.data))
    gold_corrector(Path(args.data), args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
