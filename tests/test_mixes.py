"""The training mixes beyond `cot` and `lema`: `cot_matched` from augmented CoT (distinct rows
when augmentation suffices, repeats counted and explained when it does not), the ablations
(`lema_no_explanation`, `lema_no_evolution`) and the data-size curve (`cot_nN`, `lema_nN`).

The end-to-end test runs `lema cot`, `lema mix-pool`, `lema cot-augment` and `lema mix` with a
real local OpenAI-compatible server as the corrector (tests/openai_server.py), and checks that
a rerun of the augmentation pays for nothing (every completion comes from the response cache).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from lema.cli import main as lema
from lema.datagen.cot import augment_count
from lema.datagen.mixes import build_mix, mix_notes
from lema.formats import correction_completion, correction_prompt, cot_prompt
from lema.io import write_json
from lema.tables import CORRECTION_SCHEMA, COT_SCHEMA, POOL_SCHEMA, make_frame, write_table
from lema.workflow.paths import size_mix, size_of_mix


def _pool(n_cot: int, n_corr: int, n_evolved: int = 0) -> pl.DataFrame:
    rows = [
        {"id": f"q{i}:gold", "task": "gsm8k", "kind": "cot", "source": "gold",
         "question_id": f"q{i}", "question": f"What is {i} plus {i}?",
         "prompt": cot_prompt(f"What is {i} plus {i}?"),
         "completion": f"Step 1: {i} + {i} = {2 * i}.\nThe answer is {2 * i}."}
        for i in range(n_cot)
    ]  # fmt: skip
    for j in range(n_corr + n_evolved):
        evolved = j >= n_corr
        q = f"e{j}" if evolved else f"q{j % max(n_cot, 1)}"
        rows.append(
            {
                "id": f"{q}:path{j}:corr",
                "task": "gsm8k",
                "kind": "correction",
                "source": ("evolved:" if evolved else "") + "gen-a",
                "question_id": q,
                "question": f"Question {q}?",
                "prompt": correction_prompt(f"Question {q}?", "Step 1: 1 + 1 = 3.\nThe answer: 3."),
                "completion": correction_completion(
                    "Step 1",
                    f"1 + 1 is 2, not 3 (row {j}).\nThe sum was misread.",
                    "Step 1: 1 + 1 = 2.\nThe answer is 2.",
                ),
            }
        )
    return make_frame(rows, POOL_SCHEMA)


def _augmented(pool: pl.DataFrame, per_question: int, *, dropped: int = 1) -> pl.DataFrame:
    """A cot-augment table: ``per_question`` kept paths per pool question (samples 1, 2, …)
    and ``dropped`` wrong ones, plus kept rows of a question outside the pool (a contaminated
    one: never to be drawn)."""
    rows = []
    qids = sorted(set(pool.filter(pl.col("kind") == "cot")["question_id"])) + ["q_contaminated"]
    for q in qids:
        for j in range(1, per_question + dropped + 1):
            kept = j <= per_question
            rows.append(
                {"cot_id": f"{q}:augment:{j}", "question_id": q, "task": "gsm8k",
                 "question": f"Question {q}?", "gold": "2", "source": "augment", "raw": "r",
                 "kept": kept, "reason": None if kept else "wrong_answer",
                 "prompt": cot_prompt(f"Question {q}?") if kept else None,
                 "completion": f"Step 1: way {j} for {q}.\nThe answer is 2." if kept else None}
            )  # fmt: skip
    return make_frame(rows, COT_SCHEMA)


# ------------------------------------------------------------------------- cot_matched
def test_cot_matched_is_distinct_when_augmentation_suffices(tmp_path: Path) -> None:
    pool = _pool(4, 6)
    augmented = _augmented(pool, per_question=3)
    matched = build_mix(pool, "cot_matched", 42, augmented)
    assert len(matched) == pool.height == 10
    ids = Counter(r["id"] for r in matched)
    assert max(ids.values()) == 1  # no row repeats
    assert {r["kind"] for r in matched} == {"cot"}
    cot_ids = set(pool.filter(pl.col("kind") == "cot")["id"])
    assert cot_ids <= set(ids)  # every CoT row of the pool, then augmented ones
    gained = Counter(r["question_id"] for r in matched if r["source"] == "augment")
    assert sorted(gained.values()) == [1, 1, 2, 2]  # spread over the questions
    assert "q_contaminated" not in {r["question_id"] for r in matched}
    # the augmented rows drawn are the questions' first samples (round robin, sample order)
    for r in matched:
        if r["source"] == "augment":
            assert r["id"].rsplit(":", 1)[1] in ("1", "2")
    assert build_mix(pool, "cot_matched", 42, augmented) == matched  # seeded
    stats = tmp_path / "augmented.stats.json"
    write_json(stats, {"kept": 12, "deficit": 6, "paths_per_question": 4})
    notes = mix_notes(matched, "cot_matched", pool, stats)
    assert notes["repeated_rows"] == 0 and notes["augmented_rows"] == 6
    assert notes["target_rows"] == 10 and "repeat_reason" not in notes


def test_cot_matched_repeats_and_says_why_when_augmentation_falls_short(tmp_path: Path) -> None:
    pool = _pool(3, 8)
    # the gold corrector: nothing augmented -> the old even repeats, byte for byte
    stats = tmp_path / "augmented.stats.json"
    write_json(stats, {"kept": 0, "skipped": "the gold corrector cannot write CoT paths"})
    empty = make_frame([], COT_SCHEMA)
    matched = build_mix(pool, "cot_matched", 42, empty)
    assert matched == build_mix(pool, "cot_matched", 42)  # as with no augmentation table
    counts = Counter(r["id"] for r in matched)
    assert len(matched) == 11 and len(counts) == 3
    assert max(counts.values()) - min(counts.values()) <= 1  # repeats spread evenly
    notes = mix_notes(matched, "cot_matched", pool, stats)
    assert notes["repeated_rows"] == 8
    assert notes["repeat_reason"] == (
        "CoT augmentation skipped: the gold corrector cannot write CoT paths"
    )
    # augmentation that supplies some rows: those first, then even repeats of all distinct
    augmented = _augmented(pool, per_question=1)
    write_json(stats, {"kept": 3, "deficit": 8, "paths_per_question": 2})
    matched = build_mix(pool, "cot_matched", 42, augmented)
    counts = Counter(r["id"] for r in matched)
    assert len(matched) == 11 and len(counts) == 6
    assert max(counts.values()) - min(counts.values()) <= 1
    notes = mix_notes(matched, "cot_matched", pool, stats)
    assert notes["repeated_rows"] == 5
    assert notes["repeat_reason"].startswith(
        "CoT augmentation kept 3 distinct paths of the 8 rows missing"
    )


def test_augment_count() -> None:
    # 9 rows missing over 4 questions at a keep rate of 0.5 -> ceil(4.5) + margin 1
    assert augment_count(9, 4, 0.5, margin=1, max_paths=32) == 6
    assert augment_count(9, 4, None, margin=0, max_paths=32) == 3  # not measured: rate 1
    assert augment_count(900, 4, 0.5, margin=1, max_paths=32) == 32  # capped
    assert augment_count(0, 4, 0.5, margin=1, max_paths=32) == 0  # nothing missing


# ------------------------------------------------------------------------- ablations
def test_lema_no_explanation_holds_no_explanation() -> None:
    pool = _pool(3, 5)
    lema_rows = {r["id"]: r for r in build_mix(pool, "lema", 42)}
    rows = build_mix(pool, "lema_no_explanation", 42)
    assert {r["id"] for r in rows} == set(lema_rows)  # the same rows
    for r in rows:
        full = lema_rows[r["id"]]
        assert r["prompt"] == full["prompt"]
        if r["kind"] == "cot":
            assert r["completion"] == full["completion"]
            continue
        assert "Explanation" not in r["completion"] and "misread" not in r["completion"]
        assert "Explanation: " in full["completion"]
        assert r["completion"] == "Incorrect step: Step 1\nCorrect solution:\n" + (
            "Step 1: 1 + 1 = 2.\nThe answer is 2."
        )
    assert mix_notes(rows, "lema_no_explanation", pool, None)["explanations_removed"] == 5


def test_lema_no_evolution_holds_no_evolved_question() -> None:
    pool = _pool(3, 4, n_evolved=5)
    rows = build_mix(pool, "lema_no_evolution", 42)
    lema_rows = build_mix(pool, "lema", 42)
    assert len(lema_rows) == 12 and len(rows) == 7
    assert not any(r["source"].startswith("evolved:") for r in rows)
    assert not any(r["question_id"].startswith("e") for r in rows)
    expected = {r["id"] for r in lema_rows if not r["source"].startswith("evolved:")}
    assert {r["id"] for r in rows} == expected
    notes = mix_notes(rows, "lema_no_evolution", pool, None)
    assert notes["evolved_corrections_removed"] == 5


# ------------------------------------------------------------------------- size curve
def test_size_curve_mixes_are_nested_and_of_the_stated_sizes() -> None:
    pool = _pool(6, 10)
    assert size_mix("lema", 4) == "lema_n4" and size_of_mix("lema_n4") == ("lema", 4)
    assert size_of_mix("lema") is None and size_of_mix("cot_n0") is None
    for base, available in (("cot", 6), ("lema", 16)):
        previous: set[str] = set()
        full = {r["id"] for r in build_mix(pool, base, 42)}
        for n in (2, 5, 12, 40):
            rows = build_mix(pool, size_mix(base, n), 42)
            ids = {r["id"] for r in rows}
            assert len(rows) == len(ids) == min(n, available)
            assert previous <= ids <= full  # nested, drawn from the mix itself
            previous = ids
            notes = mix_notes(rows, size_mix(base, n), pool, None)
            assert notes["requested_rows"] == n and notes["available_rows"] == available
            assert ("size_note" in notes) == (n > available)
    assert build_mix(pool, "lema_n5", 42) == build_mix(pool, "lema_n5", 42)
    assert build_mix(pool, "lema_n5", 43) != build_mix(pool, "lema_n5", 42)


# ------------------------------------------------------------------------- end to end
def _paths_answer() -> Any:
    """A corrector for CoT prompts: sample i of a question (the request's seed, which lema
    sets to the first sample asked for, plus the choice index) is its own path (distinct
    text); every fifth reaches a wrong answer, every seventh repeats sample 1."""
    from tests.gen_fakes import _gold_steps, _last_block, _wrong, load_gold
    from tests.openai_server import request_text

    gold = load_gold(limit=10)

    def answer(body: dict[str, Any], choice: int) -> str:
        index = int(body.get("seed") or 0) + choice
        text = request_text(body)
        question = _last_block(text, "Question:", "\nAnswer: Let's solve it step by step.") or ""
        item = gold.get(question.strip())
        if item is None:
            return "Step 1: I am not sure.\nThe answer is 0."
        steps = "\n".join(f"Step {i + 2}: {s}" for i, s in enumerate(_gold_steps(item)))
        ans = _wrong(item["answer"]) if index % 5 == 4 else item["answer"]
        k = 1 if index % 7 == 6 else index
        return f"Step 1: Approach {k}: read the question again.\n{steps}\nThe answer is {ans}."

    return answer


def _corrections(questions: pl.DataFrame, n: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        q = questions.row(i % questions.height, named=True)
        rows.append(
            {"correction_id": f"{q['id']}:p{i}:c", "path_id": f"{q['id']}:p{i}",
             "question_id": q["id"], "task": "gsm8k", "question": q["question"],
             "gold": q["gold"], "generator": "gen-a", "corrector": "c", "path": "x", "raw": "x",
             "incorrect_step": "Step 1", "step_index": 1, "explanation": "e",
             "corrected": "c", "final_answer": q["gold"], "kept": True, "reason": None,
             "prompt": correction_prompt(q["question"], f"wrong path {i}"),
             "completion": correction_completion("Step 1", "e", f"Step 1: ok.\nThe answer is {q['gold']}.")}  # noqa: E501
        )  # fmt: skip
    return rows


def test_augmented_cot_matched_end_to_end_through_a_served_corrector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.openai_server import OpenAIServer

    monkeypatch.setenv("LEMA_TEST_KEY", "sk-test-not-a-secret")
    raw, test = tmp_path / "train.parquet", tmp_path / "test.parquet"
    assert lema(["data", "--task", "gsm8k", "--split", "train", "--source", "embedded",
                 "--limit", "6", "--out", str(raw)]) == 0  # fmt: skip
    assert lema(["data", "--task", "gsm8k", "--split", "test", "--source", "embedded",
                 "--limit", "5", "--out", str(test)]) == 0  # fmt: skip
    questions = pl.read_parquet(raw)
    corrections = tmp_path / "corrections" / "gen-a.parquet"
    write_table(corrections, _corrections(questions, 20), CORRECTION_SCHEMA)
    cot, pool = tmp_path / "cot.parquet", tmp_path / "pool.parquet"
    augmented, matched = tmp_path / "augmented.parquet", tmp_path / "cot_matched.jsonl"
    with OpenAIServer(answer=_paths_answer()) as server:
        spec = json.dumps(
            {"name": "corr", "backend": "openai", "model": "fake-corrector",
             "base_url": server.url, "api_key_env": "LEMA_TEST_KEY"}
        )  # fmt: skip
        common = ["--spec", spec, "--cache", str(tmp_path / "cache.sqlite"), "--seed", "0"]
        assert lema(["cot", "--task", "gsm8k", "--questions", str(raw), "--n", "1", *common,
                     "--output", str(cot)]) == 0  # fmt: skip
        assert lema(["mix-pool", "--task", "gsm8k", "--cot", str(cot), "--corrections",
                     str(corrections), "--tests", str(test),
                     "--output", str(pool)]) == 0  # fmt: skip
        answered_after_cot = sum(server.answered.values())
        choices_after_cot = sum(server.choices_served.values())
        augment = ["cot-augment", "--task", "gsm8k", "--cot", str(cot), "--pool", str(pool),
                   "--base-n", "1", "--paths", "auto", "--margin", "1", *common,
                   "--output", str(augmented)]  # fmt: skip
        assert lema(augment) == 0
        paid = sum(server.answered.values()) - answered_after_cot
        choices = sum(server.choices_served.values()) - choices_after_cot
        stats = json.loads((tmp_path / "augmented.stats.json").read_text())
        # a rerun (a rebuild of the table) comes wholly from the response cache
        before = augmented.read_bytes()
        assert lema(augment) == 0
        assert sum(server.answered.values()) - answered_after_cot == paid
        assert augmented.read_bytes() == before
    pool_frame = pl.read_parquet(pool)
    n_cot = pool_frame.filter(pl.col("kind") == "cot").height
    assert stats["target_rows"] == pool_frame.height == n_cot + 20
    assert stats["deficit"] == 20 and stats["questions"] == 6
    per_q = stats["paths_per_question"]
    assert per_q >= 20 / 6 and stats["in"] == 6 * per_q  # only the new samples are graded
    assert paid == 6  # one request per question for its new samples, none for sample 0
    assert choices == 6 * per_q
    assert stats["dropped"].get("wrong_answer", 0) > 0
    aug = pl.read_parquet(augmented)
    assert set(aug["source"]) == {"augment"}
    assert min(int(i.rsplit(":", 1)[1]) for i in aug["cot_id"]) == 1  # after the CoT stage's
    assert lema(["mix", "--task", "gsm8k", "--pool", str(pool), "--mix", "cot_matched",
                 "--augmented", str(augmented), "--output", str(matched)]) == 0  # fmt: skip
    rows = [json.loads(line) for line in matched.read_text().splitlines()]
    assert len(rows) == pool_frame.height
    texts = Counter((r["question_id"], r["completion"]) for r in rows)
    assert max(Counter(r["id"] for r in rows).values()) == 1 and max(texts.values()) == 1
    mstats = json.loads((tmp_path / "cot_matched.stats.json").read_text())
    assert mstats["repeated_rows"] == 0 and mstats["distinct_rows"] == len(rows)


@pytest.mark.parametrize("mix", ["lema_no_explanation", "lema_no_evolution", "cot_n3", "lema_n7"])
def test_lema_mix_writes_the_new_mixes(tmp_path: Path, mix: str) -> None:
    pool = tmp_path / "pool.parquet"
    write_table(pool, _pool(4, 6, n_evolved=2).to_dicts(), POOL_SCHEMA)
    out = tmp_path / f"{mix}.jsonl"
    assert lema(["mix", "--task", "gsm8k", "--pool", str(pool), "--mix", mix,
                 "--output", str(out)]) == 0  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    stats = json.loads((tmp_path / f"{mix}.stats.json").read_text())
    assert stats["kept"] == len(rows) == {"lema_no_explanation": 12, "lema_no_evolution": 10,
                                          "cot_n3": 3, "lema_n7": 7}[mix]  # fmt: skip
    assert lema(["mix", "--task", "gsm8k", "--pool", str(pool), "--mix", "lema_x",
                 "--output", str(out)]) == 1  # fmt: skip


# ------------------------------------------------------------------------- summary and plot
def _metrics(root: Path, task: str, backbone: str, mix: str, right: list[bool]) -> Path:
    """Grade hand-made GSM8K answers (right where ``right`` says) as `lema eval` does, into
    the folder the workflow uses; returns metrics.json (predictions.parquet beside it)."""
    from lema.evaluation.metrics import evaluate_file

    folder = root / task / "eval" / backbone / mix
    folder.mkdir(parents=True)
    source = folder / "input.parquet"
    pl.DataFrame(
        {
            "id": [f"p{i}" for i in range(len(right))],
            "completion": [
                f"The answer is {i + 1 if ok else i + 900}." for i, ok in enumerate(right)
            ],
            "gold": [str(i + 1) for i in range(len(right))],
        }
    ).write_parquet(source)
    evaluate_file(
        source,
        task,
        output=folder / "metrics.json",
        graded_output=folder / "predictions.parquet",
        workers=1,
        meta={"backbone": backbone, "mix": mix, "model": "tiny"},
    )
    source.unlink()
    return folder / "metrics.json"


def test_summary_shows_each_ablation_beside_lema_with_its_delta(tmp_path: Path) -> None:
    from lema.evaluation.summary import build_summary, to_html, to_markdown

    n = 40
    files = [
        _metrics(tmp_path, "gsm8k", "bb", "lema", [i < 30 for i in range(n)]),
        _metrics(tmp_path, "gsm8k", "bb", "cot", [i < 20 for i in range(n)]),
        _metrics(tmp_path, "gsm8k", "bb", "lema_no_explanation", [i < 24 for i in range(n)]),
        _metrics(tmp_path, "gsm8k", "bb", "lema_no_evolution", [i < 30 for i in range(n)]),
        _metrics(tmp_path, "gsm8k", "bb", "lema_n1000", [i < 18 for i in range(n)]),
        _metrics(tmp_path, "gsm8k", "bb", "lema_n200", [i < 10 for i in range(n)]),
    ]
    frame = build_summary(files)
    assert frame["mix"].to_list() == [
        "cot",
        "lema",
        "lema_no_explanation",
        "lema_no_evolution",
        "lema_n200",
        "lema_n1000",
    ]  # fmt: skip  (each ablation right after lema; the size curve in size order)
    rows = {r["mix"]: r for r in frame.iter_rows(named=True)}
    no_expl = rows["lema_no_explanation"]
    assert no_expl["minus_lema"] == -15.0  # 60.0 - 75.0
    assert no_expl["minus_lema_ci95_lo"] < -15.0 < no_expl["minus_lema_ci95_hi"]
    assert no_expl["minus_lema_p"] == pytest.approx(2 / 2**6)  # 6 discordant, all one way
    assert rows["lema_no_evolution"]["minus_lema"] == 0.0
    assert rows["lema_no_evolution"]["minus_lema_p"] == 1.0
    assert rows["lema"]["minus_lema"] is None and rows["lema_n200"]["minus_lema"] is None
    assert rows["lema"]["lema_minus_cot"] == 25.0  # the existing deltas unchanged
    md = to_markdown(frame)
    assert "Ablation − LeMa (pp)" in md and "-15.0 [" in md
    assert "<code>lema_no_explanation</code>" in to_html(frame)


def test_size_curve_plot(tmp_path: Path) -> None:
    from PIL import Image

    from lema.evaluation.plot import curve_points

    n = 20
    files = []
    for backbone in ("bb-a", "bb-b"):
        for mix, k in (("cot_n5", 4), ("cot_n10", 6), ("cot", 8), ("lema_n5", 5),
                       ("lema_n10", 9), ("lema", 12), ("cot_matched", 10)):  # fmt: skip
            files.append(_metrics(tmp_path, "gsm8k", backbone, mix, [i < k for i in range(n)]))
    stats = []
    for mix, rows in (("cot_n5", 5), ("cot_n10", 10), ("cot", 14), ("lema_n5", 5),
                      ("lema_n10", 10), ("lema", 30)):  # fmt: skip
        stats.append(tmp_path / f"{mix}.stats.json")
        write_json(stats[-1], {"stage": "mix", "task": "gsm8k", "mix": mix, "kept": rows})
    metrics = [json.loads(f.read_text()) for f in files]
    points = curve_points(metrics, {("gsm8k", "cot"): 14, ("gsm8k", "lema"): 30})
    assert [x for x, _ in points[("gsm8k", "bb-a", "lema")]] == [5, 10, 30]
    assert [m["mix"] for _, m in points[("gsm8k", "bb-b", "cot")]] == ["cot_n5", "cot_n10", "cot"]
    assert ("gsm8k", "bb-a", "cot_matched") not in points
    # without the mixes' stats the full mixes have no size: only the size mixes are drawn
    assert [x for x, _ in curve_points(metrics, {})[("gsm8k", "bb-a", "cot")]] == [5, 10]
    out = tmp_path / "plots"
    args = ["--accuracy", str(out / "accuracy.png"), "--size-curve", str(out / "size_curve.png")]
    assert lema(["plot", *map(str, files), *map(str, stats), *args]) == 0
    with Image.open(out / "size_curve.png") as img:
        assert img.format == "PNG" and img.size[0] > 600


def test_cot_tables_written_before_the_choices_column_still_read(tmp_path: Path) -> None:
    """A cot.parquet / augmented.parquet of an earlier version (no `choices`: multiple-choice
    tasks came later) feeds `lema mix` and `lema cot-augment` as before; not rebuilt, since
    no param changed."""
    from lema.tables import CHOICES

    pool = _pool(n_cot=4, n_corr=6)
    pool_file, old = tmp_path / "pool.parquet", tmp_path / "augmented.parquet"
    pool.write_parquet(pool_file)
    _augmented(pool, per_question=2).drop(CHOICES).write_parquet(old)
    out = tmp_path / "cot_matched.jsonl"
    assert lema(["mix", "--task", "gsm8k", "--pool", str(pool_file), "--mix", "cot_matched",
                 "--seed", "42", "--augmented", str(old), "--output", str(out)]) == 0  # fmt: skip
    assert len(out.read_text().splitlines()) == pool.height
    cot = tmp_path / "cot.parquet"
    _augmented(pool, per_question=1).drop(CHOICES).write_parquet(cot)
    spec = json.dumps({"name": "gold", "backend": "gold"})
    augmented = tmp_path / "new_augmented.parquet"
    assert lema(["cot-augment", "--task", "gsm8k", "--cot", str(cot), "--pool", str(pool_file),
                 "--spec", spec, "--output", str(augmented)]) == 0  # fmt: skip
    assert pl.read_parquet(augmented).height == 0  # the gold corrector writes no paths
