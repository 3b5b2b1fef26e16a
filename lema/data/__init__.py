"""Raw data: GSM8K and MATH, train and test, normalised into one table.

``data/raw/{task}/{split}.parquet`` has the columns of :data:`lema.tables.RAW_SCHEMA`:
``id, task, split, question, solution, gold, level, subject``.

Sources (config key ``data.source``):

``public``
    The pinned originals, downloaded once into a cache folder (``$LEMA_DATA_CACHE``, else
    ``$XDG_CACHE_HOME/lema/downloads``, else ``~/.cache/lema/downloads``) and verified
    against a sha256 checksum written in this file (:data:`PUBLIC`). GSM8K comes from
    openai/grade-school-math at commit :data:`GSM8K_REVISION`; MATH from Hendrycks'
    ``MATH.tar`` (Berkeley URL, with a pinned Wayback Machine snapshot as the fallback
    mirror), read straight from the tarball. ``$LEMA_DATA_MIRROR`` (a base URL, e.g. a
    cluster's internal web server holding the files under their cache names) replaces the
    upstream URLs; the checksums still apply.
``embedded``
    The slice of the real GSM8K and MATH files that ships inside the package
    (``lema/data/embedded/``, its README says which rows): what ``lema demo`` and the default
    tests use, offline. Read like ``local`` folders of the original formats.
``local``
    ``data.local.gsm8k``: a folder holding ``train.jsonl`` / ``test.jsonl`` in the original
    GSM8K format (``question``, ``answer`` ending ``#### <number>``), or a file path
    containing ``{split}``.
    ``data.local.math``: a folder holding ``{split}.jsonl`` (Hendrycks schema: ``problem``,
    ``level``, ``type``, ``solution``), or a folder holding ``{split}/<subject>/<n>.json``
    (the extracted tarball: either ``MATH/`` itself or its parent), or a ``MATH.tar`` file,
    or a file path containing ``{split}``.

Stable ids (unique per table; a duplicate fails naming both places):

- GSM8K: ``gsm8k-{split}-{i:05d}``, ``i`` the 0-based row index in the original file.
- MATH from per-problem files (folder or tarball): ``math-{split}-{subject}-{n}`` from the
  subject folder and the file name, e.g. ``math-train-algebra-1234``.
- MATH from JSONL: rows with a ``unique_id`` like ``train/algebra/1234.json`` (MATH-500 /
  PRM800K style) get the same id as above; otherwise ``math-{split}-{subject}-{h}`` with
  ``h`` the first 12 hex digits of sha256(problem + "\\0" + solution) — stable across reruns
  and reorderings of the file.

Gold answers: GSM8K — the text after the last ``####``, commas removed; MATH — the content
of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; also ``\\boxed 5``); both read by
:func:`lema.grading.gold_answer`.
Any malformed row raises :class:`DataError` naming the file and line (or the problem file).
A MATH solution whose last box is empty (``\\boxed{}``: two rows of the MATH train split)
is kept with a null ``gold`` and a warning naming the row — later stages drop such rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import ConfigError, DataError
from lema.grading import gold_answer
from lema.io import read_jsonl, sha256_file
from lema.tables import GOLD, RAW_COLUMNS, RAW_SCHEMA, make_frame, read_table

TASKS = ("gsm8k", "math")
SPLITS = ("train", "test")
SOURCES = ("public", "local", "embedded")
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"

# MATH's `type` values and the folder names the original tarball uses for them.
MATH_SUBJECTS: dict[str, str] = {
    "Algebra": "algebra",
    "Counting & Probability": "counting_and_probability",
    "Geometry": "geometry",
    "Intermediate Algebra": "intermediate_algebra",
    "Number Theory": "number_theory",
    "Prealgebra": "prealgebra",
    "Precalculus": "precalculus",
}
_SUBJECT_BY_FOLDER = {v: k for k, v in MATH_SUBJECTS.items()}


# --------------------------------------------------------------------------- public sources


@dataclass(frozen=True)
class Remote:
    """A file to download: mirrors tried in order, its sha256 and the cache file name."""

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int | None = None


GSM8K_REVISION = "3101c7d5072418e28b9008a6636bde82a006892c"
_GSM8K_BASE = (
    f"https://raw.githubusercontent.com/openai/grade-school-math/{GSM8K_REVISION}"
    "/grade_school_math/data"
)
MATH_TAR_URL = "https://people.eecs.berkeley.edu/~hendrycks/MATH.tar"
# The Wayback Machine snapshot ("id_" = the original bytes) of the same file.
MATH_TAR_MIRROR = f"https://web.archive.org/web/20240101000000id_/{MATH_TAR_URL}"

PUBLIC: dict[str, Remote] = {
    "gsm8k/train": Remote(
        f"gsm8k-{GSM8K_REVISION[:8]}-train.jsonl",
        (f"{_GSM8K_BASE}/train.jsonl",),
        "17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465",
        4_166_206,
    ),
    "gsm8k/test": Remote(
        f"gsm8k-{GSM8K_REVISION[:8]}-test.jsonl",
        (f"{_GSM8K_BASE}/test.jsonl",),
        "3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
        749_738,
    ),
    "math": Remote(
        "MATH.tar",
        (MATH_TAR_URL, MATH_TAR_MIRROR),
        "0fbe4fad0df66942db6c221cdcc95b298cc7f4595a2f0f518360cce84e90d9ac",
    ),
}


def cache_dir() -> Path:
    """Where downloads are kept: $LEMA_DATA_CACHE, else the XDG cache folder."""
    if os.environ.get("LEMA_DATA_CACHE"):
        return Path(os.environ["LEMA_DATA_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lema" / "downloads"


def mirrored(remote: Remote) -> Remote:
    """``remote`` with its URLs replaced by ``$LEMA_DATA_MIRROR/<cache name>`` when set."""
    base = os.environ.get("LEMA_DATA_MIRROR", "").strip()
    if not base:
        return remote
    return Remote(remote.name, (f"{base.rstrip('/')}/{remote.name}",), remote.sha256, remote.size)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two jobs needing MATH.tar download it once)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _download(url: str, dest: Path, remote: Remote, progress: bool, timeout: float) -> str:
    """Stream ``url`` into ``dest``; return the sha256 of what was written."""
    from tqdm import tqdm

    h = hashlib.sha256()
    req = urllib.request.Request(url, headers={"User-Agent": "lema-data/1"})
    with urllib.request.urlopen(req, timeout=timeout) as resp, open(dest, "wb") as out:
        total = resp.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else remote.size
        with tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=f"download {remote.name}",
            disable=not progress,
            file=sys.stderr,
            mininterval=1.0,
        ) as bar:
            for chunk in iter(lambda: resp.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
                bar.update(len(chunk))
    return h.hexdigest()


def fetch(
    remote: Remote,
    cache: str | Path | None = None,
    *,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """The verified local copy of ``remote``: from the cache, else downloaded (atomically:
    a temporary file beside the cache entry, checked, then renamed into place).

    Raises DataError naming every mirror tried and why it failed (network error, HTTP
    status, checksum mismatch).
    """
    cache = Path(cache) if cache is not None else cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    remote = mirrored(remote)
    dest = cache / remote.name
    with _lock(cache / f".{remote.name}.lock"):
        if dest.exists():
            got = sha256_file(dest)
            if got == remote.sha256:
                return dest
            print(
                f"lema data: cached {dest} has sha256 {got}, expected {remote.sha256}; "
                "downloading it again",
                file=sys.stderr,
            )
        failures: list[str] = []
        for url in remote.urls:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{remote.name}.", suffix=".part", dir=cache)
            os.close(fd)
            tmp = Path(tmp_name)
            try:
                try:
                    got = _download(url, tmp, remote, progress, timeout)
                except urllib.error.HTTPError as exc:
                    failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
                    continue
                except urllib.error.URLError as exc:
                    failures.append(f"{url}: network error ({exc.reason})")
                    continue
                except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets
                    failures.append(f"{url}: network error ({exc})")
                    continue
                if got != remote.sha256:
                    failures.append(
                        f"{url}: checksum mismatch (sha256 {got}, expected {remote.sha256})"
                    )
                    continue
                os.replace(tmp, dest)
                return dest
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        raise DataError(
            f"could not download {remote.name}: {'; '.join(failures)} — check the network, "
            f"or put a verified copy at {dest}, or use data.source: local"
        )


# --------------------------------------------------------------------------- readers


def _field(where: str, row: dict[str, Any], name: str) -> str:
    if name not in row:
        raise DataError(f"{where}: missing field '{name}' (has: {', '.join(sorted(row))})")
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: field '{name}' is empty")
    return value


def read_gsm8k(path: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) for each problem of a GSM8K JSONL file."""
    for index, (lineno, row) in enumerate(read_jsonl(path)):
        where = f"{path}:{lineno}"
        question = _field(where, row, "question")
        solution = _field(where, row, "answer")
        answer = gold_answer(solution, "gsm8k")
        if answer is None:
            raise DataError(f"{where}: field 'answer' has no final answer after '####'")
        yield (
            where,
            {
                "id": f"gsm8k-{split}-{index:05d}",
                "task": "gsm8k",
                "split": split,
                "question": question,
                "solution": solution,
                GOLD: answer,
                "level": None,
                "subject": None,
            },
        )


_LEVEL_RE = re.compile(r"Level (\d+|\?)")
_UNIQUE_ID_RE = re.compile(r"(?:^|/)(train|test)/([a-z_]+)/([^/]+)\.json$")


def _math_row(where: str, row: dict[str, Any], split: str, ident: str | None) -> dict[str, Any]:
    problem = _field(where, row, "problem")
    solution = _field(where, row, "solution")
    subject = _field(where, row, "type")
    if "level" not in row:
        raise DataError(f"{where}: missing field 'level' (has: {', '.join(sorted(row))})")
    raw_level = row["level"]
    if isinstance(raw_level, int) and not isinstance(raw_level, bool):
        level: int | None = raw_level
    elif isinstance(raw_level, str) and (m := _LEVEL_RE.fullmatch(raw_level.strip())):
        level = None if m.group(1) == "?" else int(m.group(1))
    else:
        raise DataError(f"{where}: field 'level' must look like 'Level 3', got {raw_level!r}")
    answer = gold_answer(solution, "math")
    if answer is None:
        raise DataError(f"{where}: field 'solution' has no complete \\boxed{{...}} answer")
    if not answer:
        # MATH has a few such rows (e.g. two Number Theory train problems whose answer
        # choice "(A) 0" was lost): kept, with a null answer and a warning.
        print(f"lema data: warning: {where}: empty \\boxed{{}}; answer left null", file=sys.stderr)
        answer = None
    if ident is None:
        uid = row.get("unique_id")
        m = _UNIQUE_ID_RE.search(uid) if isinstance(uid, str) else None
        if m and m.group(1) == split:
            ident = f"math-{split}-{m.group(2)}-{m.group(3)}"
        else:
            slug = MATH_SUBJECTS.get(subject) or re.sub(r"\W+", "_", subject.lower()).strip("_")
            digest = hashlib.sha256(f"{problem}\0{solution}".encode()).hexdigest()[:12]
            ident = f"math-{split}-{slug}-{digest}"
    return {
        "id": ident,
        "task": "math",
        "split": split,
        "question": problem,
        "solution": solution,
        GOLD: answer,
        "level": level,
        "subject": subject,
    }


def read_math_jsonl(path: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for lineno, row in read_jsonl(path):
        where = f"{path}:{lineno}"
        yield where, _math_row(where, row, split, None)


def _problem_key(subject: str, stem: str) -> tuple[str, int, str]:
    return (subject, int(stem) if stem.isdigit() else -1, stem)


def _parse_problem_file(where: str, data: bytes) -> dict[str, Any]:
    try:
        row = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return row


def read_math_dir(split_dir: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Per-problem files ``split_dir/<subject>/<n>.json``, ordered by subject then n."""
    files = sorted(
        (p for p in split_dir.glob("*/*.json") if p.is_file()),
        key=lambda p: _problem_key(p.parent.name, p.stem),
    )
    if not files:
        raise DataError(f"{split_dir}: no <subject>/<n>.json problem files found")
    for path in files:
        where = str(path)
        row = _parse_problem_file(where, path.read_bytes())
        yield where, _math_row(where, row, split, f"math-{split}-{path.parent.name}-{path.stem}")


def read_math_tar(tar_path: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Problems of one split read straight from Hendrycks' MATH.tar (``MATH/<split>/...``)."""
    try:
        tar = tarfile.open(tar_path)
    except (tarfile.TarError, OSError) as exc:
        raise DataError(f"{tar_path}: not a readable tar archive ({exc})") from None
    with tar:
        members = []
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[-1].endswith(".json"):
                if parts[-3] == split:
                    members.append((_problem_key(parts[-2], parts[-1][:-5]), member))
        if not members:
            raise DataError(f"{tar_path}: no {split}/<subject>/<n>.json files in the archive")
        members.sort(key=lambda km: km[0])
        for (subject, _, stem), member in members:
            where = f"{tar_path}:{member.name}"
            fh = tar.extractfile(member)
            assert fh is not None
            row = _parse_problem_file(where, fh.read())
            yield where, _math_row(where, row, split, f"math-{split}-{subject}-{stem}")


def _local_reader(task: str, split: str, path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    raw = str(path)
    if "{split}" in raw:
        p = Path(raw.replace("{split}", split)).expanduser()
        if task == "math" and p.is_dir():
            return read_math_dir(p, split)
        return (read_gsm8k if task == "gsm8k" else read_math_jsonl)(p, split)
    p = Path(raw).expanduser()
    if not p.exists():
        raise DataError(f"data.local.{task}: {p} does not exist")
    if task == "gsm8k":
        if p.is_file():
            raise DataError(
                f"data.local.gsm8k: {p} is a file; give the folder holding train.jsonl and "
                "test.jsonl, or a path containing {split}"
            )
        return read_gsm8k(p / f"{split}.jsonl", split)
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


def local_inputs(task: str, split: str, path: str | Path | None) -> list[str]:
    """The file or folder a local source reads for one table (for Snakemake's input:)."""
    if not path:
        return []
    raw = str(path)
    if "{split}" in raw:
        return [raw.replace("{split}", split)]
    p = Path(raw).expanduser()
    if task == "gsm8k":
        return [str(p / f"{split}.jsonl")]
    if p.is_file():
        return [str(p)]
    for candidate in (p / f"{split}.jsonl", p / split, p / "MATH" / split):
        if candidate.exists():
            return [str(candidate)]
    return [str(p)]


# --------------------------------------------------------------------------- filters, table


def normalize_subjects(names: Iterable[str] | None) -> list[str] | None:
    """MATH subject names (``Counting & Probability`` or ``counting_and_probability``,
    any case) as the dataset's own ``type`` values; an unknown name raises ConfigError."""
    if names is None:
        return None
    lookup = {k.lower(): k for k in MATH_SUBJECTS} | {v: k for k, v in MATH_SUBJECTS.items()}
    out = []
    for name in names:
        key = str(name).strip().lower()
        if key not in lookup:
            raise ConfigError(
                f"config key 'data.math_subjects': unknown MATH subject {name!r} "
                f"(known: {', '.join(MATH_SUBJECTS)})"
            )
        out.append(lookup[key])
    return out


def rows_for(
    task: str,
    split: str,
    source: str,
    local: str | Path | None = None,
    *,
    cache: str | Path | None = None,
    progress: bool = True,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, row) for every problem of one table, before filters, in stable order."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r} (expected one of {', '.join(TASKS)})")
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
    if source == "local":
        if not local:
            raise ConfigError(f"config key 'data.local.{task}': a path is required for local")
        return _local_reader(task, split, local)
    if source == "embedded":
        return _local_reader(task, split, EMBEDDED_DIR / task)
    if source == "public":
        if task == "gsm8k":
            return read_gsm8k(fetch(PUBLIC[f"gsm8k/{split}"], cache, progress=progress), split)
        return read_math_tar(fetch(PUBLIC["math"], cache, progress=progress), split)
    raise ConfigError(
        f"config key 'data.source': expected one of {', '.join(SOURCES)}, got {source!r}"
    )


def embedded_file(task: str, split: str) -> Path:
    """The embedded slice's file for one table."""
    return EMBEDDED_DIR / task / f"{split}.jsonl"


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
) -> pl.DataFrame:
    """One raw table: read and check every row, check ids are unique, then keep the rows
    of the chosen MATH subjects/levels, pass over the first ``skip`` of those and keep the
    next ``limit`` (the demo's warm-up rows are the ones after its training slice)."""
    subjects = set(normalize_subjects(math_subjects) or []) if math_subjects is not None else None
    levels = set(math_levels) if math_levels is not None else None
    if limit is not None and limit < 1:
        raise ConfigError(f"config key 'data.limit.{split}': must be at least 1, got {limit}")
    if skip < 0:
        raise ConfigError(f"--skip must be at least 0, got {skip}")
    seen: dict[str, str] = {}
    kept: list[dict[str, Any]] = []
    for where, row in rows_for(task, split, source, local, cache=cache, progress=progress):
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
    return make_frame(kept, RAW_SCHEMA)


def read_raw(path: str | Path) -> pl.DataFrame:
    """Read a raw table written by `lema data` (this version or an earlier one: see
    :func:`lema.tables.read_table`), checking its columns."""
    frame = read_table(path)
    if tuple(frame.columns) != RAW_COLUMNS:
        raise DataError(
            f"{path}: columns {frame.columns} differ from the raw schema {list(RAW_COLUMNS)}"
        )
    return frame


# --------------------------------------------------------------------------- command


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_arguments(parser) -> None:  # noqa: ANN001
    parser.add_argument("--task", required=True, choices=TASKS)
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


def run(args) -> int:  # noqa: ANN001
    from lema.io import write_parquet

    subjects = _csv(args.math_subjects) if args.math_subjects else None
    levels = None
    if args.math_levels:
        try:
            levels = [int(x) for x in _csv(args.math_levels)]
        except ValueError:
            raise ConfigError(
                f"config key 'data.math_levels': expected integers 1-5, got {args.math_levels!r}"
            ) from None
    local = args.local
    if args.source == "local" and not local:
        from lema.workflow import knobs as operational

        local = operational.parse(args.operational).get("data_local", {}).get(args.task)
    frame = build_table(
        args.task,
        args.split,
        args.source,
        local or None,
        limit=args.limit,
        skip=args.skip,
        math_subjects=subjects,
        math_levels=levels,
        cache=args.cache_dir,
        progress=not args.no_progress,
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
