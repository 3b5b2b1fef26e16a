"""The `file` backend: completions imported from a JSONL file (paths sampled elsewhere).

Each line: ``{"id": ..., "completions": ["...", ...]}`` (optionally ``"usage": {...}``).
A request takes the first ``n`` completions of the row with its id. Nothing is cached: the
file itself is the record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lema.errors import DataError
from lema.io import read_jsonl
from lema.models.core import required
from lema.models.types import Request, Result


def load_completions(path: str | Path) -> dict[str, tuple[list[str], dict[str, Any]]]:
    rows: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for lineno, row in read_jsonl(path):
        if "id" not in row:
            raise DataError(f"{path}:{lineno}: row has no 'id'")
        comps = row.get("completions")
        if comps is None and isinstance(row.get("completion"), str):
            comps = [row["completion"]]
        if not isinstance(comps, list) or not all(isinstance(c, str) for c in comps):
            raise DataError(f"{path}:{lineno}: 'completions' must be a list of strings")
        rid = str(row["id"])
        if rid in rows:
            raise DataError(f"{path}:{lineno}: duplicate id '{rid}'")
        usage = row.get("usage") if isinstance(row.get("usage"), dict) else {}
        rows[rid] = (comps, usage)
    return rows


def generate_from_file(spec: dict[str, Any], requests: list[Request]) -> list[Result]:
    path = required(spec, "path", "file")
    rows = load_completions(path)
    missing = [r.id for r in requests if r.id not in rows]
    if missing:
        shown = ", ".join(f"'{m}'" for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise DataError(f"{path}: no completions for {len(missing)} request id(s): {shown}{more}")
    out = []
    for r in requests:
        comps, usage = rows[r.id]
        if len(comps) < r.sampling.n:
            raise DataError(
                f"{path}: id '{r.id}' has {len(comps)} completion(s), {r.sampling.n} requested"
            )
        u = {
            "prompt_tokens": int(usage.get("prompt_tokens", 0) or 0),
            "completion_tokens": int(usage.get("completion_tokens", 0) or 0),
            "cost_usd": float(usage.get("cost_usd", 0.0) or 0.0),
        }
        out.append(Result(r.id, list(comps[: r.sampling.n]), u, [None] * r.sampling.n, 0))
    return out
