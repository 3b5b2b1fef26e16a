"""What every reader yields: ``(location, row)``, the row in the columns of
:data:`lema.tables.RAW_SCHEMA` and the location (file and line, or problem file) that a
later error names; and the check of one text field of an original record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lema.errors import DataError

LocatedRows = Iterator[tuple[str, dict[str, Any]]]


def text_field(where: str, row: dict[str, Any], name: str) -> str:
    """``row[name]``, which must be a non-empty string; DataError naming ``where`` if not."""
    if name not in row:
        raise DataError(f"{where}: missing field '{name}' (has: {', '.join(sorted(row))})")
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field '{name}' is empty")
    return value
