"""A user's own task (config ``tasks_defined.<name>``): its train/test JSONL files read with
the configured field names into the benchmark table's columns (raw columns, then
``answer_type`` and ``choices``), so every later stage grades it by its answer type.

A row's id is its ``id`` field when it has one, else ``<task>-<split>-<line>``. A missing or
empty field fails with one line naming the file, the line and the config key that named it.

A ``choice`` task (kind ``csqa``) is read as CSQA is: its ``choices`` field (a list of at
least two texts) is listed after the question (``lema.data.csqa.csqa_question``), and its
gold answer, given as one of the choices' texts or as a letter (``B`` / ``(B)``: the second
choice), is stored as that choice's text, which the multiple-choice grader maps answers onto.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lema.data.rows import LocatedRows
from lema.errors import DataError

#: the keys of a definition that name fields of the user's rows
FIELD_KEYS = ("question", "answer", "solution", "choices")


def defined_rows(task: str, split: str, spec: dict[str, Any], path: str | Path) -> LocatedRows:
    """(location, row) for every line of the JSONL file ``path`` of the task ``task``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (config key 'tasks_defined.{task}.{split}')")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
            yield where, _row(task, split, spec, where, number, record)


def _field(task: str, spec: dict[str, Any], key: str, where: str, record: dict[str, Any]) -> Any:
    name = spec[key]
    if name not in record:
        raise DataError(
            f"{where}: no field '{name}' (config key 'tasks_defined.{task}.{key}'; "
            f"the row has: {', '.join(sorted(record))})"
        )
    value = record[name]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: field '{name}' is empty (config key 'tasks_defined.{task}.{key}')")
    return value


def _choice_gold(task: str, spec: dict[str, Any], where: str, gold: str, choices: list[str]) -> str:
    """The text of the choice a choice task's gold names: its text (case and spaces aside), or
    its letter (``B``, ``(B)``); one line naming the file and key when it names none."""
    def key(text: str) -> str:
        return " ".join(text.lower().split())

    for choice in choices:
        if key(choice) == key(gold):
            return choice
    letter = re.fullmatch(r"\(?([A-Za-z])\)?", gold.strip())
    if letter and ord(letter.group(1).upper()) - ord("A") < len(choices):
        return choices[ord(letter.group(1).upper()) - ord("A")]
    raise DataError(
        f"{where}: the gold answer '{gold}' (config key 'tasks_defined.{task}.answer') is "
        f"neither one of the choices ({', '.join(choices)}) nor the letter of one"
    )


def _row(
    task: str, split: str, spec: dict[str, Any], where: str, number: int, record: dict[str, Any]
) -> dict[str, Any]:
    answer_type = spec.get("answer_type") or "numeric"
    choices = None
    if spec.get("choices"):
        choices = _field(task, spec, "choices", where, record)
        if (
            not isinstance(choices, list)
            or not all(isinstance(c, str) and c.strip() for c in choices)
            or (answer_type == "choice" and len(choices) < 2)
        ):
            raise DataError(
                f"{where}: field '{spec['choices']}' must be a list of "
                f"{'at least two ' if answer_type == 'choice' else ''}non-empty strings "
                f"(config key 'tasks_defined.{task}.choices')"
            )
    solution = str(_field(task, spec, "solution", where, record)) if spec.get("solution") else None
    question = str(_field(task, spec, "question", where, record))
    gold = str(_field(task, spec, "answer", where, record)).strip()
    if answer_type == "choice" and choices:
        from lema.data.csqa import csqa_question

        choices = [c.strip() for c in choices]
        gold = _choice_gold(task, spec, where, gold, choices)
        question = csqa_question(question, choices)
    return {
        "id": str(record.get("id") or f"{task}-{split}-{number}"),
        "task": task,
        "split": split,
        "question": question,
        "solution": solution,
        "gold": gold,
        "level": None,
        "subject": None,
        "answer_type": answer_type,
        "choices": choices,
    }
