"""Hendrycks' MATH in its original formats: one JSON object per problem (``problem``,
``level``, ``type``, ``solution``) in ``<split>/<subject>/<n>.json`` files, read from a
folder or straight from ``MATH.tar``; or JSONL of the same records (MATH-500 / PRM800K
style, with an optional ``unique_id``). Ids: see :mod:`lema.data`."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tarfile
from pathlib import Path
from typing import Any

from lema.data.rows import LocatedRows, text_field
from lema.data.subjects import MATH_SUBJECTS
from lema.errors import DataError
from lema.grading import gold_answer
from lema.io import read_jsonl
from lema.tables import GOLD

_LEVEL_RE = re.compile(r"Level (\d+|\?)")
_UNIQUE_ID_RE = re.compile(r"(?:^|/)(train|test)/([a-z_]+)/([^/]+)\.json$")


def _level(where: str, row: dict[str, Any]) -> int | None:
    """The difficulty 1-5 of a record (``"Level 3"`` or 3); None for ``"Level ?"``."""
    if "level" not in row:
        raise DataError(f"{where}: missing field 'level' (has: {', '.join(sorted(row))})")
    raw_level = row["level"]
    if isinstance(raw_level, int) and not isinstance(raw_level, bool):
        return raw_level
    if isinstance(raw_level, str) and (m := _LEVEL_RE.fullmatch(raw_level.strip())):
        return None if m.group(1) == "?" else int(m.group(1))
    raise DataError(f"{where}: field 'level' must look like 'Level 3', got {raw_level!r}")


def _gold(where: str, solution: str) -> str | None:
    """The last box's content; None (with a warning) for an empty ``\\boxed{}``."""
    answer = gold_answer(solution, "math")
    if answer is None:
        raise DataError(f"{where}: field 'solution' has no complete \\boxed{{...}} answer")
    if not answer:
        # MATH has a few such rows (e.g. two Number Theory train problems whose answer
        # choice "(A) 0" was lost): kept, with a null answer and a warning.
        print(f"lema data: warning: {where}: empty \\boxed{{}}; answer left null", file=sys.stderr)
        return None
    return answer


def _jsonl_id(row: dict[str, Any], split: str, subject: str, problem: str, solution: str) -> str:
    """The id of a JSONL record: from its ``unique_id`` when that names this split, else from
    the subject and a digest of the problem and solution."""
    uid = row.get("unique_id")
    m = _UNIQUE_ID_RE.search(uid) if isinstance(uid, str) else None
    if m and m.group(1) == split:
        return f"math-{split}-{m.group(2)}-{m.group(3)}"
    slug = MATH_SUBJECTS.get(subject) or re.sub(r"\W+", "_", subject.lower()).strip("_")
    digest = hashlib.sha256(f"{problem}\0{solution}".encode()).hexdigest()[:12]
    return f"math-{split}-{slug}-{digest}"


def _math_row(where: str, row: dict[str, Any], split: str, ident: str | None) -> dict[str, Any]:
    problem = text_field(where, row, "problem")
    solution = text_field(where, row, "solution")
    subject = text_field(where, row, "type")
    level = _level(where, row)
    answer = _gold(where, solution)
    if ident is None:
        ident = _jsonl_id(row, split, subject, problem, solution)
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


def read_math_jsonl(path: Path, split: str) -> LocatedRows:
    """(location, row) for each record of a MATH JSONL file."""
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


def read_math_dir(split_dir: Path, split: str) -> LocatedRows:
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


def read_math_tar(tar_path: Path, split: str) -> LocatedRows:
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
