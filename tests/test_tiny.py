"""Tiny local models (lema/models/tiny.py): the warm-up that makes them write step-format paths.

A random-init model writes byte noise; the demo's models are first trained for a few hundred
steps on gold solutions in the step format. Here: which rows the warm-up reads, that it
learns (the loss falls and greedy output takes the step format), the command's errors, and
the graph's warm-up rows (never the study's own questions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lema.data import build as data
from lema.formats import ANSWER_PHRASE, cot_prompt
from lema.io import write_parquet
from lema.models import tiny

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def warmup_tables(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("warmup")
    paths = []
    for task in ("gsm8k", "math"):
        frame = data.build_table(task, "train", "embedded", skip=24, limit=96)
        write_parquet(folder / f"{task}.parquet", frame)
        paths.append(folder / f"{task}.parquet")
    return paths


def test_warmup_texts_are_short_gold_solutions_in_the_training_format(warmup_tables):
    pairs = tiny.warmup_texts(warmup_tables, rows=96, max_chars=tiny.WARMUP_MAX_CHARS)
    assert 40 < len(pairs) < 2 * 96  # the long solutions are left out
    for prompt, completion in pairs:
        assert prompt.startswith("Question: ") and prompt.endswith("step by step.\n")
        assert completion.startswith("Step 1: ") and f"\n{ANSWER_PHRASE} " in completion
        assert len(completion) <= tiny.WARMUP_MAX_CHARS and "\\boxed" not in completion
    everything = tiny.warmup_texts(warmup_tables, rows=96)
    assert len(everything) == 2 * 96  # no length filter: every row with an answer
    assert len(tiny.warmup_texts(warmup_tables[:1], rows=5)) == 5


def test_warm_up_teaches_the_step_format(tmp_path, warmup_tables):
    import torch
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    pairs = tiny.warmup_texts(warmup_tables, rows=96, max_chars=tiny.WARMUP_MAX_CHARS)
    out = tiny.build_tiny_model(
        tmp_path / "m", [p + c for p, c in pairs], vocab_size=600, seed=0,
        warmup_texts=pairs, warmup_steps=120,
    )  # fmt: skip
    report = json.loads((out / "lema_tiny.json").read_text())["warmup"]
    assert report["steps"] == 120 and report["rows"] == len(pairs)
    assert report["loss_last"] < report["loss_first"] - 2.0, report
    tok = PreTrainedTokenizerFast.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    question = data.build_table("gsm8k", "test", "embedded", limit=1)["question"][0]
    ids = tok(cot_prompt(question), return_tensors="pt")
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert text.startswith("Step 1:"), text

    # without a warm-up the same model writes no step format (the point of the warm-up)
    cold = tiny.build_tiny_model(tmp_path / "cold", [p + c for p, c in pairs], vocab_size=600)
    assert json.loads((cold / "lema_tiny.json").read_text())["warmup"] is None
    model = AutoModelForCausalLM.from_pretrained(cold)
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=8, do_sample=False)
    text = tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert not text.startswith("Step 1:"), text


def _lema(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "lema.cli", *args], capture_output=True, text=True, env=env
    )


def test_tiny_model_command_errors(tmp_path, warmup_tables):
    text = tmp_path / "t.txt"
    text.write_text("some text")
    proc = _lema("tiny-model", "--out", str(tmp_path / "m"), "--warmup-steps", "5", str(text))
    assert proc.returncode == 1 and "--warmup-steps needs --warmup TABLE" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = _lema("tiny-model", "--out", str(tmp_path / "m"), "--warmup-steps", "-1", str(text))
    assert proc.returncode == 1 and "--warmup-steps must be >= 0" in proc.stderr
    assert not (tmp_path / "m").exists()


def test_graph_warms_up_on_rows_after_the_study_slice(tmp_path):
    """The warm-up table skips data.limit.train rows: the study's questions are never in it."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "tasks: [gsm8k]\n"
        "data: {source: embedded, limit: {train: 10, test: 4}}\n"
        "models: {g: {backend: hf, chat: false, tiny: {warmup_steps: 3, warmup_rows: 7}}}\n"
        "generators: [g]\ncorrector: gold\nbackbones: {b: {tiny: true}}\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(config), "--cores", "2", "results/models/g",
         "results/models/b"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    warm = data.read_raw(tmp_path / "data" / "warmup" / "gsm8k.parquet")
    study = data.read_raw(tmp_path / "data" / "raw" / "gsm8k" / "train.parquet")
    assert warm["id"].to_list() == [f"gsm8k-train-{i:05d}" for i in range(10, 17)]
    assert not set(warm["id"]) & set(study["id"])
    g = json.loads((tmp_path / "results/models/g/lema_tiny.json").read_text())
    assert g["warmup"]["steps"] == 3 and g["warmup"]["rows"] <= 7
    assert json.loads((tmp_path / "results/models/b/lema_tiny.json").read_text())["warmup"] is None
