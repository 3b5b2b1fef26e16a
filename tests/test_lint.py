"""The workflow as a whole: `snakemake --lint` is clean, and the paper-scale study in
config.yaml (5 generators x 2 tasks x >= 5 backbones x 5 mixes + the data-size curve) dry-runs
in seconds, through each profile too. Dry runs build the whole DAG without running or
downloading anything."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())
# CPU seconds (not wall: CI machines are shared) a dry run of the full study may take
DRY_RUN_CPU_S = 20


def snakemake(
    *args: str, cwd: Path, timeout: int = 300
) -> tuple[subprocess.CompletedProcess, float]:
    """Run Snakemake; return the result and the CPU seconds it used."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc, cpu


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> number of jobs."""
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def test_lint_is_clean():
    proc, _ = snakemake("--lint", cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_study_config_is_paper_scale():
    assert len(STUDY["generators"]) == 5
    assert STUDY["tasks"] == ["gsm8k", "math"]
    assert len(STUDY["backbones"]) >= 5
    assert STUDY["mixes"] == [
        "cot", "lema", "cot_matched", "lema_no_explanation", "lema_no_evolution"
    ]  # fmt: skip
    assert STUDY["mix"]["sizes"] == [1000, 2000, 4000, 8000]


def _expected(config: dict) -> dict[str, int]:
    tasks, backbones = len(config["tasks"]), len(config["backbones"])
    sizes = 2 * len(config["mix"]["sizes"])  # cot_nN and lema_nN
    mixes = len(config["mixes"]) + sizes
    evaluated = len(config["evaluation"]["mixes"]) + sizes
    benchmarks = config["evaluation"]["benchmarks"]
    pairs = sum(len(benchmarks.get(t, [])) for t in config["tasks"])  # task x its benchmark
    chosen = config["evaluation"].get("benchmark_mixes")
    on_benchmarks = evaluated if chosen is None else len(chosen)
    return {
        "raw_data": tasks * 2,
        "raw_benchmark": len({b for t in config["tasks"] for b in benchmarks.get(t, [])}),
        "sample_paths": tasks * len(config["generators"]),
        "cot_augment": tasks,
        "mix_matched": tasks,  # cot_matched, from the augmented CoT
        "mix": tasks * (mixes - 1),
        "train": tasks * backbones * mixes,
        "predict": tasks * backbones * evaluated,
        "predict_benchmark": pairs * backbones * on_benchmarks,
    }


def test_full_study_dry_run_is_fast(tmp_path):
    """The whole paper-scale DAG (hundreds of jobs) from config.yaml, in an empty folder."""
    start = time.monotonic()
    proc, cpu = snakemake(
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(ROOT / "config.yaml"),
        "--directory",
        str(tmp_path),
        cwd=ROOT,
    )
    wall = time.monotonic() - start
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    counts = job_counts(out)
    for rule, n in _expected(STUDY).items():
        assert counts.get(rule) == n, (rule, counts)
    assert counts["total"] > 500, counts
    # the new targets: the ablations' and the size curve's adapters and metrics, the plot
    for target in (
        "results/gsm8k/train/lema_no_explanation.jsonl",
        "results/math/adapters/llama2-70b/lema_no_evolution",
        "results/gsm8k/eval/llama2-7b/cot_n1000/metrics.json",
        "results/math/eval/metamath-70b/lema_n8000/metrics.json",
        "results/gsm8k/cot/augmented.parquet",
        "results/plots/size_curve.png",
    ):
        assert target in out, target
    assert cpu < DRY_RUN_CPU_S, f"dry run took {cpu:.1f} CPU s ({wall:.1f} s wall)"


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_dry_run(tmp_path, profile):
    """Each profile parses and builds the study's DAG (the slurm one submits nothing in -n)."""
    proc, _ = snakemake(
        "-n",
        "--profile",
        str(ROOT / "profiles" / profile),
        "--configfile",
        str(ROOT / "config.yaml"),
        "--directory",
        str(tmp_path),
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert job_counts(out)["train"] == _expected(STUDY)["train"]


@pytest.mark.shared
def test_raw_data_targets_dry_run_with_local_data(tmp_path):
    """`snakemake -n` for the raw-data targets from ../shared/data-style local files."""
    from datafiles import SHARED as shared

    targets = [f"data/raw/{t}/{s}.parquet" for t in ("gsm8k", "math") for s in ("train", "test")]
    proc, _ = snakemake(
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(ROOT / "config.yaml"),
        "--config",
        f"data={{source: local, local: {{gsm8k: {shared}/gsm8k, math: {shared}/math}}, "
        "limit: {train: 5, test: 5}}",
        "--directory",
        str(tmp_path),
        *targets,
        cwd=ROOT,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert job_counts(out) == {"raw_data": 4, "total": 4}, out
