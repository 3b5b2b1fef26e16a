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
- ``cot_matched``: CoT rows only, as many as ``lema`` has (the paper's data-size control):
  every CoT row of the pool, then distinct augmented CoT paths (``--augmented``, written by
  ``lema cot-augment``: the pool's questions only, so decontaminated too), drawn round-robin
  over the questions in a seeded order so each question gains about as many. Rows repeat
  only when augmentation cannot supply enough (the ``gold`` corrector writes no paths): then
  every distinct row is taken the same whole number of times and the remainder is a seeded
  sample without replacement, and the stats say how many rows repeat and why;
- ``lema_no_explanation``: ``lema`` with the explanation of the mistake removed from every
  correction (incorrect step, then the correct solution; the paper's ablation);
- ``lema_no_evolution``: ``lema`` without the corrections of evolved questions;
- ``cot_n{N}``, ``lema_n{N}`` (``mix.sizes``): the first N rows of one seeded permutation of
  ``cot`` / ``lema``, so the sizes of a curve are nested subsets (all rows when N is larger;
  the stats say so).

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
from lema.formats import without_explanation
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
from lema.workflow.paths import size_of_mix

MIX_KINDS = {
    "cot": ("cot",),
    "lema": ("cot", "correction"),
    "cot_matched": ("cot",),
    "lema_no_explanation": ("cot", "correction"),
    "lema_no_evolution": ("cot", "correction"),
}
EVOLVED = "evolved:"  # the source prefix of a correction of an evolved question


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
def known_mix(mix: str) -> bool:
    """A configured mix name, or a size-curve mix (``cot_n1000``)."""
    return mix in MIX_KINDS or size_of_mix(mix) is not None


def augmented_rows(
    augmented: pl.DataFrame | None, pool_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The kept rows of an augmented CoT table as pool rows, for the pool's questions only."""
    if augmented is None or not augmented.height:
        return []
    questions = {r["question_id"] for r in pool_rows if r["kind"] == "cot"}
    return [
        {
            "id": r["cot_id"],
            "task": r["task"],
            "kind": "cot",
            "source": r["source"] or "augment",
            "question_id": r["question_id"],
            "question": r["question"],
            "prompt": r["prompt"],
            "completion": r["completion"],
        }
        for r in augmented.filter(pl.col("kept")).iter_rows(named=True)
        if r["question_id"] in questions
    ]


def _sample_index(row: dict[str, Any]) -> int:
    tail = str(row["id"]).rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def round_robin(extra: list[dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` of the rows ``extra``, one per question per round (questions in a seeded order,
    each question's rows in sample order), so every question gains about as many."""
    by_q: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sorted(extra, key=lambda r: (r["question_id"], _sample_index(r), r["id"])):
        by_q[r["question_id"]].append(r)
    order = sorted(by_q)
    random.Random(f"{seed}:cot_matched:questions").shuffle(order)
    out: list[dict[str, Any]] = []
    for j in range(max((len(v) for v in by_q.values()), default=0)):
        for q in order:
            if len(out) == n:
                return out
            if j < len(by_q[q]):
                out.append(by_q[q][j])
    return out


def matched_rows(
    cot: list[dict[str, Any]], extra: list[dict[str, Any]], target: int, seed: int
) -> list[dict[str, Any]]:
    """``target`` CoT rows: ``cot``, then distinct rows of ``extra`` (:func:`round_robin`);
    when those run out, every distinct row the same whole number of times and a seeded
    remainder without replacement (so no row appears more than once more than any other)."""
    distinct = cot + round_robin(extra, max(0, target - len(cot)), seed)
    if len(distinct) >= target or not distinct:
        return distinct[:target]
    whole, rest = divmod(target, len(distinct))
    return distinct * whole + random.Random(f"{seed}:cot_matched:extra").sample(distinct, rest)


def size_rows(rows: list[dict[str, Any]], base: str, n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` rows of one seeded permutation of mix ``base``'s rows: the sizes of a
    curve are nested subsets of each other."""
    kinds = MIX_KINDS[base]
    perm = [r for r in rows if r["kind"] in kinds]
    random.Random(f"{seed}:size:{base}").shuffle(perm)
    return perm[:n]


def build_mix(
    pool: pl.DataFrame, mix: str, seed: int, augmented: pl.DataFrame | None = None
) -> list[dict[str, Any]]:
    """The rows of ``mix`` (see the module docstring), shuffled with ``seed``; ``augmented``:
    the CoT augmentation table ``cot_matched`` draws from."""
    if not known_mix(mix):
        raise LemaError(f"unknown mix '{mix}' (known: {', '.join(MIX_KINDS)}, cot_nN, lema_nN)")
    rows = pool.sort("id").to_dicts()
    rng = random.Random(f"{seed}:{mix}")
    cot = [r for r in rows if r["kind"] == "cot"]
    sized = size_of_mix(mix)
    if mix == "cot_matched":
        # the size of `lema` (every pool row is in lema)
        out = matched_rows(cot, augmented_rows(augmented, rows), len(rows), seed)
    elif sized is not None:
        out = size_rows(rows, sized[0], sized[1], seed)
    elif mix == "lema_no_explanation":
        out = [
            r if r["kind"] == "cot" else {**r, "completion": without_explanation(r["completion"])}
            for r in rows
        ]
    elif mix == "lema_no_evolution":
        out = [r for r in rows if not str(r["source"] or "").startswith(EVOLVED)]
    else:
        kinds = MIX_KINDS[mix]
        out = [r for r in rows if r["kind"] in kinds]
    out = list(out)
    rng.shuffle(out)
    return [{k: r[k] for k in MIX_COLUMNS} for r in out]


def mix_notes(
    rows: list[dict[str, Any]], mix: str, pool: pl.DataFrame, augment_stats: str | Path | None
) -> dict[str, Any]:
    """What a mix's stats say beyond its counts: for ``cot_matched`` its target, distinct and
    repeated rows and why rows repeat; for a size-curve mix the rows asked for and there."""
    notes: dict[str, Any] = {}
    distinct = len({r["id"] for r in rows})
    if mix == "cot_matched":
        aug = read_json(augment_stats) if augment_stats and Path(augment_stats).exists() else {}
        notes.update(
            target_rows=pool.height,
            augmented_rows=sum(r["source"] == "augment" for r in rows),
            repeated_rows=len(rows) - distinct,
        )
        if len(rows) > distinct:
            notes["repeat_reason"] = repeat_reason(aug, augment_stats)
    sized = size_of_mix(mix)
    if sized is not None:
        available = pool.filter(pl.col("kind").is_in(list(MIX_KINDS[sized[0]]))).height
        notes.update(requested_rows=sized[1], available_rows=available)
        if available < sized[1]:
            notes["size_note"] = f"{sized[0]} has {available} rows: all taken"
    if mix == "lema_no_explanation":
        notes["explanations_removed"] = sum(r["kind"] == "correction" for r in rows)
    if mix == "lema_no_evolution":
        notes["evolved_corrections_removed"] = int(
            pool["source"].fill_null("").str.starts_with(EVOLVED).sum()
        )
    return notes


def repeat_reason(aug: dict[str, Any], augment_stats: str | Path | None) -> str:
    """Why augmented CoT could not make ``cot_matched`` distinct, from the augment stats."""
    if not augment_stats:
        return "no CoT augmentation table was given (lema mix --augmented)"
    if aug.get("skipped"):
        return f"CoT augmentation skipped: {aug['skipped']}"
    return (
        f"CoT augmentation kept {aug.get('kept', 0)} distinct paths of the"
        f" {aug.get('deficit', '?')} rows missing ({aug.get('paths_per_question', '?')} sampled"
        " per question; raise cot.augment_margin / cot.augment_max_paths, or set"
        " cot.augment_paths)"
    )


def mix_funnel(
    rows: list[dict[str, Any]],
    task: str,
    mix: str,
    pool_stats: str | Path,
    notes: dict[str, Any] | None = None,
) -> Funnel:
    """The funnel of a written mix: its rows by kind, distinct rows, the pool's kept count
    from the pool's stats file ``pool_stats`` (None when there is none), and ``notes``
    (:func:`mix_notes`)."""
    funnel = Funnel("mix", task=task, mix=mix)
    funnel.keep(len(rows))
    pool_stats = Path(pool_stats)
    funnel.extra = {
        "rows_by_kind": dict(Counter(r["kind"] for r in rows)),
        "distinct_rows": len({r["id"] for r in rows}),
        "pool": read_json(pool_stats).get("kept") if pool_stats.exists() else None,
        **(notes or {}),
    }
    return funnel
