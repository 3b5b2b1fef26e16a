"""Grading and metrics on hand-made predictions with known answers (lema.evaluation.metrics, `lema
eval`),
the summary table with the paper's figures (lema.evaluation.summary), the plots and the report
pages."""

from __future__ import annotations

import json
import sys
import textwrap

import polars as pl
import pytest

from lema.cli import main
from lema.evaluation.metrics import compute_metrics, evaluate_file
from lema.evaluation.summary import PAPER_FIGURES, build_summary, paper_backbone, to_markdown
from lema.grading import grade_batch
from lema.workflow.paths import eval_context, task_of

# id, completion, gold, level, subject, expected extracted-or-None, expected correct
MATH_ROWS = [
    (
        "m1",
        "Step 1: x = 1/2.\nThe answer is $\\frac{1}{2}$.",
        "\\frac{1}{2}",
        1,
        "Algebra",
        True,
        True,
    ),
    ("m2", "So we get \\boxed{0.5}.", "\\frac12", 1, "Algebra", True, True),  # decimal vs fraction
    ("m3", "The answer is 7.", "8", 2, "Algebra", True, False),  # wrong
    (
        "m4",
        "I am not sure how to do this problem.",
        "3",
        2,
        "Prealgebra",
        False,
        False,
    ),  # no answer
    ("m5", "", "4", 3, "Prealgebra", False, False),  # empty completion
    ("m6", "Therefore \\boxed{(1,2)}", "(1, 2)", 3, "Number Theory", True, True),
    ("m7", "The answer is \\sqrt{8}.", "2\\sqrt{2}", 5, "Number Theory", True, True),  # sympy
    ("m8", "The answer is $9^{9^{9^{9}}}$.", "1", 5, "Number Theory", True, False),  # pathological
]
GSM_ROWS = [
    ("g1", "Step 1: 3*4=12\nThe answer is 12.", "12"),
    ("g2", "She pays $1,250 in total.\nThe answer is $1,250.", "1250"),
    ("g3", "The answer is 11.", "12"),
    ("g4", "%%%%", "5"),  # garbage: nothing to extract
    ("g5", "Step 1: 10 - 4 = 6 apples.\nThe answer is 6 apples.", "6"),
]


def _math_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [r[0] for r in MATH_ROWS],
            "question": [f"q{r[0]}" for r in MATH_ROWS],
            "gold": [r[2] for r in MATH_ROWS],
            "completion": [r[1] for r in MATH_ROWS],
            "level": [r[3] for r in MATH_ROWS],
            "subject": [r[4] for r in MATH_ROWS],
        }
    )


def test_grade_batch_known_answers():
    graded = grade_batch([(r[1], r[2], "math") for r in MATH_ROWS], workers=2, timeout_s=20)
    extracted, correct, timed_out = zip(*graded, strict=True)
    assert [e is not None for e in extracted] == [r[5] for r in MATH_ROWS]
    assert list(correct) == [r[6] for r in MATH_ROWS]
    assert not any(timed_out)


def test_metrics_math_per_level_and_subject(tmp_path):
    path = tmp_path / "results" / "math" / "eval" / "tiny" / "lema" / "predictions.parquet"
    path.parent.mkdir(parents=True)
    _math_frame().write_parquet(path)
    out = tmp_path / "metrics.json"
    m = evaluate_file(path, "math", output=out, workers=2, meta=eval_context(path))
    assert json.loads(out.read_text()) == m
    assert (m["task"], m["backbone"], m["mix"]) == ("math", "tiny", "lema")  # from the path
    assert m["n"] == 8 and m["correct"] == 4
    assert m["pass@1"] == 50.0
    assert m["no_answer"] == 2 and m["no_answer_rate"] == 25.0
    assert m["timeouts"] == 0
    # Wilson intervals (hand-computed: 1 of 2 -> 9.45-90.55 %, 2 of 2 -> 34.24-100 %)
    assert m["by_level"] == {
        "1": {"n": 2, "correct": 2, "pass@1": 100.0, "ci95": [34.24, 100.0], "no_answer_rate": 0.0},
        "2": {"n": 2, "correct": 0, "pass@1": 0.0, "ci95": [0.0, 65.76], "no_answer_rate": 50.0},
        "3": {"n": 2, "correct": 1, "pass@1": 50.0, "ci95": [9.45, 90.55], "no_answer_rate": 50.0},
        "5": {"n": 2, "correct": 1, "pass@1": 50.0, "ci95": [9.45, 90.55], "no_answer_rate": 0.0},
    }
    assert m["by_subject"]["Algebra"] == {
        "n": 3,
        "correct": 2,
        "pass@1": 66.67,
        "ci95": [20.77, 93.85],
        "no_answer_rate": 0.0,
    }
    # the overall interval and the paper's rule beside ours: m2 (boxed 0.5 vs \frac12) counts
    # under both (the rule maps exactly "0.5" to \frac{1}{2}); m7 (\sqrt{8} = 2\sqrt{2}) only
    # under ours; m6 ((1,2) vs (1, 2)) under both (spaces go)
    assert m["ci95"] == [21.52, 78.48] and m["ci_method"] == "wilson"
    assert m["correct_paper_rule"] == 3 and m["pass@1_paper_rule"] == 37.5
    assert m["ci95_paper_rule"] == [13.68, 69.43]
    assert "The answer is" in m["paper_rule"]
    keys = list(m)
    assert keys.index("pass@1") + 1 == keys.index("ci95")  # next to pass@1
    assert m["by_subject"]["Prealgebra"]["correct"] == 0
    assert m["by_subject"]["Number Theory"]["n"] == 3


def test_lema_eval_cli_on_jsonl_from_elsewhere(tmp_path, capsys):
    """A user's own outputs (JSONL, no extracted/correct columns, 'Level N' strings) are graded."""
    path = tmp_path / "outputs.jsonl"
    path.write_text(
        "\n".join(json.dumps({"id": r[0], "completion": r[1], "gold": r[2]}) for r in GSM_ROWS)
        + "\n"
    )
    out = tmp_path / "m.json"
    graded = tmp_path / "graded.parquet"
    rc = main(
        [
            "eval",
            str(path),
            "--task",
            "gsm8k",
            "--output",
            str(out),
            "--graded-output",
            str(graded),
            "--backbone",
            "mine",
            "--mix",
            "cot",
        ]
    )
    assert rc == 0
    m = json.loads(out.read_text())
    assert (m["n"], m["correct"], m["no_answer"]) == (5, 3, 1)
    assert m["pass@1"] == 60.0 and m["no_answer_rate"] == 20.0
    assert "by_level" not in m and "by_subject" not in m  # GSM8K has neither
    assert (m["backbone"], m["mix"], m["task"]) == ("mine", "cot", "gsm8k")
    frame = pl.read_parquet(graded)
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
    assert frame["correct"].to_list() == [True, True, False, False, True]
    assert frame["correct_paper"].to_list() == [True, True, False, False, True]
    assert m["pass@1_paper_rule"] == 60.0 and m["ci95"] == [23.07, 88.24]
    assert frame["extracted"][3] is None
    assert "pass@1 60.00%" in (err := capsys.readouterr().err) and "paper rule 60.00%" in err


def test_regrading_reports_changed_rows(tmp_path):
    frame = _math_frame().with_columns(
        pl.lit(None, dtype=pl.String).alias("extracted"),
        pl.lit(True).alias("correct"),  # a stale grading
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    m = evaluate_file(path, "math", workers=1)
    assert m["correct"] == 4 and m["changed_by_regrading"] == 4


def test_level_strings_and_missing_columns(tmp_path):
    path = tmp_path / "p.csv"
    pl.DataFrame(
        {
            "completion": ["The answer is 2.", "The answer is 3."],
            "gold": ["2", "2"],
            "level": ["Level 4", "Level 4"],
        }
    ).write_csv(path)
    m = evaluate_file(path, "math", workers=1)
    assert m["by_level"] == {
        "4": {"n": 2, "correct": 1, "pass@1": 50.0, "ci95": [9.45, 90.55], "no_answer_rate": 0.0}
    }


def test_eval_errors_are_one_line(tmp_path, capsys):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": 1, "output": "x"}) + "\n")
    assert main(["eval", str(path), "--task", "gsm8k"]) == 1
    err = capsys.readouterr().err.strip()
    assert "missing column(s) completion, gold" in err and len(err.splitlines()) == 1
    assert main(["eval", str(tmp_path / "p.jsonl")]) == 1
    assert "pass --task" in capsys.readouterr().err


def test_a_hanging_item_times_out_and_the_rest_are_graded(tmp_path, monkeypatch):
    """The outer time bound: a grader that never returns costs one item, not the run."""
    (tmp_path / "hanging_grader.py").write_text(
        textwrap.dedent("""
        import time
        def extract_answer(text, task):
            if "HANG" in text:
                while True:
                    pass
            return text.split()[-1]
        def equivalent(a, b, task):
            return a == b
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graded = grade_batch(
        [("is 1", "1", "gsm8k"), ("HANG", "2", "gsm8k"), ("is 3", "3", "gsm8k")]
        + [("HANG", "4", "gsm8k"), ("is 5", "6", "gsm8k")],
        workers=2,
        timeout_s=1.5,
        grader="hanging_grader",
    )
    extracted, correct, timed_out = (list(col) for col in zip(*graded, strict=True))
    assert timed_out == [False, True, False, True, False]
    assert correct == [True, False, True, False, False]
    assert extracted[4] == "5"


def test_compute_metrics_empty():
    frame = pl.DataFrame(
        schema={
            "extracted": pl.String,
            "correct": pl.Boolean,
            "level": pl.Int64,
            "subject": pl.String,
        }
    )
    m = compute_metrics(frame, task="gsm8k")
    assert (m["n"], m["pass@1"], m["no_answer_rate"]) == (0, 0.0, 0.0)
    assert m["ci95"] is None and "pass@1_paper_rule" not in m  # no interval of nothing


def test_eval_context():
    assert eval_context("results/math/eval/llama2-70b/cot_matched/predictions.parquet") == {
        "task": "math",
        "backbone": "llama2-70b",
        "mix": "cot_matched",
    }
    assert eval_context("elsewhere/p.parquet") == {}


# ---------------------------------------------------------------------------- summary


def _write_metrics(root, task, backbone, mix, p, model, n=100, by_level=None):
    folder = root / task / backbone / mix
    folder.mkdir(parents=True, exist_ok=True)
    m = {
        "task": task,
        "backbone": backbone,
        "mix": mix,
        "model": model,
        "n": n,
        "correct": round(p * n / 100),
        "pass@1": p,
        "no_answer_rate": 1.0,
    }
    if by_level:
        m["by_level"] = by_level
    (folder / "metrics.json").write_text(json.dumps(m))
    return folder / "metrics.json"


def test_paper_backbone_matching():
    assert paper_backbone("llama2-70b", "meta-llama/Llama-2-70b-hf") == "LLaMA-2-70B"
    assert paper_backbone("mm", "meta-math/MetaMath-70B-V1.0") == "MetaMath-70B"
    assert paper_backbone("wizardmath-70b", "WizardLMTeam/WizardMath-70B-V1.0") == "WizardMath-70B"
    assert paper_backbone("llama2-7b", "meta-llama/Llama-2-7b-hf") is None
    assert paper_backbone("codellama-34b", "codellama/CodeLlama-34b-hf") is None
    assert paper_backbone("chat", "meta-llama/Llama-2-70b-chat-hf") is None
    assert paper_backbone("tiny", "results/models/tiny") is None


def test_summary_table_with_paper_figures_and_deltas(tmp_path):
    files = [
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "base", 50.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "cot", 80.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "lema", 83.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(
            tmp_path, "gsm8k", "llama2-70b", "cot_matched", 79.5, "meta-llama/Llama-2-70b-hf"
        ),
        _write_metrics(
            tmp_path, "math", "metamath-70b", "lema", 26.0, "meta-math/MetaMath-70B-V1.0"
        ),
        _write_metrics(tmp_path, "math", "tiny", "lema", 1.0, "results/models/tiny"),
        _write_metrics(tmp_path, "math", "tiny", "cot", 2.0, "results/models/tiny"),
    ]
    frame = build_summary(files)
    assert frame.height == 7
    rows = {(r["task"], r["backbone"], r["mix"]): r for r in frame.iter_rows(named=True)}
    lema = rows[("gsm8k", "llama2-70b", "lema")]
    assert lema["paper_pass_at_1"] == PAPER_FIGURES[("LLaMA-2-70B", "lema")]["gsm8k"] == 83.5
    assert lema["diff_vs_paper"] == -0.5
    assert lema["lema_minus_cot"] == 3.0 and lema["lema_minus_cot_matched"] == 3.5
    assert lema["paper_lema_minus_cot"] == 2.1
    assert rows[("gsm8k", "llama2-70b", "cot")]["paper_pass_at_1"] == 81.4
    assert rows[("gsm8k", "llama2-70b", "base")]["paper_pass_at_1"] is None
    assert rows[("math", "metamath-70b", "lema")]["paper_pass_at_1"] == 26.9
    assert rows[("math", "metamath-70b", "lema")]["lema_minus_cot"] is None  # no cot row
    tiny = rows[("math", "tiny", "lema")]
    assert tiny["paper_pass_at_1"] is None and tiny["lema_minus_cot"] == -1.0
    # order: task, backbone, mix (base, cot, cot_matched, lema)
    assert [r["mix"] for r in frame.iter_rows(named=True)][:4] == [
        "base",
        "cot",
        "cot_matched",
        "lema",
    ]
    md = to_markdown(frame)
    # metrics without the paper rule and no predictions beside them: Wilson intervals from
    # n and correct, no paper-rule cells, deltas without paired tests
    assert (
        "| GSM8K | llama2-70b | lema | 100 | 83.0 [74.5, 89.1] | – | 83.5 (LLaMA-2-70B) | – "
        "| 1.0 | +3.0 | +3.5 | +2.1 |" in md
    )
    assert (lema["pass_at_1_ci95_lo"], lema["pass_at_1_ci95_hi"]) == (74.45, 89.11)
    assert lema["lema_minus_cot_p"] is None and lema["diff_vs_paper"] == -0.5


def test_summary_cli_writes_csv_md_html(tmp_path):
    files = [
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "lema", 83.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(
            tmp_path, "math", "wizardmath-70b", "lema", 27.5, "WizardLMTeam/WizardMath-70B-V1.0"
        ),
    ]
    csv, md, html = tmp_path / "s.csv", tmp_path / "s.md", tmp_path / "s.html"
    assert (
        main(["summary", *map(str, files), "--csv", str(csv), "--md", str(md), "--html", str(html)])
        == 0
    )
    frame = pl.read_csv(csv)
    assert frame["paper_pass_at_1"].to_list() == [83.5, 27.1]
    assert "WizardMath-70B" in md.read_text()
    assert '<table id="lema-summary">' in html.read_text()


def test_summary_rejects_duplicates_and_non_metrics(tmp_path, capsys):
    f = _write_metrics(tmp_path, "gsm8k", "a", "lema", 1.0, "x")
    assert (
        main(
            [
                "summary",
                str(f),
                str(f),
                "--csv",
                str(tmp_path / "s.csv"),
                "--md",
                str(tmp_path / "s.md"),
            ]
        )
        == 1
    )
    assert "a second metrics file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert (
        main(
            ["summary", str(bad), "--csv", str(tmp_path / "s.csv"), "--md", str(tmp_path / "s.md")]
        )
        == 1
    )
    assert "not a lema metrics file" in capsys.readouterr().err


# ---------------------------------------------------------------------------- plots and pages


def test_plots_are_pngs(tmp_path):
    levels = {str(k): {"n": 10, "correct": 5 - k, "pass@1": 10.0 * (5 - k)} for k in range(1, 6)}
    files = [
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "lema", 83.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(tmp_path, "gsm8k", "llama2-70b", "base", 40.0, "meta-llama/Llama-2-70b-hf"),
        _write_metrics(
            tmp_path, "math", "tiny", "lema", 20.0, "results/models/tiny", by_level=levels
        ),
    ]
    acc, lev = tmp_path / "acc.png", tmp_path / "lev.png"
    assert main(["plot", *map(str, files), "--accuracy", str(acc), "--levels", str(lev)]) == 0
    for png in (acc, lev):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "matplotlib.pyplot" in sys.modules


def test_report_pages(tmp_path):
    from lema.evaluation.report import corrections_html, funnel_html

    task_dir = tmp_path / "results" / "gsm8k"
    (task_dir / "mistakes").mkdir(parents=True)
    (task_dir / "corrections").mkdir(parents=True)
    (task_dir / "mistakes" / "gen.stats.json").write_text(
        json.dumps(
            {
                "stage": "mistakes",
                "generator": "gen",
                "in": 10,
                "kept": 6,
                "dropped": {"duplicate": 4},
                "tokens": {"prompt": 0, "completion": 0},
                "cost_usd": 0.0,
            }
        )
    )
    page = funnel_html(tmp_path / "results", ["gsm8k"])
    assert "GSM8K" in page and "duplicate: 4" in page and ">6<" in page
    table = task_dir / "corrections" / "gen.parquet"
    pl.DataFrame(
        {
            "question": ["What is 2+<b>2</b>?", "Q2"],
            "path": ["Step 1: 2+2=5", "p"],
            "incorrect_step": ["Step 1", "s"],
            "explanation": ["2+2 is 4", "e"],
            "corrected": ["Step 1: 2+2=4\nThe answer is 4.", "c"],
            "gold": ["4", "1"],
            "generator": ["gen", "gen"],
            "kept": [True, False],
        }
    ).write_parquet(table)
    page = corrections_html([(task_of(table), table)], n=5)
    assert "1 of 1 kept corrections" in page
    assert "What is 2+&lt;b&gt;2&lt;/b&gt;?" in page  # escaped
    assert "Q2" not in page  # dropped corrections are not shown
    assert "generator gen · gold answer 4" in page
    # a corrections table of the previous version (gold answer as `gold_answer`) reads the same
    pl.read_parquet(table).rename({"gold": "gold_answer"}).write_parquet(table)
    assert corrections_html([(task_of(table), table)], n=5) == page


@pytest.mark.parametrize("task", ["gsm8k", "math"])
def test_paper_figures_cover_both_tasks(task):
    assert all(task in figs for figs in PAPER_FIGURES.values())


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"completion": "The answer is 4.", "gold": "4"}', "{oops"], ":2: not valid JSON"),
        (['{"completion": "x", "gold": "1"}', "", "[1, 2]"], ":3: expected a JSON object"),
        (['{"completion": "x"}'], "missing column(s) gold"),
        ([""], "no predictions"),
    ],
)
def test_lema_eval_names_the_file_and_line_of_a_bad_jsonl(tmp_path, capsys, lines, message):
    path = tmp_path / "outputs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rc = main(["eval", str(path), "--task", "gsm8k", "--output", str(tmp_path / "m.json")])
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}" in err and message in err, err
    assert not (tmp_path / "m.json").exists()


def test_lema_eval_jsonl_gold_as_number_or_text(tmp_path):
    """JSON numbers in gold / id / level read as text, as the same values written as strings."""
    path = tmp_path / "outputs.jsonl"
    rows = [
        {"id": 1, "completion": "The answer is 42.", "gold": 42},
        {"id": "b", "completion": "The answer is 7.", "gold": "7", "level": 3},
        {"id": 3, "completion": "The answer is 5.", "gold": 6},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", str(path), "--task", "gsm8k", "--output", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    assert (m["n"], m["correct"]) == (3, 2)
