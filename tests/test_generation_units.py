"""Unit tests of the data-generation stages: correction parsing, the gold corrector on real
GSM8K and MATH items, mistakes selection, evolution parsing and voting, CoT formatting,
contamination checks, mix building and the funnel table."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

# EMBEDDED ships with lema; SHARED is the full data, for tests marked @pytest.mark.shared
from datafiles import EMBEDDED, SHARED

from lema.datagen.correction import judge, parse_correction, training_row
from lema.datagen.cot import gold_cot, to_step_format
from lema.datagen.evolve import majority_answer, parse_question
from lema.datagen.funnel import Funnel
from lema.datagen.gold_corrector import (
    first_wrong_step,
    gold_correction,
    gsm8k_gold_steps,
    math_gold_steps,
    numbers,
    unbox,
)
from lema.datagen.mixes import ContaminationIndex, build_mix, build_pool
from lema.datagen.prompts import load_prompt, prompt_path, render
from lema.datagen.sampling import select_mistakes
from lema.datagen.text import clean_path
from lema.formats import cot_completion
from lema.grading import equivalent, gold_answer, grade
from lema.tables import PATH_SCHEMA


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open() if line.strip()]


# ---------------------------------------------------------------------------- prompts
@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("correct_gsm8k.txt", ("question", "path")),
        ("correct_math.txt", ("question", "path")),
        ("sample_gsm8k.txt", ("question",)),
        ("sample_math.txt", ("question",)),
        ("cot_gsm8k.txt", ("question",)),
        ("cot_math.txt", ("question",)),
        ("evolve_gsm8k.txt", ("question", "mistake")),
        ("evolve_math.txt", ("question", "mistake")),
    ],
)
def test_prompts_have_their_placeholders(name: str, keys: tuple[str, ...]) -> None:
    text = load_prompt(name, keys)
    filled = render(text, **{k: "XYZ" for k in keys})
    assert "XYZ" in filled and not any("{" + k + "}" in filled for k in keys)


@pytest.mark.shared
@pytest.mark.parametrize("task", ["gsm8k", "math"])
def test_correction_prompt_examples_parse_and_are_right(task: str) -> None:
    """Each of the 4 few-shot corrections parses with our own parser and reaches the answer
    of the training problem it corrects (which is a real training problem)."""
    text = prompt_path(f"correct_{task}.txt").read_text()
    blocks = text.split("\nQuestion: ")[1:-1]
    assert len(blocks) == 4
    train = {
        (r.get("question") or r.get("problem")).strip(): r
        for r in _jsonl(SHARED / task / "train.jsonl")
    }
    for block in blocks:
        question, rest = block.split("\nIncorrect Solution:\n", 1)
        wrong, correction = rest.split("\nCorrection:\n", 1)
        row = train[question.strip()]
        gold = (
            row["answer"].split("####")[-1].strip()
            if task == "gsm8k"
            else gold_answer(row["solution"], "math")
        )
        assert not grade(wrong, gold, task), "the few-shot wrong solution must be wrong"
        parsed = parse_correction(correction, task)
        assert judge(parsed, gold, task) == (True, None), parsed


def test_prompt_path_accepts_a_user_file(tmp_path: Path) -> None:
    own = tmp_path / "mine.txt"
    own.write_text("Q: {question}\nWrong: {path}\n")
    assert prompt_path(str(own)) == own
    with pytest.raises(Exception, match="no such file"):
        prompt_path("nope.txt")
    (tmp_path / "bad.txt").write_text("no placeholders")
    with pytest.raises(Exception, match="placeholder"):
        load_prompt(str(tmp_path / "bad.txt"), ("question", "path"))


# ---------------------------------------------------------------------------- parsing
BODY = "Step 2: 50 + 15 + 30 = 95.\nStep 3: 100 - 95 = 5.\nThe answer is 5."
MESSY = {
    "plain": (
        f"Incorrect Step: Step 2.\nExplanation: The sum is wrong.\nCorrect Solution:\n{BODY}",
        None,
    ),
    "bold_chatter": (
        f"Sure! Let me check.\n\n**Incorrect Step:** Step 2\n\n**Explanation:** The sum is wrong.\n\n"  # noqa: E501
        f"**Correct Solution:**\n{BODY}\n\nI hope this helps!",
        None,
    ),
    "headings": (
        f"## Incorrect Step: 2\n## Explanation:\nThe sum is wrong.\n## Corrected Solution:\n{BODY}",
        None,
    ),
    "lower_case": (
        f"incorrect step: step 2\nexplanation: the sum is wrong.\ncorrect solution:\n{BODY}",
        None,
    ),
    "inline_bold": (
        "**Incorrect Step:** Step 2. **Explanation:** the sum is wrong. **Correct Solution:** "
        "Step 2: 50 + 15 + 30 = 95. Step 3: 100 - 95 = 5. The answer is 5.",
        None,
    ),
    "numbered_list": (
        "1. **Incorrect step**: Step 2: She adds 50 + 15 + 30 = 85\n2. **Explanation**: The sum is 95.\n"  # noqa: E501
        "3. **Corrected solution (from Step 2)**:\n   Step 2: 50 + 15 + 30 = 95\n   Step 3: 100 - 95 = 5\n   The answer is $5.",  # noqa: E501
        None,
    ),
    "final_answer_label": (
        "Incorrect Step: Step 2\nExplanation: wrong sum\nCorrected Solution:\nStep 2: 95\nStep 3: 100 - 95 = 5\n**Final Answer:** 5",  # noqa: E501
        None,
    ),
    "step_from_solution": (
        "Explanation: wrong sum.\nCorrect Solution:\nStep 2: 95.\nThe answer is 5.",
        None,
    ),
    "code_fence": (
        f"```\nIncorrect Step: Step 2.\nExplanation: The sum is wrong.\nCorrect Solution:\n{BODY}\n```",  # noqa: E501
        None,
    ),
    "next_question": (
        f"Incorrect Step: Step 2.\nExplanation: e.\nCorrect Solution:\n{BODY}\n\nQuestion: Next?\nIncorrect Solution:\nThe answer is 7.",  # noqa: E501
        None,
    ),
    "boxed": (
        "Incorrect Step: Step 2\nExplanation: e\nCorrect Solution:\nStep 2: so it is $\\boxed{5}$.",
        None,
    ),
    "empty": ("  \n ", "empty"),
    "refused": ("I'm sorry, but I can't help with that.", "refused"),
    "garbage": ("blah blah 5 things", "unparseable"),
    "no_error": (
        "Incorrect Step: None. The solution is correct.\nExplanation: all fine",
        "no_error_found",
    ),
    "missing_explanation": (
        "Incorrect Step: Step 2.\nCorrect Solution:\nStep 2: 95\nThe answer is 5.",
        "missing_explanation",
    ),
    "no_final_answer": (
        "Incorrect Step: Step 2.\nExplanation: x\nCorrect Solution:\nStep 2: think again.",
        "no_final_answer",
    ),
    "wrong_answer": (
        "Incorrect Step: Step 1\nExplanation: e\nCorrect Solution:\nStep 1: 2+2=4\nThe answer is 4.",  # noqa: E501
        "wrong_answer",
    ),
}


@pytest.mark.parametrize("case", sorted(MESSY))
def test_parse_messy_corrections(case: str) -> None:
    raw, reason = MESSY[case]
    parsed = parse_correction(raw, "gsm8k")
    kept, why = judge(parsed, "5", "gsm8k")
    assert why == reason, parsed
    assert kept == (reason is None)
    if kept:
        assert (
            parsed.step_index is not None and parsed.incorrect_step == f"Step {parsed.step_index}"
        )
        assert parsed.explanation and "**" not in parsed.explanation
        assert parsed.corrected.rstrip().endswith(("5.", "5", "$5.", "}$."))
        assert "hope this helps" not in parsed.corrected and "Question:" not in parsed.corrected
        prompt, completion = training_row("Q?", "Step 1: x\nThe answer is 3.", parsed)
        assert prompt.startswith("Question: Q?") and completion.startswith("Incorrect step: Step ")
        assert grade(completion, "5", "gsm8k")


def test_parse_math_correction() -> None:
    raw = (
        "**Incorrect Step:** Step 2.\n**Explanation:** Without replacement only 7 marbles remain.\n"
        "**Correct Solution:**\nStep 2: The probability is $\\frac{5}{7}$.\n"
        "Step 3: So $\\frac{3}{8}\\cdot\\frac{5}{7} = \\frac{15}{56}$.\nThe answer is $\\frac{15}{56}$."  # noqa: E501
    )
    parsed = parse_correction(raw, "math")
    assert judge(parsed, "\\frac{15}{56}", "math") == (True, None)
    assert judge(parsed, "\\frac{15}{64}", "math") == (False, "wrong_answer")


# ---------------------------------------------------------------------------- gold corrector
def _perturbed_gsm8k(rows: list[dict], rng: random.Random):
    for r in rows:
        sol = r["answer"]
        ans = sol.split("####")[-1].strip().replace(",", "")
        steps = gsm8k_gold_steps(sol)
        if len(steps) < 2:
            continue
        j = rng.randrange(len(steps))
        nums = list(re.finditer(r"\d+(?:\.\d+)?", steps[j]))
        if not nums:
            continue
        m = nums[-1]
        bad = str(int(float(m.group())) + 7)
        wrong = [*steps[:j], steps[j][: m.start()] + bad + steps[j][m.end() :], *steps[j + 1 :]]
        final = bad if j == len(steps) - 1 else str(int(float(ans)) + 3)
        yield r, ans, j, cot_completion(wrong, final)


@pytest.mark.shared
def test_gold_corrector_gsm8k_real_items() -> None:
    rows = _jsonl(SHARED / "gsm8k" / "train.jsonl")
    rng = random.Random(0)
    sample = rng.sample(rows, 300)
    located = total = 0
    for r, ans, j, path in _perturbed_gsm8k(sample, rng):
        total += 1
        located += first_wrong_step(r["question"], r["answer"], ans, path, "gsm8k") == j
        raw = gold_correction(r["question"], r["answer"], ans, path, "gsm8k")
        parsed = parse_correction(raw, "gsm8k")
        assert judge(parsed, ans, "gsm8k") == (True, None), raw
        assert "<<" not in raw and "####" not in raw
    assert total > 250
    assert located / total > 0.9, f"first wrong step found in {located}/{total}"


def test_gold_corrector_gsm8k_example() -> None:
    r = _jsonl(EMBEDDED / "gsm8k" / "train.jsonl")[3]  # Julie's 120-page book
    path = (
        "Step 1: Today Julie read twice as many pages as yesterday, so she read 12 * 2 = 24 pages.\n"  # noqa: E501
        "Step 2: The number of pages left is 120 - 24 = 96.\n"
        "Step 3: Tomorrow she wants to read half of them, which is 96 / 2 = 48 pages.\nThe answer is 48."  # noqa: E501
    )
    raw = gold_correction(r["question"], r["answer"], "42", path, "gsm8k")
    parsed = parse_correction(raw, "gsm8k")
    assert parsed.step_index == 2 and "96" in parsed.explanation
    assert parsed.corrected.startswith("Step 2: So she was able to read a total of 12 + 24 = 36")
    assert parsed.final_answer == "42"


@pytest.mark.shared
def test_gold_corrector_math_real_items() -> None:
    rows = _jsonl(SHARED / "math" / "train.jsonl")
    rng = random.Random(1)
    sample = rng.sample(rows, 200)
    total = located = 0
    for r in sample:
        ans = gold_answer(r["solution"], "math")
        if ans is None:
            continue
        steps = math_gold_steps(r["solution"])
        j = rng.randrange(len(steps))
        nums = list(re.finditer(r"(?<![\\a-z])\d+", steps[j]))
        if not nums:
            continue
        m = rng.choice(nums)
        wrong = [
            *steps[:j],
            steps[j][: m.start()] + str(int(m.group()) + 13) + steps[j][m.end() :],
            *steps[j + 1 :],
        ]
        path = cot_completion(wrong[:-1] or wrong, "1234567")
        total += 1
        located += first_wrong_step(r["problem"], r["solution"], ans, path, "math") == j
        raw = gold_correction(r["problem"], r["solution"], ans, path, "math")
        parsed = parse_correction(raw, "math")
        assert judge(parsed, ans, "math") == (True, None), raw[-400:]
        assert "\\boxed" not in parsed.corrected
    assert total > 150
    assert located / total > 0.4  # a heuristic for free-form solutions


def test_gold_corrector_garbage_path_and_no_solution() -> None:
    r = _jsonl(EMBEDDED / "gsm8k" / "train.jsonl")[0]
    raw = gold_correction(r["question"], r["answer"], "72", "zx qv 93 ## blorp", "gsm8k")
    parsed = parse_correction(raw, "gsm8k")
    assert judge(parsed, "72", "gsm8k") == (True, None) and parsed.step_index == 1
    assert gold_correction("q", None, "1", "Step 1: x", "gsm8k") == ""


def test_helpers() -> None:
    assert (
        unbox("so $\\boxed{\\frac{1}{2}}$ and \\boxed{3}, \\boxed 4")
        == "so $\\frac{1}{2}$ and 3, 4"
    )
    assert set(numbers("1,200 and \\frac{3}{4} and 0.5")) >= {1200, 0.75, 0.5}
    steps = math_gold_steps(
        "Adding, we get\n\n$$2x=8\\Rightarrow x=4.$$Then $y=1$. Thus $\\boxed{(4,1)}$."
    )
    assert steps[-1].endswith("$(4,1)$.") and len(steps) >= 2
    assert (
        clean_path("Step 1: 2+2=4.\nThe answer is 4.\nQuestion: next\nAnswer: 5")
        == "Step 1: 2+2=4.\nThe answer is 4."
    )


# ---------------------------------------------------------------------------- mistakes
def test_select_mistakes_dedupes_caps_and_counts() -> None:
    def row(q: str, i: int, path: str, correct: bool, pred: str | None = "1") -> dict:
        return {
            "path_id": f"{q}:g:{i}", "question_id": q, "task": "gsm8k", "question": q, "solution": None,  # noqa: E501
            "gold": "9", "generator": "g", "sample": i, "completion": path, "path": path,
            "pred_answer": pred, "correct": correct,
        }  # fmt: skip

    rows = [
        row("a", 0, "Step 1: x\nThe answer is 1.", False),
        row("a", 1, "step 1:  X\nthe answer is 1.", False),  # duplicate after normalisation
        row("a", 2, "", False, None),  # empty
        row("a", 3, "The answer is 9.", True),
        row("b", 0, "garbage", False, None),  # no answer: kept
        row("b", 1, "other garbage", False, None),
        row("b", 2, "third", False, None),
    ]
    paths = pl.DataFrame(rows, schema=PATH_SCHEMA, orient="row")
    mistakes, funnel = select_mistakes(paths, max_per_question=2)
    d = funnel.as_dict()
    assert mistakes.height == d["kept"] == 3
    assert d["dropped"] == {"correct": 1, "duplicate": 1, "empty": 1, "over_cap": 1}
    assert d["in"] == paths.height == d["kept"] + sum(d["dropped"].values())
    assert d["no_answer_kept"] == 2
    assert not mistakes["correct"].any()


# ---------------------------------------------------------------------------- evolution
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("New Question: What is 12 + 30?", ("What is 12 + 30?", None)),
        (
            "Here you go.\n\n**New Question:** Tom has 3 apples. How many?\n\nAnswer: 3",
            ("Tom has 3 apples. How many?", None),
        ),
        (
            "new question:\nA train leaves at 3 pm. When does it arrive?\nSolution: Step 1: ...",
            ("A train leaves at 3 pm. When does it arrive?", None),
        ),
        (
            "Sara buys 4 pens for $2 each. How much does she pay?",
            ("Sara buys 4 pens for $2 each. How much does she pay?", None),
        ),
        ("", (None, "empty")),
        ("I'm sorry, I cannot do that.", (None, "refused")),
        ("ok", (None, "unparseable")),
    ],
)
def test_parse_question(raw: str, expected: tuple) -> None:
    assert parse_question(raw) == expected


def test_majority_answer() -> None:
    assert majority_answer(["5", "5.0", "6", None, "5"], "gsm8k")[:2] == ("5", 0.6)
    rep, share, idx = majority_answer(["\\frac{1}{2}", "0.5", "1/3"], "math")
    assert share == pytest.approx(2 / 3) and idx == 0 and equivalent(rep, "1/2", "math")
    assert majority_answer([None, None], "gsm8k") == (None, 0.0, -1)


# ---------------------------------------------------------------------------- CoT
def test_gold_cot_formats() -> None:
    g = _jsonl(EMBEDDED / "gsm8k" / "train.jsonl")[0]
    text = gold_cot(g["answer"], "72", "gsm8k")
    assert text == (
        "Step 1: Natalia sold 48/2 = 24 clips in May.\n"
        "Step 2: Natalia sold 48+24 = 72 clips altogether in April and May.\nThe answer is 72."
    )
    for r in _jsonl(EMBEDDED / "math" / "train.jsonl"):
        ans = gold_answer(r["solution"], "math")
        if ans is None:
            continue
        text = gold_cot(r["solution"], ans, "math")
        assert text.startswith("Step 1: ") and "\\boxed" not in text
        assert grade(text, ans, "math"), text[-200:]
    assert to_step_format("First add.\nThen 2+2=4.\nThe answer is 4.", "4") == (
        "Step 1: First add.\nStep 2: Then 2+2=4.\nThe answer is 4."
    )


# ---------------------------------------------------------------------------- contamination + mixes
@pytest.mark.shared
def test_contamination_index_on_real_data() -> None:
    tests = {f"t{i}": r["question"] for i, r in enumerate(_jsonl(SHARED / "gsm8k" / "test.jsonl"))}
    index = ContaminationIndex(tests, n=5, threshold=0.9)
    q = tests["t7"]
    assert index.match(q)[:2] == ("exact", "t7")
    assert index.match("  " + q.upper().replace(" ", "  ") + " ")[:2] == ("exact", "t7")
    near = q + " Explain your answer."
    kind, tid, sim = index.match(near)
    assert (kind, tid) == ("near", "t7") and 0.9 <= sim < 1
    words = q.split()
    changed = " ".join(
        words[: len(words) // 2] + ["completely", "different", "ending", "here", "now"]
    )
    assert index.match(changed) is None
    train = [r["question"] for r in _jsonl(SHARED / "gsm8k" / "train.jsonl")[:500]]
    assert sum(index.match(t) is not None for t in train) == 0


def _rows(kind: str, n: int, prefix: str) -> list[dict]:
    return [
        {"id": f"{prefix}{i}", "task": "gsm8k", "kind": kind, "source": "gold", "question_id": f"q{prefix}{i}",  # noqa: E501
         "question": f"What is {i} plus {prefix} things in the basket today?", "prompt": f"P{prefix}{i}", "completion": "C"}  # noqa: E501
        for i in range(n)
    ]  # fmt: skip


def test_pool_drops_contaminated_and_counts() -> None:
    rows = _rows("cot", 5, "c") + _rows("correction", 3, "x")
    tests = {"t1": rows[0]["question"], "t2": rows[5]["question"] + " Please."}
    kept, funnel = build_pool(rows, tests, 5, 0.8, "gsm8k")
    d = funnel.as_dict()
    assert len(kept) == 6 and d["dropped"] == {"contaminated_exact": 1, "contaminated_near": 1}
    assert d["in"] == 8 and d["contaminated_questions"] == {"exact": 1, "near": 1}


@pytest.mark.parametrize(("n_cot", "n_corr"), [(5, 3), (3, 8), (4, 0)])
def test_mixes_sizes_and_matching(n_cot: int, n_corr: int) -> None:
    pool = pl.DataFrame(_rows("cot", n_cot, "c") + _rows("correction", n_corr, "x"))
    cot = build_mix(pool, "cot", 42)
    lema = build_mix(pool, "lema", 42)
    matched = build_mix(pool, "cot_matched", 42)
    assert len(cot) == n_cot and len(lema) == n_cot + n_corr == len(matched)
    assert {r["kind"] for r in matched} == {"cot"}
    counts = Counter(r["id"] for r in matched)
    assert set(counts) == {r["id"] for r in cot}  # every CoT row is used
    assert max(counts.values()) - min(counts.values()) <= 1  # repeats spread evenly
    assert build_mix(pool, "cot_matched", 42) == matched  # seeded
    assert set(lema[0]) >= {"id", "kind", "prompt", "completion"}


def test_funnel_counts_add_up() -> None:
    f = Funnel("x", task="gsm8k")
    f.record(True, None)
    f.record(False, "empty")
    f.drop("wrong_answer", 3)
    d = f.as_dict()
    assert d["in"] == 5 == d["kept"] + sum(d["dropped"].values())
