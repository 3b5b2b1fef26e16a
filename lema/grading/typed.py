"""Grading by answer type, for tables that say how each row is graded (the evaluation-only
benchmarks' ``answer_type`` column, :mod:`lema.data.benchmarks`):

- ``numeric``: the GSM8K grader (``grade(..., "gsm8k")``);
- ``latex``: the MATH grader (``grade(..., "math")``: fractions, ratios, clock times, LaTeX);
- ``choice``: the option letter (:func:`lema.grading.choice.grade_choice`, with the options),
  or, when the gold is one of the options' texts (CSQA's candidate answers), the candidate
  the completion names (:func:`lema.grading.choice.extract_candidate`: exact after
  normalisation, a letter marker, a clause's head, else the closest candidate by edit
  distance when it is close enough; otherwise no answer);
- ``text``: a short text answer (:func:`lema.grading.choice.grade_text`).
"""

from __future__ import annotations

from collections.abc import Sequence

from lema.grading.choice import grade_choice, grade_text
from lema.grading.equivalence import grade

#: answer type -> the task whose grader reads it (choice and text have their own)
GRADING_TASK = {"numeric": "gsm8k", "latex": "math"}
ANSWER_TYPES = ("numeric", "latex", "choice", "text")


def grading_kind(answer_type: str) -> str:
    """What grades an answer type in :func:`lema.grading.grade_batch`: a task's grader
    (``gsm8k`` for numeric, ``math`` for latex), or ``choice`` / ``text``."""
    if answer_type not in ANSWER_TYPES:
        raise ValueError(
            f"unknown answer type {answer_type!r} (expected one of {', '.join(ANSWER_TYPES)})"
        )
    return GRADING_TASK.get(answer_type, answer_type)


def typed_item(
    completion: str | None,
    gold: str | None,
    answer_type: str,
    choices: Sequence[str] | None = None,
) -> tuple[str | None, str | None, str, tuple[str, ...] | None]:
    """The :func:`lema.grading.grade_batch` item of a row graded as ``answer_type`` says:
    grading it gives what :func:`grade_typed` gives, under the batch's per-item time bound."""
    kind = grading_kind(answer_type)
    return (completion, gold, kind, tuple(choices) if kind == "choice" and choices else None)


def grade_typed(
    completion: str | None,
    gold: str,
    answer_type: str,
    choices: Sequence[str] | None = None,
) -> bool:
    """Whether ``completion`` states ``gold``, read as ``answer_type`` says (one of
    :data:`ANSWER_TYPES`; ``choices``: a multiple-choice row's option texts)."""
    if answer_type == "choice":
        return grade_choice(completion, gold, choices)
    if answer_type == "text":
        return grade_text(completion, gold)
    if answer_type in GRADING_TASK:
        return grade(completion, gold, GRADING_TASK[answer_type])
    raise ValueError(
        f"unknown answer type {answer_type!r} (expected one of {', '.join(ANSWER_TYPES)})"
    )
