"""A user's own task (config ``tasks_defined.<name>``): its train/test JSONL files read with
the configured field names into the benchmark table's columns (raw columns, then
``answer_type`` and ``choices``), so every later stage grades it by its answer type.

A row's id is its ``id`` field when it has one, else ``<task>-<split>-<line>``. A missing or
empty field fails with one line naming the file, the line and the config key that named it.
"""

from __future__ import annotations

import json
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


def _row(
    task: str, split: str, spec: dict[str, Any], where: str, number: int, record: dict[str, Any]
) -> dict[str, Any]:
    answer_type = spec.get("answer_type") or "numeric"
    choices = None
    if spec.get("choices"):
        choices = _field(task, spec, "choices", where, record)
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise DataError(
                f"{where}: field '{spec['choices']}' must be a list of strings "
                f"(config key 'tasks_defined.{task}.choices')"
            )
    solution = str(_field(task, spec, "solution", where, record)) if spec.get("solution") else None
    return {
        "id": str(record.get("id") or f"{task}-{split}-{number}"),
        "task": task,
        "split": split,
        "question": str(_field(task, spec, "question", where, record)),
        "solution": solution,
        "gold": str(_field(task, spec, "answer", where, record)).strip(),
        "level": None,
        "subject": None,
        "answer_type": answer_type,
        "choices": choices,
    }
