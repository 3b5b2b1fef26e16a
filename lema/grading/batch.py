"""Batch grading: many (completion, gold, task) items at once, the one way every stage grades
in bulk (``lema sample`` grades its paths, ``lema eval`` / ``lema predict`` their predictions).

``grade_batch(items, workers=..., timeout_s=...)`` returns one :class:`Graded` ``(pred,
correct, timed_out)`` per item, in input order. Per item: an empty completion has no answer;
else ``pred = extract_answer(completion, task)`` and ``correct = equivalent(pred, gold, task)``
(False without an answer or a gold answer); an item of a CSQA-kind task may carry its
candidate answers as a fourth element, passed on as ``choices`` (``pred``: the chosen
candidate's text). An item of a table that says how each row is
graded (an evaluation-only benchmark's ``answer_type``, :func:`lema.grading.typed.typed_item`)
names a task's grader (numeric: ``gsm8k``, latex: ``math``) or ``choice`` / ``text``, and a
choice item carries its option texts as a fourth element: those two are read by
:mod:`lema.grading.choice`, under the same bound (a choice item whose gold is one of the
option texts, not a letter, is graded as CSQA's candidates are: ``pred`` the candidate).

- **De-duplication**: identical items are graded once (grading is a function of the item).
- **Parallelism, one mechanism**: a ``multiprocessing`` pool of *spawned* processes, each of
  which imports the grader module by name (``grader``, default ``lema.grading``) and holds its
  own sympy worker pool (:mod:`lema.grading.pool`, whose per-call deadline bounds each sympy
  comparison). Spawned, not forked: the caller may hold threads and large libraries (torch
  after in-process model calls), which a fork would copy; SIGALRM-based time bounds also need
  each worker's main thread. ``workers`` defaults to the CPU count, at most 8.
- **Per-item hard bound** (``timeout_s``): items are handed out one at a time (ordered
  ``imap``, chunksize 1), so when the caller waits on item *i* every earlier item is done and
  *i* is running. An item that does not finish within ``timeout_s`` (plus ``STARTUP_S`` for
  the first item after a (re)start, while workers import) is counted wrong with
  ``timed_out=True``; the pool is killed and a fresh one grades the rest. Nothing a model
  wrote can hang the run.
- **Without a bound** (``timeout_s=None``, the sampling stage): a batch of at most
  ``SERIAL_MAX`` distinct items, or ``workers=1``, is graded in this process; larger batches
  use the same pool, in chunks of ``CHUNK`` items.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from lema.grading.choice import (
    extract_candidate,
    extract_choice,
    extract_text_answer,
    grade_choice,
    grade_text,
    is_text_gold,
)

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

#: the module whose ``extract_answer`` and ``equivalent`` grade (loaded by name in workers)
GRADER = "lema.grading"
#: extra seconds the first item after a (re)start of the pool may take: workers import
STARTUP_S = 90.0
#: most distinct items graded in this process when there is no per-item bound
SERIAL_MAX = 64
#: items handed to a worker at a time when there is no per-item bound
CHUNK = 16

#: (completion, gold answer, task), or (completion, gold, kind, option texts or None): kind a
#: task (a CSQA-kind task: the candidates) or ``choice`` / ``text``
#: (lema.grading.typed.typed_item)
Item = (
    tuple[str | None, str | None, str] | tuple[str | None, str | None, str, tuple[str, ...] | None]
)


class Graded(NamedTuple):
    """One graded item: the extracted answer (None: none found), whether it equals the gold
    answer, and whether grading ran out of time (then ``correct`` is False)."""

    pred: str | None
    correct: bool
    timed_out: bool = False


def default_workers() -> int:
    """Grading processes when the caller names none: the CPU count, at most 8."""
    return min(os.cpu_count() or 1, 8)


def grade_item(grader: ModuleType, item: Item) -> tuple[str | None, bool]:
    """(extracted answer, correct) of one (completion, gold, task) with ``grader``'s
    ``extract_answer`` and ``equivalent``."""
    completion, gold, task = item[:3]
    choices = item[3] if len(item) > 3 else None
    if not completion:
        return None, False
    if task in ("choice", "text"):
        return _grade_other(completion, gold, task, choices)
    if not choices:  # the grader-module contract: extract_answer(completion, task)
        pred = grader.extract_answer(completion, task)
        if pred is None or gold is None:
            return pred, False
        return pred, bool(grader.equivalent(pred, gold, task))
    pred = grader.extract_answer(completion, task, choices)
    if pred is None or gold is None:
        return pred, False
    return pred, bool(grader.equivalent(pred, gold, task, choices))


def _grade_other(
    completion: str, gold: str | None, kind: str, choices: tuple[str, ...] | None
) -> tuple[str | None, bool]:
    """(the option letter or text answer stated, correct) of a choice or text item."""
    if kind == "choice" and is_text_gold(gold, choices):
        assert choices is not None
        pred = extract_candidate(completion, choices)
        return pred, pred is not None and gold is not None and grade_choice(
            completion, gold, choices
        )
    if kind == "choice":
        pred = extract_choice(completion, choices)
        return pred, pred is not None and gold is not None and grade_choice(
            completion, gold, choices
        )
    pred = extract_text_answer(completion)
    return pred, pred is not None and gold is not None and grade_text(completion, gold)


def grade_batch(
    items: Sequence[Item],
    *,
    workers: int | None = None,
    timeout_s: float | None = None,
    grader: str = GRADER,
) -> list[Graded]:
    """Grade each (completion, gold, task) item; see the module docstring for the mechanism.

    ``workers``: grading processes (None: :func:`default_workers`); ``timeout_s``: the hard
    bound per item in seconds (None: no bound beyond the sympy pool's own); ``grader``: the
    grading module's name (tests pass a stand-in)."""
    unique = list(dict.fromkeys(items))
    if not unique:
        return []
    workers = max(1, min(workers or default_workers(), len(unique)))
    if timeout_s is None and (workers == 1 or len(unique) <= SERIAL_MAX):
        module = importlib.import_module(grader)
        graded = [Graded(*grade_item(module, it)) for it in unique]
    else:
        graded = _grade_in_pool(unique, workers, timeout_s, grader)
    table = dict(zip(unique, graded, strict=True))
    return [table[it] for it in items]


# ------------------------------------------------------------------ the spawned worker pool

_grader: ModuleType | None = None


def _init_worker(grader: str) -> None:
    global _grader
    _grader = importlib.import_module(grader)


def _grade_in_worker(item: Item) -> tuple[str | None, bool]:
    assert _grader is not None, "worker not initialised"
    return grade_item(_grader, item)


def _grade_in_pool(
    items: list[Item], workers: int, timeout_s: float | None, grader: str
) -> list[Graded]:
    """Grade ``items`` in spawned processes; a pool is restarted after each timed-out item."""
    out: list[Graded] = []
    ctx = multiprocessing.get_context("spawn")
    while len(out) < len(items):
        pool = ctx.Pool(workers, initializer=_init_worker, initargs=(grader,))
        try:
            out.extend(_drain(pool, items[len(out) :], timeout_s))
        finally:
            pool.terminate()
            pool.join()
    return out


def _drain(pool: Pool, items: list[Item], timeout_s: float | None) -> list[Graded]:
    """Results of ``items`` in order, up to and including the first one that times out."""
    if timeout_s is None:
        return [Graded(*r) for r in pool.imap(_grade_in_worker, items, chunksize=CHUNK)]
    results = pool.imap(_grade_in_worker, items, chunksize=1)
    out: list[Graded] = []
    for _ in items:
        try:
            pred, correct = results.next(timeout_s + (0.0 if out else STARTUP_S))
        except multiprocessing.TimeoutError:
            out.append(Graded(None, False, True))
            break
        out.append(Graded(pred, correct))
    return out
