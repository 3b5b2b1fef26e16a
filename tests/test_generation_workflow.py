"""The whole data-generation graph through Snakemake, end to end and offline.

Two variants on a small config (a few questions per task, both tasks):

- tiny random-init local models as generators and a real local OpenAI-compatible server as
  the corrector, whose answers are built from the gold data (tests/gen_fakes.py): right,
  messy, malformed and wrong corrections, evolved questions (some copying test questions),
  CoT paths;
- the offline ``gold`` corrector (evolution is skipped; the stats say so).

Invariants checked on the outputs: every mistake grades wrong; every kept correction's final
answer grades equal to the gold answer; every drop has a reason; stats counts add up along
the funnel and match the tables; no test question in any mix; mix sizes; a second run has
nothing to do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import yaml

from lema.datagen.mixes import ContaminationIndex
from lema.datagen.text import norm_words
from lema.grading import equivalent, grade

ROOT = Path(__file__).resolve().parents[1]
TASKS = ["gsm8k", "math"]

pytestmark = pytest.mark.slow


def _config(corrector: dict | None, generators: list[str]) -> dict:
    models = {
        "tiny-gen-a": {"backend": "hf", "tiny": {"seed": 1}, "chat": False},
        "tiny-gen-b": {"backend": "hf", "tiny": {"seed": 2, "hidden_size": 32}, "chat": False},
    }
    if corrector is not None:
        models["corr"] = corrector
    return {
        "tasks": TASKS,
        "data": {
            "source": "embedded",  # the slice of real GSM8K/MATH shipped with lema
            "limit": {"train": 8, "test": None},
        },
        "cache": ".lema-cache/responses.sqlite",
        "models": models,
        "generators": generators,
        "corrector": "corr" if corrector is not None else "gold",
        "sampling": {"k": 2, "max_tokens": {"gsm8k": 32, "math": 32}},
        "evolution": {"votes": 5, "new_per_seed": 2, "min_agreement": 0.6},
        "cot": {"corrector_paths": 2},
        "backbones": {"tiny-a": {"tiny": True}},
    }


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    env["LEMA_TEST_KEY"] = "sk-test-not-a-secret"
    cmd = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),  # noqa: E501
        "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)


def _run(workdir: Path, config: dict) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = _snakemake(workdir, "results/funnel.txt")
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{proc.stderr[-4000:]}\n{logs[-6000:]}")
    again = _snakemake(workdir, "-n", "results/funnel.txt")
    assert "Nothing to be done" in again.stdout + again.stderr, (
        "a second run must have nothing to do"
    )
    return (workdir / "results" / "funnel.txt").read_text()


def _stats(path: Path) -> dict:
    d = json.loads(path.with_name(path.name.split(".")[0] + ".stats.json").read_text())
    assert d["in"] == d["kept"] + sum(d["dropped"].values()), path
    return d


_Q = re.compile(
    r"\AQuestion: (.*?)\n(?:Answer: Let's solve it step by step\.|Wrong solution:)\n", re.S
)


def _check(workdir: Path, generators: list[str], evolved: bool) -> dict[str, dict]:
    res = workdir / "results"
    tests = {}
    for t in TASKS:
        frame = pl.read_parquet(workdir / "data" / "raw" / t / "test.parquet")
        tests.update(dict(zip(frame["id"], frame["question"], strict=True)))
    exact_tests = {norm_words(q) for q in tests.values()}
    index = ContaminationIndex(tests, n=5, threshold=0.9)
    summary: dict[str, dict] = {}
    for task in TASKS:
        base = res / task
        corr_kept_total = 0
        qsets = [base, base / "evolved"] if evolved else [base]
        if evolved:
            q = pl.read_parquet(base / "evolved" / "questions.parquet")
            qs = _stats(base / "evolved" / "questions.parquet")
            assert qs["in"] == q.height and qs["kept"] == int(q["kept"].sum())
            assert Counter(q.filter(~pl.col("kept"))["reason"].to_list()) == Counter(qs["dropped"])
            assert q.filter(pl.col("kept"))["gold"].null_count() == 0
            n_evolved = int(q["kept"].sum())
            summary[f"{task}/evolved_contaminated"] = {
                "n": sum(index.match(x) is not None for x in q.filter(pl.col("kept"))["question"])
            }
        else:
            assert not (base / "evolved").exists()
        for qdir in qsets:
            for g in generators:
                paths = pl.read_parquet(qdir / "paths" / f"{g}.parquet")
                ps = _stats(qdir / "paths" / f"{g}.parquet")
                n_questions = paths["question_id"].n_unique()
                if qdir == base:
                    assert n_questions == 8
                else:
                    assert n_questions == n_evolved
                assert ps["in"] == paths.height == 2 * n_questions
                assert ps["correct"] == int(paths["correct"].sum())
                mistakes = pl.read_parquet(qdir / "mistakes" / f"{g}.parquet")
                ms = _stats(qdir / "mistakes" / f"{g}.parquet")
                assert ms["in"] == paths.height and ms["kept"] == mistakes.height
                for r in mistakes.iter_rows(named=True):  # every mistake grades wrong
                    assert not grade(r["path"], r["gold"], task), r["path"]
                    assert r["path"].strip()
                corr = pl.read_parquet(qdir / "corrections" / f"{g}.parquet")
                cs = _stats(qdir / "corrections" / f"{g}.parquet")
                assert cs["in"] == corr.height == mistakes.height
                assert set(corr["path_id"]) == set(mistakes["path_id"])
                kept = corr.filter(pl.col("kept"))
                assert cs["kept"] == kept.height
                dropped = corr.filter(~pl.col("kept"))
                assert dropped["reason"].null_count() == 0
                assert Counter(dropped["reason"].to_list()) == Counter(cs["dropped"])
                for r in kept.iter_rows(named=True):  # every kept correction reaches the gold
                    assert equivalent(r["final_answer"], r["gold"], task), r
                    assert grade(r["completion"], r["gold"], task), r["completion"]
                    assert r["completion"].startswith("Incorrect step: ")
                    assert r["prompt"].startswith(
                        f"Question: {r['question'].strip()}\nWrong solution:\n"
                    )
                corr_kept_total += kept.height
        cot = pl.read_parquet(base / "cot" / "cot.parquet")
        cs = _stats(base / "cot" / "cot.parquet")
        assert cs["in"] == cot.height and cs["kept"] == int(cot["kept"].sum())
        for r in cot.filter(pl.col("kept")).iter_rows(named=True):
            assert grade(r["completion"], r["gold"], task), r["completion"]
            assert r["completion"].startswith("Step 1: ")
        pool = pl.read_parquet(base / "train" / "pool.parquet")
        pstats = _stats(base / "train" / "pool.parquet")
        assert pstats["in"] == int(cot["kept"].sum()) + corr_kept_total
        assert pstats["kept"] == pool.height
        mixes = {}
        for mix in ("cot", "lema", "cot_matched"):
            rows = [
                json.loads(line)
                for line in (base / "train" / f"{mix}.jsonl").read_text().splitlines()
            ]
            mixes[mix] = rows
            assert _stats(base / "train" / f"{mix}.jsonl")["kept"] == len(rows)
            for r in rows:  # no test question in any mix
                assert set(r) >= {"id", "kind", "prompt", "completion"}
                m = _Q.match(r["prompt"])
                assert m, r["prompt"][:200]
                question = m.group(1)
                assert norm_words(question) not in exact_tests
                assert index.match(question) is None, question
        assert len(mixes["lema"]) == pool.height
        assert (
            len(mixes["cot"])
            == pool.filter(pl.col("kind") == "cot").height
            == int(cot["kept"].sum())
        )
        assert len(mixes["cot_matched"]) == len(mixes["lema"])
        assert {r["kind"] for r in mixes["cot_matched"]} == {"cot"}
        assert Counter(r["kind"] for r in mixes["lema"]) == Counter(pool["kind"].to_list())
        summary[task] = {"pool": pstats, "cot": cs}
    return summary


@pytest.fixture(scope="module")
def corrector_server():
    from tests.gen_fakes import load_gold, make_answer
    from tests.openai_server import OpenAIServer

    with OpenAIServer(answer=make_answer(load_gold(limit=50))) as server:
        yield server


def test_workflow_with_served_corrector(tmp_path: Path, corrector_server) -> None:
    corrector = {
        "backend": "openai",
        "model": "fake-corrector",
        "base_url": corrector_server.url,
        "api_key_env": "LEMA_TEST_KEY",
        "price_per_1k_prompt": 0.01,
        "price_per_1k_completion": 0.03,
    }
    generators = ["tiny-gen-a", "tiny-gen-b"]
    funnel = _run(tmp_path / "w", _config(corrector, generators))
    assert "== gsm8k ==" in funnel and "== math ==" in funnel and "evolved corrections" in funnel
    summary = _check(tmp_path / "w", generators, evolved=True)
    for task in TASKS:
        pool = summary[task]["pool"]
        # the served corrector copies test questions into evolution: they must be caught
        assert summary[f"{task}/evolved_contaminated"]["n"] > 0
        assert sum(v for k, v in pool["dropped"].items() if k.startswith("contaminated_")) > 0
        assert (
            summary[task]["cot"]["cost_usd"] > 0
            and summary[task]["cot"]["tokens"]["completion"] > 0
        )
    # every drop reason of the corrector's messy output shows up somewhere
    reasons = Counter()
    for f in (tmp_path / "w" / "results").rglob("corrections/*.stats.json"):
        reasons.update(json.loads(f.read_text())["dropped"])
    assert {"wrong_answer", "empty", "refused", "missing_explanation"} <= set(reasons)
    # the key never lands in any output
    for f in (tmp_path / "w").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".jsonl", ".txt", ".log", ".parquet", ".sqlite"):
            assert b"sk-test-not-a-secret" not in f.read_bytes(), f


def test_workflow_with_gold_corrector(tmp_path: Path) -> None:
    generators = ["tiny-gen-a"]
    funnel = _run(tmp_path / "g", _config(None, generators))
    assert "skipped: the gold corrector cannot write new questions" in funnel
    summary = _check(tmp_path / "g", generators, evolved=False)
    for task in TASKS:
        corr = json.loads(
            (
                tmp_path / "g" / "results" / task / "corrections" / "tiny-gen-a.stats.json"
            ).read_text()
        )
        # garbage paths from a random model: the gold corrector fixes every one
        assert corr["in"] > 0 and corr["kept"] == corr["in"]
        assert summary[task]["cot"]["kept"] == 8  # gold CoT only
