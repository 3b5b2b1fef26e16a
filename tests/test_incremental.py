"""Incremental rebuilds: Snakemake reruns exactly what a change invalidates, and a killed run
resumes without paying twice.

One workspace (module scope) is built once from demo.yaml, cut down to GSM8K, one backbone
and two mixes so it builds in about a minute; every dry-run test edits its config or a file,
reads the plan (`snakemake -n`: the jobs it would run, per rule), and restores what it
changed. The kill tests work on copies of the workspace (outputs, .snakemake metadata and
response cache included), so they leave it as it was.

- nothing changed: nothing to do;
- the correction prompt or a corrector setting edited: corrections and everything downstream
  (pool, mixes, training, evaluation of adapters, summary, plots, report pages), never the
  sampled paths, mistakes, CoT data, raw data, models, or the base model's evaluation;
- an evaluation setting edited: evaluation (predict + eval) and the summary and plots only;
- a backbone added: that backbone's model, adapters and evaluations, and the summary/plots;
- snakemake SIGKILLed in the middle of the corrections (a local OpenAI-compatible server as
  corrector): the rerun asks the server only what it had not yet answered;
- snakemake SIGKILLed in the middle of training after a checkpoint exists: the rerun resumes
  from that checkpoint (its log and metrics.json say from which step).

Snakemake's rerun triggers are the defaults (mtime, params, input, software-env, code); see
README "Incremental rebuilds" for why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GEN = "tiny-generator"

pytestmark = pytest.mark.slow

# what never reruns when corrections change
UPSTREAM_OF_CORRECTIONS = {"raw_data", "tiny_model", "sample_paths", "mistakes", "cot"}


def base_config() -> dict:
    config = yaml.safe_load((ROOT / "demo.yaml").read_text())
    config["tasks"] = ["gsm8k"]
    config["data"] = {"source": "embedded", "limit": {"train": 16, "test": 8}}
    # no warm-up: what reruns does not depend on what the tiny models write (tests/test_demo.py
    # runs the warm-up), and it would cost a minute per model
    for entry in [*config["models"].values(), *config["backbones"].values()]:
        if isinstance(entry.get("tiny"), dict):
            entry["tiny"]["warmup_steps"] = 0
    config["backbones"] = {"tiny-lora": config["backbones"]["tiny-lora"]}
    config["mixes"] = ["cot", "lema"]
    config["evaluation"].update(mixes=["base", "cot", "lema"], limit=8)
    # a workspace-local copy of the correction prompt, to edit
    config["correction"] = {"prompt": {"gsm8k": "prompts/correct_gsm8k.txt"}}
    return config


def snakemake(
    work: Path, *args: str, timeout: int = 900, snakefile: Path | None = None, **popen
) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LEMA_TEST_KEY": "sk-test-not-a-secret",
    }
    if not any(a.startswith("--max-checksum-file-size") for a in args):
        args = ("--max-checksum-file-size", "2GB", *args)  # as the profiles and `lema demo`
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(snakefile or ROOT / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2",
        "--set-threads", "train=1", "predict=1", "eval=1", "sample_paths=1", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, **popen)


def build(work: Path, *args: str) -> subprocess.CompletedProcess:
    proc = snakemake(work, *args)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((work / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{proc.stderr[-4000:]}\n{logs[-6000:]}")
    return proc


def plan(work: Path, *args: str, snakefile: Path | None = None) -> Counter:
    """The jobs `snakemake -n` would run, per rule (empty when there is nothing to do)."""
    proc = snakemake(work, "-n", *args, snakefile=snakefile)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    if "Nothing to be done" in out:
        return Counter()
    table = out.split("Job stats:", 1)[1]
    counts = Counter()
    for line in table.splitlines()[3:]:
        m = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not m:
            break
        counts[m.group(1)] = int(m.group(2))
    counts.pop("total", None)
    return counts


def write_config(work: Path, config: dict) -> None:
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("incremental")
    (work / "prompts").mkdir()
    shutil.copy(ROOT / "lema" / "prompts" / "correct_gsm8k.txt", work / "prompts")
    write_config(work, base_config())
    build(work)
    return work


@pytest.fixture
def restore(workspace):
    """Put the config and the prompt back after a test edits them."""
    config = (workspace / "config.yaml").read_bytes()
    prompt = workspace / "prompts" / "correct_gsm8k.txt"
    text, stat = prompt.read_bytes(), prompt.stat()
    yield workspace
    (workspace / "config.yaml").write_bytes(config)
    prompt.write_bytes(text)
    os.utime(prompt, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert plan(workspace) == Counter(), "the test left the workspace changed"


def copy_workspace(workspace: Path, dest: Path) -> Path:
    shutil.copytree(workspace, dest, symlinks=True)  # copy2: mtimes are kept
    return dest


def test_second_run_does_nothing(workspace):
    assert plan(workspace) == Counter()
    proc = build(workspace)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def _assert_corrections_and_downstream(jobs: Counter) -> None:
    assert not set(jobs) & UPSTREAM_OF_CORRECTIONS, jobs
    assert jobs["correct"] == 1 and jobs["mix_pool"] == 1 and jobs["mix"] == 2, jobs
    assert jobs["train"] == 2, jobs  # tiny-lora x {cot, lema}
    assert jobs["predict"] == 2 and jobs["eval"] == 2, jobs  # not the base model's
    assert {"summary", "plot", "funnel", "report_funnel", "report_corrections"} <= set(jobs), jobs


def test_edited_correction_prompt_reruns_corrections_and_downstream(restore):
    prompt = restore / "prompts" / "correct_gsm8k.txt"
    prompt.write_text(prompt.read_text() + "\n(Be brief.)\n")
    _assert_corrections_and_downstream(plan(restore))


def test_changed_corrector_setting_reruns_corrections_and_downstream(restore):
    config = yaml.safe_load((restore / "config.yaml").read_text())
    config["correction"]["max_tokens"] = 512
    write_config(restore, config)
    _assert_corrections_and_downstream(plan(restore))


def test_changed_evaluation_setting_reruns_only_evaluation(restore):
    config = yaml.safe_load((restore / "config.yaml").read_text())
    config["evaluation"]["max_tokens"]["gsm8k"] = 40
    write_config(restore, config)
    jobs = plan(restore)
    assert jobs == Counter(predict=3, eval=3, summary=1, plot=1, all=1), jobs


def test_added_backbone_builds_only_its_targets(restore):
    config = yaml.safe_load((restore / "config.yaml").read_text())
    demo = yaml.safe_load((ROOT / "demo.yaml").read_text())
    config["backbones"]["tiny-qlora"] = demo["backbones"]["tiny-qlora"]
    config["backbones"]["tiny-qlora"]["tiny"]["warmup_steps"] = 0  # as in base_config()
    write_config(restore, config)
    jobs = plan(restore)
    assert jobs == Counter(tiny_model=1, train=2, predict=3, eval=3, summary=1, plot=1, all=1), jobs
    detail = snakemake(restore, "-n").stdout
    for line in re.findall(r"output: (.*)", detail):
        if "/adapters/" in line or "/eval/" in line or "results/models/" in line:
            assert "tiny-qlora" in line, line


# ---- non-changes: places, clocks and knobs rerun nothing -----------------------------------
def _checkout_copy(dest: Path) -> Path:
    """This checkout copied elsewhere (a clone of the same commit): Snakemake puts the
    Snakefile's folder first on sys.path, so the rules import the copy's `lema`, with its own
    prompts and embedded data at new absolute paths."""
    for name in ("Snakefile", "rules", "report", "envs", "lema"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest / "Snakefile"


def test_checkout_copy_is_what_the_rules_import(tmp_path):
    snakefile = _checkout_copy(tmp_path)
    (tmp_path / "probe.smk").write_text(
        "import lema\nprint('LEMA-FROM', lema.__file__)\n"
        "rule probe:\n    output: 'o'\n    shell: 'touch {output}'\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(tmp_path / "probe.smk"),
         "--directory", str(tmp_path / "w")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert f"LEMA-FROM {tmp_path / 'lema' / '__init__.py'}" in proc.stdout, proc.stdout
    assert snakefile.parent == tmp_path


def test_moved_checkout_plans_nothing(restore, tmp_path):
    assert plan(restore, snakefile=_checkout_copy(tmp_path)) == Counter()


def test_workspace_copied_elsewhere_plans_nothing(restore, tmp_path):
    copy = copy_workspace(restore, tmp_path / "elsewhere")
    assert plan(copy) == Counter()


def test_touched_prompt_and_data_files_plan_nothing(restore):
    """Every prompt and data file the graph reads by name, touched without a change."""
    from lema.data.sources import EMBEDDED_DIR
    from lema.datagen.prompts import PROMPTS_DIR

    files = [
        restore / "prompts" / "correct_gsm8k.txt",
        *PROMPTS_DIR.glob("*.txt"),
        *EMBEDDED_DIR.glob("*/*.jsonl"),
    ]
    saved = {f: f.stat() for f in files}
    try:
        later = time.time() + 60
        for f in files:
            os.utime(f, (later, later))
        assert plan(restore) == Counter()
    finally:
        for f, st in saved.items():
            os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


KNOBS = {
    "generator concurrency": ("models", GEN, "concurrency", 3),
    "generator timeout": ("models", GEN, "timeout_s", 7.5),
    "generator retries": ("models", GEN, "max_retries", 1),
    "generator spending cap": ("models", GEN, "max_cost_usd", 5.0),
    "generator endpoint": ("models", GEN, "base_url", "http://127.0.0.1:9/v1"),
    "generator key variable": ("models", GEN, "api_key_env", "OTHER_KEY"),
    "generator batch size": ("models", GEN, "batch_size", 3),
    "evaluation batch size": ("evaluation", None, "batch_size", 2),
    "evaluation concurrency": ("evaluation", None, "concurrency", 2),
    "evaluation endpoint": ("evaluation", None, "base_url", "http://127.0.0.1:9/v1"),
}


@pytest.mark.parametrize("knob", list(KNOBS))
def test_operational_knob_plans_nothing(restore, knob):
    section, name, key, value = KNOBS[knob]
    config = yaml.safe_load((restore / "config.yaml").read_text())
    entry = config[section][name] if name else config[section]
    assert entry.get(key) != value
    entry[key] = value
    write_config(restore, config)
    assert plan(restore) == Counter(), knob


def test_cache_pointed_at_a_copy_plans_nothing(restore, tmp_path):
    config = yaml.safe_load((restore / "config.yaml").read_text())
    copy = tmp_path / "cache-copy" / "responses.sqlite"
    shutil.copytree((restore / config["cache"]).parent, copy.parent)
    config["cache"] = str(copy)
    write_config(restore, config)
    assert plan(restore) == Counter()


def test_identical_rerun_does_not_cascade(restore):
    """An upstream job forced to rerun writes the same bytes: nothing downstream reruns, as
    long as its output is under --max-checksum-file-size (the profiles raise it to 2 GB).
    Emulating an output over the limit (a limit below its size) shows what the raise is for:
    without the checksum, the newer mtime alone reruns everything downstream."""
    table = restore / "data" / "raw" / "gsm8k" / "train.parquet"
    before = table.read_bytes()
    build(restore, "--forcerun", "raw_data", "--", "data/raw/gsm8k/train.parquet")
    assert table.read_bytes() == before  # byte-deterministic
    assert plan(restore) == Counter()
    over = plan(restore, "--max-checksum-file-size", str(len(before) // 2))
    assert over["sample_paths"] == 1 and over["train"] == 2, over


# ---- kills ------------------------------------------------------------------------------
def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _sigkill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL snakemake and every process under it (a crash: nothing gets to clean up)."""
    pids = [proc.pid, *_descendants(proc.pid)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


def _start(work: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "LEMA_TEST_KEY": "sk-test-not-a-secret",
    }
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2", *args,
    ]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"snakemake ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            _sigkill_tree(proc)
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_kill_mid_correction_rerun_makes_no_repeated_calls(workspace, tmp_path, openai_server):
    from gen_fakes import load_gold, make_answer

    work = copy_workspace(workspace, tmp_path / "w")
    concurrency = 2
    server = openai_server(answer=make_answer(load_gold(limit=50)), latency=0.15)
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["models"]["served"] = {
        "backend": "openai",
        "model": "fake-corrector",
        "base_url": server.url,
        "api_key_env": "LEMA_TEST_KEY",
        "concurrency": concurrency,
    }
    config["corrector"] = "served"
    write_config(work, config)
    target = f"results/gsm8k/corrections/{GEN}.parquet"
    mistakes = pl.read_parquet(work / f"results/gsm8k/mistakes/{GEN}.parquet").height
    assert mistakes >= 10

    proc = _start(work, target)
    _wait_for(lambda: server.stats()["answered"] >= mistakes // 3, proc, "a third of the calls")
    _sigkill_tree(proc)
    before = Counter(server.answered)
    assert 0 < len(before) < mistakes, before
    assert not (work / target).exists()

    server.reset()
    snakemake(work, "--unlock")
    build(work, "--rerun-incomplete", target)
    rerun = Counter(server.answered)
    # nothing answered twice in the rerun; nothing answered before asked again, except calls
    # that were in flight when the process died (answered by the server, never received)
    assert max(rerun.values()) == 1, rerun.most_common(3)
    repeated = set(before) & set(rerun)
    assert len(repeated) <= concurrency, (len(repeated), len(before), len(rerun))
    assert len(set(before) | set(rerun)) == mistakes
    corrections = pl.read_parquet(work / target)
    assert corrections.height == mistakes
    # and a third run asks nothing
    server.reset()
    build(work, "--forcerun", "correct", target)
    assert server.stats()["requests"] == 0


def test_kill_mid_training_resumes_from_checkpoint(workspace, tmp_path):
    work = copy_workspace(workspace, tmp_path / "w")
    config = yaml.safe_load((work / "config.yaml").read_text())
    config["backbones"]["tiny-lora"]["training"].update(max_steps=16, save_steps=2)
    write_config(work, config)
    target = "results/gsm8k/adapters/tiny-lora/lema"
    checkpoints = work / "results/gsm8k/checkpoints/tiny-lora/lema"

    def complete_checkpoint() -> bool:
        return any(checkpoints.glob("checkpoint-*/trainer_state.json"))

    proc = _start(work, target, "--set-threads", "train=1")
    _wait_for(complete_checkpoint, proc, "the first training checkpoint")
    _sigkill_tree(proc)
    saved = sorted(
        int(p.parent.name.split("-")[1])
        for p in checkpoints.glob("checkpoint-*/trainer_state.json")
    )
    assert saved and saved[-1] < 16
    assert not (work / target).exists()

    snakemake(work, "--unlock")
    build(work, "--rerun-incomplete", target)
    metrics = json.loads((work / target / "metrics.json").read_text())
    assert metrics["global_step"] == 16
    assert metrics["resumed_from_step"] is not None and metrics["resumed_from_step"] >= saved[-1]
    log = (work / "logs/train/gsm8k/tiny-lora/lema.log").read_text()
    assert f"resuming from {checkpoints.relative_to(work)}/checkpoint-" in log, log[-2000:]
    assert f"(step {metrics['resumed_from_step']})" in log
    # the step checkpoints are removed after success; the finished adapter stays, hard links
    assert not list(checkpoints.glob("checkpoint-*"))
    final = checkpoints / "final" / "adapter_model.safetensors"
    assert final.samefile(work / target / "adapter_model.safetensors")
