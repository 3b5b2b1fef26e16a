"""benchmarks/grading_vs_math_verify.py's csqa set: built deterministically, labels true by
construction (near variants unambiguous, far answers far), graded by lema and the paper rule
(math-verify: n/a)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from lema.grading.choice import candidate_key, levenshtein, similarity

ROOT = Path(__file__).resolve().parents[1]

#: rows of our own writing, in the dev file's fields
ROWS = [
    {"answer": "bank", "candidates": ["bank", "library", "department store", "mall", "new york"]},
    {"answer": "kitchen", "candidates": ["garage", "kitchen", "garden", "attic", "basement"]},
    {"answer": "store", "candidates": ["store", "department store", "shop", "street", "farm"]},
    {"answer": "mall", "candidates": ["mall", "Mall", "bank", "shop", "farm"]},  # not distinct
]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "grading_vs_math_verify", ROOT / "benchmarks" / "grading_vs_math_verify.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def build(bench, seed=0):
    return bench.csqa_set(ROWS, random.Random(f"{seed}:csqa"), 10)


def test_deterministic_and_every_kind(bench):
    items = build(bench)
    assert items == build(bench)
    assert items != build(bench, seed=1)
    assert {it.gold for it in items} == {"bank", "kitchen", "store"}  # the 4th row is skipped
    kinds = {(it.kind, it.label) for it in items}
    for kind in ("answer-is", "letter", "letter-text", "boxed", "because", "chatter", "upper"):
        assert (kind, True) in kinds and (kind, False) in kinds
    for kind in ("hedge", "far", "no-answer", "gold-in-rationale"):
        assert (kind, False) in kinds
    assert ("other-in-rationale", True) in kinds
    assert all(it.task == "csqa" and it.gold in it.choices for it in items)


def test_labels_by_construction(bench):
    for it in build(bench):
        keys = [candidate_key(c) for c in it.choices]
        last = it.completion.splitlines()[-1]
        if it.kind in ("plural", "typo"):
            stated = candidate_key(last.removeprefix("The answer is "))
            target = min(keys, key=lambda k: levenshtein(stated, k))
            assert stated not in keys
            assert sum(levenshtein(stated, k) == levenshtein(stated, target) for k in keys) == 1
            assert (target == candidate_key(it.gold)) == it.label
        if it.kind == "far":
            stated = candidate_key(last.removeprefix("The answer is "))
            assert all(similarity(stated, k) < 0.5 for k in keys)
        if it.kind == "no-answer":
            assert "answer" not in it.completion.lower()
        if it.kind == "letter":
            letter = last.removeprefix("The answer is ").rstrip(".")
            assert (it.choices["ABCDE".index(letter)] == it.gold) == it.label


def test_graders(bench):
    items = build(bench)
    assert bench.graders_for("csqa", ["lema", "math-verify"]) == ["lema", "paper-rule"]
    assert bench.graders_for("aqua", ["lema", "math-verify", "paper-rule"]) == [
        "lema",
        "math-verify",
    ]
    run = bench.run_set("csqa", items, 2, bench.graders_for("csqa", ["lema", "math-verify"]))
    assert set(run["graders"]) == {"lema", "paper-rule"}
    assert "n/a" in run["not_run"]["math-verify"]
    lema = run["graders"]["lema"]
    assert lema["false_pos"] == 0 and lema["false_neg"] == 0  # these rows' plurals are "+s"
    paper = run["graders"]["paper-rule"]["errors_by_kind"]
    assert paper["answer-colon"]["fn"] == 3  # no "The answer is": wrong under the paper rule
    table = bench.markdown_table([run])
    assert "paper rule agree %" in table and "math-verify agree %" not in table
    assert "n/a" in table
