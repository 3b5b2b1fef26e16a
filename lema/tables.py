"""Every table lema writes: its schema (column -> polars dtype), its column names, read/write.

A column is named here once; producers write with these schemas and consumers name the
columns they read with these constants. The reference ("gold") answer is :data:`GOLD` in
every table — next to a model's ``pred_answer``, ``final_answer`` or ``extracted`` it cannot
be mistaken for one.

Tables (one schema each):

- raw data ``data/raw/{task}/{split}.parquet`` (and ``data/warmup/{task}.parquet``):
  :data:`RAW_SCHEMA`; an evaluation-only benchmark's ``data/raw/{benchmark}/test.parquet``:
  :data:`BENCHMARK_SCHEMA` (the raw columns, then ``answer_type`` and ``choices``);
- sampled paths ``results/{task}/paths/{gen}.parquet`` and the mistakes among them
  (``…/mistakes/{gen}.parquet``, the same columns): :data:`PATH_SCHEMA`;
- corrections ``…/corrections/{gen}.parquet``: :data:`CORRECTION_SCHEMA`;
- evolved questions ``…/evolved/questions.parquet``: :data:`EVOLVED_SCHEMA` (read like raw
  questions by the sampling stage: kept rows carry :data:`GOLD`, the majority answer);
- CoT data ``…/cot/cot.parquet``: :data:`COT_SCHEMA`;
- the decontaminated training pool ``…/train/pool.parquet``: :data:`POOL_SCHEMA` (the
  JSONL mixes hold its :data:`MIX_COLUMNS`);
- predictions ``…/eval/{backbone}/{mix}/predictions.parquet``: :data:`PREDICTION_COLUMNS`
  first, then ``timed_out`` and :data:`CORRECT_PAPER`, and with ``evaluation.samples`` > 1
  the list columns :data:`SAMPLE_COLUMNS` (any predictions file of the user's is read by
  ``lema eval``).

Tables written by earlier versions of lema named the gold answer differently;
:func:`read_table` renames those columns on read (:data:`LEGACY_RENAMES`), so results on disk
keep working without a rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import DataError
from lema.io import write_parquet

# --------------------------------------------------------------------------- column names
ID = "id"
TASK = "task"
SPLIT = "split"
QUESTION = "question"
SOLUTION = "solution"  # the gold solution (null for evolved questions' paths)
GOLD = "gold"  # the reference answer, in every table
LEVEL = "level"
SUBJECT = "subject"
QUESTION_ID = "question_id"
PATH_ID = "path_id"
CORRECTION_ID = "correction_id"
COT_ID = "cot_id"
GENERATOR = "generator"
CORRECTOR = "corrector"
PATH = "path"
RAW = "raw"
EXPLANATION = "explanation"
INCORRECT_STEP = "incorrect_step"
CORRECTED = "corrected"
KIND = "kind"
SOURCE = "source"
KEPT = "kept"
REASON = "reason"
PROMPT = "prompt"
COMPLETION = "completion"
EXTRACTED = "extracted"
CORRECT = "correct"
#: correct under the paper's own rule (lema.grading.paper_rule), beside ``correct``
CORRECT_PAPER = "correct_paper"
#: how a benchmark row's gold is graded: numeric | latex | choice | text (lema.grading.typed)
ANSWER_TYPE = "answer_type"
#: a multiple-choice row's option texts, in letter order (A, B, ...); null otherwise
CHOICES = "choices"

# --------------------------------------------------------------------------- schemas
RAW_SCHEMA: dict[str, Any] = {
    ID: pl.String,
    TASK: pl.String,
    SPLIT: pl.String,
    QUESTION: pl.String,
    SOLUTION: pl.String,
    GOLD: pl.String,  # null for a MATH solution whose last \boxed{} is empty
    LEVEL: pl.Int64,
    SUBJECT: pl.String,
}
RAW_COLUMNS = tuple(RAW_SCHEMA)

# an evaluation-only benchmark's test table (data/raw/{benchmark}/test.parquet): the raw
# columns, then how each row is graded
BENCHMARK_SCHEMA: dict[str, Any] = {
    **RAW_SCHEMA,
    ANSWER_TYPE: pl.String,
    CHOICES: pl.List(pl.String),
}
BENCHMARK_COLUMNS = tuple(BENCHMARK_SCHEMA)

PATH_SCHEMA: dict[str, Any] = {
    PATH_ID: pl.String,
    QUESTION_ID: pl.String,
    TASK: pl.String,
    QUESTION: pl.String,
    SOLUTION: pl.String,  # the gold solution (null for evolved questions)
    GOLD: pl.String,
    GENERATOR: pl.String,
    "sample": pl.Int64,
    COMPLETION: pl.String,  # raw model output
    PATH: pl.String,  # the output cut after its answer line (what is graded and corrected)
    "pred_answer": pl.String,
    CORRECT: pl.Boolean,
    CHOICES: pl.List(pl.String),  # a multiple-choice question's candidates (null otherwise)
}

CORRECTION_SCHEMA: dict[str, Any] = {
    CORRECTION_ID: pl.String,
    PATH_ID: pl.String,
    QUESTION_ID: pl.String,
    TASK: pl.String,
    QUESTION: pl.String,
    GOLD: pl.String,
    GENERATOR: pl.String,
    CORRECTOR: pl.String,
    PATH: pl.String,  # the wrong path that was corrected
    RAW: pl.String,  # the corrector's output as written
    INCORRECT_STEP: pl.String,  # "Step N" or the step as the corrector quoted it
    "step_index": pl.Int64,
    EXPLANATION: pl.String,
    CORRECTED: pl.String,  # solution from the incorrect step on, ending in "The answer is X."
    "final_answer": pl.String,
    KEPT: pl.Boolean,
    REASON: pl.String,  # null when kept
    PROMPT: pl.String,  # training-row input (lema.formats.correction_prompt)
    COMPLETION: pl.String,  # training-row output (lema.formats.correction_completion)
    CHOICES: pl.List(pl.String),  # a multiple-choice question's candidates (null otherwise)
}

EVOLVED_SCHEMA: dict[str, Any] = {
    ID: pl.String,
    TASK: pl.String,
    "seed_id": pl.String,
    "seed_question": pl.String,
    QUESTION: pl.String,
    GOLD: pl.String,  # majority answer (null when dropped)
    SOLUTION: pl.String,  # one majority-answer solution from the votes (null when dropped)
    "agreement": pl.Float64,
    "votes": pl.Int64,
    RAW: pl.String,
    KEPT: pl.Boolean,
    REASON: pl.String,
}

COT_SCHEMA: dict[str, Any] = {
    COT_ID: pl.String,
    QUESTION_ID: pl.String,
    TASK: pl.String,
    QUESTION: pl.String,
    GOLD: pl.String,
    SOURCE: pl.String,  # gold | corrector
    RAW: pl.String,
    KEPT: pl.Boolean,
    REASON: pl.String,
    PROMPT: pl.String,
    COMPLETION: pl.String,
    CHOICES: pl.List(pl.String),  # a multiple-choice question's candidates (null otherwise)
}

POOL_SCHEMA: dict[str, Any] = {
    ID: pl.String,
    TASK: pl.String,
    KIND: pl.String,
    SOURCE: pl.String,
    QUESTION_ID: pl.String,
    QUESTION: pl.String,
    PROMPT: pl.String,
    COMPLETION: pl.String,
}
# the keys of one JSONL training-mix row, in order
MIX_COLUMNS = (ID, TASK, KIND, SOURCE, QUESTION_ID, PROMPT, COMPLETION)

# predictions.parquet: these first, in this order, then any other column (timed_out)
PREDICTION_COLUMNS = [ID, QUESTION, GOLD, COMPLETION, EXTRACTED, CORRECT, LEVEL, SUBJECT]
# with sampled decoding (lema.evaluation.votes): one list per problem, one entry per sample
SAMPLES = "samples"  # the sampled completions
SAMPLES_EXTRACTED = "samples_extracted"
SAMPLES_CORRECT = "samples_correct"
SAMPLES_TIMED_OUT = "samples_timed_out"
SAMPLES_VOTE = "samples_vote"  # the sample's vote cluster: index of the cluster's first sample
SAMPLE_COLUMNS = [SAMPLES, SAMPLES_EXTRACTED, SAMPLES_CORRECT, SAMPLES_TIMED_OUT, SAMPLES_VOTE]
# read as text whatever type a JSONL predictions row gives them (gold 42 and gold "42" agree)
PREDICTION_TEXT_COLUMNS = (ID, QUESTION, GOLD, COMPLETION, LEVEL, SUBJECT)

# --------------------------------------------------------------------------- legacy names
# Old column name -> current name, applied by read_table when a table has the old name and
# not the current one. Until the gold answer had one name, raw tables (data/raw, data/warmup)
# and evolved questions called it `answer`; paths, mistakes, corrections and CoT tables
# called it `gold_answer`. No table lema writes uses either name for anything else.
LEGACY_RENAMES: dict[str, str] = {
    "answer": GOLD,
    "gold_answer": GOLD,
}


# --------------------------------------------------------------------------- read / write
def stats_path_for(output: str | Path) -> Path:
    """The stats JSON beside an output: ``x.parquet`` -> ``x.stats.json``.

    Only the last suffix goes, as in :func:`lema.workflow.paths.stats_file` (the rules' name
    for it): ``gpt-3.5.parquet`` -> ``gpt-3.5.stats.json``.
    """
    output = Path(output)
    return output.with_name(output.stem + ".stats.json")


def without_choices(schema: dict[str, Any]) -> list[str]:
    """``schema``'s columns but :data:`CHOICES`: what a reader may require of a table that an
    earlier version wrote (before multiple-choice tasks, paths, corrections and CoT tables
    had no such column; :func:`choices_of` reads its absence as no candidates)."""
    return [c for c in schema if c != CHOICES]


def choices_of(row: dict[str, Any]) -> tuple[str, ...] | None:
    """A row's candidate answers (a multiple-choice question, column :data:`CHOICES`) as a
    tuple, the form grading items take; None for a row without them (tables written before
    the column existed have none)."""
    choices = row.get(CHOICES)
    return tuple(choices) if choices else None


def make_frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """A frame of ``rows`` (dicts) with exactly ``schema``'s columns and dtypes."""
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def write_table(
    path: str | Path, rows: list[dict[str, Any]], schema: dict[str, Any]
) -> pl.DataFrame:
    """Write ``rows`` as a Parquet table of ``schema`` (atomically); return the frame."""
    frame = make_frame(rows, schema)
    write_parquet(path, frame)
    return frame


def with_current_names(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with columns of earlier versions renamed (:data:`LEGACY_RENAMES`)."""
    renames: dict[str, str] = {}
    for old, new in LEGACY_RENAMES.items():
        if old in frame.columns and new not in frame.columns and new not in renames.values():
            renames[old] = new
    return frame.rename(renames) if renames else frame


def rows_with_gold(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows whose gold answer is present (two MATH train rows have an empty \\boxed{})."""
    return frame.filter(pl.col(GOLD).is_not_null() & (pl.col(GOLD).str.strip_chars() != ""))


def read_table(path: str | Path, required: Iterable[str] = ()) -> pl.DataFrame:
    """A Parquet table, old column names renamed (:data:`LEGACY_RENAMES`); ``required``: the
    columns it must have (a schema names all of its columns)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        frame = pl.read_parquet(path)
    except Exception as exc:  # polars raises several error types for a bad file
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    frame = with_current_names(frame)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame
