"""`lema data`: build one raw table (``data/raw/{task}/{split}.parquet``, or a benchmark's
``data/raw/{benchmark}/test.parquet``) with :func:`lema.data.build.build_table` and write it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lema.data import BENCHMARKS, SOURCES, SPLITS, TASKS
from lema.data.build import build_table
from lema.errors import ConfigError, DataError
from lema.io import write_parquet


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        required=True,
        help="a training task (built in, or defined: see --defined), or an evaluation-only "
        "benchmark (split test only)",
    )
    parser.add_argument(
        "--defined",
        default=None,
        help="JSON definition of a task of the config's tasks_defined (its fields and answer "
        "type); its file is --local, or the tasks_files.<task>.<split> of --operational",
    )
    parser.add_argument("--split", required=True, choices=SPLITS)
    parser.add_argument("--source", default="public", choices=SOURCES)
    parser.add_argument("--local", default=None, help="local path (data.local.<task>)")
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output; with --source local and no --local, "
        "its data_local.<task> is the path (what the rules pass: lema.workflow)",
    )
    parser.add_argument("--limit", type=int, default=None, help="keep the first N rows")
    parser.add_argument(
        "--skip", type=int, default=0, help="pass over the first N rows (before --limit)"
    )
    parser.add_argument(
        "--math-subjects", default=None, help="comma-separated MATH subjects (default: all)"
    )
    parser.add_argument(
        "--math-levels", default=None, help="comma-separated MATH levels 1-5 (default: all)"
    )
    parser.add_argument("--cache-dir", default=None, help="download cache (public source)")
    parser.add_argument("--no-progress", action="store_true", help="no download progress bar")
    parser.add_argument("--out", required=True, help="output parquet path")


def _levels(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(x) for x in _csv(text)]
    except ValueError:
        raise ConfigError(
            f"config key 'data.math_levels': expected integers 1-5, got {text!r}"
        ) from None


def _local(args: argparse.Namespace) -> str | None:
    """--local, else (with --source local) the data_local.<task> of --operational; for a
    defined task, its tasks_files.<task>.<split>."""
    local = args.local
    if args.defined and not local:
        from lema.workflow import knobs as operational

        files = operational.parse(args.operational).get("tasks_files", {})
        local = files.get(args.task, {}).get(args.split)
    elif args.source == "local" and not local:
        from lema.workflow import knobs as operational

        local = operational.parse(args.operational).get("data_local", {}).get(args.task)
    return local or None


def _defined(args: argparse.Namespace) -> dict[str, Any] | None:
    """The --defined task definition, or None; ConfigError for a task lema does not know."""
    if args.defined:
        return json.loads(args.defined)
    if args.task not in TASKS + BENCHMARKS:
        known = ", ".join(TASKS + BENCHMARKS)
        raise ConfigError(
            f"unknown task {args.task!r} (expected one of {known}, or a task of tasks_defined)"
        )
    return None


def run(args: argparse.Namespace) -> int:
    subjects = _csv(args.math_subjects) if args.math_subjects else None
    levels = _levels(args.math_levels)
    frame = build_table(
        args.task,
        args.split,
        args.source,
        _local(args),
        limit=args.limit,
        skip=args.skip,
        math_subjects=subjects,
        math_levels=levels,
        cache=args.cache_dir,
        progress=not args.no_progress,
        defined=_defined(args),
    )
    if frame.height == 0:
        raise DataError(f"{args.task}/{args.split}: no rows left after the subject/level filters")
    write_parquet(args.out, frame)
    print(
        f"lema data: wrote {frame.height} rows of {args.task}/{args.split} "
        f"(source {args.source}) to {args.out}",
        file=sys.stderr,
    )
    return 0
