"""`lema demo` end to end: demo.yaml's whole graph (tiny models built and warmed up by the
graph, the gold corrector, LoRA + QLoRA adapters, evaluation of base and every mix, summary,
plots, funnel, Snakemake report) on the embedded slice of GSM8K/MATH, exactly as a user runs
it on a fresh clone, in a temporary folder; the warmed-up models write answers the grader can
read (the demo's targets); a second run has nothing to do. Plus the demo's one-line errors,
which need no run."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from lema import demo

ROOT = Path(__file__).resolve().parents[1]
DEMO = yaml.safe_load((ROOT / "demo.yaml").read_text())


def lema_demo(*args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-m", "lema.cli", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_demo_config_is_the_whole_graph_on_tiny_models():
    assert DEMO["tasks"] == ["gsm8k", "math"]
    assert DEMO["corrector"] == "gold"
    assert all(DEMO["models"][g].get("tiny") for g in DEMO["generators"])
    assert len(DEMO["backbones"]) == 2 and all(b.get("tiny") for b in DEMO["backbones"].values())
    quant = {b["training"]["quantization"] for b in DEMO["backbones"].values()}
    assert quant == {"none", "nf4"}  # one LoRA, one QLoRA backbone
    assert DEMO["mixes"] == ["cot", "lema", "cot_matched"]
    assert DEMO["evaluation"]["mixes"] == ["base", *DEMO["mixes"]]
    assert DEMO["data"]["source"] == "embedded"  # offline on every clone
    # the tiny models warm up on training rows after the demo's own (never its questions)
    assert all(m["tiny"]["warmup_steps"] > 0 for m in [*DEMO["models"].values()])
    assert all(b["tiny"]["warmup_steps"] > 0 for b in DEMO["backbones"].values())


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, monkeypatch):
    # a download would fail: the demo must not need one
    monkeypatch.setenv("LEMA_DATA_CACHE", str(tmp_path / "no-downloads"))
    out = tmp_path / "demo"
    proc = lema_demo("--out", str(out), "--cores", "2")
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((out / "logs").rglob("*.log"))
        )
        pytest.fail(
            f"lema demo failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{logs[-6000:]}"
        )
    res = out / "results"
    # it says where the results are, and prints the table
    for path in (
        "results/summary.csv",
        "results/plots/accuracy.png",
        "report.html",
        "results/funnel.txt",
    ):
        assert str(out / path) in proc.stdout, path
    n = DEMO["evaluation"]["limit"]
    assert re.search(rf"gsm8k\s+tiny-qlora\s+lema\s+{n}\s", proc.stdout), proc.stdout[-2000:]
    assert "the GSM8K/MATH slice shipped with lema (offline)" in proc.stdout
    assert not (tmp_path / "no-downloads").exists() or not any(
        (tmp_path / "no-downloads").iterdir()
    )

    # the warmed-up models write text the grader reads: the demo's targets, recomputed here
    # from the artefacts (not from what the demo prints)
    for task in DEMO["tasks"]:
        paths = pl.read_parquet(res / task / "paths" / "tiny-generator.parquet")
        assert paths.height == DEMO["data"]["limit"]["train"] * DEMO["sampling"]["k"]
        with_answer = paths["pred_answer"].is_not_null().mean() * 100
        assert with_answer >= demo.TARGETS["paths_with_answer_min"], (task, with_answer)
        steps = paths["completion"].str.contains("Step 1:").mean() * 100
        assert steps >= 80, (task, steps)  # step-format paths, not byte noise
        assert paths["correct"].sum() < paths.height  # mostly wrong: mistakes to correct
    assert "Readable data" in proc.stdout and "[below target]" not in proc.stdout

    # summary.csv: one row per task x backbone x evaluation mix, matching each metrics.json
    with (res / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    expected = {
        (t, b, m)
        for t in DEMO["tasks"]
        for b in DEMO["backbones"]
        for m in DEMO["evaluation"]["mixes"]
    }
    assert {(r["task"], r["backbone"], r["mix"]) for r in rows} == expected
    assert len(rows) == len(expected) == 16
    for r in rows:
        metrics = json.loads(
            (res / r["task"] / "eval" / r["backbone"] / r["mix"] / "metrics.json").read_text()
        )
        assert (metrics["task"], metrics["backbone"], metrics["mix"]) == (
            r["task"],
            r["backbone"],
            r["mix"],
        )
        assert metrics["n"] == int(r["n"]) == DEMO["evaluation"]["limit"]
        assert metrics["correct"] == int(r["correct"])
        assert 0.0 <= float(r["pass_at_1"]) <= 100.0
        assert metrics["no_answer_rate"] <= demo.TARGETS["no_answer_max"], r

    # adapters: LoRA and QLoRA (nf4) for every task x mix, trained to max_steps
    for task in DEMO["tasks"]:
        for backbone, entry in DEMO["backbones"].items():
            for mix in DEMO["mixes"]:
                folder = res / task / "adapters" / backbone / mix
                assert (folder / "adapter_model.safetensors").is_file()
                settings = json.loads((folder / "settings.json").read_text())["settings"]
                assert settings["quantization"] == entry["training"]["quantization"]
                metrics = json.loads((folder / "metrics.json").read_text())
                assert metrics["global_step"] == DEMO["training"]["max_steps"]
        assert (res / task / "train" / "lema.jsonl").stat().st_size > 0

    # the funnel and the report pages; plots
    funnel = (res / "funnel.txt").read_text()
    assert "== gsm8k ==" in funnel and "== math ==" in funnel and "corrections" in funnel
    for page in ("summary.html", "funnel.html", "corrections_sample.html"):
        assert (res / "report" / page).stat().st_size > 0
    for png in ("accuracy.png", "math_levels.png"):
        assert (res / "plots" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # report.html embeds the summary table (a data URI) and the plots
    html = (out / "report.html").read_text()
    pages = [
        base64.b64decode(m.group(1)).decode("utf-8", "replace")
        for m in re.finditer(
            r"data:text/html;charset=utf8;filename=summary\.html;base64,([A-Za-z0-9+/=]+)", html
        )
    ]
    assert pages, "summary.html is not embedded in report.html"
    assert '<table id="lema-summary">' in pages[0]
    assert ">tiny-lora<" in pages[0] and ">tiny-qlora<" in pages[0]
    assert "accuracy.png" in html

    # a second run has nothing to do
    again = lema_demo("--out", str(out), "--cores", "2", "--no-report")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Nothing to be done" in again.stdout + again.stderr


def test_demo_data_folder_must_hold_both_tasks(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    proc = lema_demo("--data", str(tmp_path), "--out", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no math/ folder" in lines[0] and "--data" in lines[0], proc.stderr


def test_failed_download_suggests_local_data(tmp_path):
    log = tmp_path / "logs" / "data" / "gsm8k" / "train.log"
    log.parent.mkdir(parents=True)
    log.write_text(
        "lema data: error: could not download gsm8k train.jsonl: https://x: network error "
        "([Errno -3] Temporary failure in name resolution) — check the network\n"
    )
    err = demo._failed(tmp_path, 1, data=None)
    assert "could not download gsm8k train.jsonl" in str(err)
    assert "lema demo --data DIR" in str(err) and "\n" not in str(err)
    # with --data given, or another failure: point at the logs instead
    assert "logs" in str(demo._failed(tmp_path, 1, data=tmp_path))


def test_demo_config_switches_to_local_data(tmp_path):
    for task in ("gsm8k", "math"):
        (tmp_path / task).mkdir()
    config = demo.demo_config(ROOT / "demo.yaml", tmp_path)
    assert config["data"]["source"] == "local"
    assert config["data"]["local"] == {t: str(tmp_path.resolve() / t) for t in ("gsm8k", "math")}
    assert config["data"]["limit"] == DEMO["data"]["limit"]
    assert demo.demo_config(ROOT / "demo.yaml", None)["data"]["source"] == "embedded"
    assert demo.demo_config(ROOT / "demo.yaml", None, public=True)["data"]["source"] == "public"


def test_demo_data_options_exclude_each_other(tmp_path):
    proc = lema_demo("--public", "--data", str(tmp_path), timeout=120)
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr, proc.stderr
