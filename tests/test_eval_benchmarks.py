"""Evaluation-only benchmarks wired into evaluation: config (evaluation.benchmarks,
data.local.<benchmark>), the path scheme, grading by each row's answer type (in grade_batch,
under its per-item bound), metrics (the paper rule null where it has no meaning), the summary's
benchmark columns, and the rules end to end on a tiny model with a benchmark fixture file."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from lema.config import load_schema, validate_config
from lema.data import BENCHMARKS
from lema.errors import ConfigError, DataError
from lema.evaluation.metrics import NO_PAPER_RULE, compute_metrics, evaluate_file, grade_frame
from lema.evaluation.summary import build_summary, to_html, to_markdown
from lema.grading import grade_batch, grade_typed, typed_item
from lema.workflow import knobs, params
from lema.workflow.paths import (
    benchmark_metrics,
    benchmark_predictions,
    eval_context,
    metrics_file,
    predictions_table,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STUDY = yaml.safe_load((ROOT / "config.yaml").read_text())

# (completion, gold, answer_type, choices, correct)
TYPED = [
    ("Step 1: 3 + 4 = 7.\nThe answer is 7.", "7", "numeric", None, True),
    ("Step 1: 3 + 4 = 8.\nThe answer is 8.", "7", "numeric", None, False),
    ("So x = 1/2.\nThe answer is \\frac{1}{2}.", "0.5", "latex", None, True),
    ("The answer is \\frac{1}{3}.", "0.5", "latex", None, False),
    ("Compute 15% of 40 = 6.\nThe answer is (B).", "B", "choice", ("4", "6", "8"), True),
    ("The answer is 6.", "B", "choice", ("4", "6", "8"), True),  # the option's text
    ("The answer is (C).", "B", "choice", ("4", "6", "8"), False),
    ("Mrs. Hilt has more.\nThe answer is Mrs. Hilt.", "Mrs. Hilt", "text", None, True),
    ("The answer is Mr. Smith.", "Mrs. Hilt", "text", None, False),
]


def _study(**evaluation) -> dict:
    config = copy.deepcopy(STUDY)
    config["evaluation"].update(evaluation)
    return config


# ------------------------------------------------------------------------------ config
def test_config_benchmarks_and_their_errors():
    config = validate_config(_study())
    assert config["evaluation"]["benchmarks"] == {
        "gsm8k": ["svamp", "asdiv", "mawps"],
        "math": ["aime24", "amc23"],
        "csqa": [],
    }
    assert params.study_benchmarks(config) == ["svamp", "asdiv", "mawps", "aime24", "amc23"]
    defaults = validate_config({k: v for k, v in _study().items() if k != "evaluation"})
    assert defaults["evaluation"]["benchmarks"] == {"gsm8k": [], "math": [], "csqa": []}
    with pytest.raises(ConfigError, match=r"'evaluation\.benchmarks\.gsm8k\[1\]'.*'svampp'"):
        validate_config(_study(benchmarks={"gsm8k": ["svamp", "svampp"]}))
    with pytest.raises(ConfigError, match=r"'evaluation\.benchmarks\.svamp': not a task"):
        validate_config(_study(benchmarks={"svamp": ["asdiv"]}))
    # keyed by any task run: csqa, or a task of tasks_defined
    assert validate_config(_study(benchmarks={"csqa": ["aqua"]}))["evaluation"]["benchmarks"][
        "csqa"
    ] == ["aqua"]


def test_benchmark_mixes_choose_which_mixes_meet_the_benchmarks():
    config = validate_config(_study())
    assert params.benchmark_mixes(config) == ["base", "cot", "lema", "cot_matched"]
    assert "lema_no_explanation" in params.eval_mixes(config)  # evaluated, not on benchmarks
    every = validate_config(_study(benchmark_mixes=None))
    assert params.benchmark_mixes(every) == params.eval_mixes(every)  # size curve's included
    assert "cot_n1000" in params.benchmark_mixes(every)
    one = validate_config(_study(mixes=["base", "lema"], benchmark_mixes=["lema"]))
    assert params.benchmark_mixes(one) == ["lema"]
    # the default names mixes a smaller evaluation.mixes leaves out: only evaluated ones count
    fewer = validate_config(_study(mixes=["base", "lema"]))
    assert params.benchmark_mixes(fewer) == ["base", "lema"]
    with pytest.raises(ConfigError, match=r"'evaluation\.benchmark_mixes\[0\]'"):
        validate_config(_study(benchmark_mixes=["cot_n1000"]))


def test_schema_names_every_benchmark():
    schema = load_schema()
    assert tuple(schema["definitions"]["benchmark_list"]["items"]["enum"]) == BENCHMARKS
    local = schema["properties"]["data"]["properties"]["local"]["properties"]
    assert set(BENCHMARKS) <= set(local)


def test_benchmark_source_local_public_and_errors(tmp_path):
    config = validate_config(_study())
    assert params.benchmark_source_args(config, "svamp") == ["--source", "public"]
    assert params.benchmark_content(config, "svamp") == ""
    fixture = tmp_path / "svamp.jsonl"
    fixture.write_text('{"ID": "a", "Body": "b", "Question": "q", "Answer": 1}\n')
    config["data"]["local"]["svamp"] = str(fixture)
    assert params.benchmark_source_args(config, "svamp") == ["--source", "local"]
    first = params.benchmark_content(config, "svamp")
    assert len(first) == 64
    # the path reaches `lema data` as a place (--operational), never as a param
    assert json.loads(knobs.operational(config, {}))["data_local"] == {"svamp": str(fixture)}
    config["data"]["source"] = "embedded"
    assert params.benchmark_source(config, "svamp") == "local"
    with pytest.raises(ConfigError, match=r"'data\.local\.asdiv'.*no embedded slice"):
        params.benchmark_source(config, "asdiv")
    config["data"]["source"] = "local"
    with pytest.raises(ConfigError, match=r"'data\.local\.mawps'.*data\.source: local"):
        params.benchmark_source(config, "mawps")


# ------------------------------------------------------------------------------- paths
def test_benchmark_paths_sit_beside_unchanged_in_distribution_paths():
    assert (
        predictions_table("gsm8k", "tb", "lema") == "results/gsm8k/eval/tb/lema/predictions.parquet"
    )
    assert metrics_file("gsm8k", "tb", "lema") == "results/gsm8k/eval/tb/lema/metrics.json"
    path = benchmark_predictions("gsm8k", "tb", "lema", "svamp")
    assert path == "results/gsm8k/eval/tb/lema/svamp/predictions.parquet"
    assert eval_context(path) == {
        "task": "gsm8k",
        "backbone": "tb",
        "mix": "lema",
        "benchmark": "svamp",
    }
    assert eval_context(benchmark_metrics("math", "b", "cot", "aime24"))["benchmark"] == "aime24"
    assert "benchmark" not in eval_context(metrics_file("math", "b", "cot"))


# ----------------------------------------------------------------------------- grading
@pytest.mark.parametrize("timeout_s", [None, 20.0])
def test_grade_batch_grades_by_answer_type(timeout_s):
    """Each row as its answer type says, serially and in the bounded worker pool, and the
    same verdict as grade_typed."""
    items = [typed_item(c, g, t, o) for c, g, t, o, _ in TYPED]
    graded = grade_batch(items, workers=2, timeout_s=timeout_s)
    assert [g.correct for g in graded] == [ok for *_, ok in TYPED]
    assert [grade_typed(c, g, t, o) for c, g, t, o, _ in TYPED] == [ok for *_, ok in TYPED]
    assert graded[4].pred == "B" and graded[5].pred == "B" and graded[6].pred == "C"
    assert graded[7].pred == "Mrs. Hilt"
    assert not any(g.timed_out for g in graded)


def test_typed_items_name_the_grader():
    assert typed_item("x", "1", "numeric")[2] == "gsm8k"
    assert typed_item("x", "1", "latex", ["ignored"]) == ("x", "1", "math", None)
    assert typed_item("x", "A", "choice", ["1", "2"]) == ("x", "A", "choice", ("1", "2"))
    with pytest.raises(ValueError, match="unknown answer type 'number'"):
        typed_item("x", "1", "number")


def _benchmark_frame(rows=TYPED) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"q{i}" for i in range(len(rows))],
            "question": "?",
            "gold": [r[1] for r in rows],
            "completion": [r[0] for r in rows],
            "level": pl.Series([None] * len(rows), dtype=pl.Int64),
            "subject": pl.Series([None] * len(rows), dtype=pl.String),
            "answer_type": [r[2] for r in rows],
            "choices": pl.Series(
                [list(r[3]) if r[3] else None for r in rows], dtype=pl.List(pl.String)
            ),
        }
    )


def test_metrics_of_a_benchmark_table():
    """Graded by type whatever the task; the paper rule on numeric/latex rows only, so a
    table with choice or text rows has no paper-rule figure; a breakdown by answer type."""
    graded = grade_frame(_benchmark_frame(), "gsm8k", workers=2, timeout_s=20)
    assert graded["correct"].to_list() == [ok for *_, ok in TYPED]
    paper = graded["correct_paper"].to_list()
    assert paper[:2] == [True, False] and paper[4:] == [None] * 5
    m = compute_metrics(graded)
    assert (m["n"], m["correct"]) == (9, 5)
    assert m["pass@1"] == pytest.approx(55.56) and m["ci95"][0] < 55.56 < m["ci95"][1]
    assert m["pass@1_paper_rule"] is None and m["paper_rule"] == NO_PAPER_RULE
    assert {k: (v["n"], v["correct"]) for k, v in m["by_answer_type"].items()} == {
        "choice": (3, 2),
        "latex": (2, 1),
        "numeric": (2, 1),
        "text": (2, 1),
    }
    numeric_only = compute_metrics(grade_frame(_benchmark_frame(TYPED[:4]), "math", workers=1))
    assert numeric_only["pass@1_paper_rule"] == 50.0  # numeric and latex rows: the paper's rule


def test_samples_of_a_benchmark_row_are_graded_by_its_answer_type():
    """With evaluation.samples, each sample is graded as its row is (a letter for AQuA)."""
    frame = _benchmark_frame(TYPED[4:5]).with_columns(
        pl.Series("samples", [["The answer is (B).", "The answer is 6.", "The answer is (A)."]])
    )
    graded = grade_frame(frame, "gsm8k", workers=1)
    assert graded["samples_correct"].to_list() == [[True, True, False]]
    assert graded["samples_extracted"].to_list() == [["B", "B", "A"]]
    m = compute_metrics(graded)
    assert m["samples"]["n"] == 3 and m["pass@k"]["1"]["value"] == pytest.approx(66.67)


def test_lema_eval_reads_the_benchmark_from_the_path(tmp_path, capsys):
    from lema.cli import main

    path = tmp_path / benchmark_predictions("gsm8k", "tb", "lema", "aqua")
    path.parent.mkdir(parents=True)
    _benchmark_frame().write_parquet(path)
    out = tmp_path / "m.json"
    assert main(["eval", str(path), "--output", str(out), "--workers", "1"]) == 0
    m = json.loads(out.read_text())
    assert (m["task"], m["backbone"], m["mix"], m["benchmark"]) == ("gsm8k", "tb", "lema", "aqua")
    assert "paper rule none" in capsys.readouterr().err
    bad = _benchmark_frame().with_columns(pl.lit("number").alias("answer_type"))
    bad.write_parquet(path)
    with pytest.raises(DataError, match="answer_type.*unknown answer type 'number'"):
        evaluate_file(path, "gsm8k", workers=1)


# ----------------------------------------------------------------------------- summary
def _metrics(tmp_path: Path, rel: str, **m) -> Path:
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(m))
    return path


def test_summary_puts_benchmark_columns_beside_the_task(tmp_path):
    files = [
        _metrics(
            tmp_path,
            metrics_file("gsm8k", "tb", m),
            task="gsm8k",
            backbone="tb",
            mix=m,
            n=10,
            correct=k,
            **{"pass@1": 10.0 * k},
        )
        for m, k in (("base", 2), ("lema", 5))
    ]
    files += [
        _metrics(
            tmp_path,
            benchmark_metrics("gsm8k", "tb", m, b),
            task="gsm8k",
            backbone="tb",
            mix=m,
            benchmark=b,
            n=4,
            correct=k,
            **{"pass@1": 25.0 * k},
        )
        for m, b, k in (("base", "svamp", 1), ("lema", "svamp", 3), ("lema", "mawps", 4))
    ]
    frame = build_summary(files)
    assert frame.height == 2  # benchmark metrics add columns, not rows
    assert frame["svamp_pass_at_1"].to_list() == [25.0, 75.0]
    assert frame["mawps_pass_at_1"].to_list() == [None, 100.0]
    assert frame["svamp_n"].to_list() == [4, 4]
    lo, hi = (
        frame.row(1, named=True)["svamp_pass_at_1_ci95_lo"],
        frame["svamp_pass_at_1_ci95_hi"][1],
    )
    assert lo < 75.0 < hi
    cols = frame.columns
    assert cols.index("svamp_pass_at_1") < cols.index("mawps_pass_at_1")  # registry order
    md = to_markdown(frame)
    header = md.splitlines()[2]
    assert header.index("| pass@1 (%) [95% CI] | SVAMP pass@1 (%) [95% CI] | MAWPS pass@1") > 0
    assert f"| 50.0 [{frame['pass_at_1_ci95_lo'][1]:.1f}" in md and "| 75.0 [" in md
    assert "evaluation-only test set" in md
    assert "SVAMP pass@1" in to_html(frame)
    # no benchmark metrics: the table is as before
    plain = build_summary(files[:2])
    assert not any(c.startswith("svamp") for c in plain.columns)
    assert "SVAMP" not in to_markdown(plain)
    with pytest.raises(DataError, match="without the in-distribution metrics.json"):
        build_summary(files[2:])
    with pytest.raises(DataError, match="a second metrics file for gsm8k/tb/lema on svamp"):
        build_summary(
            [*files, _metrics(tmp_path, "x/metrics.json", **json.loads(files[3].read_text()))]
        )


# -------------------------------------------------------------------------- the graph
def _snakemake(workdir: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_paper_study_dry_run_evaluates_every_adapter_on_its_benchmarks(tmp_path):
    proc = _snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(ROOT / "config.yaml"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    from test_lint import job_counts

    counts = job_counts(out)
    mixes = params.benchmark_mixes(validate_config(_study()))  # evaluation.benchmark_mixes
    per_adapter = len(STUDY["backbones"]) * len(mixes)
    benchmarks = STUDY["evaluation"]["benchmarks"]
    assert counts["predict_benchmark"] == per_adapter * sum(map(len, benchmarks.values()))
    assert counts["eval_benchmark"] == counts["predict_benchmark"]
    assert counts["raw_benchmark"] == 5
    for backbone in STUDY["backbones"]:
        for mix in mixes:
            for task, names in benchmarks.items():
                for b in names:
                    assert benchmark_metrics(task, backbone, mix, b) in out
    # an evaluated mix left out of evaluation.benchmark_mixes meets no benchmark
    backbone = next(iter(STUDY["backbones"]))
    assert benchmark_metrics("gsm8k", backbone, "lema_no_explanation", "svamp") not in out
    assert metrics_file("gsm8k", backbone, "lema_no_explanation") in out


def test_demo_has_no_benchmarks():
    demo = validate_config(yaml.safe_load((ROOT / "demo.yaml").read_text()))
    assert demo["data"]["source"] == "embedded"
    assert params.study_benchmarks(demo) == []


SVAMP = [
    {
        "ID": f"chal-{i}",
        "Body": f"Tom has {a} apples. He buys {b} more.",
        "Question": "How many apples does he have now?",
        "Equation": f"( {a} + {b} )",
        "Answer": a + b,
    }
    for i, (a, b) in enumerate([(3, 4), (10, 5), (7, 8)])
]

E2E_CONFIG = """
tasks: [gsm8k]
data:
  source: embedded
  limit: {{train: 40, test: 3}}
  local: {{svamp: {svamp}}}
cache: cache/responses.sqlite
models:
  gen: {{backend: hf, tiny: true}}
generators: [gen]
corrector: gold
backbones:
  tb: {{tiny: {{hidden_size: 32, layers: 1, heads: 2, vocab_size: 400}}}}
mixes: [lema]
evaluation:
  mixes: [base, lema]
  max_tokens: {{gsm8k: 8, math: 8}}
  batch_size: 4
  limit: 2
  benchmarks: {{gsm8k: [svamp]}}
"""
E2E_RULES = [
    "raw_data",
    "raw_benchmark",
    "tiny_model",
    "predict",
    "eval",
    "predict_benchmark",
    "eval_benchmark",
    "summary",
]


@pytest.mark.slow
def test_tiny_adapter_evaluated_on_a_benchmark_fixture(tmp_path):
    """A tiny backbone and its LoRA adapter, trained on nothing but made here, decoded on the
    embedded GSM8K slice; then evaluation.benchmarks adds a local SVAMP fixture, which adds
    its jobs and reruns no in-distribution one, and the summary gains the SVAMP column."""
    from test_eval_workflow import _make_adapter

    svamp = tmp_path / "svamp.jsonl"
    svamp.write_text("".join(json.dumps(r) + "\n" for r in SVAMP))
    work = tmp_path / "work"
    work.mkdir()
    config = E2E_CONFIG.format(svamp=svamp)
    (work / "config.yaml").write_text(config.replace("benchmarks: {gsm8k: [svamp]}", ""))
    for name in ("report", "envs"):
        shutil.copytree(ROOT / name, work / name)
    built = _snakemake(
        work, "--cores", "2", "--allowed-rules", *E2E_RULES, "--", "results/models/tb"
    )
    assert built.returncode == 0, built.stderr[-3000:]
    _make_adapter(work / "results/models/tb", work / "results/gsm8k/adapters/tb/lema")
    targets = ["results/summary.csv", "results/summary.md"]
    before = _snakemake(work, "--cores", "2", "--allowed-rules", *E2E_RULES, "--", *targets)
    assert before.returncode == 0, before.stderr[-4000:]
    assert "svamp" not in pl.read_csv(work / "results/summary.csv").columns
    decoded = (work / "results/gsm8k/eval/tb/lema/predictions.parquet").stat().st_mtime_ns
    (work / "config.yaml").write_text(config)
    dry = _snakemake(work, "-n", "--cores", "1", "--allowed-rules", *E2E_RULES, "--", *targets)
    assert dry.returncode == 0, dry.stderr[-3000:]
    from test_lint import job_counts

    assert job_counts(dry.stdout) == {
        "raw_benchmark": 1,
        "predict_benchmark": 2,
        "eval_benchmark": 2,
        "summary": 1,
        "total": 6,
    }, dry.stdout
    run = _snakemake(work, "--cores", "2", "--allowed-rules", *E2E_RULES, "--", *targets)
    logs = "\n".join(p.read_text()[-1500:] for p in sorted((work / "logs").rglob("*.log")))
    assert run.returncode == 0, run.stderr[-4000:] + logs
    table = pl.read_parquet(work / "data/raw/svamp/test.parquet")
    assert table["id"].to_list() == ["svamp-test-chal-0", "svamp-test-chal-1", "svamp-test-chal-2"]
    for mix in ("base", "lema"):
        folder = work / f"results/gsm8k/eval/tb/{mix}/svamp"
        preds = pl.read_parquet(folder / "predictions.parquet")
        assert preds["id"].to_list() == table["id"].to_list()[:2]  # evaluation.limit
        assert preds["answer_type"].to_list() == ["numeric", "numeric"]
        m = json.loads((folder / "metrics.json").read_text())
        assert (m["task"], m["backbone"], m["mix"], m["benchmark"], m["n"]) == (
            "gsm8k",
            "tb",
            mix,
            "svamp",
            2,
        )
        assert m["correct"] == int(preds["correct"].sum())
        assert "pass@1_paper_rule" in m and m["by_answer_type"]["numeric"]["n"] == 2
        stats = json.loads((folder / "predictions.stats.json").read_text())
        assert ("adapter" in stats["spec"]) == (mix == "lema") and stats["max_tokens"] == 8
    summary = pl.read_csv(work / "results/summary.csv")
    assert summary.select("task", "mix").rows() == [("gsm8k", "base"), ("gsm8k", "lema")]
    assert summary["svamp_n"].to_list() == [2, 2]
    assert "SVAMP pass@1 (%) [95% CI]" in (work / "results/summary.md").read_text()
    assert (work / "results/gsm8k/eval/tb/lema/predictions.parquet").stat().st_mtime_ns == decoded
    # a change of the fixture rebuilds its table and what reads it, nothing in-distribution
    svamp.write_text("".join(json.dumps({**r, "Answer": r["Answer"] + 1}) + "\n" for r in SVAMP))
    dry = _snakemake(work, "-n", "--cores", "1", "--allowed-rules", *E2E_RULES, "--", *targets)
    assert dry.returncode == 0, dry.stderr[-3000:]
    counts = job_counts(dry.stdout)
    assert counts.get("raw_benchmark") == 1 and counts.get("predict_benchmark") == 2, counts
    assert "predict" not in counts and "raw_data" not in counts, counts


# ----------------------------------------------------------------- the real benchmark files
@pytest.mark.shared
def test_real_benchmark_golds_grade_in_the_batch():
    """Every gold of every real benchmark, stated as a completion, grades right through
    grade_batch by its row's answer type (and a wrong letter/number does not)."""
    from datafiles import SHARED_BENCHMARKS

    from lema.data.benchmarks import read_benchmark

    for name in BENCHMARKS:
        rows = [r for _, r in read_benchmark(name, SHARED_BENCHMARKS / f"{name}.jsonl")]
        items = [
            typed_item(f"The answer is {r['gold']}.", r["gold"], r["answer_type"], r["choices"])
            for r in rows
        ]
        graded = grade_batch(items, workers=2, timeout_s=20)
        wrong = [r["id"] for r, g in zip(rows, graded, strict=True) if not g.correct]
        assert not wrong, (name, wrong[:5])
