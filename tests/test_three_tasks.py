"""gsm8k, math and csqa in one study, with evaluation-only benchmarks, end to end on tiny
models: the gold corrector for gsm8k and math, a real local OpenAI-compatible server as csqa's
corrector (its corrections and CoT paths), one adapter per task, evaluation on each task's
test set and on its benchmarks (svamp for gsm8k, aime24 for math), and the summary with one
column per benchmark. Beside them a multiple-choice task of the user's own (``quiz``,
``tasks_defined``, gold answers given as letters) runs the same way with the same corrector.
A second run has nothing to do.

CSQA rows come from the real dev file in ../shared (the train split is not there): its first
rows play the training questions, later ones the test questions; so this test is ``shared``
(skips with the reason without it; fails under CI=true)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.datafiles import SHARED_BENCHMARKS, jsonl

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "lema" / "data" / "embedded"

pytestmark = [pytest.mark.shared, pytest.mark.slow]

TRAIN_ROWS, TEST_FROM = 14, 600  # csqa: dev rows 0..13 train, 600.. test
QUIZ_FROM = 300  # quiz: dev rows 300..313 train, 900.. test, in fields of our own


def _csqa_files(folder: Path) -> dict[str, dict[str, Any]]:
    """train.jsonl / test.jsonl in microsoft/LEMA's CSQA format from the dev file; returns
    each question's stem -> its row (the server answers from it)."""
    rows = jsonl(SHARED_BENCHMARKS / "csqa_dev.jsonl")
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": rows[:TRAIN_ROWS], "test": rows[TEST_FROM : TEST_FROM + 6]}
    for split, chosen in splits.items():
        text = "".join(json.dumps(r) + "\n" for r in chosen)
        (folder / f"{split}.jsonl").write_text(text)
    quiz = {"train": rows[QUIZ_FROM : QUIZ_FROM + TRAIN_ROWS], "test": rows[900:906]}
    for split, chosen in quiz.items():
        text = "".join(json.dumps(_quiz_row(r)) + "\n" for r in chosen)
        (folder.parent / f"quiz-{split}.jsonl").write_text(text)
    by_stem = {}
    for r in splits["train"] + splits["test"] + quiz["train"] + quiz["test"]:
        by_stem[_stem(r)] = r
    return by_stem


def _stem(row: dict[str, Any]) -> str:
    return re.search(r"Question: (.*?)\nCandidate Answers:", row["prompt"], re.S).group(1).strip()


def _quiz_row(row: dict[str, Any]) -> dict[str, Any]:
    """A dev row as a task of the user's own would hold it: its gold as a letter."""
    letter = "ABCDE"[row["candidates"].index(row["answer"])]
    return {"text": _stem(row), "options": row["candidates"], "key": f"({letter})"}


def _asked(prompt: str) -> str:
    """The question a corrector prompt asks about: the text after its last 'Question:'."""
    tail = prompt.rsplit("Question:", 1)[-1]
    return re.split(r"\n(?:Incorrect Solution:|Answer:)", tail, maxsplit=1)[0].strip()


def _answer_from(by_stem: dict[str, dict[str, Any]]):
    """The csqa corrector: a correction ending in the gold candidate for a correction prompt,
    a step path ending in it for a CoT prompt; the question is found by its stem."""

    def answer(body: dict[str, Any], index: int) -> str:
        from tests.openai_server import request_text

        prompt = request_text(body)
        asked = _asked(prompt)
        row = next((r for stem, r in by_stem.items() if asked.startswith(stem)), None)
        if row is None:
            return "I cannot tell."
        gold = row["answer"]
        if "Incorrect Solution:" in prompt.rsplit("Question:", 1)[-1]:
            return (
                "Incorrect Step: Step 1.\n"
                "Explanation: The step picks a choice that does not fit what the question asks.\n"
                f"Correct Solution:\nStep 1: Of the answer choices, {gold} fits the question.\n"
                f"The answer is {gold}."
            )
        return f"Step 1: The question asks for the most fitting choice.\nThe answer is {gold}."

    return answer


def _config(tmp_path: Path, server_url: str) -> Path:
    config = yaml.safe_load((ROOT / "demo.yaml").read_text())
    tiny = {"hidden_size": 32, "layers": 2, "heads": 2, "vocab_size": 600, "warmup_steps": 10}
    config["tasks"] = ["gsm8k", "math", "csqa", "quiz"]
    config["tasks_defined"] = {
        "quiz": {
            "train": str(tmp_path / "quiz-train.jsonl"),
            "test": str(tmp_path / "quiz-test.jsonl"),
            "question": "text",
            "answer": "key",
            "answer_type": "choice",
            "choices": "options",
        }
    }
    config["data"] = {
        "source": "local",
        "local": {
            "gsm8k": str(EMBEDDED / "gsm8k"),
            "math": str(EMBEDDED / "math"),
            "csqa": str(tmp_path / "csqa"),
            "svamp": str(SHARED_BENCHMARKS / "svamp.jsonl"),
            "aime24": str(SHARED_BENCHMARKS / "aime24.jsonl"),
        },
        "limit": {"train": 6, "test": 6},
    }
    config["models"]["tiny-generator"]["tiny"] = {**tiny, "seed": 1}
    config["models"]["csqa-corrector"] = {
        "backend": "openai",
        "model": "fake-corrector",
        "base_url": server_url,
        "api_key_env": "LEMA_TEST_KEY",
        "chat": False,
    }
    config["corrector"] = {"default": "gold", "csqa": "csqa-corrector", "quiz": "csqa-corrector"}
    config["cot"] = {"corrector_paths": 1}
    config["evolution"]["enabled"] = True  # left out all the same: gold, and multiple choice
    limits = {"gsm8k": 64, "math": 64, "csqa": 64}  # quiz: its kind's (csqa)
    config["sampling"]["max_tokens"] = limits
    config["backbones"] = {k: v for k, v in config["backbones"].items() if k == "tiny-lora"}
    config["backbones"]["tiny-lora"]["tiny"] = {**tiny, "seed": 2}
    config["mixes"] = ["lema"]
    config["training"].update(max_steps=2, save_steps=2, batch_size=2)
    config["evaluation"].update(mixes=["base", "lema"], benchmark_mixes=["lema"])
    config["evaluation"].update(limit=6, batch_size=6, max_tokens=limits)
    config["evaluation"]["benchmarks"] = {"gsm8k": ["svamp"], "math": ["aime24"], "csqa": []}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(workdir: Path, configfile: Path, *options: str) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    env["LEMA_TEST_KEY"] = "sk-test-not-a-secret"
    exe = shutil.which("snakemake", path=env["PATH"])
    assert exe, "snakemake is not installed"
    return subprocess.run(
        [exe, "--directory", str(workdir), "-s", str(ROOT / "Snakefile"), "--configfile",
         str(configfile), "--cores", "2", *options, "--", "results/summary.csv"],
        capture_output=True, text=True, env=env, timeout=1500,
    )  # fmt: skip


def test_gsm8k_math_and_csqa_with_benchmarks_end_to_end(tmp_path):
    from tests.openai_server import OpenAIServer

    by_stem = _csqa_files(tmp_path / "csqa")
    with OpenAIServer(answer=_answer_from(by_stem)) as server:
        configfile = _config(tmp_path, server.url)
        proc = _snakemake(tmp_path, configfile)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
        answered = sum(server.answered.values())
    results = tmp_path / "results"
    assert answered > 0  # the csqa corrector was asked; gsm8k and math went to gold
    # csqa's raw tables: candidates beside each question, the gold one of them
    train = pl.read_parquet(tmp_path / "data/raw/csqa/train.parquet")
    assert train.height == 6 and set(train["answer_type"]) == {"choice"}
    assert all(g in c for g, c in zip(train["gold"], train["choices"], strict=True))
    # corrections: csqa's from the server, each kept one ends in its gold candidate
    corrections = pl.read_parquet(results / "csqa/corrections/tiny-generator.parquet")
    kept = corrections.filter(pl.col("kept"))
    assert kept.height > 0 and set(corrections["corrector"]) == {"csqa-corrector"}
    for row in kept.iter_rows(named=True):
        assert row["final_answer"] == row["gold"] and row["gold"] in row["choices"]
    gsm8k = pl.read_parquet(results / "gsm8k/corrections/tiny-generator.parquet")
    assert set(gsm8k["corrector"]) <= {"gold"}
    # csqa's CoT data are the corrector's paths alone (no gold solutions)
    cot = pl.read_parquet(results / "csqa/cot/cot.parquet")
    assert set(cot["source"]) == {"corrector"} and cot["kept"].sum() > 0
    evolution = json.loads((results / "csqa/train/pool.stats.json").read_text())["evolution"]
    assert evolution.startswith("skipped: a multiple-choice task"), evolution
    evolution = json.loads((results / "gsm8k/train/pool.stats.json").read_text())["evolution"]
    assert evolution == "skipped: the gold corrector cannot write new questions"
    # the task of the user's own: golds given as letters, stored as the choice's text
    quiz = pl.read_parquet(tmp_path / "data/raw/quiz/train.parquet")
    assert all(g in c for g, c in zip(quiz["gold"], quiz["choices"], strict=True))
    assert all(
        q.endswith(f"Answer choices: {', '.join(c)}.")
        for q, c in quiz[["question", "choices"]].iter_rows()
    )
    quiz_corrections = pl.read_parquet(results / "quiz/corrections/tiny-generator.parquet")
    assert quiz_corrections["kept"].sum() > 0
    # one adapter per task, evaluated on its own test set and its benchmarks
    for task in ("gsm8k", "math", "csqa", "quiz"):
        assert (results / task / "adapters/tiny-lora/lema/adapter_config.json").exists(), task
        metrics = json.loads((results / task / "eval/tiny-lora/lema/metrics.json").read_text())
        assert metrics["task"] == task and metrics["n"] == 6
    predictions = pl.read_parquet(results / "csqa/eval/tiny-lora/lema/predictions.parquet")
    assert set(predictions["answer_type"]) == {"choice"}
    for row in predictions.iter_rows(named=True):  # an answer read is one of the candidates
        assert row["extracted"] is None or row["extracted"] in row["choices"]
    for task, bench in (("gsm8k", "svamp"), ("math", "aime24")):
        m = json.loads((results / task / f"eval/tiny-lora/lema/{bench}/metrics.json").read_text())
        assert m["benchmark"] == bench and m["n"] == 6
    summary = pl.read_csv(results / "summary.csv")
    assert {"gsm8k", "math", "csqa", "quiz"} <= set(summary["task"])
    assert {"svamp_pass_at_1", "aime24_pass_at_1"} <= set(summary.columns)
    lema = summary.filter(pl.col("mix") == "lema")
    assert lema.filter(pl.col("task") == "gsm8k")["svamp_n"].to_list() == [6]
    assert lema.filter(pl.col("task") == "csqa")["svamp_n"].to_list() == [None]
    # the key never lands in an output; a second run has nothing to do
    for f in tmp_path.rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".txt", ".log", ".parquet"):
            assert b"sk-test-not-a-secret" not in f.read_bytes(), f
    again = _snakemake(tmp_path, configfile, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]
