"""The results table: `lema summary` → results/summary.csv and results/summary.md.

One row per task × backbone × mix from the metrics.json files, with the paper's published
pass@1 beside ours where the backbone is one the paper fine-tuned (matched on the backbone's
model id, or its config name), and the LeMa-minus-CoT deltas (ours and the paper's) on each
`lema` row. All figures are percentages.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import polars as pl

from lema.errors import DataError
from lema.io import read_json, write_text

# An et al. (2023), Table 1: pass@1 (%) of QLoRA fine-tuned 70B models.
# (paper backbone, mix) -> {task: figure}
PAPER_FIGURES: dict[tuple[str, str], dict[str, float]] = {
    ("LLaMA-2-70B", "lema"): {"gsm8k": 83.5, "math": 25.0},
    ("LLaMA-2-70B", "cot"): {"gsm8k": 81.4, "math": 23.6},
    ("MetaMath-70B", "lema"): {"gsm8k": 85.4, "math": 26.9},
    ("WizardMath-70B", "lema"): {"gsm8k": 84.2, "math": 27.1},
}

# How a configured backbone is recognised as one of the paper's: a pattern on the model id
# (HF id or folder name) or on the backbone's config name.
_PAPER_BACKBONES = [
    ("MetaMath-70B", re.compile(r"metamath.*70b", re.I)),
    ("WizardMath-70B", re.compile(r"wizardmath.*70b", re.I)),
    ("LLaMA-2-70B", re.compile(r"(?<!code)llama-?2.*70b(?!.*(chat|instruct))", re.I)),
]

MIX_ORDER = ["base", "cot", "cot_matched", "lema"]
TASK_ORDER = ["gsm8k", "math"]
TASK_LABEL = {"gsm8k": "GSM8K", "math": "MATH"}

COLUMNS = [
    "task",
    "backbone",
    "mix",
    "model",
    "n",
    "correct",
    "pass_at_1",
    "no_answer_rate",
    "paper_backbone",
    "paper_pass_at_1",
    "diff_vs_paper",
    "lema_minus_cot",
    "lema_minus_cot_matched",
    "paper_lema_minus_cot",
]


def paper_backbone(backbone: str, model: str | None) -> str | None:
    """The paper's name for this backbone, or None when the paper has no such model."""
    for name, pattern in _PAPER_BACKBONES:
        for text in (model, backbone):
            if text and pattern.search(text):
                return name
    return None


def _sort_key(row: dict[str, Any]) -> tuple:
    task = TASK_ORDER.index(row["task"]) if row["task"] in TASK_ORDER else 99
    mix = MIX_ORDER.index(row["mix"]) if row["mix"] in MIX_ORDER else 99
    return (task, row["backbone"], mix, row["mix"])


def build_summary(metrics_files: list[str | Path]) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str]] = set()
    for path in metrics_files:
        m = read_json(path)
        missing = [k for k in ("task", "backbone", "mix", "n", "pass@1") if k not in m]
        if missing:
            raise DataError(f"{path}: not a lema metrics file (missing {', '.join(missing)})")
        key = (m["task"], m["backbone"], m["mix"])
        if key in seen:
            raise DataError(f"{path}: a second metrics file for {'/'.join(key)}")
        seen.add(key)
        pb = paper_backbone(m["backbone"], m.get("model"))
        paper = PAPER_FIGURES.get((pb, m["mix"]), {}).get(m["task"]) if pb else None
        rows.append(
            {
                "task": m["task"],
                "backbone": m["backbone"],
                "mix": m["mix"],
                "model": m.get("model"),
                "n": int(m["n"]),
                "correct": int(m["correct"]),
                "pass_at_1": float(m["pass@1"]),
                "no_answer_rate": float(m.get("no_answer_rate", 0.0)),
                "paper_backbone": pb,
                "paper_pass_at_1": paper,
                "diff_vs_paper": round(float(m["pass@1"]) - paper, 2)
                if paper is not None
                else None,
                "lema_minus_cot": None,
                "lema_minus_cot_matched": None,
                "paper_lema_minus_cot": None,
            }
        )
    by_key = {(r["task"], r["backbone"], r["mix"]): r for r in rows}
    for r in rows:
        if r["mix"] != "lema":
            continue
        for other, column in (("cot", "lema_minus_cot"), ("cot_matched", "lema_minus_cot_matched")):
            ref = by_key.get((r["task"], r["backbone"], other))
            if ref is not None:
                r[column] = round(r["pass_at_1"] - ref["pass_at_1"], 2)
        figures = PAPER_FIGURES.get((r["paper_backbone"], "cot"), {})
        lema_fig = PAPER_FIGURES.get((r["paper_backbone"], "lema"), {})
        if r["task"] in figures and r["task"] in lema_fig:
            r["paper_lema_minus_cot"] = round(lema_fig[r["task"]] - figures[r["task"]], 2)
    rows.sort(key=_sort_key)
    schema = {
        "task": pl.String,
        "backbone": pl.String,
        "mix": pl.String,
        "model": pl.String,
        "n": pl.Int64,
        "correct": pl.Int64,
        "pass_at_1": pl.Float64,
        "no_answer_rate": pl.Float64,
        "paper_backbone": pl.String,
        "paper_pass_at_1": pl.Float64,
        "diff_vs_paper": pl.Float64,
        "lema_minus_cot": pl.Float64,
        "lema_minus_cot_matched": pl.Float64,
        "paper_lema_minus_cot": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema).select(COLUMNS)


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.1f}" if signed else f"{value:.1f}"
    return str(value)


_HEADERS = [
    ("Task", "task"),
    ("Backbone", "backbone"),
    ("Mix", "mix"),
    ("n", "n"),
    ("pass@1 (%)", "pass_at_1"),
    ("No answer (%)", "no_answer_rate"),
    ("Paper (%)", "paper_pass_at_1"),
    ("Ours − paper (pp)", "diff_vs_paper"),
    ("LeMa − CoT (pp)", "lema_minus_cot"),
    ("LeMa − CoT-matched (pp)", "lema_minus_cot_matched"),
    ("Paper LeMa − CoT (pp)", "paper_lema_minus_cot"),
]
TEXT_KEYS = ("task", "backbone", "mix")
_SIGNED = {"diff_vs_paper", "lema_minus_cot", "lema_minus_cot_matched", "paper_lema_minus_cot"}


def _cells(row: dict[str, Any]) -> list[str]:
    cells = []
    for _, key in _HEADERS:
        value = row[key]
        if key == "task":
            value = TASK_LABEL.get(value, value)
        elif key == "paper_pass_at_1" and value is not None:
            cells.append(f"{value:.1f} ({row['paper_backbone']})")
            continue
        cells.append(_fmt(value, signed=key in _SIGNED))
    return cells


FOOTNOTE = (
    "pass@1 = share of test problems whose greedy answer is equivalent to the gold answer. "
    "Paper = An et al. (2023), Table 1, shown where the backbone is the one the paper fine-tuned "
    "(LLaMA-2-70B, MetaMath-70B, WizardMath-70B). pp = percentage points. "
    "Mix `base` is the backbone without an adapter."
)


def to_markdown(frame: pl.DataFrame) -> str:
    lines = [
        "# lema results: pass@1 per task × backbone × mix",
        "",
        "| " + " | ".join(h for h, _ in _HEADERS) + " |",
        "|"
        + "|".join("---" if k in ("task", "backbone", "mix") else "---:" for _, k in _HEADERS)
        + "|",
    ]
    for row in frame.iter_rows(named=True):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |")
    if frame.height == 0:
        lines.append("| (no results) |" + " |" * (len(_HEADERS) - 1))
    lines += ["", FOOTNOTE, ""]
    return "\n".join(lines)


def to_html(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in _HEADERS)
    body = []
    for row in frame.iter_rows(named=True):
        cls = ' class="lema"' if row["mix"] == "lema" else ""
        tds = "".join(
            f'<td class="{"txt" if k in TEXT_KEYS else "num"}">{html.escape(c)}</td>'
            for c, (_, k) in zip(_cells(row), _HEADERS, strict=True)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(_HEADERS)}">no results</td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>lema summary</title>
<style>
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em;
        color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; white-space: nowrap; }}
th {{ background: #f3f4f6; text-align: center; white-space: normal; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.lema td {{ background: #f0f7ff; }}
p.note {{ font-size: 12px; color: #555; max-width: 60em; }}
</style></head><body>
<h2>pass@1 per task × backbone × mix</h2>
<table id="lema-summary"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table>
<p class="note">{html.escape(FOOTNOTE).replace("`base`", "<code>base</code>")}</p>
</body></html>
"""


def write_summary(
    metrics_files: list[str | Path],
    csv: str | Path,
    md: str | Path | None = None,
    html_path: str | Path | None = None,
) -> pl.DataFrame:
    frame = build_summary(metrics_files)
    write_text(csv, frame.write_csv())
    if md is not None:
        write_text(md, to_markdown(frame))
    if html_path is not None:
        write_text(html_path, to_html(frame))
    return frame
