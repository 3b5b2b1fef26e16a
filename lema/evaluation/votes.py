"""Majority voting over sampled answers (maj@k), the votes clustered by
:func:`lema.grading.equivalent`.

Per problem, the n sampled completions give extracted answers a_0 … a_{n-1} (None: the
sample states no answer and casts no vote) and verdicts (the answer is equivalent to the
gold answer or not). Votes go to clusters of equivalent answers:

- **the gold cluster**: every correct sample. Each correct answer is equivalent to the gold
  answer, so they are one answer; and no wrong answer belongs with them (it would be
  equivalent to the gold answer, and so correct). So ``0.5`` and ``\\frac{1}{2}`` are one vote
  when the gold answer is ``1/2``, without comparing them with each other.
- **wrong answers** are clustered among themselves. Identical strings (after stripping) are
  one answer; distinct ones, in order of first appearance, each join the cluster of the
  earliest cluster *leader* (a cluster's first answer) they are equivalent to, else start a
  new cluster. ``equivalent(later, earlier, task)`` decides, the earlier answer in the gold
  answer's place. So ``0.5`` and ``\\frac12`` are one vote also when both are wrong.

A sample's **label** is the index of its cluster's first sample. Labels of the first k samples
are the clustering of the first k samples alone (a leader depends only on the answers before
it), so one clustering of the n samples serves maj@k for every k.

**maj@k** of a problem: among the first k samples' votes, the cluster with the most votes
wins; a tie goes to the cluster whose first vote came earliest (the smallest label). The
problem counts as solved when the winner is the gold cluster; with no votes at all it does
not.

The answers clustered are what :func:`lema.grading.grade_batch` extracted, and ``task`` is the
table's task: for a CSQA-kind task, graded with its candidates, each answer is the chosen
candidate's text, and ``equivalent(later, earlier, "csqa")`` (no candidates passed) is the
equality of the normalised texts, so equal candidates are one vote.

Only **contested** problems need comparisons: those where, for some k, the first k samples
hold a correct vote and more wrong votes than correct ones, or as many with a wrong vote
first (a tie the gold cluster would lose). Elsewhere no
clustering of the wrong answers can change any maj@k — the gold cluster outvotes all wrong
votes together, or it has no vote — so their wrong answers are grouped by identical text
only, and their labels still give every maj@k exactly. (A weak model's problems are mostly
all-wrong, a strong model's mostly won outright: few comparisons either way.)

The comparisons of every contested problem's distinct wrong answers run as one
:func:`lema.grading.grade_batch` call with this module as the grader (``extract_answer``
below returns an answer as it is, ``equivalent`` is lema.grading's): the same worker
processes and hard per-item time bound as all other grading; a comparison that runs out of
time counts as "not equivalent".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from lema.grading import equivalent, grade_batch

__all__ = [
    "cluster_labels",
    "contested",
    "equivalent",
    "extract_answer",
    "label_samples",
    "majority_correct",
]


def extract_answer(answer: str, task: str) -> str:
    """What :func:`lema.grading.grade_batch` extracts from an item here: the item is already
    an extracted answer."""
    return answer


def _wrong_answers(answers: Sequence[str | None], correct: Sequence[bool]) -> list[str]:
    """The distinct wrong answers (stripped), in order of first appearance."""
    out = dict.fromkeys(
        a.strip() for a, ok in zip(answers, correct, strict=True) if a is not None and not ok
    )
    return [a for a in out if a]


def comparisons(answers: Sequence[str | None], correct: Sequence[bool]) -> list[tuple[str, str]]:
    """The (later, earlier) pairs of distinct wrong answers the clustering may ask about."""
    wrong = _wrong_answers(answers, correct)
    return [(wrong[j], wrong[i]) for j in range(len(wrong)) for i in range(j)]


def contested(answers: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Whether the wrong votes could outvote the gold cluster in some prefix of the samples
    (it has a vote, and no more than the wrong votes together, or as many but a wrong vote came
    first): only then can clustering the wrong answers change a majority."""
    right = wrong = 0
    wrong_first = False
    for answer, ok in zip(answers, correct, strict=True):
        if answer is None or not answer.strip():
            continue
        wrong_first = wrong_first or (not ok and right == 0)
        right, wrong = right + bool(ok), wrong + (not ok)
        if right and (right < wrong or (right == wrong and wrong_first)):
            return True
    return False


def cluster_labels(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    same: Callable[[str, str], bool],
) -> list[int | None]:
    """Each sample's label (the index of its cluster's first sample; None: no vote), with
    ``same(later, earlier)`` deciding whether two distinct wrong answers are equivalent."""
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} verdicts")
    leaders: list[tuple[str, int]] = []  # (leader answer, label) of the wrong clusters
    label_of: dict[str, int] = {}  # distinct wrong answer -> label
    gold_label: int | None = None
    labels: list[int | None] = []
    for i, (answer, ok) in enumerate(zip(answers, correct, strict=True)):
        text = answer.strip() if answer is not None else ""
        if not text:
            labels.append(None)
        elif ok:
            gold_label = i if gold_label is None else gold_label
            labels.append(gold_label)
        else:
            if text not in label_of:
                label_of[text] = next((lab for lead, lab in leaders if same(text, lead)), i)
                if label_of[text] == i:
                    leaders.append((text, i))
            labels.append(label_of[text])
    return labels


def majority_correct(labels: Sequence[int | None], correct: Sequence[bool], k: int) -> bool:
    """Whether the majority vote of the first ``k`` samples is the gold cluster (ties: the
    cluster whose first vote came earliest; no votes: not solved)."""
    votes = Counter(lab for lab in labels[:k] if lab is not None)
    if not votes:
        return False
    winner = min(votes, key=lambda lab: (-votes[lab], lab))
    return bool(correct[winner])


def label_samples(
    answers: Sequence[Sequence[str | None]],
    correct: Sequence[Sequence[bool]],
    task: str,
    *,
    workers: int | None = None,
    timeout_s: float | None = None,
) -> list[list[int | None]]:
    """The labels of every problem's samples (``answers[p][i]``, ``correct[p][i]``); the
    comparisons of all contested problems go to one :func:`grade_batch` call."""
    disputed = [contested(a, c) for a, c in zip(answers, correct, strict=True)]
    pairs = list(
        dict.fromkeys(
            p
            for a, c, d in zip(answers, correct, disputed, strict=True)
            if d
            for p in comparisons(a, c)
        )
    )
    graded = grade_batch(
        [(later, earlier, task) for later, earlier in pairs],
        workers=workers,
        timeout_s=timeout_s,
        grader=__name__,
    )
    verdict = {p: g.correct for p, g in zip(pairs, graded, strict=True)}
    return [
        cluster_labels(a, c, (lambda x, y: verdict[(x, y)]) if d else (lambda x, y: False))
        for a, c, d in zip(answers, correct, disputed, strict=True)
    ]
