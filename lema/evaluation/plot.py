"""Plots of the results (`lema plot`): PNG files drawn with matplotlib's Agg backend.

- accuracy: one panel per task, pass@1 by backbone (groups) and mix (bars) with its 95 %
  interval as an error bar (metrics.json's ``ci95``, Wilson), the paper's figure drawn as a
  marker above our bar where the backbone is one the paper fine-tuned;
- levels (MATH): pass@1 by difficulty level 1–5, one line per backbone × mix;
- size curve (``mix.sizes``): pass@1 against the training-set size, one line per mix (``cot``,
  ``lema``: the size mixes ``cot_nN`` / ``lema_nN`` and the full mix), one panel per task ×
  backbone, with the 95 % interval of each point. Sizes are the rows each mix's stats JSON
  counts (the name's N when no stats are given). The accuracy plot leaves the size mixes out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lema.evaluation.summary import MIX_ORDER, PAPER_FIGURES, TASK_LABEL, TASK_ORDER, paper_backbone  # noqa: E402
from lema.io import atomic_path  # noqa: E402
from lema.workflow.paths import SIZE_CURVE_MIXES, size_of_mix  # noqa: E402

MIX_COLORS = {
    "base": "#9ca3af",
    "cot": "#60a5fa",
    "cot_matched": "#a78bfa",
    "lema": "#f97316",
    "lema_no_explanation": "#fbbf24",
    "lema_no_evolution": "#f87171",
}
MIX_LABEL = {
    "base": "base (no adapter)",
    "cot": "CoT",
    "cot_matched": "CoT (size-matched)",
    "lema": "LeMa",
    "lema_no_explanation": "LeMa w/o explanation",
    "lema_no_evolution": "LeMa w/o evolution",
}


def _save(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)


def _mixes(rows: list[dict[str, Any]]) -> list[str]:
    present = {r["mix"] for r in rows}
    return [m for m in MIX_ORDER if m in present] + sorted(present - set(MIX_ORDER))


def _ylim(rows: list[dict[str, Any]], task: str) -> float:
    """The panel's y limit: room above the highest bar or paper figure, within 5-100 %."""
    tops = [max(float(r["pass@1"]), *(r.get("ci95") or [0.0])) for r in rows] + [
        PAPER_FIGURES.get((paper_backbone(r["backbone"], r.get("model")), r["mix"]), {}).get(
            task, 0.0
        )
        for r in rows
    ]
    return min(100.0, max(5.0, 1.18 * max(tops + [0.0])))


def _bar(
    ax: Any, x: float, width: float, r: dict[str, Any], ylim: float, label: str | None
) -> None:
    """One bar with its value and its 95 % interval (an error bar, when metrics.json has one):
    the value inside the bar (rotated, below the interval) when there is room, else just above
    the interval."""
    mix = r["mix"]
    value = float(r["pass@1"])
    ci = r.get("ci95")
    yerr = [[max(0.0, value - ci[0])], [max(0.0, ci[1] - value)]] if ci else None
    ax.bar(
        x,
        value,
        width * 0.92,
        color=MIX_COLORS.get(mix, "#6b7280"),
        label=label,
        yerr=yerr,
        capsize=2,
        error_kw={"elinewidth": 0.8, "ecolor": "#374151"},
    )
    inside = value > 0.22 * ylim
    ax.annotate(
        f"{value:.1f}",
        (x, value if not ci else (min(value, ci[0]) if inside else max(value, ci[1]))),
        xytext=(0, -3 if inside else 4),
        textcoords="offset points",
        ha="center",
        va="top" if inside else "bottom",
        rotation=90,
        fontsize=7,
        color="white" if inside else "black",
    )


def _bars(
    ax: Any, rows: list[dict[str, Any]], task: str, mixes: list[str], paper_drawn: bool
) -> tuple[list[str], float, bool]:
    """The bars of one task's panel (and the paper's figure above each bar that has one);
    returns the backbones on the x axis, the y limit and whether the paper's legend entry is
    drawn yet."""
    backbones = sorted({r["backbone"] for r in rows})
    width = 0.8 / max(1, len(mixes))
    ylim = _ylim(rows, task)
    labelled: set[str] = set()
    for j, mix in enumerate(mixes):
        for i, bb in enumerate(backbones):
            r = next((r for r in rows if r["backbone"] == bb and r["mix"] == mix), None)
            if r is None:
                continue
            x = i - 0.4 + width * (j + 0.5)
            label = MIX_LABEL.get(mix, mix)
            _bar(ax, x, width, r, ylim, label if label not in labelled else None)
            labelled.add(label)
            pb = paper_backbone(bb, r.get("model"))
            fig_value = PAPER_FIGURES.get((pb, mix), {}).get(task) if pb else None
            if fig_value is not None:
                ax.hlines(
                    fig_value,
                    x - width * 0.5,
                    x + width * 0.5,
                    colors="black",
                    linewidth=2,
                    label="paper (An et al. 2023)" if not paper_drawn else None,
                )
                paper_drawn = True
    return backbones, ylim, paper_drawn


def _frame_panel(
    ax: Any, rows: list[dict[str, Any]], task: str, backbones: list[str], ylim: float
) -> None:
    """Axes, title and grid of one task's panel; a note when it has no (or only 0 %) results."""
    ax.set_xticks(range(len(backbones)))
    ax.set_xticklabels(
        backbones,
        rotation=20 if len(backbones) > 3 else 0,
        ha="right" if len(backbones) > 3 else "center",
    )
    ax.set_xlim(-0.6, len(backbones) - 0.4)
    ax.set_ylim(0, ylim)
    n = rows[0]["n"] if rows else 0
    ax.set_title(f"{TASK_LABEL.get(task, task)} (n = {n})" if rows else TASK_LABEL.get(task, task))
    ax.set_ylabel("pass@1 (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if not rows:
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    elif not any(float(r["pass@1"]) for r in rows):
        ax.text(
            0.5,
            0.55,
            "every model: 0 %",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="#555",
        )


def _figure_legend(fig: plt.Figure, axes: Any) -> None:
    """One legend under the panels: each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=len(labels),
            frameon=False,
            bbox_to_anchor=(0.5, -0.06),
        )


def _task_key(task: str) -> tuple[int, str]:
    """Tasks in the summary's order: the built-in ones first, then the user's by name."""
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def plot_accuracy(metrics: list[dict[str, Any]], path: str | Path) -> None:
    """pass@1 by backbone (groups) and mix (bars), one panel per task, with the paper's
    figures; a PNG at ``path``."""
    metrics = [m for m in metrics if size_of_mix(m["mix"]) is None]  # in the size curve
    tasks = sorted({m["task"] for m in metrics}, key=_task_key) or ["gsm8k"]
    fig, axes = plt.subplots(
        1, len(tasks), figsize=(max(5.5, 4.2 * len(tasks) + 1), 4.2), squeeze=False
    )
    mixes = _mixes(metrics)
    paper_drawn = False
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [m for m in metrics if m["task"] == task]
        backbones, ylim, paper_drawn = _bars(ax, rows, task, mixes, paper_drawn)
        _frame_panel(ax, rows, task, backbones, ylim)
    _figure_legend(fig, axes[0])
    fig.suptitle("Greedy pass@1 by backbone and training mix (error bars: 95% Wilson interval)")
    fig.tight_layout()
    _save(fig, path)


def plot_levels(metrics: list[dict[str, Any]], path: str | Path, task: str = "math") -> None:
    rows = [m for m in metrics if m["task"] == task and m.get("by_level")]
    rows.sort(
        key=lambda r: (r["backbone"], MIX_ORDER.index(r["mix"]) if r["mix"] in MIX_ORDER else 9)
    )
    fig, ax = plt.subplots(figsize=(7.6, 4.2))
    styles = ["-", "--", ":", "-."]
    backbones = sorted({r["backbone"] for r in rows})
    # problems per level (the same test set for every model): shown under the ticks
    n_by_level: dict[int, int] = {}
    for r in rows:
        for k, v in r["by_level"].items():
            if k.isdigit():
                n_by_level[int(k)] = max(n_by_level.get(int(k), 0), int(v.get("n", 0)))
    # a small sideways offset per line, so that equal values do not hide each other
    step = min(0.035, 0.3 / max(1, len(rows)))
    for i, r in enumerate(rows):
        levels = sorted((k for k in r["by_level"] if k.isdigit()), key=int)
        offset = (i - (len(rows) - 1) / 2) * step
        xs = [int(k) + offset for k in levels]
        ys = [r["by_level"][k]["pass@1"] for k in levels]
        style = styles[backbones.index(r["backbone"]) % len(styles)]
        ax.plot(
            xs,
            ys,
            style,
            marker="o",
            markersize=5,
            color=MIX_COLORS.get(r["mix"], "#6b7280"),
            label=f"{r['backbone']} · {MIX_LABEL.get(r['mix'], r['mix'])}",
        )
    ticks = [1, 2, 3, 4, 5]
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [f"{t}\n(n = {n_by_level[t]})" if t in n_by_level else f"{t}\n(none)" for t in ticks]
    )
    ax.set_xlim(0.5, 5.5)
    ax.set_xlabel("MATH difficulty level (test problems per level)")
    ax.set_ylabel("pass@1 (%)")
    values = [v["pass@1"] for r in rows for v in r["by_level"].values()]
    ax.set_ylim(0, min(100, max(values + [5.0]) * 1.15))
    ax.grid(alpha=0.3)
    ax.set_title(f"{TASK_LABEL.get(task, task)}: pass@1 by difficulty level")
    if rows:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        if not any(values):
            ax.text(
                0.5,
                0.55,
                "every model: 0 % at every level",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="#555",
            )
    else:
        ax.text(0.5, 0.5, "no MATH results", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    _save(fig, path)


# ------------------------------------------------------------------------------ size curve
def curve_points(
    metrics: list[dict[str, Any]], rows_of: dict[tuple[str, str], int]
) -> dict[tuple[str, str, str], list[tuple[int, dict[str, Any]]]]:
    """(task, backbone, base mix) -> [(training rows, metrics)] sorted by rows: the size
    mixes and the full ``cot`` / ``lema`` mix. ``rows_of``: (task, mix) -> rows in the mix
    (from its stats); without it a size mix counts its name's N and a full mix is left out."""
    out: dict[tuple[str, str, str], list[tuple[int, dict[str, Any]]]] = {}
    for m in metrics:
        sized = size_of_mix(m["mix"])
        base = sized[0] if sized else m["mix"]
        if base not in SIZE_CURVE_MIXES:
            continue
        rows = rows_of.get((m["task"], m["mix"]), sized[1] if sized else None)
        if rows is None:
            continue
        out.setdefault((m["task"], m["backbone"], base), []).append((rows, m))
    for points in out.values():
        points.sort(key=lambda p: p[0])
    return out


def plot_size_curve(
    metrics: list[dict[str, Any]], path: str | Path, rows_of: dict[tuple[str, str], int]
) -> None:
    """pass@1 against training-set size (:func:`curve_points`), one panel per task ×
    backbone, a line per mix with 95 % Wilson intervals; a PNG at ``path``."""
    points = curve_points(metrics, rows_of)
    panels = sorted(
        {(t, b) for t, b, _ in points},
        key=lambda k: (TASK_ORDER.index(k[0]) if k[0] in TASK_ORDER else 9, k[1]),
    ) or [("gsm8k", "")]
    cols = min(3, len(panels))
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.4 * nrows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, (task, backbone) in zip(flat, panels, strict=False):
        for base in SIZE_CURVE_MIXES:
            line = points.get((task, backbone, base), [])
            if not line:
                continue
            xs = [x for x, _ in line]
            ys = [float(m["pass@1"]) for _, m in line]
            cis = [m.get("ci95") or [y, y] for (_, m), y in zip(line, ys, strict=True)]
            yerr = [
                [max(0.0, y - c[0]) for y, c in zip(ys, cis, strict=True)],
                [max(0.0, c[1] - y) for y, c in zip(ys, cis, strict=True)],
            ]
            ax.errorbar(
                xs,
                ys,
                yerr=yerr,
                marker="o",
                markersize=4,
                capsize=2,
                color=MIX_COLORS.get(base, "#6b7280"),
                label=MIX_LABEL.get(base, base),
            )
        sizes = sorted(
            {x for b in SIZE_CURVE_MIXES for x, _ in points.get((task, backbone, b), [])}
        )
        ax.set_xscale("log")
        ax.set_xticks(sizes, [f"{x:,}" for x in sizes], rotation=30 if len(sizes) > 4 else 0)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_title(f"{TASK_LABEL.get(task, task)} · {backbone}", fontsize=10)
        ax.set_xlabel("training rows")
        ax.set_ylabel("pass@1 (%)")
        ax.grid(alpha=0.3)
        if not any(points.get((task, backbone, b)) for b in SIZE_CURVE_MIXES):
            ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
    for ax in flat[len(panels) :]:
        ax.axis("off")
    _figure_legend(fig, flat)
    fig.suptitle("pass@1 by training-set size (error bars: 95% Wilson interval)")
    fig.tight_layout()
    _save(fig, path)
