"""The stages that matter on a cluster, as real SLURM jobs (profiles/slurm, one-node cluster).

- **One task's slice end to end**: tiny generator sampling, corrections from the local
  OpenAI-compatible test server (tests/openai_server.py, reached from inside the jobs through
  $LEMA_OPERATIONAL), the pool and two mixes, one tiny adapter, decoding and grading. Every job
  is checked with `scontrol show job`: it completed as a SLURM job, in the run's folder, with
  the memory, runtime and CPUs its rule declared (lema.workflow.params for train and predict).
  The same slice run locally (no profile) in another folder gives the same bytes.
- **Pre-emption for real**: a training job given a runtime of 1 minute is killed by SLURM at
  its time limit (SIGTERM, SIGKILL `KillWait` later); `lema train` checkpoints on SIGTERM,
  Snakemake resubmits it (`retries: 1`) with more time (`runtime` from `attempt`), and the
  second job resumes from that checkpoint and ends with the full step count.

Marked ``slurm``: skipped without a cluster, failed under CI=true (conftest.py).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_slurm import FAST_POLL, PROFILE, slurm_job

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "Snakefile"
SUBMITTED = re.compile(
    r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: (\S+)/rule_([^/]+)/[^ ]*\)"
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["LEMA_TEST_KEY"] = "sk-test-not-a-secret"
    return env


def _command(targets: list[str], *options: str, slurm: bool) -> list[str]:
    # targets first: --configfile and --set-resources take every value after them
    cmd = [sys.executable, "-m", "snakemake", *targets, "-s", str(SNAKEFILE)]
    cmd += ["--configfile", "config.yaml", *options]
    return cmd + (["--profile", str(PROFILE), *FAST_POLL] if slurm else ["--cores", "4"])


def _failure(work: Path, proc_out: str) -> str:
    logs = "\n".join(
        f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((work / "logs").rglob("*.log"))
    )
    return f"{proc_out[-6000:]}\n{logs[-6000:]}"


def _slurm_jobs(log: str) -> list[tuple[str, str, str]]:
    """(Snakemake job id, SLURM job id, rule) for every submission, in order."""
    return [(job, slurm, rule) for job, slurm, _, rule in SUBMITTED.findall(log)]


def _minutes(limit: str) -> int:
    """`scontrol`'s TimeLimit ([D-]HH:MM:SS) in minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)


def _declared(log: str) -> dict[str, dict[str, int]]:
    """Snakemake job id -> threads, mem_mb and runtime, as Snakemake printed the job."""
    out = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", log):
        jobid = re.search(r"^\s+jobid: (\d+)$", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if not (jobid and resources):
            continue
        values = dict(kv.split("=", 1) for kv in resources.group(1).split(", ") if "=" in kv)
        threads = re.search(r"^\s+threads: (\d+)$", block, re.M)
        out[jobid.group(1)] = {
            "threads": int(threads.group(1)) if threads else 1,
            "mem_mb": int(values["mem_mb"]),
            "runtime": int(values["runtime"]),
        }
    return out


# --- the slice end to end ------------------------------------------------------------------
SLICE_TARGETS = ["results/gsm8k/eval/tb/lema/metrics.json", "results/gsm8k/train/cot.jsonl"]
SLICE_RULES = {
    "raw_data": 2,
    "tiny_model": 2,
    "sample_paths": 1,
    "mistakes": 1,
    "correct": 1,
    "cot": 1,
    "mix_pool": 1,
    "mix": 2,
    "train": 1,
    "predict": 1,
    "eval": 1,
}
# outputs that must be byte-identical between the SLURM run and the local run
SAME_BYTES = [
    "data/raw/gsm8k/train.parquet",
    "data/raw/gsm8k/test.parquet",
    "results/gsm8k/paths/gen.parquet",
    "results/gsm8k/mistakes/gen.parquet",
    "results/gsm8k/corrections/gen.parquet",
    "results/gsm8k/corrections/gen.stats.json",
    "results/gsm8k/cot/cot.parquet",
    "results/gsm8k/train/pool.parquet",
    "results/gsm8k/train/lema.jsonl",
    "results/gsm8k/train/cot.jsonl",
    "results/gsm8k/train/lema.stats.json",
    "results/gsm8k/adapters/tb/lema/adapter_model.safetensors",
    "results/gsm8k/adapters/tb/lema/adapter_config.json",
    "results/gsm8k/adapters/tb/lema/settings.json",
    "results/gsm8k/eval/tb/lema/predictions.parquet",
]
TINY = {"hidden_size": 32, "layers": 1, "heads": 2, "vocab_size": 400}


def _slice_config(corrector_url: str) -> dict:
    return {
        "tasks": ["gsm8k"],
        "data": {"source": "embedded", "limit": {"train": 8, "test": 4}},
        "cache": ".lema-cache/responses.sqlite",
        "models": {
            "gen": {"backend": "hf", "tiny": {**TINY, "seed": 1}, "chat": False},
            "corr": {
                "backend": "openai",
                "model": "fake-corrector",
                "base_url": corrector_url,  # an operational knob: $LEMA_OPERATIONAL
                "api_key_env": "LEMA_TEST_KEY",
            },
        },
        "generators": ["gen"],
        "corrector": "corr",
        "sampling": {"k": 2, "max_tokens": {"gsm8k": 32, "math": 32}},
        "evolution": {"enabled": False},
        "cot": {"corrector_paths": 1},
        "mixes": ["cot", "lema"],
        "backbones": {"tb": {"tiny": TINY}},
        "training": {
            "max_steps": 2,
            "batch_size": 4,
            "per_device_batch_size": 2,
            "save_steps": 1,
            "logging_steps": 1,
            "optimizer": "adamw_torch",
            "gradient_checkpointing": False,
            "group_by_length": False,
            "lora": {"r": 4, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
            "max_prompt_tokens": {"gsm8k": 256, "math": 256},
            "max_completion_tokens": 256,
        },
        "evaluation": {
            "mixes": ["lema"],
            "benchmark_mixes": None,  # = evaluation.mixes; no benchmark is configured
            "max_tokens": {"gsm8k": 16, "math": 16},
            "batch_size": 4,
            "limit": 4,
        },
    }


def _rule_resources(config: dict) -> dict[str, dict[str, int]]:
    """What the train and predict rules declare for the tiny backbone (lema.workflow.params)."""
    from lema.config import validate_config
    from lema.workflow import params

    config = copy.deepcopy(config)
    validate_config(config)
    return {
        "train": {
            "threads": 4,  # rules/train.smk
            "mem_mb": params.train_mem_mb(config, "tb"),
            "runtime": params.train_runtime(config, "tb"),
        },
        "predict": {
            "threads": 2,  # rules/evaluate.smk
            "mem_mb": params.predict_mem_mb(config, "tb"),
            "runtime": params.predict_runtime(config, "tb"),
        },
    }


def _metrics_without_timing(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {k: v for k, v in data.items() if not k.endswith(("_seconds", "_s", "_per_s"))}


@pytest.fixture
def corrector(openai_server):
    from tests.gen_fakes import load_gold, make_answer

    return openai_server(answer=make_answer(load_gold(limit=50)))


def test_one_task_slice_runs_as_slurm_jobs_and_equals_a_local_run(tmp_path, corrector):
    config = _slice_config(corrector.url)
    runs = {}
    for name in ("slurm", "local"):
        work = tmp_path / name
        work.mkdir()
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        runs[name] = work
    env = _env()
    started = time.monotonic()
    # the local run goes alongside: the same graph, no profile, its own folder and cache
    local = subprocess.Popen(
        _command(SLICE_TARGETS, slurm=False),
        cwd=runs["local"],
        env={**env, "OMP_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        proc = subprocess.run(
            _command(SLICE_TARGETS, slurm=True),
            cwd=runs["slurm"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        local_out, _ = local.communicate(timeout=600)
    finally:
        local.kill()
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, _failure(runs["slurm"], log)
    assert local.returncode == 0, _failure(runs["local"], local_out)
    work = runs["slurm"]

    # every job of the slice was a SLURM job, once
    jobs = _slurm_jobs(log)
    counts: dict[str, int] = {}
    for _, _, rule in jobs:
        counts[rule] = counts.get(rule, 0) + 1
    assert counts == SLICE_RULES, log[-4000:]
    assert "localrule " not in log  # nothing ran on the submitting host

    declared = _declared(log)
    expected = _rule_resources(config)
    for job, slurm_id, rule in jobs:
        record = slurm_job(slurm_id)  # the controller's own record (kept for MinJobAge)
        assert record["JobState"] == "COMPLETED", (rule, record)
        assert Path(record["WorkDir"]).resolve() == work.resolve(), record
        want = declared[job]
        if rule in expected:  # what the rule declares, straight from lema.workflow.params
            assert want == expected[rule], (rule, want)
        assert int(record["NumCPUs"]) == want["threads"], (rule, record)
        assert record["MinMemoryNode"] == f"{want['mem_mb']}M", (rule, record)
        assert _minutes(record["TimeLimit"]) == want["runtime"], (rule, record)
        (job_log,) = (work / ".snakemake" / "slurm_logs" / f"rule_{rule}").rglob(f"{slurm_id}.log")
        assert f"rule {rule}:" in job_log.read_text(), job_log  # the rule ran in the allocation

    # the corrector's endpoint reached the SLURM jobs: real requests, corrections kept
    stats = json.loads((work / "results/gsm8k/corrections/gen.stats.json").read_text())
    assert stats["requests"] > 0 and stats["kept"] > 0, stats
    assert corrector.stats()["requests"] >= 2 * stats["requests"]  # both runs asked it

    # the same results as the local run
    for rel in SAME_BYTES:
        a, b = work / rel, runs["local"] / rel
        assert a.read_bytes() == b.read_bytes(), f"{rel} differs between SLURM and local runs"
    for rel in (
        "results/gsm8k/eval/tb/lema/metrics.json",
        "results/gsm8k/adapters/tb/lema/metrics.json",
    ):
        ours, theirs = (_metrics_without_timing(w / rel) for w in (work, runs["local"]))
        ours.pop("peak_rss_mb", None), theirs.pop("peak_rss_mb", None)
        assert ours == theirs, rel
    metrics = json.loads((work / "results/gsm8k/adapters/tb/lema/metrics.json").read_text())
    assert metrics["global_step"] == 2
    print(f"slice: {len(jobs)} SLURM jobs and the local run in {elapsed:.0f} s")


# --- pre-emption: a time limit, a checkpoint, a resubmission, a resume ---------------------
ADAPTER = "results/gsm8k/adapters/tp/lema"
TRAIN_LOG = "logs/train/gsm8k/tp/lema.log"
CHECKPOINTS = "results/gsm8k/checkpoints/tp/lema"
# Training must outlast the first job's time limit (1 minute; the controller enforces it within
# ~30 s) and the rest must fit the second job: the step count is sized from this machine's own
# speed (a short calibration run), to about this many seconds of training in all.
PREEMPT_TRAIN_S = 150
# the documented form (profiles/slurm/config.yaml): a resubmission gets more time (ample: on a
# busy machine the steps left can take far longer than the calibration said)
RUNTIME_BY_ATTEMPT = "train:runtime=1 if attempt == 1 else 20"

PREEMPT_CONFIG = {
    "tasks": ["gsm8k"],
    "models": {"gen": {"backend": "hf", "tiny": True}},
    "generators": ["gen"],
    "corrector": "gold",
    "mixes": ["lema"],
    "backbones": {"tp": {"tiny": True}},
    "training": {
        "max_steps": 10,  # the calibration run's; the test sets the real count
        "batch_size": 4,
        "per_device_batch_size": 4,
        # no periodic checkpoint before the end: the one the second job resumes from can only
        # be the one SIGTERM saved
        "save_steps": 100000,
        "logging_steps": 10,
        "optimizer": "adamw_torch",
        "gradient_checkpointing": False,
        "group_by_length": False,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
        "max_prompt_tokens": {"gsm8k": 256, "math": 256},
        "max_completion_tokens": 256,
    },
}


def _steps_for(work: Path, seconds: float) -> int:
    """How many training steps take about ``seconds`` here: a 10-step `lema train` run of the
    same settings, outside SLURM, with the rule's thread count."""
    from lema.config import backbone_training, validate_config

    config = copy.deepcopy(PREEMPT_CONFIG)
    validate_config(config)
    calibration = subprocess.run(
        [
            str(Path(sys.executable).parent / "lema"),
            "train",
            "--task=gsm8k",
            "--backbone=tp",
            "--model=results/models/tp",
            "--mix=results/gsm8k/train/lema.jsonl",
            f"--settings={json.dumps(backbone_training(config, 'tp', 'gsm8k'))}",
            "--checkpoints=calibration/checkpoints",
            "--out=calibration/adapter",
        ],
        cwd=work,
        env={**_env(), "OMP_NUM_THREADS": "4"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert calibration.returncode == 0, calibration.stderr[-3000:]
    metrics = json.loads((work / "calibration/adapter/metrics.json").read_text())
    per_step = metrics["train_time_s"] / metrics["global_step"]
    return max(150, min(3000, round(seconds / per_step)))


def test_training_killed_at_its_time_limit_resumes_and_finishes(tmp_path):
    from train_fixtures import build_tiny, write_mix

    work = tmp_path / "preempt"
    work.mkdir()
    # the inputs other stages make in the full graph: a tiny backbone and a mix
    build_tiny(work / "results/models/tp", vocab=500)
    write_mix(work / "results/gsm8k/train/lema.jsonl", 16)
    steps = _steps_for(work, PREEMPT_TRAIN_S)
    config = copy.deepcopy(PREEMPT_CONFIG)
    config["training"]["max_steps"] = steps
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = _command(
        [ADAPTER],
        "--allowed-rules",
        "train",
        "--set-resources",
        RUNTIME_BY_ATTEMPT,
        slurm=True,
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=work, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    # watch the first attempt's own log (the resubmission overwrites it) and its checkpoints
    stopped, seen = None, set()
    try:
        while proc.poll() is None and time.monotonic() - started < 1500:
            text = (work / TRAIN_LOG).read_text() if (work / TRAIN_LOG).exists() else ""
            stopped = stopped or re.search(r"stopped by SIGTERM at step (\d+)/(\d+)", text)
            if (work / CHECKPOINTS).is_dir():
                seen |= {p.name for p in (work / CHECKPOINTS).glob("checkpoint-*")}
            time.sleep(0.5)
        out = proc.communicate(timeout=5)[0] if proc.poll() is not None else ""
    finally:
        proc.kill()
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, _failure(work, out)

    jobs = _slurm_jobs(out)
    assert [rule for _, _, rule in jobs] == ["train", "train"], out[-4000:]
    assert jobs[0][0] == jobs[1][0]  # the same Snakemake job, resubmitted
    first, second = (slurm_job(slurm_id) for _, slurm_id, _ in jobs)
    # SLURM itself ended the first job at its 1-minute limit
    assert first["JobState"] == "TIMEOUT" and first["Reason"] == "TimeLimit", first
    assert first["TimeLimit"] == "00:01:00", first
    assert second["JobState"] == "COMPLETED" and second["TimeLimit"] == "00:20:00", second

    # SIGTERM checkpointed the step it was at; the second job resumed from exactly there
    assert stopped is not None, "the first job's log never said it stopped on SIGTERM"
    step = int(stopped.group(1))
    assert 0 < step < steps and int(stopped.group(2)) == steps
    assert f"checkpoint-{step}" in seen, seen
    metrics = json.loads((work / ADAPTER / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == step, metrics
    assert metrics["global_step"] == metrics["max_steps"] == steps
    assert metrics["total_train_time_s"] > metrics["train_time_s"]  # the first job's time counts
    resumed = (work / TRAIN_LOG).read_text()
    assert f"resuming from {CHECKPOINTS}/checkpoint-{step} (step {step})" in resumed
    # the step checkpoints are removed after success; the finished adapter stays beside them
    # (hard links of the output's files), so a job killed after it is not trained again
    assert not list((work / CHECKPOINTS).glob("checkpoint-*"))
    weights = "adapter_model.safetensors"
    assert (work / CHECKPOINTS / "final" / weights).samefile(work / ADAPTER / weights)
    print(f"pre-emption: stopped at step {step}/{steps}, finished in {elapsed:.0f} s")
