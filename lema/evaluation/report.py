"""Pages for the Snakemake report (`lema report funnel|corrections`): small self-contained
HTML files that `snakemake --report` embeds.

- ``funnel``: the data-generation funnel of each task, from the stats JSON every stage writes
  (``in``, ``kept``, ``dropped`` by reason, tokens, cost);
- ``corrections``: a random sample of kept mistake/correction pairs from
  ``results/{task}/corrections/*.parquet`` — the question, the wrong path, the incorrect step,
  the explanation and the corrected solution.

Both pages are plain HTML with inline CSS: no scripts, no network.
"""

from __future__ import annotations

import html
import random
from pathlib import Path
from typing import Any

import polars as pl

from lema.evaluation.summary import TASK_LABEL
from lema.tables import (
    CORRECTED,
    CORRECTOR,
    EXPLANATION,
    GENERATOR,
    GOLD,
    INCORRECT_STEP,
    KEPT,
    PATH,
    QUESTION,
    read_table,
)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em; color: #222; }
h2 { margin-top: 1.4em; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.drop { font-size: 12px; color: #555; }
.pair { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; margin: 1em 0;
        max-width: 70em; }
.pair h3 { font-size: 14px; margin: 0.2em 0 0.5em; color: #555; }
.label { font-weight: 600; font-size: 12px; text-transform: uppercase; color: #666;
         margin-top: 0.6em; }
pre { white-space: pre-wrap; font-family: ui-monospace, "SFMono-Regular", Menlo, monospace;
      font-size: 12.5px;
      background: #fafafa; border-left: 3px solid #ddd; padding: 0.4em 0.8em; margin: 0.2em 0; }
pre.wrong { border-left-color: #ef4444; }
pre.fix { border-left-color: #22c55e; }
tr.total td { font-weight: 600; border-top: 2px solid #bbb; }
p.note { font-size: 12px; color: #555; max-width: 60em; }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


# ---------------------------------------------------------------------------- funnel


def _fmt_int(value: Any) -> str:
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "–"


def funnel_html(results: str | Path, tasks: list[str]) -> str:
    """The funnel of each task, rows in data-flow order as `lema stats` prints them."""
    from lema.datagen import funnel as stats

    parts = []
    for task in tasks:
        rows = stats.collect(results, task)
        trs = []
        total_tokens, total_cost = 0, 0.0
        for label, source, d in rows:
            tok = d.get("tokens") or {}
            n_tok = (
                int(tok.get("prompt", 0) or 0) + int(tok.get("completion", 0) or 0)
                if isinstance(tok, dict)
                else 0
            )
            cost = float(d.get("cost_usd") or 0.0)
            total_tokens += n_tok
            total_cost += cost
            drops = d.get("dropped") or {}
            dropped = (
                ", ".join(
                    f"{html.escape(str(k))}: {_fmt_int(v)}"
                    for k, v in sorted(drops.items(), key=lambda kv: (-kv[1], kv[0]))
                    if v
                )
                or "–"
            )
            trs.append(
                f"<tr><td>{html.escape(label)}</td><td>{html.escape(str(source))}</td>"
                f'<td class="num">{_fmt_int(d.get("in"))}</td>'
                f'<td class="num">{_fmt_int(d.get("kept"))}</td>'
                f'<td class="drop">{dropped}</td>'
                f'<td class="num">{_fmt_int(n_tok) if n_tok else "–"}</td>'
                f'<td class="num">{f"${cost:.2f}" if cost else "–"}</td>'
                f'<td class="drop">{html.escape(str(stats.notes(label, d) or ""))}</td></tr>'
            )
        trs.append(
            f'<tr class="total"><td>total</td><td></td><td></td><td></td><td></td>'
            f'<td class="num">{_fmt_int(total_tokens)}</td>'
            f'<td class="num">${total_cost:.2f}</td><td></td></tr>'
        )
        body = "\n".join(trs) if rows else '<tr><td colspan="8">no stats yet</td></tr>'
        parts.append(
            f"<h2>{TASK_LABEL.get(task, task)}</h2>\n<table><thead><tr>"
            "<th>Stage</th><th>Source</th><th>In</th><th>Kept</th><th>Dropped (by reason)</th>"
            "<th>Tokens</th><th>Cost</th><th>Notes</th></tr></thead>"
            f"<tbody>\n{body}\n</tbody></table>"
        )
    note = (
        '<p class="note">One row per stage output, in data-flow order (the table '
        "<code>lema stats</code> prints): items in, items kept, every drop with its reason, and "
        "the tokens and cost of the stage's model "
        "calls (cached calls are not paid twice).</p>"
    )
    return _page("Data-generation funnel", note + "\n".join(parts))


# ---------------------------------------------------------------------------- corrections


def _text(row: dict[str, Any], column: str) -> str | None:
    """The value of ``column`` as text; None when it is missing or empty."""
    value = row.get(column)
    return None if value in (None, "") else str(value)


def corrections_html(tables: list[tuple[str, str | Path]], n: int = 20, seed: int = 0) -> str:
    """A sample of ``n`` kept mistake/correction pairs, an even share per task, from the
    corrections tables given as (task, path)."""
    frames = []
    for task, name in tables:
        path = Path(name)
        frame = read_table(path)
        if KEPT in frame.columns:
            frame = frame.filter(pl.col(KEPT).fill_null(False))
        frame = frame.with_columns(pl.lit(task).alias("_task"), pl.lit(str(path)).alias("_file"))
        frames.append(frame)
    rows: list[dict[str, Any]] = []
    for frame in frames:
        rows.extend(frame.iter_rows(named=True))
    total = len(rows)
    rng = random.Random(seed)
    # an even share per task, then by file order
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["_task"], []).append(r)
    picked: list[dict[str, Any]] = []
    tasks = sorted(by_task)
    for i, task in enumerate(tasks):
        share = (n - len(picked)) // (len(tasks) - i)
        pool = by_task[task]
        picked.extend(rng.sample(pool, min(share, len(pool))))
    blocks = []
    for k, r in enumerate(picked, 1):
        meta = " · ".join(
            x
            for x in (
                TASK_LABEL.get(r["_task"], r["_task"]),
                _text(r, GENERATOR) and f"generator {_text(r, GENERATOR)}",
                _text(r, CORRECTOR) and f"corrector {_text(r, CORRECTOR)}",
                _text(r, GOLD) and f"gold answer {_text(r, GOLD)}",
            )
            if x
        )
        body = [f"<h3>#{k} · {html.escape(meta)}</h3>"]
        for label, column, cls in (
            ("Question", QUESTION, ""),
            ("Wrong reasoning path", PATH, "wrong"),
            ("Incorrect step", INCORRECT_STEP, "wrong"),
            ("Explanation", EXPLANATION, ""),
            ("Corrected solution", CORRECTED, "fix"),
        ):
            text = _text(r, column)
            if text is not None:
                body.append(
                    f'<div class="label">{label}</div>'
                    f'<pre class="{cls}">{html.escape(text.strip())}</pre>'
                )
        blocks.append('<div class="pair">' + "\n".join(body) + "</div>")
    note = (
        f'<p class="note">{len(picked)} of {total:,} kept corrections, '
        f"drawn at random (seed {seed}) "
        "evenly across tasks. Each shows the generator's wrong path and the corrector's "
        "diagnosis and corrected solution, whose final answer matched the gold answer.</p>"
    )
    if not blocks:
        blocks.append("<p>No kept corrections were found.</p>")
    return _page("Mistake / correction pairs (sample)", note + "\n".join(blocks))
