"""One raw table (``data/raw/{task}/{split}.parquet``): every row of a source read and
checked, ids checked unique, the MATH subject/level subset and the limit applied; and
:func:`read_raw`, which reads such a table back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl

from lema.data import BENCHMARKS, CHOICE_TASKS
from lema.data.defined import defined_rows
from lema.data.sources import rows_for
from lema.data.subjects import normalize_subjects
from lema.errors import ConfigError, DataError
from lema.tables import (
    BENCHMARK_COLUMNS,
    BENCHMARK_SCHEMA,
    RAW_COLUMNS,
    RAW_SCHEMA,
    make_frame,
    read_table,
)


def build_table(
    task: str,
    split: str,
    source: str = "public",
    local: str | Path | None = None,
    *,
    limit: int | None = None,
    skip: int = 0,
    math_subjects: Iterable[str] | None = None,
    math_levels: Iterable[int] | None = None,
    cache: str | Path | None = None,
    progress: bool = True,
    defined: dict[str, Any] | None = None,
) -> pl.DataFrame:
    """One raw table: read and check every row, check ids are unique, then keep the rows
    of the chosen MATH subjects/levels, pass over the first ``skip`` of those and keep the
    next ``limit`` (the demo's warm-up rows are the ones after its training slice).
    A benchmark's table (``task`` one of :data:`lema.data.BENCHMARKS`, split ``test``) has the
    columns of :data:`lema.tables.BENCHMARK_SCHEMA`; so has a built-in choice task (csqa:
    :data:`lema.data.CHOICE_TASKS`) and a task of the config's ``tasks_defined`` (``defined``: its definition, read from the file ``local``)."""
    subjects = set(normalize_subjects(math_subjects) or []) if math_subjects is not None else None
    levels = set(math_levels) if math_levels is not None else None
    if limit is not None and limit < 1:
        raise ConfigError(f"config key 'data.limit.{split}': must be at least 1, got {limit}")
    if skip < 0:
        raise ConfigError(f"--skip must be at least 0, got {skip}")
    seen: dict[str, str] = {}
    kept: list[dict[str, Any]] = []
    if defined is not None:
        rows = defined_rows(task, split, defined, local or "")
    else:
        rows = rows_for(task, split, source, local, cache=cache, progress=progress)
    for where, row in rows:
        if row["id"] in seen:
            raise DataError(
                f"{where}: duplicate id {row['id']!r} (first at {seen[row['id']]}); "
                "the same problem appears twice"
            )
        seen[row["id"]] = where
        if task == "math":
            if subjects is not None and row["subject"] not in subjects:
                continue
            if levels is not None and row["level"] not in levels:
                continue
        if skip > 0:
            skip -= 1
            continue
        if limit is None or len(kept) < limit:
            kept.append(row)
    wide = task in BENCHMARKS or task in CHOICE_TASKS or defined is not None
    return make_frame(kept, BENCHMARK_SCHEMA if wide else RAW_SCHEMA)


def read_raw(path: str | Path) -> pl.DataFrame:
    """Read a raw table written by `lema data` (this version or an earlier one: see
    :func:`lema.tables.read_table`), checking its columns (a benchmark's table has two more)."""
    frame = read_table(path)
    if tuple(frame.columns) not in (RAW_COLUMNS, BENCHMARK_COLUMNS):
        raise DataError(
            f"{path}: columns {frame.columns} differ from the raw schema {list(RAW_COLUMNS)}"
        )
    return frame
