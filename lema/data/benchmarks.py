"""The evaluation-only benchmarks: SVAMP, ASDiv, MAWPS, AQuA, AIME 2024 and AMC 2023, each a
test set only, read into ``data/raw/{benchmark}/test.parquet``
(:data:`lema.tables.BENCHMARK_SCHEMA`: the raw columns, then ``answer_type`` and ``choices``).

Sources: ``public`` downloads the pinned file (:data:`lema.data.download.PUBLIC`, key
``{benchmark}/test``: QwenLM/Qwen2.5-Math's ``evaluation/data/{benchmark}/test.jsonl`` at
``QWEN_MATH_REVISION``, checksummed; ``$LEMA_DATA_MIRROR`` and the download cache apply as for
GSM8K). ``local`` reads ``data.local.{benchmark}``: that JSONL file, or a folder holding
``test.jsonl``, ``{benchmark}.jsonl`` or ``{benchmark}/test.jsonl``. There is no embedded slice.

One record becomes one row (:data:`REGISTRY` names each benchmark's reader):

=========  ===============================================  ==========================  ========
benchmark  question                                         gold                        id key
=========  ===============================================  ==========================  ========
svamp      ``Body`` + " " + ``Question``                    ``Answer`` (a number)       ``ID``
asdiv      ``body`` + " " + ``question``                    ``answer``, unit removed    ``idx``
mawps      ``input``                                        ``target`` (a number)       ``idx``
aqua       ``question`` + "Answer Choices: (A) … (E) …"     ``correct`` (a letter)      line
aime24     ``problem``                                      ``answer`` (an integer)     ``id``
amc23      ``problem``                                      ``answer`` (a number)       ``id``
=========  ===============================================  ==========================  ========

Numbers are written exactly as the file gives them, without a float round trip: ``27.0`` ->
``27``, ``0.5`` -> ``0.5``, ``0.6666666667`` stays, AIME's ``025`` -> ``25``. Ids are
``{benchmark}-test-{key}`` (integer keys as five digits: ``mawps-test-00042``; AQuA, which has
no id field, counts its rows from 0).

``answer_type`` says how a row is graded (:func:`lema.grading.grade_typed`): ``numeric`` (the
GSM8K grader: SVAMP, MAWPS, ASDiv's numbers), ``latex`` (the MATH grader: AIME, AMC, ASDiv's
fractions, ratios and clock times such as ``-(1/3)``, ``5:6``, ``3:30 p.m.``), ``choice``
(AQuA: the letter, with the option texts in ``choices``) and ``text`` (ASDiv's answers that
are words: ``Mrs. Hilt``, ``Yes``, ``February 3rd``).

A malformed record (a missing or empty field, a non-numeric number, a letter that is not an
option) raises :class:`~lema.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lema.data import BENCHMARKS
from lema.data.download import PUBLIC, Remote, fetch
from lema.data.rows import LocatedRows, text_field
from lema.errors import ConfigError, DataError
from lema.io import read_jsonl
from lema.tables import (
    ANSWER_TYPE,
    CHOICES,
    GOLD,
    ID,
    LEVEL,
    QUESTION,
    SOLUTION,
    SPLIT,
    SUBJECT,
    TASK,
)

SPLIT_NAME = "test"

#: what one record gives: question, solution (or None), gold, answer_type, choices (or None)
Fields = dict[str, Any]


@dataclass(frozen=True)
class Benchmark:
    """One evaluation-only benchmark: how its records read and what its pinned file holds."""

    name: str
    #: the benchmark's answer type (ASDiv's rows may also be latex or text)
    answer_type: str
    #: rows of the pinned file
    rows: int
    #: the record field holding a stable id (None: the 0-based row index)
    id_field: str | None
    fields: Callable[[str, dict[str, Any]], Fields]

    @property
    def remote(self) -> Remote:
        """The pinned public file."""
        return PUBLIC[f"{self.name}/{SPLIT_NAME}"]


# --------------------------------------------------------------------------- numbers
def decimal_text(value: Decimal) -> str:
    """``value`` as plain decimal text: integral values without a fraction (``27.0`` ->
    ``27``), others without trailing zeros or an exponent (``1.250`` -> ``1.25``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def number_field(where: str, row: dict[str, Any], name: str) -> str:
    """``row[name]``, a JSON number or a string holding one, as :func:`decimal_text`."""
    if name not in row:
        raise DataError(f"{where}: missing field '{name}' (has: {', '.join(sorted(row))})")
    raw = row[name]
    value: Decimal | None = None
    if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
        value = Decimal(raw)
    elif isinstance(raw, float):  # read without parse_float=Decimal
        value = Decimal(repr(raw))
    elif isinstance(raw, str):
        try:
            value = Decimal(raw.strip())
        except InvalidOperation:
            value = None
    if value is None or not value.is_finite():
        raise DataError(f"{where}: field '{name}' must be a number, got {raw!r}")
    return decimal_text(value)


# --------------------------------------------------------------------------- readers
def _fields(question: str, solution: str | None, gold: str, answer_type: str) -> Fields:
    return {
        QUESTION: question,
        SOLUTION: solution,
        GOLD: gold,
        ANSWER_TYPE: answer_type,
        CHOICES: None,
    }


def _optional_text(row: dict[str, Any], name: str) -> str | None:
    value = row.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _svamp(where: str, row: dict[str, Any]) -> Fields:
    body = text_field(where, row, "Body").strip()
    question = text_field(where, row, "Question").strip()
    gold = number_field(where, row, "Answer")
    return _fields(f"{body} {question}", _optional_text(row, "Equation"), gold, "numeric")


#: ASDiv's unit: a trailing parenthesis holding a word, "9 (apples)" (not "-(1/3)")
_UNIT_RE = re.compile(r"\s*\((?=[^()]*[A-Za-z])[^()]*\)\s*$")
_PLAIN_NUMBER_RE = re.compile(r"[-+]?\d+(?:\.\d+)?")
#: fractions, ratios and clock times: "5/2", "-(1/3)", "5:6", "3:30 p.m.", "9:03:36 a.m."
_MATH_SHAPE_RE = re.compile(r"[-+(]*\d[\d\s()/:.+-]*(?:\s*[ap]\.m\.)?", re.IGNORECASE)


def asdiv_gold(where: str, answer: str) -> tuple[str, str]:
    """ASDiv's answer without its unit, and how it is graded: ``("9", "numeric")`` for
    ``9 (apples)``, ``("-(1/3)", "latex")``, ``("Mrs. Hilt", "text")``."""
    text = _UNIT_RE.sub("", answer).strip()
    if not text:
        raise DataError(f"{where}: field 'answer' has no answer besides its unit: {answer!r}")
    if _PLAIN_NUMBER_RE.fullmatch(text):
        return decimal_text(Decimal(text)), "numeric"
    if _MATH_SHAPE_RE.fullmatch(text):
        return text, "latex"
    return text, "text"


def _asdiv(where: str, row: dict[str, Any]) -> Fields:
    body = text_field(where, row, "body").strip()
    question = text_field(where, row, "question").strip()
    gold, answer_type = asdiv_gold(where, text_field(where, row, "answer"))
    return _fields(f"{body} {question}", _optional_text(row, "formula"), gold, answer_type)


def _mawps(where: str, row: dict[str, Any]) -> Fields:
    question = text_field(where, row, "input").strip()
    return _fields(question, None, number_field(where, row, "target"), "numeric")


_OPTION_RE = re.compile(r"\s*\(?([A-Z])\)\s*(.*)", re.DOTALL)


def aqua_choices(where: str, row: dict[str, Any]) -> list[str]:
    """The option texts of an AQuA record, in order; its ``options`` must read ``A)…``,
    ``B)…``, … with no letter skipped."""
    if "options" not in row:
        raise DataError(f"{where}: missing field 'options' (has: {', '.join(sorted(row))})")
    options = row["options"]
    if not isinstance(options, list) or len(options) < 2:
        raise DataError(f"{where}: field 'options' must be a list of at least two options")
    texts = []
    for i, option in enumerate(options):
        letter = chr(ord("A") + i)
        m = _OPTION_RE.fullmatch(option) if isinstance(option, str) else None
        if m is None or m.group(1) != letter or not m.group(2).strip():
            raise DataError(
                f"{where}: option {i + 1} of field 'options' must read '{letter})<text>', "
                f"got {option!r}"
            )
        texts.append(m.group(2).strip())
    return texts


def _aqua(where: str, row: dict[str, Any]) -> Fields:
    question = text_field(where, row, "question").strip()
    choices = aqua_choices(where, row)
    letters = "".join(chr(ord("A") + i) for i in range(len(choices)))
    gold = text_field(where, row, "correct").strip().upper()
    if len(gold) != 1 or gold not in letters:
        raise DataError(
            f"{where}: field 'correct' must be one of the option letters {letters}, "
            f"got {row['correct']!r}"
        )
    listed = " ".join(f"({letter}) {text}" for letter, text in zip(letters, choices, strict=True))
    fields = _fields(
        f"{question}\nAnswer Choices: {listed}", _optional_text(row, "rationale"), gold, "choice"
    )
    fields[CHOICES] = choices
    return fields


def _aime(where: str, row: dict[str, Any]) -> Fields:
    problem = text_field(where, row, "problem")
    gold = number_field(where, row, "answer")
    if not re.fullmatch(r"\d+", gold):
        raise DataError(f"{where}: field 'answer' must be an integer, got {row['answer']!r}")
    return _fields(problem, _optional_text(row, "solution"), gold, "latex")


def _amc(where: str, row: dict[str, Any]) -> Fields:
    problem = text_field(where, row, "problem")
    return _fields(
        problem, _optional_text(row, "solution"), number_field(where, row, "answer"), "latex"
    )


REGISTRY: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark("svamp", "numeric", 1000, "ID", _svamp),
        Benchmark("asdiv", "numeric", 2215, "idx", _asdiv),
        Benchmark("mawps", "numeric", 2065, "idx", _mawps),
        Benchmark("aqua", "choice", 254, None, _aqua),
        Benchmark("aime24", "latex", 30, "id", _aime),
        Benchmark("amc23", "latex", 40, "id", _amc),
    )
}
assert tuple(REGISTRY) == BENCHMARKS


def benchmark(name: str) -> Benchmark:
    """The registry entry of ``name``; ConfigError naming the known ones if there is none."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown benchmark {name!r} (expected one of {', '.join(REGISTRY)})")
    return REGISTRY[name]


# --------------------------------------------------------------------------- files
def _row_key(where: str, bench: Benchmark, row: dict[str, Any], index: int) -> str:
    if bench.id_field is None:
        return f"{index:05d}"
    if bench.id_field not in row:
        raise DataError(
            f"{where}: missing field '{bench.id_field}' (has: {', '.join(sorted(row))})"
        )
    key = row[bench.id_field]
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return f"{key:05d}"
    if isinstance(key, str) and re.fullmatch(r"[\w.-]+", key.strip()):
        return key.strip()
    raise DataError(
        f"{where}: field '{bench.id_field}' must be a non-negative integer or a word, got {key!r}"
    )


def read_benchmark(name: str, path: str | Path) -> LocatedRows:
    """(location, row) for every record of a benchmark's JSONL file, in file order; the row
    in the columns of :data:`lema.tables.BENCHMARK_SCHEMA`."""
    bench = benchmark(name)
    path = Path(path)
    for index, (lineno, record) in enumerate(read_jsonl(path, parse_float=Decimal)):
        where = f"{path}:{lineno}"
        fields = bench.fields(where, record)
        yield (
            where,
            {
                ID: f"{name}-{SPLIT_NAME}-{_row_key(where, bench, record, index)}",
                TASK: name,
                SPLIT: SPLIT_NAME,
                QUESTION: fields[QUESTION],
                SOLUTION: fields[SOLUTION],
                GOLD: fields[GOLD],
                LEVEL: None,
                SUBJECT: None,
                ANSWER_TYPE: fields[ANSWER_TYPE],
                CHOICES: fields[CHOICES],
            },
        )


def local_file(name: str, path: str | Path) -> Path:
    """The file ``data.local.{name}`` names: itself, or in a folder ``test.jsonl``,
    ``{name}.jsonl`` or ``{name}/test.jsonl`` (the first there; the path itself if none is)."""
    p = Path(str(path).replace("{split}", SPLIT_NAME)).expanduser()
    if p.is_dir():
        for candidate in (p / f"{SPLIT_NAME}.jsonl", p / f"{name}.jsonl", p / name / "test.jsonl"):
            if candidate.is_file():
                return candidate
    return p


def benchmark_rows(
    name: str,
    split: str,
    source: str,
    local: str | Path | None = None,
    *,
    cache: str | Path | None = None,
    progress: bool = True,
) -> LocatedRows:
    """(location, row) for every problem of a benchmark from ``source`` (public or local)."""
    bench = benchmark(name)
    if split != SPLIT_NAME:
        raise ConfigError(f"benchmark {name!r} has only a {SPLIT_NAME} split, not {split!r}")
    if source == "public":
        return read_benchmark(name, fetch(bench.remote, cache, progress=progress))
    if source == "local":
        if not local:
            raise ConfigError(f"config key 'data.local.{name}': a path is required for local")
        path = local_file(name, local)
        if not path.is_file():
            raise DataError(
                f"data.local.{name}: {path} is not a file (give the JSONL file, or a folder "
                f"holding test.jsonl, {name}.jsonl or {name}/test.jsonl)"
            )
        return read_benchmark(name, path)
    if source == "embedded":
        raise ConfigError(
            f"benchmark {name!r} has no embedded slice: use data.source public or local"
        )
    raise ConfigError(f"config key 'data.source': expected public or local, got {source!r}")
