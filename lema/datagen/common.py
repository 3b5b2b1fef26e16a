"""Table I/O shared by the data-generation stages: Parquet tables with a fixed schema and the
stats JSON beside each output."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import LemaError
from lema.io import write_parquet


def stats_path_for(output: str | Path) -> Path:
    """The stats JSON beside an output: ``x.parquet`` -> ``x.stats.json``."""
    output = Path(output)
    return output.with_name(output.name.split(".")[0] + ".stats.json")


# --------------------------------------------------------------------------- tables
def write_table(
    path: str | Path, rows: list[dict[str, Any]], schema: dict[str, Any]
) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
    write_parquet(path, frame)
    return frame


def read_table(path: str | Path, required: Iterable[str] = ()) -> pl.DataFrame:
    path = Path(path)
    if not path.exists():
        raise LemaError(f"{path}: file not found")
    frame = pl.read_parquet(path)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LemaError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame
