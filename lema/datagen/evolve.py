"""Step 4 of LeMa: correction-centric evolution — new questions seeded by corrected mistakes.

``lema evolve``:

1. **Seeds**: the questions with at least one kept correction (over every generator), sorted
   by id; ``--max-seeds`` takes a seeded random subset. Each seed comes with the explanation of
   its first kept correction ("the mistake"), so the new question targets the same mistake.
2. **New questions**: the corrector writes ``--new-per-seed`` questions per seed with the
   prompt ``evolve_{task}.txt`` (placeholders ``{question}``, ``{mistake}``); each is parsed
   from its "New Question:" label. Dropped: ``empty``, ``refused``, ``unparseable``,
   ``duplicate`` (same normalised text as another new question or as a seed question).
3. **Reference answers by self-consistency**: the corrector solves each new question
   ``--votes`` times (CoT prompt ``cot_{task}.txt``); the answers are clustered with
   :func:`lema.grading.equivalent`; the largest cluster's share of *all* votes (votes
   without an answer count against it) must reach ``--min-agreement``. Dropped:
   ``no_answer`` (no vote states an answer), ``low_agreement``.

Output: every candidate with ``kept`` and ``reason``; kept rows carry ``gold`` (the majority
answer) and are what the sampling and correction stages read next.

With the ``gold`` corrector evolution is skipped — it cannot write questions — and the output
is an empty table whose stats say so (the workflow leaves the evolved branch out entirely).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

import polars as pl

from lema.datagen.cot import solve_questions
from lema.datagen.funnel import Funnel
from lema.datagen.prompts import load_prompt, render
from lema.datagen.text import clean_path, norm_words
from lema.models import ModelCall, is_gold
from lema.tables import GOLD

_NEW_Q = re.compile(
    r"(?im)^[ \t>#*\-_]*[*_]{0,2}\s*(?:new|evolved|rewritten)\s+(?:question|problem)\s*[*_]{0,2}\s*[:：]\s*[*_]{0,2}"  # noqa: E501
)
_REFUSAL = re.compile(
    r"(?i)\b(?:I['’]m\s+sorry|I\s+am\s+sorry|I\s+can(?:not|['’]t)\s+|as\s+an\s+AI\b)"
)
_CUT = re.compile(
    r"(?im)^\s*[*_#]*\s*(?:seed\s+question|mistake|answer|solution|note|explanation|step\s*1)\b[^\n]*[:：]"
)


def parse_question(raw: str) -> tuple[str | None, str | None]:
    """(question, None) or (None, drop reason) from the corrector's output."""
    text = (raw or "").strip()
    if not text:
        return None, "empty"
    m = _NEW_Q.search(text)
    if m is None:
        if _REFUSAL.search(text[:300]):
            return None, "refused"
        # no label: accept a bare question (one paragraph ending in '?' or '.')
        body = text.split("\n\n")[0].strip()
        if len(body) < 20 or not re.search(r"[?.]$", body):
            return None, "unparseable"
    else:
        body = text[m.end() :]
    cut = _CUT.search(body)
    if cut:
        body = body[: cut.start()]
    body = body.split("\n\n\n")[0].strip().strip("*_").strip()
    body = re.sub(r"^[\"“](.*)[\"”]$", r"\1", body, flags=re.S).strip()
    if len(body) < 10:
        return None, "unparseable"
    return body, None


def majority_answer(answers: list[str | None], task: str) -> tuple[str | None, float, int]:
    """(representative answer, share of all votes, index of a vote in the majority)."""
    from lema.grading import equivalent

    clusters: list[list[int]] = []
    for i, a in enumerate(answers):
        if a is None:
            continue
        for c in clusters:
            if equivalent(a, answers[c[0]] or "", task):
                c.append(i)
                break
        else:
            clusters.append([i])
    if not clusters or not answers:
        return None, 0.0, -1
    best = max(clusters, key=lambda c: (len(c), -c[0]))
    rep = Counter(answers[i] for i in best).most_common(1)[0][0]
    return rep, len(best) / len(answers), best[0]


def pick_seeds(
    corrections: pl.DataFrame, max_seeds: int | None, seed: int
) -> dict[str, dict[str, Any]]:
    """Seed question id -> its first kept correction, sorted by id; at most ``max_seeds`` (a
    seeded random subset)."""
    kept_corr = corrections.filter(pl.col("kept")).sort(["question_id", "correction_id"])
    seeds: dict[str, dict[str, Any]] = {}
    for r in kept_corr.iter_rows(named=True):
        seeds.setdefault(r["question_id"], r)
    seed_ids = sorted(seeds)
    if max_seeds is not None and len(seed_ids) > max_seeds:
        seed_ids = sorted(random.Random(seed).sample(seed_ids, max_seeds))
    return {sid: seeds[sid] for sid in seed_ids}


def write_questions(
    model: ModelCall, seeds: dict[str, dict[str, Any]], *, prompt: str, new_per_seed: int
) -> dict[str, list[str]]:
    """The corrector's new questions per seed ("evolve:<seed id>" -> completions)."""
    template = load_prompt(prompt, ("question", "mistake"))
    reqs = [
        model.request(
            f"evolve:{sid}",
            render(
                template,
                question=row["question"],
                mistake=row["explanation"] or "a wrong step",
            ),
            n=new_per_seed,
            stop=["\n\nSeed Question:"],
        )
        for sid, row in seeds.items()
    ]
    return model.complete(reqs)


def candidates(
    task: str, seeds: dict[str, dict[str, Any]], written: dict[str, list[str]], new_per_seed: int
) -> list[dict[str, Any]]:
    """Every written question, parsed; ``reason`` set for the unusable and the duplicates (of
    another new question or of a seed question)."""
    seen = {norm_words(row["question"]) for row in seeds.values()}
    cands: list[dict[str, Any]] = []
    for sid, row in seeds.items():
        for j, raw in enumerate(written[f"evolve:{sid}"][:new_per_seed]):
            q, reason = parse_question(raw)
            if q is not None:
                key = norm_words(q)
                if key in seen:
                    q, reason = None, "duplicate"
                else:
                    seen.add(key)
            cands.append(
                {
                    "id": f"{task}-evolved-{sid}-{j}",
                    "task": task,
                    "seed_id": sid,
                    "seed_question": row["question"],
                    "question": q,
                    "raw": raw,
                    "reason": reason,
                }
            )
    return cands


def settle_answer(
    cand: dict[str, Any], solutions: list[str], task: str, min_agreement: float
) -> None:
    """Fill ``cand``'s reference answer from its vote ``solutions``, or the reason it has none."""
    from lema.grading import extract_answer

    sols = [clean_path(s) for s in solutions]
    answers = [extract_answer(s, task) if s.strip() else None for s in sols]
    rep, share, idx = majority_answer(answers, task)
    cand["votes"] = len(sols)
    cand["agreement"] = share
    if rep is None:
        cand["reason"] = "no_answer"
    elif share + 1e-9 < min_agreement:
        cand["reason"] = "low_agreement"
    else:
        cand.update({GOLD: rep, "solution": sols[idx], "kept": True})


def evolve(
    corrections: pl.DataFrame,
    task: str,
    model: ModelCall,
    *,
    prompt: str,
    cot_prompt: str,
    new_per_seed: int,
    max_seeds: int | None,
    votes: int,
    min_agreement: float,
    seed: int,
) -> tuple[list[dict[str, Any]], Funnel]:
    """New questions seeded by ``corrections`` (a ``max_seeds`` subset drawn with ``seed``),
    written by ``model``, each with a self-consistency reference answer or the reason it was
    dropped; tokens and cost in ``model.usage``."""
    funnel = Funnel("evolved_questions", task=task, corrector=model.spec.get("name", "corrector"))
    seeds = pick_seeds(corrections, max_seeds, seed)
    funnel.extra["seeds"] = len(seeds)
    if is_gold(model.spec):
        funnel.extra["skipped"] = "the gold corrector cannot write new questions"
        return [], funnel
    written = write_questions(model, seeds, prompt=prompt, new_per_seed=new_per_seed)
    cands = candidates(task, seeds, written, new_per_seed)
    open_cands = [c for c in cands if c["reason"] is None]
    solved = solve_questions(model, cot_prompt, open_cands, "vote", n=votes)
    for c in cands:
        c.update({GOLD: None, "solution": None, "agreement": None, "votes": 0, "kept": False})
        if c["reason"] is None:
            settle_answer(c, solved[f"vote:{c['id']}"][:votes], task, min_agreement)
        funnel.record(c["kept"], c["reason"])
    return cands, funnel
