"""The paper's own grading rule (lema.grading.paper_rule), the error bars and paired tests
(lema.evaluation.stats), and how metrics.json and the summary carry them."""

from __future__ import annotations

import json

import polars as pl
import pytest

from lema.cli import main
from lema.evaluation.metrics import evaluate_file
from lema.evaluation.stats import (
    discordant,
    mcnemar_exact_p,
    paired_bootstrap_ci,
    paired_test,
    wilson_interval,
)
from lema.evaluation.summary import build_summary, to_markdown
from lema.grading import paper_correct
from lema.grading.paper_rule import gsm8k_answer, math_answer

# ------------------------------------------------------------------------------ Wilson


def test_wilson_interval_hand_computed():
    # z = 1.96: 0/10 -> [0, z²/(n+z²)] = [0, 0.2775]; 10/10 its mirror; 5/10 -> 0.5 ± 0.2634
    assert wilson_interval(0, 10) == [0.0, 27.75]
    assert wilson_interval(10, 10) == [72.25, 100.0]
    assert wilson_interval(5, 10) == [23.66, 76.34]
    assert wilson_interval(1, 2) == [9.45, 90.55]
    assert wilson_interval(0, 0) is None
    lo, hi = wilson_interval(1100, 1319)  # a GSM8K-sized run: about ±2 pp
    assert lo < 83.4 < hi and 3.5 < hi - lo < 4.5
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


# ----------------------------------------------------------------------------- McNemar


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),  # no discordant pairs
        (1, 0, 1.0),  # 2 · 1/2
        (10, 0, 2 / 1024),
        (6, 1, 2 * (1 + 7) / 128),
        (2, 8, 2 * (1 + 10 + 45) / 1024),
        (8, 2, 2 * (1 + 10 + 45) / 1024),  # symmetric
        (5, 5, 1.0),  # capped at 1
    ],
)
def test_mcnemar_exact_known_tables(b, c, p):
    assert mcnemar_exact_p(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_is_significant_only_when_discordance_is_lopsided():
    assert mcnemar_exact_p(40, 20) < 0.05
    assert mcnemar_exact_p(25, 20) > 0.5


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_excludes_zero_for_a_clear_gain():
    a = [True] * 30 + [False] * 70
    b = [False] * 100
    lo, hi = paired_bootstrap_ci(a, b)
    assert 0 < lo < 30 < hi < 45
    assert discordant(a, b) == (30, 0)


def test_bootstrap_ci_contains_zero_when_runs_agree_or_trade_even():
    same = [i % 3 == 0 for i in range(200)]
    assert paired_bootstrap_ci(same, same) == [0.0, 0.0]
    a = [True] * 5 + [False] * 5 + [True] * 40 + [False] * 50
    b = [False] * 5 + [True] * 5 + [True] * 40 + [False] * 50
    lo, hi = paired_bootstrap_ci(a, b)
    assert lo < 0 < hi and lo == pytest.approx(-hi, abs=1.5)


def test_bootstrap_is_deterministic_and_seeded():
    a = [i % 4 != 0 for i in range(500)]
    b = [i % 5 != 0 for i in range(500)]
    first = paired_bootstrap_ci(a, b)
    assert paired_bootstrap_ci(a, b) == first
    assert paired_bootstrap_ci(a, b, seed=1) != first  # the seed matters, the run does not
    test = paired_test(a, b)
    assert test["delta"] == -5.0 and test["ci95"] == first
    assert test["ci95"][0] < test["delta"] < test["ci95"][1]
    with pytest.raises(ValueError):
        paired_bootstrap_ci([True], [True, False])


# -------------------------------------------------------------------------- paper rule


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("The answer is $\\dfrac12$.", "\\frac{1}{2}"),  # dfrac -> frac, \frac12 -> \frac{1}{2}
        ("The answer is 0.5.", "\\frac12"),  # the rule maps exactly "0.5" to \frac{1}{2}
        ("The answer is .5", "\\frac{1}{2}"),  # ".5" -> "0.5" -> \frac{1}{2}
        ("The answer is 3.", "3"),  # one trailing period
        ("The answer is: 3", "3"),
        ("The answer is 5\\text{ cm}.", "5"),  # units after "\text{ "
        ("The answer is $\\left( 1, 2 \\right)$", "(1,2)"),
        ("The answer is 10^\\circ", "10"),
        ("The answer is 50\\%", "50"),
        ("The answer is x = 5", "5"),  # a short "x = " prefix
        ("The answer is \\sqrt2", "\\sqrt{2}"),
        ("The answer is 3/4", "\\frac{3}{4}"),
        ("The answer is $\\boxed{7}$.", "7"),
        ("Adding them, \\boxed{7} is the total.", "7"),  # no phrase: the last \boxed{}
        ("The answer is 4,\\!500", "4,500"),
        ("The answer is 7.\n\nQuestion: what is 2+2?\nThe answer is 4.", "7"),  # follow-up cut
    ],
)
def test_paper_rule_math_matches(completion, gold):
    assert paper_correct(completion, gold, "math")


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("The answer is 0.25", "\\frac14"),  # no numeric equivalence
        ("The answer is 2\\sqrt{2}", "\\sqrt{8}"),  # no symbolic equivalence
        ("The answer is \\frac{1}2", "\\frac{1}{2}"),  # \frac{1}2 is not rewritten
        ("The answer is 5\\text{cm}", "5"),  # no space after \text{: not a unit
        ("The answer is 50%", "50"),  # a plain % stays
        ("The answer is 5\\text{ m}\\text{ s}", "5"),  # two units: no answer
        ("The answer is 7", "8"),
        ("The answer is \\$5", "5"),  # its '$' goes before normalisation, leaving "\5"
        ("So the total is 7.", "7"),  # neither "The answer is" nor \boxed{}
        ("\\fbox{7}", "7"),  # \fbox is not \boxed{
        ("\\boxed 7", "7"),
        ("The answer is \\sqrt", "\\sqrt"),  # breaks the normalisation: no answer
        ("", "7"),
        ("The answer is 7", None),
    ],
)
def test_paper_rule_math_non_matches(completion, gold):
    assert not paper_correct(completion, gold, "math")


def test_paper_rule_math_normalised_strings():
    assert math_answer("The answer is $\\tfrac{3}{4}$ \\text{ inches}.") == "\\frac{3}{4}"
    assert math_answer("\\left[ 2, 5 \\right)", bare=True) == "[2,5)"
    assert math_answer("k = \\frac13", bare=True) == "\\frac{1}{3}"
    assert math_answer("y+1 = 3", bare=True) == "y+1=3"  # a long left side stays
    # a gold given as a whole solution goes through the same extraction
    assert paper_correct("The answer is 12.", "So we get $\\boxed{12}$.", "math")


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("Step 1: 3*4=12\nThe answer is 12.", "12"),
        ("The answer is $1,250.", "1250"),  # currency sign, commas
        ("The answer is 6 apples.", "6"),  # words go
        ("The answer is 18.0", "18"),  # compared as floats
        ("The answer is 25%", "25"),
        ("The answer is 3/4", "0.75"),  # simple arithmetic, our own parser
        ("The answer is 8 - 3 = 5", "5"),  # after '=' the last part
        ("The answer is -5", "-5"),
        ("The answer is: 7", "7"),
        ("The answer is €30.", "30"),
        ("The answer is 12.\n\nQuestion: next?\nThe answer is 3.", "12"),  # follow-up cut
        ("The answer is 4.", "#### 4"),  # a gold solution's #### answer
        ("The answer is 4.", "She has 4 left. The answer is 4."),
    ],
)
def test_paper_rule_gsm8k_matches(completion, gold):
    assert paper_correct(completion, gold, "gsm8k")


@pytest.mark.parametrize(
    ("completion", "gold"),
    [
        ("Step 1: 10 - 4 = 6", "6"),  # the number is there, the phrase is not
        ("The answer is 11.", "12"),
        ("The answer is 25% or 30", "25"),  # '%' not at the end
        ("The answer is 9**9**9", "1"),  # huge powers are not computed: no answer
        ("The answer is 1/0", "1"),
        ("The answer is __import__", "1"),
        ("The answer is", "1"),
    ],
)
def test_paper_rule_gsm8k_non_matches(completion, gold):
    assert not paper_correct(completion, gold, "gsm8k")


def test_paper_rule_gsm8k_numbers():
    assert gsm8k_answer("The answer is 2+3*4") == 14.0
    assert gsm8k_answer("The answer is (2+3)*4") == 20.0
    assert gsm8k_answer("The answer is 2**10") == 1024.0
    assert gsm8k_answer("The answer is 12 hours: 30 minutes") == 12.0
    assert gsm8k_answer("The answer is 05+1") is None  # not a Python number literal
    assert gsm8k_answer("no phrase 5") is None
    with pytest.raises(ValueError):
        paper_correct("x", "1", "nope")


# ------------------------------------------------------------- metrics.json and summary


def _run(root, task, backbone, mix, rows, model="meta-llama/Llama-2-70b-hf"):
    """Grade hand-made (completion, gold) rows as `lema eval` does; metrics.json and the graded
    predictions.parquet land in the folder the workflow uses."""
    folder = root / task / "eval" / backbone / mix
    folder.mkdir(parents=True)
    source = folder / "input.parquet"
    pl.DataFrame(
        {
            "id": [f"p{i}" for i in range(len(rows))],
            "completion": [c for c, _ in rows],
            "gold": [g for _, g in rows],
        }
    ).write_parquet(source)
    evaluate_file(
        source,
        task,
        output=folder / "metrics.json",
        graded_output=folder / "predictions.parquet",
        workers=1,
        meta={"backbone": backbone, "mix": mix, "model": model},
    )
    source.unlink()
    return folder / "metrics.json", folder / "predictions.parquet"


def _gsm(right: list[bool], *, paper_style: bool = True) -> list[tuple[str, str]]:
    """GSM8K rows, right where ``right`` says; a right answer without 'The answer is' counts
    only under lema's rule."""
    out = []
    for i, ok in enumerate(right):
        answer = i + 1 if ok else i + 1000
        text = f"The answer is {answer}." if paper_style else f"So she has {answer} left."
        out.append((text, str(i + 1)))
    return out


def test_metrics_and_summary_carry_paper_rule_cis_and_paired_tests(tmp_path):
    n = 60
    # lema: right on 0-44; cot: right on 0-29 and 50-54 (15 lema-only, 5 cot-only);
    # cot_matched: the same problems as lema. cot states 10 of its answers without the phrase.
    lema = _run(tmp_path, "gsm8k", "llama2-70b", "lema", _gsm([i < 45 for i in range(n)]))
    cot_right = [i < 30 or 50 <= i < 55 for i in range(n)]
    cot_rows = _gsm(cot_right)
    cot_rows[:10] = _gsm(cot_right[:10], paper_style=False)
    cot = _run(tmp_path, "gsm8k", "llama2-70b", "cot", cot_rows)
    matched = _run(tmp_path, "gsm8k", "llama2-70b", "cot_matched", _gsm([i < 45 for i in range(n)]))

    m = json.loads(cot[0].read_text())
    assert (m["correct"], m["pass@1"], m["ci95"], m["ci_method"]) == (
        35,
        58.33,
        [45.73, 69.94],
        "wilson",
    )
    assert (m["correct_paper_rule"], m["pass@1_paper_rule"]) == (25, 41.67)
    assert m["ci95_paper_rule"] == [30.06, 54.27]
    graded = pl.read_parquet(cot[1])
    assert graded["correct"].sum() == 35 and graded["correct_paper"].sum() == 25
    assert not graded["correct_paper"][:10].any() and graded["correct"][:10].all()

    files = [p for pair in (lema, cot, matched) for p in pair]
    frame = build_summary(files)
    row = frame.filter(pl.col("mix") == "lema").row(0, named=True)
    assert row["pass_at_1"] == 75.0 and row["pass_at_1_paper_rule"] == 75.0
    assert (row["pass_at_1_ci95_lo"], row["pass_at_1_ci95_hi"]) == (62.77, 84.22)
    assert row["paper_pass_at_1"] == 83.5 and row["paper_rule_minus_paper"] == -8.5
    assert row["lema_minus_cot"] == 16.67
    assert row["lema_minus_cot_p"] == pytest.approx(mcnemar_exact_p(15, 5))
    assert 0 < row["lema_minus_cot_ci95_lo"] < 16.67 < row["lema_minus_cot_ci95_hi"]
    assert row["lema_minus_cot_matched"] == 0.0 and row["lema_minus_cot_matched_p"] == 1.0
    assert (row["lema_minus_cot_matched_ci95_lo"], row["lema_minus_cot_matched_ci95_hi"]) == (
        0.0,
        0.0,
    )
    # predictions default to the file beside each metrics.json: the same table
    assert build_summary([lema[0], cot[0], matched[0]]).equals(frame)
    md = to_markdown(frame)
    assert "| pass@1 paper rule (%) [95% CI] | Paper (%) |" in md
    assert "+16.7 [+" in md and "p = 0.041" in md and "75.0 [62.8, 84.2]" in md

    # the CLI as the rule calls it (metrics and predictions interleaved): byte-deterministic
    outs = []
    for k in (1, 2):
        csv, mdf = tmp_path / f"s{k}.csv", tmp_path / f"s{k}.md"
        assert main(["summary", *map(str, files), "--csv", str(csv), "--md", str(mdf)]) == 0
        outs.append((csv.read_bytes(), mdf.read_bytes()))
    assert outs[0] == outs[1]
    header = outs[0][0].decode().splitlines()[0].split(",")
    for col in ("pass_at_1_paper_rule", "pass_at_1_ci95_lo", "lema_minus_cot_p"):
        assert col in header
    assert header.index("pass_at_1_paper_rule") + 3 == header.index("paper_pass_at_1") - 1


def test_summary_skips_paired_tests_of_stale_predictions(tmp_path, capsys):
    lema = _run(tmp_path, "gsm8k", "tiny", "lema", _gsm([True, True, False, True]))
    cot = _run(tmp_path, "gsm8k", "tiny", "cot", _gsm([True, False, False, False]))
    stale = pl.read_parquet(cot[1]).with_columns(pl.lit(True).alias("correct"))
    stale.write_parquet(cot[1])  # graded differently from its metrics.json
    row = build_summary([lema[0], cot[0]]).filter(pl.col("mix") == "lema").row(0, named=True)
    assert row["lema_minus_cot"] == 50.0 and row["lema_minus_cot_p"] is None
    assert "graded differently" in capsys.readouterr().err
    cot[1].unlink()  # no predictions at all: the delta without a test, quietly
    row = build_summary([lema[0], cot[0]]).filter(pl.col("mix") == "lema").row(0, named=True)
    assert row["lema_minus_cot"] == 50.0 and row["lema_minus_cot_ci95_lo"] is None


def test_accuracy_plot_draws_error_bars(tmp_path):
    from lema.evaluation.plot import plot_accuracy

    metrics = [
        {
            "task": "gsm8k",
            "backbone": "b",
            "mix": "lema",
            "n": 10,
            "pass@1": 50.0,
            "ci95": [23.66, 76.34],
        },
        {"task": "gsm8k", "backbone": "b", "mix": "cot", "n": 10, "pass@1": 0.0},  # old file
    ]
    png = tmp_path / "acc.png"
    plot_accuracy(metrics, png)
    first = png.read_bytes()
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    plot_accuracy([dict(m, ci95=None) for m in metrics], png)
    assert png.read_bytes() != first  # the interval is drawn
