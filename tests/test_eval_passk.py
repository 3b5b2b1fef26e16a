"""pass@k and maj@k: the unbiased estimator against hand-computed values and brute force,
the vote clustering of maj@k, the metrics of a table with samples, `lema eval` on such a
file, the `evaluation.samples` keys in the decoding spec, and `lema predict --samples` on a
tiny model built here."""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from fractions import Fraction
from math import comb
from pathlib import Path

import polars as pl
import pytest

from lema.cli import main
from lema.config import decode_spec, load_config
from lema.errors import LemaError
from lema.evaluation.metrics import compute_metrics, grade_frame, sample_ks
from lema.evaluation.predict import Samples
from lema.evaluation.stats import mean_interval, pass_at_k, wilson_interval
from lema.evaluation.summary import build_summary, to_html, to_markdown
from lema.evaluation.votes import cluster_labels, label_samples, majority_correct
from lema.formats import cot_prompt
from lema.tables import SAMPLE_COLUMNS

# ------------------------------------------------------------------------------- pass@k


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (4, 1, 1, 0.25),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
        (4, 1, 4, 1.0),
        (4, 0, 3, 0.0),
        (5, 5, 1, 1.0),
        (10, 3, 5, 1 - 21 / 252),  # C(7,5) = 21, C(10,5) = 252
        (10, 3, 8, 1.0),  # fewer than 8 wrong samples: every 8 contain a correct one
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_is_the_share_of_k_subsets_with_a_correct_sample():
    for n in range(1, 8):
        for c in range(n + 1):
            outcomes = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(outcomes, k))
                share = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(share, abs=1e-12), (n, c, k)


def test_pass_at_k_stays_exact_where_binomials_overflow_floats():
    # C(2000, 1000) has ~600 digits: the product form needs no big numbers
    n, c, k = 2000, 3, 1000
    exact = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="pass_at_k"):
        pass_at_k(3, 1, 4)


def test_sample_ks_and_mean_interval():
    assert sample_ks(1) == [1]
    assert sample_ks(4) == [1, 2, 4]
    assert sample_ks(6) == [1, 2, 4, 6]
    assert sample_ks(8) == [1, 2, 4, 8]
    assert mean_interval([]) is None
    # 0/1 values: exactly Wilson's interval of the count
    assert mean_interval([1.0, 0.0, 0.0]) == wilson_interval(1, 3) == [6.15, 79.23]
    # values in between: Wilson's at the mean (p = 0.5, N = 4), by hand:
    # centre = (0.5 + z²/8) / (1 + z²/4) = 0.5, half = z/(1 + z²/4) · √(1/16 + z²/64) = 0.3498
    assert mean_interval([0.25, 0.75, 0.25, 0.75]) == [15.0, 85.0]
    assert mean_interval([0.0] * 4)[1] > 0  # never shrinks to a point


# -------------------------------------------------------------------------------- votes


def never(later: str, earlier: str) -> bool:
    raise AssertionError(f"compared {later!r} with {earlier!r}")


def test_correct_answers_are_one_vote_and_no_answer_does_not_vote():
    labels = cluster_labels(
        ["7", None, "0.5", "\\frac12", "  "], [False, False, True, True, False], never
    )
    assert labels == [0, None, 2, 2, None]


def test_identical_wrong_answers_merge_without_a_comparison():
    assert cluster_labels(["3", "4 ", "3", "4"], [False] * 4, lambda a, b: False) == [0, 1, 0, 1]
    assert cluster_labels(["3", " 3", "3"], [False] * 3, never) == [0, 0, 0]


def test_wrong_answers_join_the_earliest_equivalent_leader():
    same = {("b", "a"): True, ("c", "a"): False, ("d", "a"): True}
    labels = cluster_labels(["a", "c", "b", "d"], [False] * 4, lambda x, y: same.get((x, y), False))
    assert labels == [0, 1, 0, 0]


def test_clustering_by_the_grader_merges_equivalent_wrong_answers_only():
    # gold 3: the first five are wrong; 0.5 = \frac12 = 1/2, but 2 is not 0.5
    answers = [["0.5", "\\frac12", "2", None, "1/2", "3"]]
    correct = [[False] * 5 + [True]]
    assert label_samples(answers, correct, "math", workers=1) == [[0, 0, 2, None, 0, 5]]
    gsm = label_samples([["1,000", "1000", "999", "5"]], [[False] * 3 + [True]], "gsm8k")
    assert gsm == [[0, 0, 2, 3]]


def test_only_contested_problems_are_compared():
    # no correct vote in any prefix, or the correct votes always ahead: no clustering of
    # the wrong answers can change a majority, so only identical texts are merged
    from lema.evaluation.votes import contested

    assert not contested(["0.5", "\\frac12", "2"], [False] * 3)
    assert not contested(["3", "3", "0.5", "\\frac12"], [True, True, False, False])
    assert not contested(["3", "0.5"], [True, False])  # a 1-1 tie the gold vote wins
    assert contested(["0.5", "3"], [False, True])  # a 1-1 tie the wrong vote wins
    assert contested(["3", "0.5", "7"], [True, False, False])  # 1-2 after three
    assert not contested([None, "3", None, "7"], [False, True, False, False])
    labels = label_samples([["0.5", "\\frac12", "0.5"]], [[False] * 3], "math", workers=1)
    assert labels == [[0, 1, 0]]
    for k in (1, 2, 3):  # and maj@k is what full clustering would give: not solved
        assert majority_correct(labels[0], [False] * 3, k) is False


def test_skipping_uncontested_problems_changes_no_majority():
    """maj@k for every k from label_samples equals maj@k from clustering every problem with
    all comparisons, on random problems with equivalent spellings among their answers."""
    import random

    from lema.grading import equivalent

    rng = random.Random(7)
    spellings = ["1", "1.0", "2", "2.00", "3", "1,000", "1000", None]
    answers, correct = [], []
    for _ in range(300):
        gold = rng.choice(["1", "2", "1000"])
        row = [rng.choice(spellings) for _ in range(rng.randint(1, 8))]
        answers.append(row)
        correct.append([a is not None and equivalent(a, gold, "gsm8k") for a in row])
    labels = label_samples(answers, correct, "gsm8k", workers=1)
    for a, c, got in zip(answers, correct, labels, strict=True):
        full = cluster_labels(a, c, lambda x, y: equivalent(x, y, "gsm8k"))
        for k in range(1, len(a) + 1):
            assert majority_correct(got, c, k) == majority_correct(full, c, k), (a, c, k)


def test_majority_vote_ties_and_empty_votes():
    correct = [False, True, True, False, False]
    labels = [0, 1, 1, 0, 0]
    assert majority_correct(labels, correct, 1) is False  # the first sample alone
    assert majority_correct(labels, correct, 2) is False  # 1-1 tie: the earlier cluster (0)
    assert majority_correct(labels, correct, 3) is True  # 2-1 for the gold cluster
    assert majority_correct(labels, correct, 4) is False  # 2-2 tie: cluster 0 came first
    assert majority_correct(labels, correct, 5) is False
    assert majority_correct([None, 1], [False, True], 1) is False  # no votes
    assert majority_correct([None, 1], [False, True], 2) is True  # no-answer does not vote


# ------------------------------------------------------------------------------ metrics

ROWS = [
    # gold, greedy completion, samples
    ("5", "The answer is 5.", ["The answer is 5.", "The answer is 6.", "The answer is 6.", "x"]),
    ("2", "The answer is 3.", ["The answer is 3.", "The answer is 2.", "The answer is 2.", "no"]),
    ("7", "The answer is 7.", ["The answer is 1.", "The answer is 2.", "The answer is 3.", "-"]),
]


def sampled_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "question": ["qa", "qb", "qc"],
            "gold": [r[0] for r in ROWS],
            "completion": [r[1] for r in ROWS],
            "level": [None, None, None],
            "subject": [None, None, None],
            "samples": [r[2] for r in ROWS],
        },
        schema_overrides={"level": pl.Int64, "subject": pl.String},
    )


def test_metrics_of_a_table_with_samples():
    graded = grade_frame(sampled_frame(), "gsm8k", workers=1)
    assert graded.columns[-len(SAMPLE_COLUMNS) :] == SAMPLE_COLUMNS
    assert graded["samples_correct"].to_list() == [
        [True, False, False, False],
        [False, True, True, False],
        [False, False, False, False],
    ]
    assert graded["samples_extracted"].to_list()[0] == ["5", "6", "6", None]
    assert graded["samples_vote"].to_list() == [[0, 1, 1, None], [0, 1, 1, None], [0, 1, 2, None]]
    m = compute_metrics(graded)
    assert m["pass@1"] == pytest.approx(200 / 3, abs=0.01)  # greedy: a and c
    assert set(m["pass@k"]) == set(m["maj@k"]) == {"1", "2", "4"}
    # pass@k: a has c=1 of 4, b c=2 of 4, c none
    for k in (1, 2, 4):
        mean = (pass_at_k(4, 1, k) + pass_at_k(4, 2, k)) / 3
        assert m["pass@k"][str(k)]["value"] == round(100 * mean, 2)
        assert m["pass@k"][str(k)]["problems"] == 3
    assert m["pass@k"]["1"]["value"] == 25.0
    assert m["pass@k"]["4"] == {"value": 66.67, "ci95": m["pass@k"]["4"]["ci95"], "problems": 3}
    # maj@1: first samples right, wrong, wrong; maj@2: ties -> first cluster; maj@4: a 6-6
    # beats 5, b's 2-2 beats 3
    assert [m["maj@k"][k]["value"] for k in ("1", "2", "4")] == [33.33, 33.33, 33.33]
    assert m["maj@k"]["4"]["ci95"] == [6.15, 79.23]  # Wilson, 1 of 3
    s = m["samples"]
    assert (s["n"], s["problems"], s["completions"], s["correct"]) == (4, 3, 12, 3)
    assert s["no_answer_rate"] == 25.0 and s["timeouts"] == 0
    assert "maj@k_tie_rule" in s and s["maj@k_ci_method"] == "wilson"
    # without samples nothing of this appears
    plain = compute_metrics(grade_frame(sampled_frame().drop("samples"), "gsm8k", workers=1))
    assert not {"samples", "pass@k", "maj@k"} & set(plain)


def test_maj_at_k_beats_the_first_sample_when_votes_agree():
    frame = sampled_frame().with_columns(
        pl.Series(
            "samples",
            [["The answer is 4.", "The answer is 5.", "The answer is 5.0.", "5"]] * 3,
        )
    )
    m = compute_metrics(grade_frame(frame, "gsm8k", workers=1))
    assert m["maj@k"]["1"]["value"] == 0.0
    assert m["maj@k"]["4"]["value"] == pytest.approx(33.33)  # only a's gold is 5


def test_lema_eval_recomputes_pass_and_maj_at_k_from_a_jsonl(tmp_path, capsys):
    path = tmp_path / "preds.jsonl"
    frame = sampled_frame()
    path.write_text(
        "".join(json.dumps(row) + "\n" for row in frame.drop("level", "subject").to_dicts())
    )
    out = tmp_path / "m.json"
    assert main(["eval", str(path), "--task", "gsm8k", "--workers", "1", "-o", str(out)]) == 0
    m = json.loads(out.read_text())
    direct = compute_metrics(grade_frame(frame, "gsm8k", workers=1))
    assert m["pass@k"] == direct["pass@k"] and m["maj@k"] == direct["maj@k"]
    assert "pass@4 66.67%, maj@4 33.33% (4 samples)" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"completion": "x", "gold": "1", "samples": "not a list"}) + "\n")
    assert main(["eval", str(bad), "--task", "gsm8k"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.jsonl: column 'samples' must hold a list" in err[0]


def test_summary_shows_sampled_columns_only_when_present(tmp_path):
    base = {"task": "gsm8k", "backbone": "tb", "n": 3, "correct": 2, "pass@1": 66.67}
    plain = tmp_path / "cot" / "metrics.json"
    plain.parent.mkdir()
    plain.write_text(json.dumps({**base, "mix": "cot"}))
    alone = build_summary([plain])
    assert "samples" not in alone.columns and not any("sampled" in c for c in alone.columns)
    assert "maj@n" not in to_markdown(alone) and "maj@n" not in to_html(alone)

    sampled = tmp_path / "lema" / "metrics.json"
    sampled.parent.mkdir()
    graded = grade_frame(sampled_frame(), "gsm8k", workers=1)
    sampled.write_text(json.dumps({**compute_metrics(graded), **base, "mix": "lema"}))
    frame = build_summary([plain, sampled])
    rows = {r["mix"]: r for r in frame.iter_rows(named=True)}
    assert rows["lema"]["pass_at_1"] == 66.67  # the greedy figure stays
    assert rows["lema"]["samples"] == 4 and rows["cot"]["samples"] is None
    assert rows["lema"]["sampled_pass_at_1"] == 25.0
    assert rows["lema"]["sampled_pass_at_4"] == 66.67
    assert rows["lema"]["sampled_maj_at_4"] == 33.33
    assert rows["cot"]["sampled_maj_at_4"] is None
    md = to_markdown(frame)
    assert "| Samples n | pass@n (%) [95% CI] | maj@n (%) [95% CI] |" in md
    assert "| 4 | 66.7 [20.8, 93.8] | 33.3 [6.2, 79.2] |" in md
    assert "| – | – | – |" in md  # the row without samples
    assert "maj@n" in to_html(frame)


# ------------------------------------------------------------------------------ config


@pytest.fixture
def study(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "generators: [g]\ncorrector: gold\nmodels: {g: {backend: hf, tiny: true}}\n"
        "backbones:\n  b7: {model: meta-llama/Llama-2-7b-hf, size_b: 7}\n"
    )
    return load_config(path)


def test_samples_one_leaves_the_decoding_spec_as_it_was(study):
    from lema.workflow.params import predict_spec_json

    assert study["evaluation"]["samples"] == 1
    before = copy.deepcopy(study)
    for key in ("samples", "temperature", "top_p", "seed"):
        del before["evaluation"][key]  # a config of the version before these keys
    assert "samples" not in decode_spec(study, "gsm8k", "b7", "base")
    assert predict_spec_json(study, "gsm8k", "b7", "lema") == predict_spec_json(
        before, "gsm8k", "b7", "lema"
    )
    study["evaluation"].update(samples=8, temperature=0.6)
    spec = decode_spec(study, "gsm8k", "b7", "base")
    assert spec["samples"] == {"n": 8, "temperature": 0.6, "top_p": 1.0, "seed": 0}
    rest, samples = Samples.from_spec(spec)
    assert "samples" not in rest and samples == Samples(8, 0.6, 1.0, 0)
    assert predict_spec_json(study, "gsm8k", "b7", "lema") != predict_spec_json(
        before, "gsm8k", "b7", "lema"
    )


def test_samples_settings_are_checked():
    with pytest.raises(LemaError, match="n must be at least 2"):
        Samples(1)
    with pytest.raises(LemaError, match="temperature must be above 0"):
        Samples(4, temperature=0.0)
    with pytest.raises(LemaError, match="unknown 'samples' key"):
        Samples.from_spec({"backend": "hf", "samples": {"n": 4, "temp": 1.0}})


# -------------------------------------------------------------------- a tiny model, hf

QUESTIONS = [
    # id, question, gold, a wrong answer the warm-up also teaches
    ("q1", "Tom has 2 apples and gets 3 more. How many?", "5", "6"),
    ("q2", "Ann has 4 pens and loses 1. How many?", "3", "2"),
    ("q3", "A box has 6 eggs; 2 break. How many are whole?", "4", "8"),
    ("q4", "Sam reads 7 pages then 2 more. How many pages?", "9", "5"),
]


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory):
    """A tiny model warmed up (a few seconds) to answer each question with its gold answer
    or a wrong one, so that its samples disagree; and the test table."""
    from lema.models.tiny import build_tiny_model

    folder = tmp_path_factory.mktemp("passk")
    texts = []
    for _, q, gold, wrong in QUESTIONS:
        texts += [(cot_prompt(q), f"Step 1: Count.\nThe answer is {gold}.")] * 3
        texts += [(cot_prompt(q), f"Step 1: Count.\nThe answer is {wrong}.")] * 2
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few seconds on one thread; minutes on busy shared cores
    try:
        model = build_tiny_model(
            folder / "tiny",
            [p + c for p, c in texts],
            vocab_size=300,
            seed=0,
            warmup_texts=texts,
            warmup_steps=40,
        )
    finally:
        torch.set_num_threads(threads)
    test = folder / "test.parquet"
    pl.DataFrame(
        {
            "id": [q[0] for q in QUESTIONS],
            "task": "gsm8k",
            "split": "test",
            "question": [q[1] for q in QUESTIONS],
            "solution": "",
            "gold": [q[2] for q in QUESTIONS],
        }
    ).write_parquet(test)
    return str(model), test


def _predict_args(model: str, test: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "predict",
        "--task",
        "gsm8k",
        "--test",
        str(test),
        "--output",
        str(out),
        "--model",
        model,
        "--max-tokens",
        "24",
        "--cache",
        str(cache),
        "--workers",
        "1",
        *extra,
    ]


def test_predict_samples_on_a_tiny_model(tiny_setup, tmp_path):
    model, test = tiny_setup
    cache = tmp_path / "cache.sqlite"
    greedy_out = tmp_path / "greedy.parquet"
    assert main(_predict_args(model, test, greedy_out, cache)) == 0
    greedy = pl.read_parquet(greedy_out)
    assert not set(SAMPLE_COLUMNS) & set(greedy.columns)  # samples: 1, the table as before

    out = tmp_path / "predictions.parquet"
    stats = tmp_path / "stats.json"
    sampled = ["--samples", "4", "--temperature", "0.8", "--stats", str(stats)]
    assert main(_predict_args(model, test, out, cache, *sampled)) == 0
    frame = pl.read_parquet(out)
    assert frame.columns[: len(greedy.columns)] == greedy.columns
    assert frame.columns[len(greedy.columns) :] == SAMPLE_COLUMNS
    # the greedy part is the greedy run's, byte for byte
    assert frame.select(greedy.columns).equals(greedy)
    assert all(len(s) == 4 for s in frame["samples"].to_list())
    assert frame["samples_correct"].list.len().to_list() == [4] * 4
    flat = [c for row in frame["samples"].to_list() for c in row]
    assert len(set(flat)) > 1  # sampled at temperature 0.8, not greedy
    correct = frame["samples_correct"].to_list()
    # How many samples the tiny model gets right varies with the machine (CPU float order),
    # so the grading of real samples is checked against golds made from them: graded against
    # its own first sample's answer, a problem's first sample must count right and its maj@1
    # follows, whatever the model said.
    first_answer = [row[0] for row in frame["samples_extracted"].to_list()]
    answered = [a is not None and a != "" for a in first_answer]
    assert any(answered), flat
    own = frame.filter(pl.Series(answered)).with_columns(
        pl.Series("gold", [a for a, ok in zip(first_answer, answered, strict=True) if ok])
    )
    regraded = grade_frame(own, "gsm8k")
    assert all(row[0] for row in regraded["samples_correct"].to_list())
    assert compute_metrics(regraded)["maj@k"]["1"]["value"] == 100.0

    m = json.loads(stats.read_text())
    assert m["samples"]["n"] == 4 and m["samples"]["temperature"] == 0.8
    metrics = compute_metrics(frame)
    p = {k: v["value"] for k, v in metrics["pass@k"].items()}
    assert p["1"] <= p["2"] <= p["4"]
    assert p["1"] == round(100 * sum(map(sum, correct)) / 16, 2)
    assert p["4"] == round(100 * sum(any(c) for c in correct) / 4, 2)
    first = [c[0] for c in correct]
    assert metrics["maj@k"]["1"]["value"] == round(100 * sum(first) / 4, 2)
    assert m["pass@4"] == p["4"] and m["maj@4"] == metrics["maj@k"]["4"]["value"]
    # the cache holds one greedy completion and 4 samples per problem
    from lema.models import ResponseCache

    with ResponseCache(cache) as store:
        assert len(store) == 4 + 16

    # a rerun is served by the cache alone: in a process where torch cannot even be
    # imported (the hf backend needs it to decode), with the rule's --spec path
    spec = {
        "name": "tiny",
        "backend": "hf",
        "model": model,
        "chat": False,
        "batch_size": 16,
        "samples": {"n": 4, "temperature": 0.8, "top_p": 1.0, "seed": 0},
    }
    again = tmp_path / "again.parquet"
    args = _predict_args(model, test, again, cache)
    args[args.index("--model") : args.index("--model") + 2] = ["--spec", json.dumps(spec)]
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from lema.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pass@4" in proc.stdout
    assert pl.read_parquet(again).equals(frame)
    with ResponseCache(cache) as store:
        assert len(store) == 4 + 16
    # the control: the same process with an empty cache has to decode, and cannot
    empty = str(tmp_path / "empty.sqlite")
    blocked = code.replace(repr(str(cache)), repr(empty))
    assert blocked != code
    proc = subprocess.run(
        [sys.executable, "-c", blocked], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode != 0 and "import of torch halted" in proc.stderr, proc.stderr[-3000:]


def test_predict_samples_through_an_openai_compatible_server(openai_server, tmp_path, capsys):
    """The samples of a problem are one request with n = 4 at the samples' temperature and
    seed; the greedy request stays temperature 0; a rerun sends nothing."""
    test = tmp_path / "test.parquet"
    pl.DataFrame(
        {"id": ["a", "b"], "question": ["What is 2 + 3?", "What is 1 + 1?"], "gold": ["5", "2"]}
    ).write_parquet(test)
    bodies: list[dict] = []

    def answer(body, index):
        bodies.append(body)
        if body["temperature"] == 0:
            return "The answer is 5."  # greedy: right on a, wrong on b
        return f"The answer is {[5, 2, 7, 7][index]}."

    server = openai_server(answer=answer)
    args = [
        "predict",
        "--task",
        "gsm8k",
        "--test",
        str(test),
        "--output",
        str(tmp_path / "p.parquet"),
        "--backend",
        "openai",
        "--base-url",
        server.url,
        "--model",
        "served",
        "--cache",
        str(tmp_path / "cache.sqlite"),
        "--workers",
        "1",
        "--samples",
        "4",
        "--temperature",
        "0.9",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    sampled = [b for b in bodies if b["temperature"] != 0]
    assert len(sampled) == 8  # answer() runs once per choice
    assert {(b["n"], b["temperature"], b.get("seed")) for b in sampled} == {(4, 0.9, 3)}
    assert len(server.answered) == 2 and set(server.answered.values()) == {2}  # greedy + samples
    frame = pl.read_parquet(tmp_path / "p.parquet")
    assert frame["correct"].to_list() == [True, False]
    assert frame["samples_correct"].to_list() == [
        [True, False, False, False],
        [False, True, False, False],
    ]
    m = compute_metrics(frame)
    # a: 5 | 2 7 7 -> 7 wins; b: 5 2 7 7 -> 7 wins (2 votes) over 5 and 2
    assert m["maj@k"]["4"]["value"] == 0.0 and m["maj@k"]["1"]["value"] == 50.0
    assert m["pass@k"]["4"]["value"] == 100.0 and m["pass@k"]["1"]["value"] == 25.0
    sent = len(bodies)
    assert main(args) == 0
    assert len(bodies) == sent
    capsys.readouterr()
    assert main([*args[: args.index("--samples")], "--temperature", "0.9"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--temperature set(s) the samples; pass --samples N" in err[0]
