"""A task of the user's own, defined only in the config (``tasks_defined``: lema.tasks,
lema/data/defined.py): its files are read with the configured field names into a raw table
graded by its answer type, a wrong field name fails in one line naming the file and the key,
`tasks` naming an undefined task fails in one line, the stage commands grade it by its kind,
and the whole graph runs for it on the demo's tiny models. Built from the embedded GSM8K
slice, renamed to fields of our own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from lema.data.build import build_table
from lema.errors import DataError
from lema.tables import BENCHMARK_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "lema" / "data" / "embedded" / "gsm8k"
FIELDS = {"question": "prompt_text", "answer": "final", "solution": "worked"}


def _write_task(folder: Path, n: int = 6) -> dict[str, str]:
    """train/test JSONL in fields of our own, from the embedded GSM8K slice."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in ("train", "test"):
        lines = (EMBEDDED / f"{split}.jsonl").read_text().splitlines()[:n]
        out = folder / f"{split}.jsonl"
        with out.open("w") as handle:
            for line in lines:
                row = json.loads(line)
                worked, final = row["answer"].rsplit("####", 1)
                record = {"prompt_text": row["question"], "final": final.strip(), "worked": worked}
                handle.write(json.dumps(record) + "\n")
        files[split] = str(out)
    return files


def _definition(files: dict[str, str], **fields: str) -> dict:
    return {**files, **FIELDS, "answer_type": "numeric", **fields}


def test_a_defined_task_reads_its_files_with_the_configured_fields(tmp_path):
    files = _write_task(tmp_path)
    spec = _definition(files)
    frame = build_table("mytask", "train", local=files["train"], defined=spec)
    assert tuple(frame.columns) == BENCHMARK_COLUMNS
    assert frame.height == 6
    first = json.loads(Path(files["train"]).read_text().splitlines()[0])
    row = frame.row(0, named=True)
    assert row["id"] == "mytask-train-1" and row["task"] == "mytask"
    assert row["question"] == first["prompt_text"] and row["gold"] == first["final"]
    assert row["solution"] == first["worked"] and row["answer_type"] == "numeric"
    limited = build_table("mytask", "test", local=files["test"], defined=spec, limit=2)
    assert limited.height == 2


def test_a_wrong_field_name_fails_in_one_line_naming_file_and_key(tmp_path):
    files = _write_task(tmp_path)
    spec = _definition(files, answer="final_answer")
    with pytest.raises(DataError) as info:
        build_table("mytask", "train", local=files["train"], defined=spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{files['train']}:1: no field 'final_answer'")
    assert "config key 'tasks_defined.mytask.answer'" in message


def _config(tmp_path: Path, spec: dict, tasks: list[str]) -> Path:
    config = yaml.safe_load((ROOT / "demo.yaml").read_text())
    config["tasks"] = tasks
    config["tasks_defined"] = {"mytask": spec}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _snakemake(
    workdir: Path, configfile: Path, *targets: str, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    exe = shutil.which("snakemake", path=env["PATH"])
    assert exe, "snakemake is not installed"
    return subprocess.run(
        [exe, "--directory", str(workdir), "-s", str(ROOT / "Snakefile"), "--configfile",
         str(configfile), "--cores", "1", *options, "--", *targets],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def test_snakemake_builds_a_defined_tasks_raw_tables(tmp_path):
    files = _write_task(tmp_path / "mine")
    configfile = _config(tmp_path, _definition(files), ["gsm8k", "mytask"])
    targets = ["data/raw/mytask/train.parquet", "data/raw/mytask/test.parquet"]
    proc = _snakemake(tmp_path, configfile, *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    train = pl.read_parquet(tmp_path / targets[0])
    assert train.height == 6 and set(train["answer_type"]) == {"numeric"}  # data.limit: 24


def test_snakemake_a_wrong_field_name_names_file_and_key(tmp_path):
    files = _write_task(tmp_path / "mine")
    configfile = _config(tmp_path, _definition(files, question="text"), ["mytask"])
    proc = _snakemake(tmp_path, configfile, "data/raw/mytask/train.parquet")
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "data" / "mytask" / "train.log").read_text().strip()
    last = log.splitlines()[-1]
    assert f"{files['train']}:1: no field 'text'" in last
    assert "config key 'tasks_defined.mytask.question'" in last


def test_an_undefined_task_in_tasks_fails_in_one_line(tmp_path):
    files = _write_task(tmp_path / "mine")
    configfile = _config(tmp_path, _definition(files), ["gsm8k", "other"])
    proc = _snakemake(tmp_path, configfile, "data/raw/gsm8k/train.parquet")
    assert proc.returncode != 0
    assert (
        "config key 'tasks[1]': expected one of 'gsm8k', 'math', 'csqa', 'mytask', got 'other'"
        in (proc.stderr + proc.stdout)
    )


def test_the_whole_graph_plans_for_a_task_defined_only_in_config(tmp_path):
    """Every rule takes the task; maps keyed by task fall back to its kind's entry (numeric:
    gsm8k's prompts and limits); the end-to-end run is the last test here."""
    files = _write_task(tmp_path / "mine")
    configfile = _config(tmp_path, _definition(files), ["mytask"])
    proc = _snakemake(tmp_path, configfile, options=("-n", "-p"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "results/mytask/eval/tiny-lora/lema/metrics.json" in out
    assert "lema sample --task mytask" in out and "--prompt sample_gsm8k.txt" in out
    assert "results/gsm8k" not in out and "results/math" not in out


def test_a_stage_command_grades_a_defined_task_by_its_kind(monkeypatch):
    """The workflow exports $LEMA_OPERATIONAL with each defined task's kind (tasks_kinds);
    grading, gold steps and --task follow it; without it the name is unknown, in one line."""
    from lema.datagen.cot import gold_cot
    from lema.grading import extract_answer
    from lema.tasks import command_tasks, kind_of
    from lema.workflow.knobs import operational

    files = {"train": "t.jsonl", "test": "u.jsonl"}
    numeric, latex = {**files, "answer_type": "numeric"}, {**files, "answer_type": "latex"}
    config = {"tasks_defined": {"mytask": numeric, "mine2": latex}}
    monkeypatch.setenv("LEMA_OPERATIONAL", operational(config, {}))
    assert command_tasks() == ["gsm8k", "math", "csqa", "mine2", "mytask"]
    assert kind_of("mytask") == "gsm8k" and kind_of("mine2") == "math"
    assert extract_answer("Step 1: 3+4 = 7.\nThe answer is 7.", "mytask") == "7"
    assert gold_cot("She has 3+4=7 apples.", "7", "mytask").endswith("The answer is 7.")
    monkeypatch.delenv("LEMA_OPERATIONAL")
    with pytest.raises(ValueError, match="unknown task 'mytask'"):
        kind_of("mytask")
    assert "tasks_kinds" not in operational({}, {})  # built-in runs: commands unchanged


def test_the_gold_corrector_refuses_a_task_without_solutions(monkeypatch):
    from lema.datagen.cot import gold_rows
    from lema.datagen.gold_corrector import require_solutions
    from lema.errors import LemaError

    monkeypatch.setenv("LEMA_OPERATIONAL", '{"tasks_kinds":{"mytask":"gsm8k"}}')
    rows = [{"id": "q1", "question": "1+1?", "solution": None, "gold": "2"}]
    with pytest.raises(LemaError) as info:
        require_solutions(rows, "mytask", "the gold corrector")
    message = str(info.value)
    assert "\n" not in message and message.startswith("task 'mytask': the gold corrector")
    assert "tasks_defined.mytask.solution" in message and "model corrector" in message
    with pytest.raises(LemaError, match="the gold CoT"):
        gold_rows(rows, "mytask")
    require_solutions(rows, "gsm8k", "the gold corrector")  # built-in: evolved rows, no check


def _tiny_config(tmp_path: Path, spec: dict) -> Path:
    """demo.yaml cut to the least that still runs every stage: tasks: [mytask], one tiny
    backbone, few rows, few warm-up and training steps, the gold corrector."""
    config = yaml.safe_load((ROOT / "demo.yaml").read_text())
    tiny = {"hidden_size": 32, "layers": 2, "heads": 2, "vocab_size": 600, "warmup_steps": 20}
    config["tasks"] = ["mytask"]
    config["tasks_defined"] = {"mytask": spec}
    config["data"]["limit"] = {"train": 6, "test": 6}
    config["models"]["tiny-generator"]["tiny"] = {**tiny, "seed": 1}
    config["backbones"] = {k: v for k, v in config["backbones"].items() if k == "tiny-lora"}
    config["backbones"]["tiny-lora"]["tiny"] = {**tiny, "seed": 2}
    config["mixes"] = ["lema"]
    config["training"].update(max_steps=2, save_steps=2, batch_size=2)
    config["evaluation"].update(mixes=["base", "lema"], benchmark_mixes=["base", "lema"])
    config["evaluation"].update(limit=6, batch_size=6)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_task_defined_only_in_config_runs_end_to_end(tmp_path):
    """Data, sampling, mistakes, the gold corrector (from the task's `solution` field), the
    gold CoT, the mix, training, prediction, grading by the task's kind, and the summary."""
    files = _write_task(tmp_path / "mine", n=12)
    configfile = _tiny_config(tmp_path, _definition(files))
    proc = _snakemake(tmp_path, configfile, "results/summary.csv", options=("--keep-going",))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    metrics = json.loads((tmp_path / "results/mytask/eval/tiny-lora/lema/metrics.json").read_text())
    assert metrics["task"] == "mytask"
    assert (tmp_path / "results/mytask/eval/tiny-lora/lema/predictions.parquet").exists()
    summary = pl.read_csv(tmp_path / "results/summary.csv")
    assert "mytask" in set(summary["task"]), summary
    # a second run has nothing to do; another answer type (another kind) reruns the chain
    proc = _snakemake(tmp_path, configfile, "results/summary.csv", options=("-n",))
    assert "Nothing to be done" in proc.stdout + proc.stderr
    latex = _tiny_config(tmp_path, _definition(files, answer_type="latex"))
    proc = _snakemake(tmp_path, latex, "results/summary.csv", options=("-n",))
    planned = proc.stdout + proc.stderr
    for rule in ("raw_data", "sample_paths", "mistakes", "correct", "train", "predict", "eval"):
        assert f"rule {rule}:" in planned or f"localrule {rule}:" in planned, rule


def _write_choice_task(folder: Path) -> dict[str, str]:
    """A multiple-choice task of our own: gold given as a letter on some rows, as the
    choice's text (other case) on others."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {"q": "Which of these is a fruit?", "opts": ["carrot", "apple", "potato"], "ans": "B"},
        {"q": "What do bees make?", "opts": ["milk", "silk", "honey"], "ans": "Honey"},
        {"q": "Where do fish live?", "opts": ["water", "sand", "trees"], "ans": "(A)"},
    ]
    files = {}
    for split in ("train", "test"):
        path = folder / f"{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        files[split] = str(path)
    return files


def test_a_choice_task_lists_its_choices_and_stores_the_gold_as_a_choice(tmp_path):
    from lema.grading import grade_batch

    files = _write_choice_task(tmp_path)
    spec = {**files, "question": "q", "answer": "ans", "answer_type": "choice", "choices": "opts"}
    frame = build_table("quiz", "train", local=files["train"], defined=spec)
    assert frame["gold"].to_list() == ["apple", "honey", "water"]
    assert (
        frame["question"][0] == "Which of these is a fruit?\nAnswer choices: carrot, apple, potato."
    )
    items = [
        (f"Step 1: ...\nThe answer is {said}.", gold, "choice", tuple(choices))
        for said, gold, choices in zip(
            ["apple", "silk", "the water"], frame["gold"], frame["choices"], strict=True
        )
    ]
    assert [g.correct for g in grade_batch(items, workers=1)] == [True, False, True]
    # a gold that names no choice fails in one line naming the file, the line and the key
    Path(files["test"]).write_text(
        json.dumps({"q": "Pick one", "opts": ["x", "y"], "ans": "D"}) + "\n"
    )
    with pytest.raises(DataError) as info:
        build_table("quiz", "test", local=files["test"], defined=spec)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{files['test']}:1: the gold answer 'D'")
    assert "config key 'tasks_defined.quiz.answer'" in message
