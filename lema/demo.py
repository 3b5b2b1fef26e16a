"""`lema demo`: the whole study graph end to end on a small slice of GSM8K and MATH, on a CPU.

It runs Snakemake on ``demo.yaml`` (tiny local models built by the graph itself, the offline
``gold`` corrector, LoRA and QLoRA adapters, evaluation, summary, plots, funnel) in an output
folder, then builds the Snakemake report and prints where everything is, with the results
table. A second run in the same folder rebuilds only what changed (nothing, if nothing did).

    lema demo                      # the slice that ships with lema, offline, in ./demo-run
    lema demo --data ../shared/data --out /tmp/demo --cores 4
    lema demo --public             # the pinned public GSM8K / MATH (downloaded, checksummed)

By default the data is the embedded slice of real GSM8K and MATH (``lema/data/embedded``), so
the demo needs no network. ``--data DIR`` reads DIR/gsm8k and DIR/math in their original
formats instead (GSM8K: train.jsonl/test.jsonl; MATH: the Hendrycks folders or
train.jsonl/test.jsonl); ``--public`` downloads the originals. Arguments after ``--`` go to
Snakemake unchanged (e.g. ``lema demo -- -n``).

At the end it prints, besides the results table, how much of the data was readable: the
share of sampled paths with an extractable answer and the largest "no answer" rate of the
evaluation table, against the demo's targets (:data:`TARGETS`).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from lema.data import EMBEDDED_TASKS
from lema.errors import LemaError
from lema.io import write_text

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "demo.yaml"
SNAKEFILE = ROOT / "Snakefile"
TASKS = EMBEDDED_TASKS  # the tasks of the slice shipped in lema/data/embedded/
# Tiny models gain nothing from several threads per job; one thread per job lets `--cores N`
# run N jobs at once (the rules' defaults are sized for real models).
SINGLE_THREADED = ("train", "predict", "eval", "sample_paths")
# What the warmed-up tiny models must reach for the demo to exercise extraction and grading:
# at least this share of sampled paths with an extractable answer, and at most this share of
# "no answer" in any row of the evaluation table (percent).
TARGETS = {"paths_with_answer_min": 80.0, "no_answer_max": 20.0}


class DemoError(LemaError):
    """The demo cannot run or did not finish (one line: what to do)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo-run"), help="output folder (default: ./demo-run)"
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data",
        type=Path,
        default=None,
        help="local data folder holding gsm8k/ and math/ in the original formats "
        "(default: the slice of GSM8K and MATH that ships with lema)",
    )
    source.add_argument(
        "--public",
        action="store_true",
        help="download the pinned public GSM8K and MATH instead (needs the network)",
    )
    parser.add_argument(
        "--cores", type=int, default=None, help="CPU cores to use (default: all of them)"
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=DEMO_CONFIG,
        help=f"the demo config (default: {DEMO_CONFIG.name} in the lema checkout)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip `snakemake --report` (report.html)"
    )
    parser.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="after `--`: extra Snakemake options, e.g. `-- -n` for the plan only",
    )


def demo_config(config_path: Path, data: Path | None, public: bool = False) -> dict[str, Any]:
    """The demo config, with data.source switched to local when ``data`` is given, or to the
    public download with ``public``."""
    try:
        config = yaml.safe_load(config_path.read_text())
    except FileNotFoundError:
        raise DemoError(f"{config_path}: demo config not found") from None
    except yaml.YAMLError as exc:
        raise DemoError(f"{config_path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise DemoError(f"{config_path}: expected a mapping of config keys")
    if data is not None:
        data = data.expanduser().resolve()
        missing = [t for t in TASKS if not (data / t).exists()]
        if missing:
            raise DemoError(
                f"--data {data}: no {' or '.join(f'{t}/' for t in missing)} folder there "
                "(expected DIR/gsm8k and DIR/math in the original formats)"
            )
        section = dict(config.get("data") or {})
        section["source"] = "local"
        section["local"] = {t: str(data / t) for t in TASKS}
        config["data"] = section
    elif public:
        config["data"] = {**(config.get("data") or {}), "source": "public"}
    return config


def snakemake_command(out: Path, cores: int, extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(out),
        "--configfile",
        str(out / "config.yaml"),
        "--cores",
        str(cores),
        "--rerun-incomplete",
        # checksums of inputs up to 2 GB: a rerun that writes the same bytes cascades nowhere
        "--max-checksum-file-size",
        "2GB",
        "--set-threads",
        *(f"{rule}=1" for rule in SINGLE_THREADED),
        "--quiet",
        "rules",
        "host",
        "reason",
        *extra,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # the `lema` command the rules run is the one installed beside this Python
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("LEMA_ROOT", str(ROOT))
    return env


def _download_failure(out: Path) -> str | None:
    """The raw-data job's download error, if that is why the run failed."""
    for log in sorted((out / "logs" / "data").rglob("*.log")):
        text = log.read_text(errors="replace")
        m = re.search(r"could not download [^:]+", text)
        if m:
            return f"{m.group(0)} (log: {log})"
    return None


def _failed(out: Path, rc: int, data: Path | None) -> DemoError:
    download = _download_failure(out) if data is None else None
    if download:
        return DemoError(
            f"{download}; offline? run `lema demo` without --public (the embedded slice), or "
            "`lema demo --data DIR` with DIR/gsm8k and DIR/math in the original formats"
        )
    return DemoError(
        f"snakemake failed (exit code {rc}); the failed job's log is printed above, all logs are "
        f"in {out / 'logs'}; rerun `lema demo` to resume"
    )


def results_table(csv_path: Path) -> str:
    """The summary table, compact: task, backbone, mix, n, pass@1."""
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    header = ("task", "backbone", "mix", "n", "pass@1 (%)", "no answer (%)")
    body = [
        (r["task"], r["backbone"], r["mix"], r["n"], r["pass_at_1"], r["no_answer_rate"])
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body, strict=True)]
    lines = [
        "  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip()
        for line in (header, tuple("-" * w for w in widths), *body)
    ]
    return "\n".join(lines)


def readable_data(res: Path) -> dict[str, Any]:
    """What share of the demo's text the grader could read: per task, sampled paths with an
    extractable answer (%), and the largest "no answer" rate (%) of any evaluation row."""
    import polars as pl

    out: dict[str, Any] = {"paths_with_answer": {}, "no_answer_max": {}}
    for task_dir in sorted(p for p in res.iterdir() if (p / "paths").is_dir()):
        frames = [pl.read_parquet(f) for f in sorted((task_dir / "paths").glob("*.parquet"))]
        paths = pl.concat(frames) if frames else None
        if paths is not None and paths.height:
            share = paths["pred_answer"].is_not_null().mean() * 100
            out["paths_with_answer"][task_dir.name] = round(share, 1)
    summary = res / "summary.csv"
    if summary.exists():
        with summary.open(newline="") as fh:
            for r in csv.DictReader(fh):
                rate = float(r["no_answer_rate"])
                task = r["task"]
                out["no_answer_max"][task] = max(out["no_answer_max"].get(task, 0.0), rate)
    return out


def readable_lines(figures: dict[str, Any]) -> list[str]:
    """The readable-data figures against :data:`TARGETS`, one line per task."""
    lines = []
    tasks = sorted(set(figures["paths_with_answer"]) | set(figures["no_answer_max"]))
    for task in tasks:
        paths = figures["paths_with_answer"].get(task)
        worst = figures["no_answer_max"].get(task)
        ok = (paths is None or paths >= TARGETS["paths_with_answer_min"]) and (
            worst is None or worst <= TARGETS["no_answer_max"]
        )
        lines.append(
            f"  {task:6} sampled paths with an answer: {paths if paths is not None else '-'} % "
            f"(target >= {TARGETS['paths_with_answer_min']:g}); worst 'no answer' in "
            f"evaluation: {worst if worst is not None else '-'} % "
            f"(target <= {TARGETS['no_answer_max']:g}){'' if ok else '  [below target]'}"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    if not SNAKEFILE.is_file():
        raise DemoError(
            f"{SNAKEFILE}: not found; `lema demo` runs from a lema checkout (pip install -e .)"
        )
    out = args.out.expanduser().resolve()
    config = demo_config(args.config.expanduser().resolve(), args.data, args.public)
    out.mkdir(parents=True, exist_ok=True)
    # the effective config lives in the output folder: what ran is what you see
    write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    cores = args.cores or os.cpu_count() or 1
    extra = [a for a in (args.snakemake_args or []) if a != "--"]
    source = {
        "local": f"local files in {args.data}",
        "public": "the public GSM8K/MATH (download)",
        "embedded": "the GSM8K/MATH slice shipped with lema (offline)",
    }[config.get("data", {}).get("source", "public")]
    print(f"lema demo: running the study graph in {out} on {cores} cores, data from {source}")
    start = time.monotonic()
    proc = subprocess.run(snakemake_command(out, cores, extra), env=_env())
    if proc.returncode != 0:
        raise _failed(out, proc.returncode, args.data)
    dry = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
    if dry:
        return 0
    report = out / "report.html"
    if not args.no_report:
        cmd = snakemake_command(out, cores, []) + ["--report", str(report)]
        rep = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
        if rep.returncode != 0:
            tail = (rep.stderr or rep.stdout).strip().splitlines()
            raise DemoError(f"snakemake --report failed: {tail[-1] if tail else rep.returncode}")
    minutes = (time.monotonic() - start) / 60
    res = out / "results"
    print()
    print(f"lema demo: done in {minutes:.1f} min. Results in {out}:")
    where = [
        ("summary table", [res / "summary.csv", res / "summary.md"]),
        ("plots", sorted((res / "plots").glob("*.png"))),
        ("data funnel", [res / "funnel.txt", res / "report" / "funnel.html"]),
        ("report", [] if args.no_report else [report]),
        ("logs", [out / "logs"]),
    ]
    for label, paths in where:
        if paths:
            print(f"  {label + ':':15}{'  '.join(str(p) for p in paths)}")
    summary = res / "summary.csv"
    if summary.exists():
        print()
        print(results_table(summary))
        print()
        print("Readable data (the grader extracted an answer):")
        print("\n".join(readable_lines(readable_data(res))))
        print()
        print(
            "The tiny models are warmed up to write step-format answers, but they solve next "
            "to nothing: the demo shows the machinery, not the paper's numbers (README: "
            "'Scale on paper')."
        )
    return 0
