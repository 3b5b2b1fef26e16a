"""Which reader reads which source (config ``data.source``): ``public`` (the pinned
downloads), ``local`` (a folder or file of the original formats, see :mod:`lema.data`) and
``embedded`` (the GSM8K/MATH slice shipped in ``lema/data/embedded/``, read like a local
folder; CommonsenseQA has none);
and the files a source reads, for Snakemake's ``input:``. The evaluation-only benchmarks go
to :func:`lema.data.benchmarks.benchmark_rows`."""

from __future__ import annotations

from pathlib import Path

from lema.data import BENCHMARKS, EMBEDDED_TASKS, SOURCES, SPLITS, TASKS
from lema.data.benchmarks import benchmark_rows, local_file
from lema.data.csqa import read_csqa
from lema.data.download import PUBLIC, fetch
from lema.data.gsm8k import read_gsm8k
from lema.data.hendrycks_math import read_math_dir, read_math_jsonl, read_math_tar
from lema.data.rows import LocatedRows
from lema.errors import ConfigError, DataError

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


def embedded_file(task: str, split: str) -> Path:
    """The embedded slice's file for one table."""
    return EMBEDDED_DIR / task / f"{split}.jsonl"


def _local_math(p: Path, split: str) -> LocatedRows:
    """A local MATH path without ``{split}``: a MATH.tar, or a folder of ``{split}.jsonl``,
    ``{split}/`` or ``MATH/{split}/``."""
    if p.is_file():
        if p.name.endswith((".tar", ".tar.gz", ".tgz")):
            return read_math_tar(p, split)
        raise DataError(
            f"data.local.math: {p} is a file; give a folder (with {split}.jsonl or "
            f"{split}/<subject>/<n>.json), a MATH.tar, or a path containing {{split}}"
        )
    if (p / f"{split}.jsonl").is_file():
        return read_math_jsonl(p / f"{split}.jsonl", split)
    for candidate in (p / split, p / "MATH" / split):
        if candidate.is_dir():
            return read_math_dir(candidate, split)
    raise DataError(
        f"data.local.math: {p} has neither {split}.jsonl nor a {split}/ (or MATH/{split}/) "
        "folder of per-subject problem files"
    )


#: the tasks whose local source is one JSONL file per split (a folder of {split}.jsonl)
_JSONL_READERS = {"gsm8k": read_gsm8k, "csqa": read_csqa}


def local_reader(task: str, split: str, path: str | Path) -> LocatedRows:
    """The rows of one table from a local path (a folder, a file, or a path with ``{split}``)."""
    raw = str(path)
    if "{split}" in raw:
        p = Path(raw.replace("{split}", split)).expanduser()
        if task == "math" and p.is_dir():
            return read_math_dir(p, split)
        return _JSONL_READERS.get(task, read_math_jsonl)(p, split)
    p = Path(raw).expanduser()
    if not p.exists():
        raise DataError(f"data.local.{task}: {p} does not exist")
    if task in _JSONL_READERS:
        if p.is_file():
            raise DataError(
                f"data.local.{task}: {p} is a file; give the folder holding train.jsonl and "
                "test.jsonl, or a path containing {split}"
            )
        return _JSONL_READERS[task](p / f"{split}.jsonl", split)
    return _local_math(p, split)


def local_inputs(task: str, split: str, path: str | Path | None) -> list[str]:
    """The file or folder a local source reads for one table (for Snakemake's input:)."""
    if not path:
        return []
    if task in BENCHMARKS:
        return [str(local_file(task, path))]
    raw = str(path)
    if "{split}" in raw:
        return [raw.replace("{split}", split)]
    p = Path(raw).expanduser()
    if task in _JSONL_READERS:
        return [str(p / f"{split}.jsonl")]
    if p.is_file():
        return [str(p)]
    for candidate in (p / f"{split}.jsonl", p / split, p / "MATH" / split):
        if candidate.exists():
            return [str(candidate)]
    return [str(p)]


def rows_for(
    task: str,
    split: str,
    source: str,
    local: str | Path | None = None,
    *,
    cache: str | Path | None = None,
    progress: bool = True,
) -> LocatedRows:
    """(location, row) for every problem of one table, before filters, in stable order."""
    if task in BENCHMARKS:
        return benchmark_rows(task, split, source, local, cache=cache, progress=progress)
    if task not in TASKS:
        known = ", ".join(TASKS + BENCHMARKS)
        raise ConfigError(f"unknown task {task!r} (expected one of {known})")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if source == "local":
        if not local:
            raise ConfigError(f"config key 'data.local.{task}': a path is required for local")
        return local_reader(task, split, local)
    if source == "embedded":
        if task not in EMBEDDED_TASKS:
            raise ConfigError(
                f"task {task!r} has no embedded slice (data.source embedded is the demo's "
                "GSM8K/MATH slice): use data.source public or local"
            )
        return local_reader(task, split, EMBEDDED_DIR / task)
    if source == "public":
        if task in _JSONL_READERS:
            remote = PUBLIC[f"{task}/{split}"]
            return _JSONL_READERS[task](fetch(remote, cache, progress=progress), split)
        return read_math_tar(fetch(PUBLIC["math"], cache, progress=progress), split)
    raise ConfigError(
        f"config key 'data.source': expected one of {', '.join(SOURCES)}, got {source!r}"
    )
