"""The SLURM profile (profiles/slurm) on a real cluster.

Tests marked ``slurm`` run Snakemake through the profile, so every job goes through `sbatch`;
they check that with the controller itself (`scontrol show job`, kept for MinJobAge) and with
each job's own SLURM_JOB_ID. Without a cluster they skip (fail under CI=true, see conftest).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm"
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")

# The first status poll comes 5 s after submission instead of the profile's 20 s: the
# graphs here are tiny. MinJobAge on the CI cluster (600 s) stays far above 3 x 5 s, so the
# plugin keeps polling with squeue.
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "5"]


def snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run Snakemake through the SLURM profile in ``workdir``; a hang fails the test."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [sys.executable, "-m", "snakemake", "--profile", str(PROFILE), *FAST_POLL, *args]
    try:
        return subprocess.run(
            cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
        err = (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail(f"snakemake hung for {timeout} s: {cmd}\n{out or ''}\n{err or ''}")


def submitted(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """Snakemake job id -> SLURM job id, from Snakemake's own log lines."""
    return dict(SUBMITTED.findall(proc.stdout + proc.stderr))


def slurm_job(jobid: str) -> dict[str, str]:
    """`scontrol show job` as a dict: the controller's own record of a job."""
    out = subprocess.run(
        ["scontrol", "show", "job", "--oneliner", jobid],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def test_profile_is_valid_yaml_with_the_documented_settings():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["slurm-status-command"] in {"squeue", "sacct"}
    assert {"mem_mb", "runtime"} <= set(profile["default-resources"])
    assert isinstance(profile["jobs"], int) and profile["jobs"] > 0
    for rule, resources in profile.get("set-resources", {}).items():
        # the plugin refuses `gpu` and a gpu `gres` together
        assert not ("gpu" in resources and "gpu" in str(resources.get("gres", ""))), rule


SHARED = Path(os.environ.get("LEMA_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
RAW_TARGETS = [f"data/raw/{t}/{s}.parquet" for t in ("gsm8k", "math") for s in ("train", "test")]


def local_data(tmp_path: Path) -> Path:
    """../shared/data when present; otherwise a few rows in the original formats."""
    if all(
        (SHARED / t / f"{s}.jsonl").is_file() for t in ("gsm8k", "math") for s in ("train", "test")
    ):
        return SHARED
    root = tmp_path / "source"
    for split in ("train", "test"):
        (root / "gsm8k").mkdir(parents=True, exist_ok=True)
        (root / "math").mkdir(parents=True, exist_ok=True)
        (root / "gsm8k" / f"{split}.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "question": f"Tom has {i} apples and buys 2 more. How many?",
                        "answer": f"{i} + 2 = <<{i}+2={i + 2}>>{i + 2}\n#### {i + 2}",
                    }
                )
                + "\n"
                for i in range(1, 5)
            )
        )
        (root / "math" / f"{split}.jsonl").write_text(
            "".join(
                json.dumps(
                    {
                        "problem": f"What is ${i}+{i}$?",
                        "level": f"Level {i}",
                        "type": "Prealgebra",
                        "solution": f"${i}+{i}=\\boxed{{{2 * i}}}$.",
                    }
                )
                + "\n"
                for i in range(1, 5)
            )
        )
    return root


@pytest.mark.slurm
def test_raw_data_targets_run_through_sbatch(tmp_path):
    """The workflow's raw-data targets (rules/data.smk), each as a SLURM job via the profile."""
    source = local_data(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    data = (
        f"data={{source: local, local: {{gsm8k: '{source}/gsm8k', math: '{source}/math'}}, "
        "limit: {train: 3, test: 2}}"
    )
    proc = snakemake(
        work,
        *RAW_TARGETS,  # first: --configfile and --config take every argument after them
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--configfile",
        str(ROOT / "config.yaml"),
        "--config",
        data,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    jobs = submitted(proc)
    assert len(jobs) == 4, log  # one SLURM job per task x split

    for target in RAW_TARGETS:
        frame = pl.read_parquet(work / target)
        assert frame.height == (3 if "train" in target else 2), target
    logs = work / ".snakemake" / "slurm_logs" / "rule_raw_data"
    for jobid in jobs.values():
        record = slurm_job(jobid)  # the controller's own record: the job ran and finished
        assert record["JobState"] == "COMPLETED", record
        assert Path(record["WorkDir"]).resolve() == work.resolve(), record
        # the plugin kept the job's log (slurm-keep-successful-logs): Snakemake ran the rule
        # inside the allocation
        (job_log,) = logs.rglob(f"{jobid}.log")
        assert "rule raw_data:" in job_log.read_text(), job_log


@pytest.mark.slurm
def test_failing_job_fails_the_run_instead_of_hanging(tmp_path):
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            rule all:
                input: "out/bad.txt"

            rule bad:
                output: "out/bad.txt"
                resources: mem_mb=100, runtime=5
                shell: "echo failing on purpose >&2; exit 3"
            """
        )
    )
    proc = snakemake(tmp_path, "--retries", "0", timeout=180)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log
    jobs = submitted(proc)
    assert len(jobs) == 1, log
    assert slurm_job(next(iter(jobs.values())))["JobState"] == "FAILED"
    assert not (tmp_path / "out" / "bad.txt").exists()
