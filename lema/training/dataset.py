"""The training data: a mix's JSONL read into prompt/completion rows, with the checksum that
identifies it (recorded in settings.json and in the checkpoints' fingerprint)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from lema.errors import DataError
from lema.io import read_jsonl, sha256_file


class Row(TypedDict):
    prompt: str
    completion: str


@dataclass(frozen=True)
class TrainingMix:
    """A training mix as read from ``path``: its rows and the sha256 of its bytes."""

    path: Path
    rows: list[Row]
    sha256: str


def load_mix(path: Path) -> TrainingMix:
    """The prompt/completion rows of a mix; a bad row raises DataError naming file:line."""
    if not path.exists():
        raise DataError(f"{path}: training mix not found")
    rows: list[Row] = []
    for lineno, row in read_jsonl(path):
        for key in ("prompt", "completion"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}:{lineno}: '{key}' must be a non-empty string")
        rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    if not rows:
        raise DataError(f"{path}: the training mix is empty (no prompt/completion rows)")
    return TrainingMix(path=path, rows=rows, sha256=sha256_file(path))
