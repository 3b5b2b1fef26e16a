"""Step 6 of LeMa: training mixes, after a contamination check against the test sets.

``lema mix-pool`` gathers every candidate training row of a task — CoT rows (``cot.parquet``)
and kept corrections (original and evolved questions) — and drops every row whose question
matches a test question of any configured task:

- **exact**: the same text after normalisation (NFKC, lower case, alphanumeric words only);
- **near-duplicate**: Jaccard similarity of word n-gram sets (``--ngram``, default 5)
  ``>= --threshold``, computed exactly for every pair that shares an n-gram, through an
  inverted n-gram index of the test questions (scales to 7.5k x 4.4k in about a second).
  Questions shorter than n words use all their words as one n-gram.

``lema mix`` writes ``results/{task}/train/{mix}.jsonl`` from the pool (rows shuffled with
``--seed``):

- ``cot``: the CoT rows;
- ``lema``: the CoT rows plus every correction row (original and evolved questions);
- ``cot_matched``: CoT rows only, as many as ``lema`` has (the paper's data-size control).
  ``lema`` always has more rows than ``cot``, so CoT rows must repeat: every CoT row is taken
  the same number of whole times, and the remainder is a seeded sample *without* replacement —
  so no row appears more than once more than any other (rather than i.i.d. sampling with
  replacement, which would leave some rows out and triple others).

Each row: ``{"id", "task", "kind" (cot|correction), "source", "question_id", "prompt",
"completion"}``, prompt/completion in the layout of :mod:`lema.formats`.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.text import norm_words
from lema.errors import LemaError
from lema.io import read_json
from lema.tables import (
    COMPLETION,
    CORRECTION_ID,
    COT_ID,
    ID,
    KEPT,
    MIX_COLUMNS,
    PROMPT,
    QUESTION,
    QUESTION_ID,
    read_table,
)

MIX_KINDS = {"cot": ("cot",), "lema": ("cot", "correction"), "cot_matched": ("cot",)}


# ------------------------------------------------------------------------- contamination
def shingles(text: str, n: int) -> frozenset[str]:
    words = norm_words(text).split()
    if not words:
        return frozenset()
    if len(words) < n:
        return frozenset([" ".join(words)])
    return frozenset(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))


class ContaminationIndex:
    """Exact and near-duplicate lookup of questions against a set of test questions."""

    def __init__(self, test_questions: dict[str, str], n: int = 5, threshold: float = 0.9) -> None:
        self.n = n
        self.threshold = threshold
        self.exact: dict[str, str] = {}
        self.sets: dict[str, frozenset[str]] = {}
        self.index: dict[str, list[str]] = defaultdict(list)
        for tid, q in test_questions.items():
            self.exact.setdefault(norm_words(q), tid)
            s = shingles(q, n)
            self.sets[tid] = s
            for g in s:
                self.index[g].append(tid)

    def match(self, question: str) -> tuple[str, str, float] | None:
        """(kind 'exact'|'near', test id, similarity) of the best match, or None."""
        key = norm_words(question)
        if key and key in self.exact:
            return "exact", self.exact[key], 1.0
        s = shingles(question, self.n)
        if not s:
            return None
        shared: Counter[str] = Counter()
        for g in s:
            for tid in self.index.get(g, ()):
                shared[tid] += 1
        best: tuple[str, str, float] | None = None
        for tid, inter in shared.items():
            jac = inter / (len(s) + len(self.sets[tid]) - inter)
            if jac >= self.threshold and (best is None or jac > best[2]):
                best = ("near", tid, jac)
        return best


def load_tests(paths: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in paths:
        frame = read_table(p, required=(ID, QUESTION))
        out.update(dict(zip(frame["id"].to_list(), frame["question"].to_list(), strict=True)))
    return out


# ------------------------------------------------------------------------- pool
def collect_rows(
    cot: str | None, corrections: list[tuple[str, str]], task: str
) -> list[dict[str, Any]]:
    """The kept CoT rows and the kept corrections, each correction table given as (path,
    question set: ``original`` or ``evolved``)."""
    rows: list[dict[str, Any]] = []
    if cot:
        frame = read_table(cot, required=(COT_ID, QUESTION_ID, QUESTION, KEPT, PROMPT, COMPLETION))
        for r in frame.filter(pl.col("kept")).iter_rows(named=True):
            rows.append(
                {
                    "id": r["cot_id"],
                    "task": task,
                    "kind": "cot",
                    "source": r.get("source") or "gold",
                    "question_id": r["question_id"],
                    "question": r["question"],
                    "prompt": r["prompt"],
                    "completion": r["completion"],
                }
            )
    for path, qset in corrections:
        frame = read_table(
            path, required=(CORRECTION_ID, QUESTION_ID, QUESTION, KEPT, PROMPT, COMPLETION)
        )
        evolved = qset == "evolved"
        for r in frame.filter(pl.col("kept")).iter_rows(named=True):
            rows.append(
                {
                    "id": r["correction_id"],
                    "task": task,
                    "kind": "correction",
                    "source": ("evolved:" if evolved else "") + str(r.get("generator")),
                    "question_id": r["question_id"],
                    "question": r["question"],
                    "prompt": r["prompt"],
                    "completion": r["completion"],
                }
            )
    return rows


def build_pool(
    rows: list[dict[str, Any]], tests: dict[str, str], ngram: int, threshold: float, task: str
) -> tuple[list[dict[str, Any]], Funnel]:
    index = ContaminationIndex(tests, ngram, threshold)
    verdict: dict[str, tuple[str, str, float] | None] = {}
    for r in rows:
        qid = r["question_id"]
        if qid not in verdict:
            verdict[qid] = index.match(r["question"])
    funnel = Funnel("pool", task=task)
    kept = []
    for r in rows:
        hit = verdict[r["question_id"]]
        if hit is None:
            kept.append(r)
            funnel.keep()
        else:
            funnel.drop(f"contaminated_{hit[0]}")
    hits = {q: h for q, h in verdict.items() if h is not None}
    q_of = {r["question_id"]: r["question"] for r in rows}
    funnel.extra = {
        "rows_by_kind": dict(Counter(r["kind"] for r in kept)),
        "questions_checked": len(verdict),
        "test_questions": len(tests),
        "contaminated_questions": {
            "exact": sum(h[0] == "exact" for h in hits.values()),
            "near": sum(h[0] == "near" for h in hits.values()),
        },
        "contamination_examples": [
            {
                "question_id": q,
                "test_id": h[1],
                "kind": h[0],
                "similarity": round(h[2], 4),
                "question": q_of[q][:200],
            }
            for q, h in sorted(hits.items())[:20]
        ],
        "ngram": ngram,
        "threshold": threshold,
    }
    return kept, funnel


# ------------------------------------------------------------------------- mixes
def build_mix(pool: pl.DataFrame, mix: str, seed: int) -> list[dict[str, Any]]:
    if mix not in MIX_KINDS:
        raise LemaError(f"unknown mix '{mix}' (known: {', '.join(MIX_KINDS)})")
    rows = pool.sort("id").to_dicts()
    rng = random.Random(f"{seed}:{mix}")
    cot = [r for r in rows if r["kind"] == "cot"]
    if mix == "cot_matched":
        target = len(rows)  # the size of `lema` (every pool row is in lema)
        if not cot:
            out: list[dict[str, Any]] = []
        else:
            whole, rest = divmod(target, len(cot))
            out = cot * whole + random.Random(f"{seed}:cot_matched:extra").sample(cot, rest)
    else:
        kinds = MIX_KINDS[mix]
        out = [r for r in rows if r["kind"] in kinds]
    out = list(out)
    rng.shuffle(out)
    return [{k: r[k] for k in MIX_COLUMNS} for r in out]


def mix_funnel(rows: list[dict[str, Any]], task: str, mix: str, pool_stats: str | Path) -> Funnel:
    """The funnel of a written mix: its rows by kind, distinct rows, and the pool's kept
    count from the pool's stats file ``pool_stats`` (None when there is none)."""
    funnel = Funnel("mix", task=task, mix=mix)
    funnel.keep(len(rows))
    pool_stats = Path(pool_stats)
    funnel.extra = {
        "rows_by_kind": dict(Counter(r["kind"] for r in rows)),
        "distinct_rows": len({r["id"] for r in rows}),
        "pool": read_json(pool_stats).get("kept") if pool_stats.exists() else None,
    }
    return funnel
