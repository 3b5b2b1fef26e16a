"""`lema predict` against a real local OpenAI-compatible server (what `vllm serve --enable-lora`
looks like to lema), and the decoding spec the evaluation rules build from config."""

from __future__ import annotations

import copy
import json
import threading

import polars as pl
import pytest

from lema.cli import main
from lema.config import decode_spec, load_config
from lema.errors import ConfigError, DataError
from lema.evaluation.predict import load_test
from lema.formats import cot_prompt

TEST = [
    # id, question, gold answer, level, subject, what the served model replies
    ("t1", "What is 2 + 3?", "5", 1, "Algebra", "Step 1: 2 + 3 = 5.\nThe answer is 5."),
    (
        "t2",
        "What is 10 / 4?",
        "\\frac{5}{2}",
        2,
        "Algebra",
        "Step 1: 10/4 = 2.5.\nThe answer is 2.5.",
    ),
    ("t3", "What is 7 - 9?", "-2", 3, "Prealgebra", "Step 1: 7 - 9 = 2.\nThe answer is 2."),
    ("t4", "Count the primes below 10.", "4", 3, "Number Theory", "I do not know."),
]


@pytest.fixture
def test_table(tmp_path):
    path = tmp_path / "test.parquet"
    pl.DataFrame(
        {
            "id": [r[0] for r in TEST],
            "task": "math",
            "split": "test",
            "question": [r[1] for r in TEST],
            "solution": "",
            "gold": [r[2] for r in TEST],
            "level": [r[3] for r in TEST],
            "subject": [r[4] for r in TEST],
        }
    ).write_parquet(path)
    return path


def test_predict_through_an_openai_compatible_server(
    openai_server, test_table, tmp_path, monkeypatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    replies = {cot_prompt(r[1]): r[5] for r in TEST}
    seen: list[dict] = []
    lock = threading.Lock()

    def answer(body, index):
        with lock:
            seen.append(body)
        return replies[body["prompt"]]

    server = openai_server(answer=answer, fault_rate=0.25, retry_after=0.01, seed=3)
    out = tmp_path / "predictions.parquet"
    args = [
        "predict",
        "--task",
        "math",
        "--test",
        str(test_table),
        "--output",
        str(out),
        "--backend",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "tb-math-lema",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--stats",
        str(tmp_path / "stats.json"),
        "--workers",
        "1",
    ]
    assert main(args) == 0
    frame = pl.read_parquet(out)
    assert frame["id"].to_list() == ["t1", "t2", "t3", "t4"]
    assert frame["completion"].to_list() == [r[5] for r in TEST]
    assert frame["correct"].to_list() == [True, True, False, False]
    # the paper's rule beside ours: 2.5 is not the string \frac{5}{2}
    assert frame["correct_paper"].to_list() == [True, False, False, False]
    assert frame["extracted"].to_list()[:3] == ["5", "2.5", "2"] and frame["extracted"][3] is None
    assert frame["level"].to_list() == [1, 2, 3, 3]
    # plain-prompt completions, greedy, the served adapter's name as the model
    assert {b["model"] for b in seen} == {"tb-math-lema"}
    assert all("prompt" in b and "messages" not in b for b in seen)
    assert {b.get("temperature") for b in seen} == {0.0}
    assert len(server.answered) == 4 and all(v == 1 for v in server.answered.values())
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["problems"] == 4 and stats["spec"]["base_url"] == server.url
    assert (stats["pass@1"], stats["pass@1_paper_rule"]) == (50.0, 25.0)
    # a rerun is served from the response cache: nothing is sent again
    sent = len(seen)
    assert main(args) == 0
    assert len(seen) == sent
    # and `lema eval` grades the same file to the same metrics
    assert main(["eval", str(out), "--task", "math", "--output", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["n"], m["correct"], m["no_answer"], m["pass@1"]) == (4, 2, 1, 50.0)
    assert m["by_level"]["3"] == {
        "n": 2,
        "correct": 0,
        "pass@1": 0.0,
        "ci95": [0.0, 65.76],
        "no_answer_rate": 50.0,
    }
    assert (m["pass@1_paper_rule"], m["ci95"]) == (25.0, [15.0, 85.0])
    assert m["changed_by_regrading"] == 0


def test_load_test_reads_a_raw_table_of_the_previous_version(test_table, tmp_path):
    """A test table written before the gold answer was `gold` (column `answer`) still reads;
    one without a gold answer fails naming the file."""
    current = load_test(test_table)
    old = tmp_path / "old.parquet"
    pl.read_parquet(test_table).rename({"gold": "answer"}).write_parquet(old)
    assert load_test(old).equals(current)
    bad = tmp_path / "bad.parquet"
    pl.read_parquet(test_table).drop("gold").write_parquet(bad)
    with pytest.raises(DataError, match=r"bad\.parquet: missing column\(s\) gold"):
        load_test(bad)


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "generators: [g]\ncorrector: gold\nmodels: {g: {backend: hf, tiny: true}}\n"
        "backbones:\n  llama2-70b: {model: meta-llama/Llama-2-70b-hf, size_b: 70}\n"
        "  tb: {tiny: true}\n"
    )
    return load_config(path)


def test_decode_spec_hf(study):
    spec = decode_spec(
        study, "gsm8k", "llama2-70b", "lema", adapter="results/gsm8k/adapters/llama2-70b/lema"
    )
    assert spec["backend"] == "hf" and spec["model"] == "meta-llama/Llama-2-70b-hf"
    assert spec["adapter"] == "results/gsm8k/adapters/llama2-70b/lema"
    assert spec["chat"] is False and spec["batch_size"] == 16
    base = decode_spec(study, "gsm8k", "llama2-70b", "base")
    assert "adapter" not in base
    with pytest.raises(ConfigError, match="needs its adapter"):
        decode_spec(study, "gsm8k", "llama2-70b", "lema")
    tiny = decode_spec(
        study, "math", "tb", "cot", "results/models/tb", adapter="results/math/adapters/tb/cot"
    )
    assert (
        tiny["model"] == "results/models/tb" and tiny["adapter"] == "results/math/adapters/tb/cot"
    )


def test_decode_spec_openai(study):
    cfg = copy.deepcopy(study)
    cfg["evaluation"].update(backend="openai", base_url="http://localhost:8000/v1")
    spec = decode_spec(cfg, "math", "llama2-70b", "cot_matched")
    assert spec["backend"] == "openai" and spec["model"] == "llama2-70b-math-cot_matched"
    assert spec["base_url"] == "http://localhost:8000/v1" and spec["chat"] is False
    assert decode_spec(cfg, "math", "llama2-70b", "base")["model"] == "meta-llama/Llama-2-70b-hf"
    cfg["evaluation"]["served_name"] = "{mix}"
    assert decode_spec(cfg, "math", "llama2-70b", "lema")["model"] == "lema"
    cfg["evaluation"]["base_url"] = None
    with pytest.raises(ConfigError, match="evaluation.base_url"):
        decode_spec(cfg, "math", "llama2-70b", "lema")
    with pytest.raises(ConfigError, match="not defined"):
        decode_spec(cfg, "math", "nope", "lema")
