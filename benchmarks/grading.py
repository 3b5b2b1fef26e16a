"""Benchmark of lema.grading.grade over the shared GSM8K and MATH test sets.

For every test problem: grade(gold solution, gold answer) (expected True) and
grade(gold solution, perturbed answer) (expected False; the first integer of the answer plus
one). Reports items/s, mean and worst per-item time, and any unexpected results. Result caches
are cleared first; the sympy worker's start-up is measured separately.

    python benchmarks/grading.py [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lema import grading  # noqa: E402
from lema.grading import normalise, pool  # noqa: E402


def _perturb(gold: str) -> str:
    m = re.search(r"\d+", gold)
    if m:
        return gold[: m.start()] + str(int(m.group(0)) + 1) + gold[m.end() :]
    return gold + "+1"


def _items(data: Path, task: str):
    with (data / task / "test.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            sol = r["answer"] if task == "gsm8k" else r["solution"]
            gold = grading.gold_answer(sol, task)
            if gold:
                yield sol, gold


def bench(data: Path, task: str) -> dict:
    pool.bounded_sympy_equal.cache_clear()
    normalise.normalize_math.cache_clear()
    times, wrong = [], []
    for sol, gold in _items(data, task):
        for g, expected in ((gold, True), (_perturb(gold), False)):
            t = time.perf_counter()
            got = grading.grade(sol, g, task)
            times.append(time.perf_counter() - t)
            if got is not expected:
                wrong.append({"gold": gold, "graded_against": g, "expected": expected})
    total = sum(times)
    return {
        "task": task,
        "items": len(times),
        "seconds": round(total, 2),
        "items_per_s": round(len(times) / total, 1),
        "mean_ms": round(1000 * total / len(times), 3),
        "worst_ms": round(1000 * max(times), 1),
        "p99_ms": round(1000 * sorted(times)[int(0.99 * (len(times) - 1))], 2),
        "unexpected": len(wrong),
        "unexpected_examples": wrong[:5],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    t = time.perf_counter()
    grading.equivalent("\\sqrt{8}", "2\\sqrt{2}", "math")  # starts one sympy worker
    startup = time.perf_counter() - t
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "worker_startup_s": round(startup, 2),
        "runs": [bench(args.data, task) for task in ("gsm8k", "math")],
    }
    print(f"machine: {results['machine']}; sympy worker start-up {startup:.2f}s")
    print(
        f"{'task':6} {'items':>6} {'items/s':>9} {'mean ms':>8} {'p99 ms':>7} {'worst ms':>9} "
        f"{'unexpected':>10}"
    )
    for r in results["runs"]:
        print(
            f"{r['task']:6} {r['items']:6d} {r['items_per_s']:9.1f} {r['mean_ms']:8.3f} "
            f"{r['p99_ms']:7.2f} {r['worst_ms']:9.1f} {r['unexpected']:10d}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    grading.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
