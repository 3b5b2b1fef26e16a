"""The data-generation funnel: each stage counts with a :class:`Funnel` (items in, kept,
dropped by reason) and writes it as a small ``*.stats.json``; `lema stats [RESULTS]` prints one
funnel table per task from those files.

Rows follow the data flow: sampled paths -> mistakes -> corrections (per generator), evolved
questions -> their paths, mistakes and corrections, CoT data, the contamination-checked pool,
CoT augmentation and the mixes (a mix whose rows repeat says how many and why). Columns: items
in, kept, dropped (by reason), tokens (prompt + completion), cost.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from lema.io import write_json
from lema.models import Usage
from lema.workflow import paths


class Funnel:
    """Counts of one stage: items in, kept, dropped by reason (in == kept + sum(dropped))."""

    def __init__(self, stage: str, **meta: Any) -> None:
        self.stage = stage
        self.meta = meta
        self.n_in = 0
        self.kept = 0
        self.dropped: Counter[str] = Counter()
        self.extra: dict[str, Any] = {}

    def keep(self, n: int = 1) -> None:
        self.n_in += n
        self.kept += n

    def drop(self, reason: str, n: int = 1) -> None:
        self.n_in += n
        self.dropped[reason] += n

    def record(self, kept: bool, reason: str | None) -> None:
        if kept:
            self.keep()
        else:
            self.drop(reason or "unknown")

    def as_dict(self, usage: Usage | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, **self.meta}
        out.update(
            {"in": self.n_in, "kept": self.kept, "dropped": dict(sorted(self.dropped.items()))}
        )
        if usage is not None:
            out.update(usage.as_dict())
        else:
            out.update({"tokens": {"prompt": 0, "completion": 0}, "cost_usd": 0.0, "requests": 0})
        out.update(self.extra)
        return out

    def write(self, path: str | Path | None, usage: Usage | None = None) -> dict[str, Any]:
        data = self.as_dict(usage)
        if path:
            write_json(path, data)
        return data


# --------------------------------------------------------------------------- `lema stats`
ORDER = ["paths", "mistakes", "corrections"]


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and "stage" in data else None


def collect(results: str | Path, task: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(stage label, source label, stats) in funnel order, for ``task`` under the results
    folder ``results`` (laid out as lema.workflow.paths says)."""
    root = str(results)
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for qset in paths.QSETS:
        if qset == "evolved":
            q = _load(Path(paths.stats_file(paths.evolved_questions(task, root))))
            if q is not None:
                rows.append(("evolved questions", q.get("corrector") or "", q))
        for stage in ORDER:
            for f in sorted(Path(paths.gen_folder(task, qset, stage, root)).glob("*.stats.json")):
                data = _load(f)
                if data is None:
                    continue
                label = f"{stage}" if qset == "original" else f"evolved {stage}"
                src = data.get("generator") or f.name.split(".")[0]
                if stage == "corrections" and data.get("corrector"):
                    src = f"{src} -> {data['corrector']}"
                rows.append((label, src, data))
    cot = _load(Path(paths.stats_file(paths.cot_table(task, root))))
    if cot is not None:
        rows.append(("cot", cot.get("corrector") or "", cot))
    pool_stats = Path(paths.stats_file(paths.pool_table(task, root)))
    pool = _load(pool_stats)
    if pool is not None:
        rows.append(("pool (decontaminated)", "", pool))
    augment = _load(Path(paths.stats_file(paths.cot_augmented_table(task, root))))
    if augment is not None:
        rows.append(("cot augment", augment.get("corrector") or "", augment))
    for f in sorted(Path(paths.train_folder(task, root)).glob("*.stats.json")):
        if f.name == pool_stats.name:
            continue
        data = _load(f)
        if data is not None:
            rows.append(("mix", data.get("mix") or f.name.split(".")[0], data))
    return rows


def _dropped(d: dict[str, Any]) -> str:
    drops = d.get("dropped") or {}
    if not drops:
        return "-"
    return ", ".join(f"{k} {v}" for k, v in sorted(drops.items(), key=lambda kv: (-kv[1], kv[0])))


def notes(label: str, d: dict[str, Any]) -> str:
    if label.endswith("paths"):
        c, w, n = d.get("correct", 0), d.get("wrong", 0), d.get("no_answer", 0)
        return f"correct {c}, wrong {w}, no answer {n}"
    if label == "evolved questions" and d.get("skipped"):
        return f"skipped: {d['skipped']}"
    if label == "cot" and isinstance(d.get("corrector_paths"), str):
        return d["corrector_paths"]
    if label.startswith("pool") and d.get("evolution"):
        return f"evolution: {d['evolution']}"
    if label == "cot augment":
        if d.get("skipped"):
            return f"skipped: {d['skipped']}"
        return f"{d.get('paths_per_question', 0)} paths per question for {d.get('deficit', 0)} rows"
    if label == "mix":
        text = ", ".join(f"{k} {v}" for k, v in sorted((d.get("rows_by_kind") or {}).items()))
        if d.get("repeated_rows"):
            text += f"; {d['repeated_rows']} repeated rows ({d.get('repeat_reason', '?')})"
        if d.get("size_note"):
            text += f"; {d['size_note']}"
        return text
    return ""


def table(task: str, rows: list[tuple[str, str, dict[str, Any]]]) -> str:
    head = ["stage", "source", "in", "kept", "dropped", "tokens", "cost $", "notes"]
    body = []
    total_cost = 0.0
    total_tokens = 0
    for label, src, d in rows:
        tok = d.get("tokens") or {}
        n_tok = int(tok.get("prompt", 0)) + int(tok.get("completion", 0))
        cost = float(d.get("cost_usd") or 0.0)
        total_cost += cost
        total_tokens += n_tok
        body.append(
            [
                label,
                src,
                str(d.get("in", "")),
                str(d.get("kept", "")),
                _dropped(d),
                f"{n_tok:,}",
                f"{cost:.2f}",
                notes(label, d),
            ]
        )
    body.append(["total", "", "", "", "", f"{total_tokens:,}", f"{total_cost:.2f}", ""])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 1, 4, 7) else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [f"== {task} ==", fmt(head), rule, *[fmt(r) for r in body[:-1]], rule, fmt(body[-1])]
    return "\n".join(lines)
