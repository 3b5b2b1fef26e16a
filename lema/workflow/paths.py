"""The one path scheme: where every table, model, adapter and page of the study lives.

Every function returns a path relative to the checkout (the Snakefile's working directory) as
a plain string; the rules call them with wildcard placeholders (``gen_table("{task}",
"original", "paths", "{generator}")``) as well as with values. Folders under the results
root take ``root`` so that a command given another results folder (``lema stats RESULTS``)
reads the same layout. A few inverse functions (``eval_context``, ``qset_of``, ``task_of``)
read a path back, for commands whose CLI names only files.

Layout, in the order the data flows::

    data/raw/{task}/{split}.parquet                      raw tables (rules/data.smk)
    data/warmup/{task}.parquet                           tiny models' warm-up rows
    results/models/{name}/                               tiny local models (rules/tiny.smk)
    results/{task}/{kind}/{generator}.parquet            kind: paths, mistakes, corrections
    results/{task}/evolved/questions.parquet             evolved questions
    results/{task}/evolved/{kind}/{generator}.parquet    the same for evolved questions
    results/{task}/cot/cot.parquet                       CoT data
    results/{task}/cot/augmented.parquet                 extra CoT paths for cot_matched
    results/{task}/train/pool.parquet, {mix}.jsonl       decontaminated pool, training mixes
    results/{task}/adapters/{backbone}/{mix}/            adapters (checkpoints/, merged/ alike)
    results/{task}/eval/{backbone}/{mix}/                predictions.parquet, metrics.json
    results/{task}/eval/{backbone}/{mix}/{benchmark}/    the same on an evaluation-only benchmark
    results/summary.{csv,md}, results/plots/, results/report/, results/funnel.txt

Mix names are spelled here too: the configured mixes, and the data-size curve's
``{cot|lema}_n{rows}`` (``size_mix``, read back by ``size_of_mix``).

A ``.stats.json`` beside a table (``stats_file``) records its stage's funnel.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from lema.data import BENCHMARKS
from lema.tasks import TASKS

QSETS = ("original", "evolved")
RESULTS = "results"
DATA = "data"

SUMMARY_CSV = f"{RESULTS}/summary.csv"
SUMMARY_MD = f"{RESULTS}/summary.md"
FUNNEL_TXT = f"{RESULTS}/funnel.txt"
ACCURACY_PLOT = f"{RESULTS}/plots/accuracy.png"
LEVELS_PLOT = f"{RESULTS}/plots/math_levels.png"
SIZE_CURVE_PLOT = f"{RESULTS}/plots/size_curve.png"
SUMMARY_HTML = f"{RESULTS}/report/summary.html"
FUNNEL_HTML = f"{RESULTS}/report/funnel.html"
CORRECTIONS_HTML = f"{RESULTS}/report/corrections_sample.html"


def stats_file(table: str) -> str:
    """The stats JSON beside a table: ``x.parquet`` / ``x.jsonl`` -> ``x.stats.json``."""
    stem, _, _ = table.rpartition(".")
    return f"{stem}.stats.json"


# --- data ----------------------------------------------------------------------------------
def raw_table(task: str, split: str) -> str:
    return f"{DATA}/raw/{task}/{split}.parquet"


def warmup_table(task: str) -> str:
    return f"{DATA}/warmup/{task}.parquet"


# --- tiny models ---------------------------------------------------------------------------
def model_folder(name: str) -> str:
    """Where rules/tiny.smk builds the tiny local model called ``name``."""
    return f"{RESULTS}/models/{name}"


# --- data generation -----------------------------------------------------------------------
def task_folder(task: str, root: str = RESULTS) -> str:
    return f"{root}/{task}"


def qset_folder(task: str, qset: str, root: str = RESULTS) -> str:
    """The training questions' folder (qset ``original``), or the evolved questions'."""
    base = task_folder(task, root)
    return base if qset == "original" else f"{base}/evolved"


def gen_folder(task: str, qset: str, kind: str, root: str = RESULTS) -> str:
    """One generation stage's folder: kind ``paths``, ``mistakes`` or ``corrections``."""
    return f"{qset_folder(task, qset, root)}/{kind}"


def gen_table(task: str, qset: str, kind: str, generator: str, root: str = RESULTS) -> str:
    return f"{gen_folder(task, qset, kind, root)}/{generator}.parquet"


def evolved_questions(task: str, root: str = RESULTS) -> str:
    return f"{qset_folder(task, 'evolved', root)}/questions.parquet"


def cot_table(task: str, root: str = RESULTS) -> str:
    return f"{task_folder(task, root)}/cot/cot.parquet"


def cot_augmented_table(task: str, root: str = RESULTS) -> str:
    """The extra corrector-written CoT paths that make ``cot_matched`` distinct rows."""
    return f"{task_folder(task, root)}/cot/augmented.parquet"


def train_folder(task: str, root: str = RESULTS) -> str:
    """The pool and the training mixes, each with its stats JSON."""
    return f"{task_folder(task, root)}/train"


def pool_table(task: str, root: str = RESULTS) -> str:
    return f"{train_folder(task, root)}/pool.parquet"


def train_mix(task: str, mix: str) -> str:
    return f"{train_folder(task)}/{mix}.jsonl"


# --- mix names -----------------------------------------------------------------------------
#: the mixes the data-size curve draws nested subsets of
SIZE_CURVE_MIXES = ("cot", "lema")
_SIZE_MIX = re.compile(r"^(?P<base>cot|lema)_n(?P<rows>[1-9][0-9]*)$")


def size_mix(base: str, rows: int) -> str:
    """The name of mix ``base`` (cot or lema) cut to ``rows`` rows: ``lema_n1000``."""
    return f"{base}_n{int(rows)}"


def size_of_mix(mix: str) -> tuple[str, int] | None:
    """(base mix, rows) of a size-curve mix name, None for any other name."""
    m = _SIZE_MIX.match(mix)
    return (m["base"], int(m["rows"])) if m else None


# --- training ------------------------------------------------------------------------------
def _run_folder(task: str, kind: str, backbone: str, mix: str) -> str:
    """The folder of one (backbone, mix) run of a stage: kind ``adapters``, ``checkpoints``,
    ``merged`` or ``eval``."""
    return f"{task_folder(task)}/{kind}/{backbone}/{mix}"


def adapter_folder(task: str, backbone: str, mix: str) -> str:
    return _run_folder(task, "adapters", backbone, mix)


def checkpoints_folder(task: str, backbone: str, mix: str) -> str:
    """Intermediate checkpoints: outside the outputs, so a killed job resumes from them."""
    return _run_folder(task, "checkpoints", backbone, mix)


def merged_folder(task: str, backbone: str, mix: str) -> str:
    return _run_folder(task, "merged", backbone, mix)


# --- evaluation and report -----------------------------------------------------------------
def eval_folder(task: str, backbone: str, mix: str) -> str:
    return _run_folder(task, "eval", backbone, mix)


def predictions_table(task: str, backbone: str, mix: str) -> str:
    return f"{eval_folder(task, backbone, mix)}/predictions.parquet"


def metrics_file(task: str, backbone: str, mix: str) -> str:
    return f"{eval_folder(task, backbone, mix)}/metrics.json"


def benchmark_folder(task: str, backbone: str, mix: str, benchmark: str) -> str:
    """Where a ``task`` adapter's decoding of an evaluation-only benchmark lives (config
    ``evaluation.benchmarks``): a folder inside the in-distribution one, named after the
    benchmark, so no in-distribution path changes."""
    return f"{eval_folder(task, backbone, mix)}/{benchmark}"


def benchmark_predictions(task: str, backbone: str, mix: str, benchmark: str) -> str:
    return f"{benchmark_folder(task, backbone, mix, benchmark)}/predictions.parquet"


def benchmark_metrics(task: str, backbone: str, mix: str, benchmark: str) -> str:
    return f"{benchmark_folder(task, backbone, mix, benchmark)}/metrics.json"


def plot_files(tasks: list[str], size_curve: bool = False) -> dict[str, str]:
    """The plot rule's outputs: accuracy, MATH's levels when MATH is studied, and the
    data-size curve when ``mix.sizes`` is set."""
    out = {"accuracy": ACCURACY_PLOT}
    if "math" in tasks:
        out["levels"] = LEVELS_PLOT
    if size_curve:
        out["size_curve"] = SIZE_CURVE_PLOT
    return out


# --- reading a path back -------------------------------------------------------------------
def eval_context(path: str | PurePath) -> dict[str, str]:
    """task / backbone / mix of a file under ``eval_folder``, and ``benchmark`` of one under
    ``benchmark_folder`` (``{}`` for any other path)."""
    parts = PurePath(path).parts
    for i in range(len(parts) - 3):
        if parts[i + 1] == "eval" and parts[i] in TASKS:
            out = {"task": parts[i], "backbone": parts[i + 2], "mix": parts[i + 3]}
            if len(parts) == i + 6 and parts[i + 4] in BENCHMARKS:
                out["benchmark"] = parts[i + 4]
            return out
    return {}


def qset_of(table: str | PurePath) -> str:
    """``evolved`` for a ``gen_table`` of evolved questions, else ``original``."""
    return "evolved" if "/evolved/" in PurePath(table).as_posix() else "original"


def task_of(path: str | PurePath) -> str:
    """The task a results path belongs to (its first folder named after a task), or ``?``."""
    return next((part for part in PurePath(path).parts if part in TASKS), "?")
