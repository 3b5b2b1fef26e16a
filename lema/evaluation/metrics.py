"""Grading model completions and scoring them: `lema eval`.

``grade_frame`` extracts the final answer of every completion and compares it with the gold
answer with :func:`lema.grading.grade_batch`, in worker processes with a hard per-item time
bound: an item that does not finish in time is counted wrong (and as a timeout), its worker is
killed, and grading goes on with the rest. Nothing a model wrote can hang the run.

Every row is also graded with the paper's own rule (:func:`lema.grading.paper_correct`: the
text after the last "The answer is", string matching after normalisation on MATH, float
equality on GSM8K), into ``correct_paper``.

``compute_metrics`` turns a graded predictions table into pass@1 with its Wilson 95 %
interval (``ci95``, ``ci_method``), the paper rule's pass@1 beside it
(``pass@1_paper_rule``, ``ci95_paper_rule``), counts, the no-answer rate and per-level /
per-subject breakdowns (MATH). `lema eval` does both for a predictions file
made anywhere (a Parquet, JSONL or CSV file with at least ``completion`` and ``gold``
columns): it re-grades every row from the completion text, so a changed grader never needs
new decoding.

With sampled decoding (``evaluation.samples`` n > 1; `lema predict --samples n`) a
predictions table also holds n sampled completions per problem (``samples``, a list column).
``grade_frame`` grades them in the same :func:`grade_batch` call as the greedy completions
(``samples_extracted``, ``samples_correct``, ``samples_timed_out``) and clusters their answers
into votes (``samples_vote``, lema.evaluation.votes); ``compute_metrics`` adds

- ``pass@k`` for k = 1, 2, 4, … and n: the mean over problems of the unbiased estimator
  1 − C(n−c, k)/C(n, k) (Chen et al., 2021; c correct of a problem's n samples), with the
  Wilson interval at that mean over the N problems (lema.evaluation.stats.mean_interval:
  exact Wilson for k = n, conservative below, where the per-problem estimates are not 0/1);
- ``maj@k`` for the same k: the share of problems whose majority vote among their first k
  samples is the gold answer (votes clustered by ``equivalent()``, ties to the cluster voted
  for first, no-answer samples do not vote), with its Wilson interval;

each ``{"value", "ci95", "problems"}`` (problems with at least k samples), and ``samples``:
the sample count and how the intervals and ties are made. The headline ``pass@1`` stays the
greedy one, the figure the paper reports.

A table with an ``answer_type`` column (an evaluation-only benchmark's, lema.data.benchmarks)
is graded row by row as that column says (:func:`lema.grading.typed_item`: numeric with the
GSM8K grader, latex with the MATH grader, choice and text with lema.grading.choice), whatever
the task; its metrics gain ``by_answer_type``. The paper's rule is applied to numeric and latex
rows (as GSM8K and MATH) and to choice rows whose gold is a candidate's text (as CSQA): an
option-letter choice (AQuA) or a text row has none (``correct_paper`` null), and a table
holding any such row has ``pass@1_paper_rule`` null, ``paper_rule`` saying why.

A CSQA-kind task's table with a ``choices`` column (the candidate answers) is graded with
them: ``extracted`` is the chosen candidate's text (lema.grading.choice.extract_candidate),
and the paper's rule maps the text after "The answer is" to the nearest candidate.

pass@1 and every rate in metrics.json are percentages (0-100), like the paper's tables.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import DataError
from lema.evaluation.stats import CI_METHOD, mean_interval, pass_at_k, wilson_interval
from lema.evaluation.votes import label_samples, majority_correct
from lema.grading import (
    GRADER,
    PAPER_RULE,
    TASKS,
    Graded,
    grade_batch,
    paper_correct,
    typed_item,
)
from lema.grading.choice import is_text_gold
from lema.grading.extract import check_task
from lema.io import write_json, write_parquet
from lema.tables import (
    ANSWER_TYPE,
    CHOICES,
    COMPLETION,
    CORRECT_PAPER,
    GOLD,
    ID,
    LEVEL,
    PREDICTION_COLUMNS,
    PREDICTION_TEXT_COLUMNS,
    QUESTION,
    SAMPLE_COLUMNS,
    SAMPLES,
    SAMPLES_CORRECT,
    SAMPLES_EXTRACTED,
    SAMPLES_TIMED_OUT,
    SAMPLES_VOTE,
    SUBJECT,
)

DEFAULT_TIMEOUT_S = 20.0
#: metrics.json's ``paper_rule`` when some row's answer is a choice or a text
NO_PAPER_RULE = (
    "none: the paper's rule reads numbers (GSM8K) and MATH answers; some rows here are "
    "multiple-choice or text answers"
)
PASS_K_CI_METHOD = "wilson at the mean of the per-problem estimates (conservative)"
VOTE_TIE_RULE = "a tie goes to the cluster whose first vote came earliest"


# ---------------------------------------------------------------------------- metrics


def _pct(num: int, den: int) -> float:
    return round(100.0 * num / den, 2) if den else 0.0


def _level_key(value: Any) -> str:
    """'Level 3', 3 or '3' -> '3' (other strings as they are)."""
    text = str(value).strip()
    m = re.fullmatch(r"(?i)(?:level\s*)?(\d+)", text)
    return m.group(1) if m else text


def _breakdown(frame: pl.DataFrame, column: str) -> dict[str, dict[str, Any]]:
    if column not in frame.columns:
        return {}
    values = frame[column]
    if values.null_count() == frame.height:
        return {}
    keys = [
        ("?" if v is None else (_level_key(v) if column == "level" else str(v))) for v in values
    ]
    table: dict[str, list[int]] = {}
    for key, ok, none in zip(keys, frame["correct"], frame["extracted"].is_null(), strict=True):
        acc = table.setdefault(key, [0, 0, 0])
        acc[0] += 1
        acc[1] += bool(ok)
        acc[2] += bool(none)

    def order(k: str) -> tuple[int, Any]:
        return (0, int(k)) if k.isdigit() else (1, k)

    return {
        k: {
            "n": v[0],
            "correct": v[1],
            "pass@1": _pct(v[1], v[0]),
            "ci95": wilson_interval(v[1], v[0]),
            "no_answer_rate": _pct(v[2], v[0]),
        }
        for k, v in sorted(table.items(), key=lambda kv: order(kv[0]))
    }


def compute_metrics(frame: pl.DataFrame, **meta: Any) -> dict[str, Any]:
    """Metrics of a graded predictions table (columns ``extracted`` and ``correct``; with
    ``correct_paper``, the paper rule's figures too)."""
    n = frame.height
    correct = int(frame["correct"].fill_null(False).sum()) if n else 0
    no_answer = int(frame["extracted"].is_null().sum()) if n else 0
    out: dict[str, Any] = {k: v for k, v in meta.items() if v is not None}
    out.update(
        {
            "n": n,
            "correct": correct,
            "pass@1": _pct(correct, n),
            "ci95": wilson_interval(correct, n),
            "ci_method": CI_METHOD,
        }
    )
    if CORRECT_PAPER in frame.columns and frame[CORRECT_PAPER].null_count():
        out.update(
            {
                "correct_paper_rule": None,
                "pass@1_paper_rule": None,
                "ci95_paper_rule": None,
                "paper_rule": NO_PAPER_RULE,
            }
        )
    elif CORRECT_PAPER in frame.columns:
        paper = int(frame[CORRECT_PAPER].fill_null(False).sum()) if n else 0
        out.update(
            {
                "correct_paper_rule": paper,
                "pass@1_paper_rule": _pct(paper, n),
                "ci95_paper_rule": wilson_interval(paper, n),
                "paper_rule": PAPER_RULE,
            }
        )
    out.update(
        {
            "no_answer": no_answer,
            "no_answer_rate": _pct(no_answer, n),
        }
    )
    if "timed_out" in frame.columns:
        out["timeouts"] = int(frame["timed_out"].sum())
    if SAMPLES_CORRECT in frame.columns and SAMPLES_VOTE in frame.columns:
        out.update(sampled_metrics(frame))
    by_level = _breakdown(frame, "level")
    by_subject = _breakdown(frame, "subject")
    if by_level:
        out["by_level"] = by_level
    if by_subject:
        out["by_subject"] = by_subject
    by_type = _breakdown(frame, ANSWER_TYPE)
    if by_type:
        out["by_answer_type"] = by_type
    return out


def sample_ks(n: int) -> list[int]:
    """The k of pass@k and maj@k for up to ``n`` samples: 1, 2, 4, … up to n, and n."""
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks + ([n] if n and ks[-1] != n else [])


def sampled_metrics(frame: pl.DataFrame) -> dict[str, Any]:
    """pass@k, maj@k and the ``samples`` record of a graded table with sample columns
    (empty when no problem has samples)."""
    correct = [list(c or []) for c in frame[SAMPLES_CORRECT].to_list()]
    votes = [list(v or []) for v in frame[SAMPLES_VOTE].to_list()]
    sizes = [len(c) for c in correct]
    n_max = max(sizes, default=0)
    if n_max == 0:
        return {}
    passes: dict[str, dict[str, Any]] = {}
    majority: dict[str, dict[str, Any]] = {}
    for k in sample_ks(n_max):
        rows = [(c, v) for c, v in zip(correct, votes, strict=True) if len(c) >= k]
        estimates = [pass_at_k(len(c), sum(map(bool, c)), k) for c, _ in rows]
        wins = sum(majority_correct(v, c, k) for c, v in rows)
        passes[str(k)] = {
            "value": round(100.0 * sum(estimates) / len(rows), 2),
            "ci95": mean_interval(estimates),
            "problems": len(rows),
        }
        majority[str(k)] = {
            "value": _pct(wins, len(rows)),
            "ci95": wilson_interval(wins, len(rows)),
            "problems": len(rows),
        }
    extracted = [a for row in frame[SAMPLES_EXTRACTED].to_list() for a in row or []]
    timed_out = [t for row in frame[SAMPLES_TIMED_OUT].to_list() for t in row or []]
    total = sum(sizes)
    record = {
        "n": n_max,
        "problems": sum(1 for s in sizes if s),
        "completions": total,
        "correct": sum(sum(map(bool, c)) for c in correct),
        "no_answer_rate": _pct(sum(a is None for a in extracted), total),
        "timeouts": sum(map(bool, timed_out)),
        "pass@k_ci_method": PASS_K_CI_METHOD,
        "maj@k_ci_method": CI_METHOD,
        "maj@k_tie_rule": VOTE_TIE_RULE,
    }
    return {"samples": record, "pass@k": passes, "maj@k": majority}


# ---------------------------------------------------------------------------- files


def _read_jsonl_predictions(path: Path) -> pl.DataFrame:
    """JSONL predictions line by line, so that a bad line is named (file:line)."""
    from lema.io import read_jsonl

    rows = []
    for _, row in read_jsonl(path):
        for col in PREDICTION_TEXT_COLUMNS:
            if row.get(col) is not None and not isinstance(row[col], str):
                row[col] = str(row[col])
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no predictions (the file has no rows)")
    return pl.from_dicts(rows, infer_schema_length=None)


def read_predictions(path: str | Path) -> pl.DataFrame:
    """Read a predictions file (.parquet, .jsonl/.json or .csv); needs completion and gold."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = _read_jsonl_predictions(path)
        elif suffix == ".json":
            frame = pl.read_json(path, infer_schema_length=None)
        elif suffix in (".csv", ".tsv"):
            frame = pl.read_csv(
                path, separator="\t" if suffix == ".tsv" else ",", infer_schema=False
            )
        else:
            raise DataError(f"{path}: unknown predictions format (use .parquet, .jsonl or .csv)")
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: cannot read predictions ({exc})") from None
    missing = [c for c in (COMPLETION, GOLD) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (have: {', '.join(frame.columns)})"
        )
    if SAMPLES in frame.columns:
        frame = _sample_lists(frame, path)
    if ID not in frame.columns:
        frame = frame.with_row_index(ID).with_columns(pl.col(ID).cast(pl.String))
    for col in (QUESTION, LEVEL, SUBJECT):
        if col not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(col))
    return frame.with_columns(
        pl.col(COMPLETION).cast(pl.String),
        pl.col(GOLD).cast(pl.String),
        pl.col(ID).cast(pl.String),
    )


def grading_items(frame: pl.DataFrame, task: str) -> list[Any]:
    """The :func:`lema.grading.grade_batch` items of a predictions table: (completion, gold,
    task) (a CSQA-kind task's table with a ``choices`` column: (completion, gold, task,
    candidates)), or with an ``answer_type`` column each row's
    :func:`lema.grading.typed_item`."""
    completions, gold = frame[COMPLETION].to_list(), frame[GOLD].to_list()
    if ANSWER_TYPE not in frame.columns:
        if CHOICES in frame.columns and _csqa_kind(task):
            return [
                (c, g, task, tuple(o) if o else None)
                for c, g, o in zip(completions, gold, frame[CHOICES].to_list(), strict=True)
            ]
        return [(c, g, task) for c, g in zip(completions, gold, strict=True)]
    types = frame[ANSWER_TYPE].to_list()
    choices = frame[CHOICES].to_list() if CHOICES in frame.columns else [None] * frame.height
    for i, t in enumerate(types):
        if t is None:
            raise DataError(f"row {i + 1} ({frame[ID][i]}): no answer_type")
    try:
        return [
            typed_item(c, g, t, o)
            for c, g, t, o in zip(completions, gold, types, choices, strict=True)
        ]
    except ValueError as exc:
        raise DataError(f"column '{ANSWER_TYPE}': {exc}") from None


def _csqa_kind(task: str) -> bool:
    """Whether ``task`` is graded as CSQA (its kind, :func:`lema.grading.extract.check_task`)."""
    try:
        return check_task(task) == "csqa"
    except ValueError:
        return False


def _paper_correct(item: Any) -> bool | None:
    """The paper's rule on one grading item: a GSM8K/MATH/CSQA-kind item, and a choice item
    whose gold is a candidate's text (CSQA's rule); None for an option-letter choice (AQuA)
    or a text answer: it has none."""
    completion, gold, kind = item[:3]
    choices = item[3] if len(item) > 3 else None
    if kind == "choice":
        return (
            paper_correct(completion, gold, "csqa", choices)
            if is_text_gold(gold, choices)
            else None
        )
    if kind in TASKS or _csqa_kind(kind):
        return paper_correct(completion, gold, kind, choices)
    return None


def _sample_lists(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """``frame`` with its ``samples`` column as lists of strings (DataError when it is not
    a list column)."""
    dtype = frame.schema[SAMPLES]
    if dtype == pl.Null:
        return frame.with_columns(pl.col(SAMPLES).cast(pl.List(pl.String)))
    if not isinstance(dtype, pl.List):
        raise DataError(
            f"{path}: column '{SAMPLES}' must hold a list of completions per row, got {dtype}"
        )
    try:
        return frame.with_columns(pl.col(SAMPLES).cast(pl.List(pl.String)))
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{path}: column '{SAMPLES}' is not a list of texts ({exc})") from None


def _split(flat: list[Graded], sizes: list[int]) -> list[list[Graded]]:
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out


def _with_samples(
    frame: pl.DataFrame,
    task: str,
    graded: list[Graded],
    sizes: list[int],
    *,
    workers: int | None,
    timeout_s: float,
) -> pl.DataFrame:
    """``frame`` with the sample columns from the samples' grades (``graded``, flat, in
    order) and their vote clusters."""
    rows = _split(graded, sizes)
    extracted = [[g.pred for g in row] for row in rows]
    correct = [[g.correct for g in row] for row in rows]
    votes = label_samples(extracted, correct, task, workers=workers, timeout_s=timeout_s)
    return frame.with_columns(
        pl.Series(SAMPLES_EXTRACTED, extracted, dtype=pl.List(pl.String)),
        pl.Series(SAMPLES_CORRECT, correct, dtype=pl.List(pl.Boolean)),
        pl.Series(SAMPLES_TIMED_OUT, [[g.timed_out for g in r] for r in rows], pl.List(pl.Boolean)),
        pl.Series(SAMPLES_VOTE, votes, dtype=pl.List(pl.Int64)),
    )


def grade_frame(
    frame: pl.DataFrame,
    task: str,
    *,
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> pl.DataFrame:
    """``frame`` with ``extracted``, ``correct``, ``timed_out`` and ``correct_paper`` (the
    paper's rule) (re)computed from the text (``workers`` grading processes, default the CPU
    count up to 8; ``timeout_s`` per item); with a ``samples`` column, the sample columns
    too (the samples graded in the same batch as the greedy completions, each sample as its
    row is: by the task, or by the row's ``answer_type``)."""
    items = grading_items(frame, task)
    sizes: list[int] = []
    if SAMPLES in frame.columns:
        lists = [list(s or []) for s in frame[SAMPLES].to_list()]
        sizes = [len(s) for s in lists]
        rows = list(items)
        items += [(c, *row[1:]) for s, row in zip(lists, rows, strict=True) for c in s]
    graded_all = grade_batch(items, workers=workers, timeout_s=timeout_s)
    graded_items = graded_all[: frame.height]
    graded = frame.with_columns(
        pl.Series("extracted", [g.pred for g in graded_items], dtype=pl.String),
        pl.Series("correct", [g.correct for g in graded_items], dtype=pl.Boolean),
        pl.Series("timed_out", [g.timed_out for g in graded_items], dtype=pl.Boolean),
        pl.Series(
            CORRECT_PAPER,
            [_paper_correct(item) for item in items[: frame.height]],
            dtype=pl.Boolean,
        ),
    )
    if SAMPLES in frame.columns:
        graded = _with_samples(
            graded, task, graded_all[frame.height :], sizes, workers=workers, timeout_s=timeout_s
        )
    rest = [c for c in graded.columns if c not in PREDICTION_COLUMNS and c not in SAMPLE_COLUMNS]
    tail = [c for c in SAMPLE_COLUMNS if c in graded.columns]
    return graded.select([*PREDICTION_COLUMNS, *rest, *tail])


def evaluate_file(
    predictions: str | Path,
    task: str,
    *,
    output: str | Path | None = None,
    graded_output: str | Path | None = None,
    workers: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Re-grade a predictions file and return (and optionally write) its metrics; ``meta``
    (task, backbone, mix, model: None values left out) leads them, in its order."""
    frame = read_predictions(predictions)
    started = time.perf_counter()
    graded = grade_frame(frame, task, workers=workers, timeout_s=timeout_s)
    context = {k: v for k, v in (meta or {}).items() if v is not None}
    context["task"] = task
    metrics = compute_metrics(graded, **context)
    if "correct" in frame.columns and frame["correct"].dtype == pl.Boolean:
        metrics["changed_by_regrading"] = int(
            (frame["correct"].fill_null(False) != graded["correct"]).sum()
        )
    metrics["grader"] = GRADER
    metrics["grading_seconds"] = round(time.perf_counter() - started, 2)
    if output is not None:
        write_json(output, metrics)
    if graded_output is not None:
        write_parquet(graded_output, graded)
    return metrics
