"""The results table: `lema summary` → results/summary.csv and results/summary.md.

One row per task × backbone × mix from the metrics.json files: pass@1 with its Wilson 95 %
interval, the paper rule's pass@1 (lema.grading.paper_rule) with its interval and the paper's
published figure beside it where the backbone is one the paper fine-tuned (matched on the
backbone's model id, or its config name), and on each `lema` row the LeMa − CoT and LeMa −
CoT-matched deltas with a paired test on the same problems (paired bootstrap 95 % interval and
McNemar's exact p, lema.evaluation.stats; the per-problem outcomes come from the predictions
table beside each metrics.json), and the paper's delta; on each ablation row
(``lema_no_explanation``, ``lema_no_evolution``) the ablation − LeMa delta with the same paired
test, and the rows of the data-size curve (``cot_nN``, ``lema_nN``) in size order. All figures
are percentages.

A metrics file of an evaluation-only benchmark (``benchmark`` in it: a task's adapter decoded
on SVAMP, AIME 2024, ..., config ``evaluation.benchmarks``) adds no row: it fills the columns
``{benchmark}_n``, ``{benchmark}_pass_at_1`` and its Wilson interval on the row of the same
task × backbone × mix, so in-distribution and transfer figures sit side by side (the Markdown
and HTML tables show one "pass@1 [95% CI]" column per benchmark, next to the task's own).
Without benchmark metrics the table is as it always was.

When a metrics file has sampled figures (``evaluation.samples`` > 1), the table gains
``samples`` (n) and, for every k of any row, ``sampled_pass_at_{k}`` and
``sampled_maj_at_{k}`` with their intervals (CSV; ``pass_at_1`` stays the greedy figure);
the Markdown and HTML tables show each row's pass@n and maj@n. Without samples anywhere the
table is as it always was.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path
from typing import Any

import polars as pl

from lema.data import BENCHMARKS
from lema.errors import DataError
from lema.evaluation.stats import (
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    paired_test,
    wilson_interval,
)
from lema.io import read_json, write_text
from lema.tables import CORRECT, ID
from lema.tasks import TASKS
from lema.workflow.paths import size_of_mix

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

MIX_ORDER = ["base", "cot", "cot_matched", "lema", "lema_no_explanation", "lema_no_evolution"]
TASK_ORDER = list(TASKS)
TASK_LABEL = {"gsm8k": "GSM8K", "math": "MATH", "csqa": "CSQA"}

BENCHMARK_LABEL = {
    "svamp": "SVAMP",
    "asdiv": "ASDiv",
    "mawps": "MAWPS",
    "aqua": "AQuA",
    "aime24": "AIME 2024",
    "amc23": "AMC 2023",
}
#: the columns one benchmark's metrics fill (``{benchmark}`` + suffix)
BENCHMARK_SUFFIXES = {
    "_n": pl.Int64,
    "_pass_at_1": pl.Float64,
    "_pass_at_1_ci95_lo": pl.Float64,
    "_pass_at_1_ci95_hi": pl.Float64,
}

#: the deltas of a `lema` row: (reference mix, column)
DELTAS = (("cot", "lema_minus_cot"), ("cot_matched", "lema_minus_cot_matched"))
#: the ablations: mix -> the reference mix its delta (column ABLATION_DELTA) is taken against
ABLATIONS = {"lema_no_explanation": "lema", "lema_no_evolution": "lema"}
ABLATION_DELTA = "minus_lema"

SCHEMA: dict[str, Any] = {
    "task": pl.String,
    "backbone": pl.String,
    "mix": pl.String,
    "model": pl.String,
    "n": pl.Int64,
    "correct": pl.Int64,
    "pass_at_1": pl.Float64,
    "pass_at_1_ci95_lo": pl.Float64,
    "pass_at_1_ci95_hi": pl.Float64,
    "correct_paper_rule": pl.Int64,
    "pass_at_1_paper_rule": pl.Float64,
    "pass_at_1_paper_rule_ci95_lo": pl.Float64,
    "pass_at_1_paper_rule_ci95_hi": pl.Float64,
    "paper_backbone": pl.String,
    "paper_pass_at_1": pl.Float64,
    "paper_rule_minus_paper": pl.Float64,
    "no_answer_rate": pl.Float64,
    "diff_vs_paper": pl.Float64,
    **{
        f"{col}{suffix}": pl.Float64
        for _, col in DELTAS
        for suffix in ("", "_ci95_lo", "_ci95_hi", "_p")
    },
    "paper_lema_minus_cot": pl.Float64,
    **{f"{ABLATION_DELTA}{s}": pl.Float64 for s in ("", "_ci95_lo", "_ci95_hi", "_p")},
}
COLUMNS = list(SCHEMA)
PREDICTIONS_NAME = "predictions.parquet"


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
    sized = size_of_mix(row["mix"])  # the size curve: by mix, then by size
    return (task, row["backbone"], mix, *(sized or (row["mix"], 0)))


def _outcomes(predictions: Path | None, m: dict[str, Any]) -> dict | None:
    """Per-problem correctness (id -> bool) of a metrics file's predictions, or None (with a
    note on stderr) when there are none or they are not the ones metrics.json was graded
    from (other problems, or another grading: regrade them with `lema eval`)."""
    if predictions is None or not predictions.exists():
        return None
    if not {ID, CORRECT} <= set(pl.read_parquet_schema(predictions)):
        _warn(f"{predictions}: no {ID}/{CORRECT} columns; no paired tests for it")
        return None
    frame = pl.read_parquet(predictions, columns=[ID, CORRECT])
    ids = frame[ID].cast(pl.String).to_list()
    ok = frame[CORRECT].fill_null(False).to_list()
    if len(set(ids)) != len(ids) or len(ids) != int(m["n"]) or sum(ok) != int(m["correct"]):
        _warn(
            f"{predictions}: {sum(ok)}/{len(ids)} correct, but {m['correct']}/{m['n']} in "
            "metrics.json (graded differently): no paired tests for it; regrade both with "
            f"`lema eval {predictions} --graded-output {predictions} -o METRICS`"
        )
        return None
    return dict(zip(ids, ok, strict=True))


def _warn(message: str) -> None:
    print(f"lema summary: {message}", file=sys.stderr)


def _split_files(files: list[str | Path]) -> tuple[list[Path], dict[Path, Path]]:
    """metrics.json files, and the predictions named beside them (folder -> file)."""
    metrics, predictions = [], {}
    for f in map(Path, files):
        if f.suffix == ".parquet":
            predictions[f.parent] = f
        else:
            metrics.append(f)
    return metrics, predictions


def _row(m: dict[str, Any]) -> dict[str, Any]:
    """One summary row from a metrics file (deltas filled in later)."""
    pb = paper_backbone(m["backbone"], m.get("model"))
    paper = PAPER_FIGURES.get((pb, m["mix"]), {}).get(m["task"]) if pb else None
    n, correct = int(m["n"]), int(m["correct"])
    ci = wilson_interval(correct, n) or [None, None]
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        task=m["task"],
        backbone=m["backbone"],
        mix=m["mix"],
        model=m.get("model"),
        n=n,
        correct=correct,
        pass_at_1=float(m["pass@1"]),
        pass_at_1_ci95_lo=ci[0],
        pass_at_1_ci95_hi=ci[1],
        no_answer_rate=float(m.get("no_answer_rate", 0.0)),
        paper_backbone=pb,
        paper_pass_at_1=paper,
        diff_vs_paper=round(float(m["pass@1"]) - paper, 2) if paper is not None else None,
    )
    if "pass@1_paper_rule" in m:
        k = int(m["correct_paper_rule"])
        lo, hi = wilson_interval(k, n) or [None, None]
        rule = float(m["pass@1_paper_rule"])
        row.update(
            correct_paper_rule=k,
            pass_at_1_paper_rule=rule,
            pass_at_1_paper_rule_ci95_lo=lo,
            pass_at_1_paper_rule_ci95_hi=hi,
            paper_rule_minus_paper=round(rule - paper, 2) if paper is not None else None,
        )
    return row


def _sampled(m: dict[str, Any]) -> dict[str, Any]:
    """The sampled columns of a metrics file (none without samples)."""
    if "pass@k" not in m:
        return {}
    out: dict[str, Any] = {"samples": int(m["samples"]["n"])}
    for name, key in (("pass", "pass@k"), ("maj", "maj@k")):
        for k, entry in m[key].items():
            lo, hi = entry.get("ci95") or [None, None]
            out.update(
                {
                    f"sampled_{name}_at_{k}": float(entry["value"]),
                    f"sampled_{name}_at_{k}_ci95_lo": lo,
                    f"sampled_{name}_at_{k}_ci95_hi": hi,
                }
            )
    return out


def _sampled_schema(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The sampled columns present in ``rows``: samples, then pass@k and maj@k by k."""
    ks = sorted(
        {
            int(m.group(1))
            for r in rows
            for c in r
            if (m := re.fullmatch(r"sampled_maj_at_(\d+)", c))
        }
    )
    if not ks:
        return {}
    schema: dict[str, Any] = {"samples": pl.Int64}
    for name in ("pass", "maj"):
        for k in ks:
            for suffix in ("", "_ci95_lo", "_ci95_hi"):
                schema[f"sampled_{name}_at_{k}{suffix}"] = pl.Float64
    return schema


def _paired(lema: dict | None, ref: dict | None, what: str) -> dict[str, Any] | None:
    """The paired test of two runs' per-problem outcomes (None when either is missing or
    they are not the same problems)."""
    if lema is None or ref is None:
        return None
    if set(lema) != set(ref):
        _warn(f"{what}: the two runs graded different problems; no paired test")
        return None
    ids = sorted(lema)
    return paired_test([lema[i] for i in ids], [ref[i] for i in ids])


def _fill_deltas(rows: list[dict[str, Any]], outcomes: dict[tuple, dict | None]) -> None:
    by_key = {(r["task"], r["backbone"], r["mix"]): r for r in rows}
    for r in rows:
        if r["mix"] != "lema":
            continue
        key = (r["task"], r["backbone"], "lema")
        for other, column in DELTAS:
            ref_key = (r["task"], r["backbone"], other)
            ref = by_key.get(ref_key)
            if ref is None:
                continue
            r[column] = round(r["pass_at_1"] - ref["pass_at_1"], 2)
            test = _paired(outcomes.get(key), outcomes.get(ref_key), "/".join(key[:2]))
            if test is not None:
                r[f"{column}_ci95_lo"], r[f"{column}_ci95_hi"] = test["ci95"]
                r[f"{column}_p"] = test["p_mcnemar"]
        figures = PAPER_FIGURES.get((r["paper_backbone"], "cot"), {})
        lema_fig = PAPER_FIGURES.get((r["paper_backbone"], "lema"), {})
        if r["task"] in figures and r["task"] in lema_fig:
            r["paper_lema_minus_cot"] = round(lema_fig[r["task"]] - figures[r["task"]], 2)


def _fill_ablation_deltas(rows: list[dict[str, Any]], outcomes: dict[tuple, dict | None]) -> None:
    """Each ablation row's delta against its reference mix (ABLATIONS), paired-tested."""
    by_key = {(r["task"], r["backbone"], r["mix"]): r for r in rows}
    for r in rows:
        if r["mix"] not in ABLATIONS:
            continue
        key, ref_key = (
            (r["task"], r["backbone"], r["mix"]),
            (r["task"], r["backbone"], ABLATIONS[r["mix"]]),
        )
        ref = by_key.get(ref_key)
        if ref is None:
            continue
        r[ABLATION_DELTA] = round(r["pass_at_1"] - ref["pass_at_1"], 2)
        test = _paired(outcomes.get(key), outcomes.get(ref_key), "/".join(key))
        if test is not None:
            r[f"{ABLATION_DELTA}_ci95_lo"], r[f"{ABLATION_DELTA}_ci95_hi"] = test["ci95"]
            r[f"{ABLATION_DELTA}_p"] = test["p_mcnemar"]


def _benchmark_cells(m: dict[str, Any]) -> dict[str, Any]:
    """The columns a benchmark's metrics file fills on its task × backbone × mix row."""
    b, n, correct = m["benchmark"], int(m["n"]), int(m["correct"])
    lo, hi = wilson_interval(correct, n) or [None, None]
    return {
        f"{b}_n": n,
        f"{b}_pass_at_1": float(m["pass@1"]),
        f"{b}_pass_at_1_ci95_lo": lo,
        f"{b}_pass_at_1_ci95_hi": hi,
    }


def _add_benchmarks(rows: list[dict[str, Any]], transfer: dict[tuple, dict]) -> dict[str, Any]:
    """Fill each row's benchmark columns (``transfer``: (task, backbone, mix) -> columns);
    return the schema of the benchmark columns present, in the registry's order."""
    by_key = {(r["task"], r["backbone"], r["mix"]): r for r in rows}
    for key, cells in transfer.items():
        if key not in by_key:
            raise DataError(
                f"benchmark metrics of {'/'.join(key)} without the in-distribution metrics.json "
                "of the same task, backbone and mix"
            )
        by_key[key].update(cells)
    present = {c for cells in transfer.values() for c in cells}
    return {
        f"{b}{suffix}": dtype
        for b in BENCHMARKS
        for suffix, dtype in BENCHMARK_SUFFIXES.items()
        if f"{b}_pass_at_1" in present
    }


def build_summary(files: list[str | Path]) -> pl.DataFrame:
    """The summary table of metrics.json files. Each one's per-problem outcomes are read from
    the predictions table beside it (``predictions.parquet``, or a .parquet file among
    ``files`` in the same folder) for the paired tests of the LeMa deltas."""
    metrics_files, named = _split_files(files)
    rows: list[dict[str, Any]] = []
    outcomes: dict[tuple, dict | None] = {}
    transfer: dict[tuple, dict[str, Any]] = {}
    for path in metrics_files:
        m = read_json(path)
        missing = [k for k in ("task", "backbone", "mix", "n", "pass@1") if k not in m]
        if missing:
            raise DataError(f"{path}: not a lema metrics file (missing {', '.join(missing)})")
        key = (m["task"], m["backbone"], m["mix"])
        if "benchmark" in m:
            cells = transfer.setdefault(key, {})
            if f"{m['benchmark']}_pass_at_1" in cells:
                raise DataError(
                    f"{path}: a second metrics file for {'/'.join(key)} on {m['benchmark']}"
                )
            cells.update(_benchmark_cells(m))
            continue
        if key in outcomes:
            raise DataError(f"{path}: a second metrics file for {'/'.join(key)}")
        preds = named.get(path.parent, path.parent / PREDICTIONS_NAME)
        outcomes[key] = _outcomes(preds, m)
        rows.append({**_row(m), **_sampled(m)})
    _fill_deltas(rows, outcomes)
    _fill_ablation_deltas(rows, outcomes)
    rows.sort(key=_sort_key)
    transfer_schema = _add_benchmarks(rows, transfer)
    schema = {**SCHEMA, **_sampled_schema(rows), **transfer_schema}
    rows = [{c: r.get(c) for c in schema} for r in rows]
    return pl.DataFrame(rows, schema=schema).select(list(schema))


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
    ("pass@1 (%) [95% CI]", "pass_at_1"),
    ("pass@1 paper rule (%) [95% CI]", "pass_at_1_paper_rule"),
    ("Paper (%)", "paper_pass_at_1"),
    ("Paper rule − paper (pp)", "paper_rule_minus_paper"),
    ("No answer (%)", "no_answer_rate"),
    ("LeMa − CoT (pp) [95% CI], McNemar p", "lema_minus_cot"),
    ("LeMa − CoT-matched (pp) [95% CI], McNemar p", "lema_minus_cot_matched"),
    ("Paper LeMa − CoT (pp)", "paper_lema_minus_cot"),
    ("Ablation − LeMa (pp) [95% CI], McNemar p", ABLATION_DELTA),
]
#: shown when some row has samples: each row's own n
SAMPLED_HEADERS = [
    ("Samples n", "samples"),
    ("pass@n (%) [95% CI]", "pass_at_n"),
    ("maj@n (%) [95% CI]", "maj_at_n"),
]
TEXT_KEYS = ("task", "backbone", "mix")
_SIGNED = {"paper_rule_minus_paper", "paper_lema_minus_cot"}
_WITH_CI = {"pass_at_1", "pass_at_1_paper_rule"}
_WITH_TEST = {col for _, col in DELTAS} | {ABLATION_DELTA}
_BENCHMARK_PASS = {f"{b}_pass_at_1" for b in BENCHMARKS}


def _with_benchmarks(headers: list[tuple[str, str]], frame: pl.DataFrame) -> list[tuple[str, str]]:
    """``headers`` with one pass@1 column per benchmark in ``frame``, after the task's own."""
    extra = [
        (f"{BENCHMARK_LABEL.get(b, b)} pass@1 (%) [95% CI]", f"{b}_pass_at_1")
        for b in BENCHMARKS
        if f"{b}_pass_at_1" in frame.columns
    ]
    at = next(i for i, (_, key) in enumerate(headers) if key == "pass_at_1") + 1
    return headers[:at] + extra + headers[at:]


def _transfer_note(frame: pl.DataFrame) -> str:
    """The footnote's sentence on benchmark columns, when the table has some."""
    if not any(f"{b}_pass_at_1" in frame.columns for b in BENCHMARKS):
        return ""
    return (
        " Benchmark columns (SVAMP, ASDiv, ...): the same adapter decoded greedily on that "
        "evaluation-only test set with its task's prompt (config evaluation.benchmarks), each "
        "answer graded as its type says (numeric, LaTeX, choice letter or text), pass@1 with "
        "its Wilson 95% CI."
    )


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _headers(frame: pl.DataFrame) -> list[tuple[str, str]]:
    return _HEADERS + (SAMPLED_HEADERS if "samples" in frame.columns else [])


def _cell(row: dict[str, Any], key: str) -> str:
    if key in ("pass_at_n", "maj_at_n"):
        if row["samples"] is None:
            return "–"
        key = f"sampled_{key[:-1]}{row['samples']}"
        lo, hi = row[f"{key}_ci95_lo"], row[f"{key}_ci95_hi"]
        return f"{row[key]:.1f}" + (f" [{lo:.1f}, {hi:.1f}]" if lo is not None else "")
    value = row[key]
    if key == "task":
        return TASK_LABEL.get(value, value)
    if value is None:
        return "–"
    if key == "paper_pass_at_1":
        return f"{value:.1f} ({row['paper_backbone']})"
    if (key in _WITH_CI or key in _BENCHMARK_PASS) and row[f"{key}_ci95_lo"] is not None:
        return f"{value:.1f} [{row[f'{key}_ci95_lo']:.1f}, {row[f'{key}_ci95_hi']:.1f}]"
    if key in _WITH_TEST:
        text = f"{value:+.1f}"
        if row[f"{key}_p"] is not None:
            lo, hi = row[f"{key}_ci95_lo"], row[f"{key}_ci95_hi"]
            text += f" [{lo:+.1f}, {hi:+.1f}], {_p_text(row[f'{key}_p'])}"
        return text
    return _fmt(value, signed=key in _SIGNED)


def _cells(row: dict[str, Any], headers: list[tuple[str, str]]) -> list[str]:
    return [_cell(row, key) for _, key in headers]


FOOTNOTE = (
    "pass@1 = share of test problems whose greedy answer is equivalent to the gold answer "
    "(lema's grader); pass@1 paper rule = the same predictions graded as the paper's "
    "evaluation does (the text after the last 'The answer is', string match after "
    "normalisation on MATH, float equality on GSM8K): the figure to set beside the paper's. "
    "[95% CI] = Wilson score interval. Deltas: LeMa minus the reference on the same problems, "
    f"with a paired bootstrap 95% interval ({BOOTSTRAP_RESAMPLES:,} resamples, seed "
    f"{BOOTSTRAP_SEED}) and McNemar's exact "
    "two-sided p-value. "
    "Paper = An et al. (2023), Table 1, shown where the backbone is the one the paper fine-tuned "
    "(LLaMA-2-70B, MetaMath-70B, WizardMath-70B). pp = percentage points. "
    "Mix `base` is the backbone without an adapter. Ablations: `lema_no_explanation` (the "
    "corrections without the explanation of the mistake) and `lema_no_evolution` (corrections "
    "of the original questions only), each minus `lema` on the same problems; `cot_nN` / "
    "`lema_nN`: the data-size curve, the mix cut to N rows (nested subsets)."
)
SAMPLED_FOOTNOTE = (
    " With samples: n completions per problem at the configured temperature; pass@n = the "
    "unbiased estimator of Chen et al. (2021) averaged over problems [Wilson 95% CI at that "
    "mean]; maj@n = share of problems whose majority vote of the n samples' answers "
    "(clustered by equivalence; a tie goes to the answer voted for first) is the gold answer "
    "[Wilson 95% CI]. pass@1 stays the greedy figure."
)


def _footnote(frame: pl.DataFrame) -> str:
    return (
        FOOTNOTE + (SAMPLED_FOOTNOTE if "samples" in frame.columns else "") + _transfer_note(frame)
    )


def to_markdown(frame: pl.DataFrame) -> str:
    headers = _with_benchmarks(_headers(frame), frame)
    lines = [
        "# lema results: pass@1 per task × backbone × mix",
        "",
        "| " + " | ".join(h for h, _ in headers) + " |",
        "|"
        + "|".join("---" if k in ("task", "backbone", "mix") else "---:" for _, k in headers)
        + "|",
    ]
    for row in frame.iter_rows(named=True):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(row, headers)) + " |")
    if frame.height == 0:
        lines.append("| (no results) |" + " |" * (len(headers) - 1))
    lines += ["", _footnote(frame), ""]
    return "\n".join(lines)


def _note_html(note: str) -> str:
    """A footnote as HTML, `names` as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(note))


def to_html(frame: pl.DataFrame) -> str:
    headers = _with_benchmarks(_headers(frame), frame)
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in headers)
    body = []
    for row in frame.iter_rows(named=True):
        cls = ' class="lema"' if row["mix"] == "lema" else ""
        tds = "".join(
            f'<td class="{"txt" if k in TEXT_KEYS else "num"}">{html.escape(c)}</td>'
            for c, (_, k) in zip(_cells(row, headers), headers, strict=True)
        )
        body.append(f"<tr{cls}>{tds}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}">no results</td></tr>')
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
<p class="note">{_note_html(_footnote(frame))}</p>
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
