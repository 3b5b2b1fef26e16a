"""The evaluation graph end to end on tiny models: Snakemake (a subprocess, in a temporary
folder) builds a tiny backbone, decodes both test sets with the base model and with a LoRA
adapter, grades them, writes the summary table and the plots, and `snakemake --report` builds
an HTML report holding the summary table. Re-grading never re-runs decoding.

The adapters are made here with peft (random non-zero LoRA weights), and the data-generation
and training rules are left out with --allowed-rules, so the test exercises only the
evaluation graph (the whole chain is the demo's test)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVAL_RULES = ["raw_data", "tiny_model", "predict", "eval", "summary", "plot"]

pytestmark = pytest.mark.slow

CONFIG = """
tasks: [gsm8k, math]
data:
  source: embedded
  limit: {train: 40, test: 5}
cache: cache/responses.sqlite
models:
  gen: {backend: hf, tiny: true}
generators: [gen]
corrector: gold
backbones:
  tb: {tiny: {hidden_size: 32, layers: 1, heads: 2, vocab_size: 400}}
mixes: [lema]
evaluation:
  mixes: [base, lema]
  max_tokens: {gsm8k: 12, math: 12}
  batch_size: 4
  limit: 4
"""


def _snakemake(workdir: Path, targets: list[str], *options: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    args = [*options, "--allowed-rules", *EVAL_RULES, "--", *targets]
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "2", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n"
            f"{proc.stderr[-5000:]}\n{logs}"
        )
    return proc


def _make_adapter(model_dir: Path, out: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    lora = LoraConfig(r=4, lora_alpha=32, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("evalflow")
    for name in ("Snakefile", "rules", "report", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    (work / "config.yaml").write_text(CONFIG)
    _snakemake(work, ["results/models/tb"])
    for task in ("gsm8k", "math"):
        _make_adapter(work / "results/models/tb", work / f"results/{task}/adapters/tb/lema")
    targets = [
        f"results/{t}/eval/tb/{m}/metrics.json" for t in ("gsm8k", "math") for m in ("base", "lema")
    ]
    targets += [
        "results/summary.csv",
        "results/summary.md",
        "results/report/summary.html",
        "results/plots/accuracy.png",
        "results/plots/math_levels.png",
    ]
    (work / "targets.txt").write_text("\n".join(targets))
    _snakemake(work, targets)
    return work


def test_predictions_and_metrics(workflow):
    for task in ("gsm8k", "math"):
        frames = {}
        for mix in ("base", "lema"):
            folder = workflow / f"results/{task}/eval/tb/{mix}"
            frame = pl.read_parquet(folder / "predictions.parquet")
            assert frame.columns[:8] == [
                "id",
                "question",
                "gold",
                "completion",
                "extracted",
                "correct",
                "level",
                "subject",
            ]
            assert frame.height == 4  # evaluation.limit
            test = pl.read_parquet(workflow / f"data/raw/{task}/test.parquet").head(4)
            assert frame["id"].to_list() == test["id"].to_list()
            assert frame["gold"].to_list() == test["gold"].to_list()
            m = json.loads((folder / "metrics.json").read_text())
            assert (m["task"], m["backbone"], m["mix"], m["n"]) == (task, "tb", mix, 4)
            assert m["correct"] == int(frame["correct"].sum())
            assert m["model"] == "results/models/tb"
            if task == "math":
                assert sum(v["n"] for v in m["by_level"].values()) == 4
                assert sum(v["n"] for v in m["by_subject"].values()) == 4
            else:
                assert "by_level" not in m
            stats = json.loads((folder / "predictions.stats.json").read_text())
            assert stats["spec"]["backend"] == "hf" and stats["max_tokens"] == 12
            assert ("adapter" in stats["spec"]) == (mix == "lema")
            frames[mix] = frame
        # the adapter changes what the model writes: it was loaded
        assert frames["base"]["completion"].to_list() != frames["lema"]["completion"].to_list()


def test_summary_and_plots(workflow):
    summary = pl.read_csv(workflow / "results/summary.csv")
    assert summary.select("task", "backbone", "mix").rows() == [
        ("gsm8k", "tb", "base"),
        ("gsm8k", "tb", "lema"),
        ("math", "tb", "base"),
        ("math", "tb", "lema"),
    ]
    assert summary["paper_pass_at_1"].null_count() == 4  # a tiny backbone is not the paper's
    assert "| GSM8K | tb | base | 4 |" in (workflow / "results/summary.md").read_text()
    for png in ("accuracy.png", "math_levels.png"):
        assert (workflow / "results/plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_regrading_does_not_decode_again(workflow):
    targets = (workflow / "targets.txt").read_text().split()
    pred = workflow / "results/gsm8k/eval/tb/lema/predictions.parquet"
    before = pred.stat().st_mtime_ns
    dry = _snakemake(workflow, targets, "-n", "--forcerun", "eval")
    assert re.search(r"^eval\s+4$", dry.stdout, re.M), dry.stdout
    assert not re.search(r"^predict\s", dry.stdout, re.M), dry.stdout
    (workflow / "results/gsm8k/eval/tb/lema/metrics.json").unlink()
    run = _snakemake(workflow, targets)
    assert "rule predict" not in run.stdout + run.stderr
    assert pred.stat().st_mtime_ns == before
    assert json.loads((workflow / "results/gsm8k/eval/tb/lema/metrics.json").read_text())["n"] == 4


def test_report_builds_with_the_summary_table(workflow):
    targets = (workflow / "targets.txt").read_text().split()
    _snakemake(workflow, targets, "--report", "report.html")
    html = (workflow / "report.html").read_text()
    assert "Snakemake" in html
    # the embedded files are data URIs; the summary table is one of them
    pages = [
        base64.b64decode(m.group(1)).decode("utf-8", "replace")
        for m in re.finditer(
            r"data:text/html;charset=utf8;filename=summary\.html;base64,([A-Za-z0-9+/=]+)", html
        )
    ]
    assert pages, "summary.html is not embedded in the report"
    assert '<table id="lema-summary">' in pages[0] and "<td" in pages[0] and ">tb<" in pages[0]
    assert "accuracy.png" in html and "math_levels.png" in html
    # offline: every script and style is inlined, nothing is loaded from the network
    assert not re.search(r"<script[^>]+src=[\"']https?:|<link[^>]+href=[\"']https?:", html)
