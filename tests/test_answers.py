"""Unit tests of lema.answers: extraction, equivalence, grading, time bounds."""

from __future__ import annotations

import threading
import time

import pytest

from lema import answers
from lema.answers import equivalent, extract_answer, grade, normalize_math, parse_number

# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------

GSM8K_EXTRACT = [
    ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n#### 18", "18"),
    ("Step 1: 9 * 2 = 18.\nThe answer is 18.", "18"),
    ("So the answer is $18.00.", "18.00"),
    ("The answer is 10{,}000 dollars.", "10000"),
    ("The answer is: $1,080", "1080"),
    ("**Answer:** 1,234", "1234"),
    ("**Final Answer:** **18**", "18"),
    ("The final answer is $\\boxed{5}$. I hope it is correct.", "5"),
    ("The answer is \\boxed{18}", "18"),
    ("The answer is: 18 \\text{ dollars}", "18"),
    ("The answer is -3.5.", "-3.5"),
    ("The answer is −7.", "-7"),
    ("The answer is $\\$18$.", "18"),
    ("The answer is 3.", "3"),
    ("The answer is .5", ".5"),
    ("The answer is 50%.", "50"),
    ("The answer is eighteen.", "18"),
    ("The answer is 10,000,000.", "10000000"),
    ("The answer is 5 apples and 3 oranges.", "5"),
    ("The total is 2 + 3 = 5.\nThe answer is 5 + 3 = 8", "8"),
    ("A: 42", "42"),
    ("Q: How many?\nA: 42", "42"),
    # last-number fallback
    ("She pays 3 * 6 = 18 dollars.", "18"),
    ("Therefore, Janet makes $18 every day.", "18"),
    ("blah 3 apples and 5 pears so 8", "8"),
    # a later hallucinated question does not override the answer
    ("Step 1: 3 + 4 = 7\nThe answer is 7.\n\nQuestion: What is 3 + 3?\n"
     "Answer: The answer is 6.", "7"),
    ("The answer is 7.</s>The answer is 9.", "7"),
    # "Answer:" followed by prose is not an answer statement
    ("Answer: Let's solve it step by step.\nStep 1: 3 + 4 = 7\nThe answer is 7.", "7"),
    ("Answer: Janet has 16 eggs and she eats three of them every single morning for breakfast, "
     "so she sells 18.", "18"),
    ("We can check that the answer is correct: \\boxed{12}", "12"),
]


@pytest.mark.parametrize(("completion", "expected"), GSM8K_EXTRACT)
def test_extract_gsm8k(completion, expected):
    assert extract_answer(completion, "gsm8k") == expected


MATH_EXTRACT = [
    ("so $f^{-1}(17)=\\boxed{23}$.", "23"),
    ("The final answer is $\\boxed{\\frac{1}{2}}$. I hope it is correct.", "\\frac{1}{2}"),
    ("so $x=\\boxed{\\frac{\\sqrt{3}}{2}}$.", "\\frac{\\sqrt{3}}{2}"),
    ("$\\boxed{\\left(\\frac{1}{2}, \\frac{\\sqrt{3}}{2}\\right)}$",
     "\\left(\\frac{1}{2}, \\frac{\\sqrt{3}}{2}\\right)"),
    ("Final Answer: The final answer is $(1,2)$. I hope it is correct.", "(1,2)"),
    ("Final Answer: The final answer is 5. I hope it is correct.", "5"),
    ("The answer is \\dfrac{3}{4}.", "\\dfrac{3}{4}"),
    ("The answer is 3.5.", "3.5"),
    ("The answer is: 3.5", "3.5"),
    ("**Answer:** $\\text{(A)}$", "\\text{(A)}"),
    ("**Final Answer**: $\\boxed{5}$", "5"),
    ("The solutions are \\boxed{1}, \\boxed{2}", "1, 2"),
    ("x is \\boxed{1} or \\boxed{-1}.", "1, -1"),
    ("First \\boxed{3}. Much later, after more work, we find \\boxed{4}.", "4"),
    ("\\boxed 5", "5"),
    ("The answer is \\fbox{7}", "7"),
    ("$\\boxed{\\$18.90}$", "\\$18.90"),
    ("the value is $\\$1.50$", "\\$1.50"),
    ("We check our answer: 5 is correct. So \\boxed{5}", "5"),
    ("\\boxed{5}. We can check that this answer is correct.", "5"),
    ("The answer is Evelyn.", "Evelyn"),
    ("The answer is \\boxed{4}.\n\nQuestion: what is 2+3? Answer: 5", "4"),
    # fallback: the last math of the last paragraph (its right-hand side)
    ("Thus we get $x = 7$.", "7"),
    ("Adding, we find \\[a+b = \\frac{5}{2}.\\]", "\\frac{5}{2}"),
    ("The area is 25 square units", "25"),
]


@pytest.mark.parametrize(("completion", "expected"), MATH_EXTRACT)
def test_extract_math(completion, expected):
    assert extract_answer(completion, "math") == expected


@pytest.mark.parametrize("task", ["gsm8k", "math"])
@pytest.mark.parametrize("completion", [None, "", "   \n ", "I don't know.", "!!!???", "\\boxed{}"])
def test_extract_nothing(completion, task):
    assert extract_answer(completion, task) is None
    assert grade(completion, "5", task) is False


def test_extract_nested_braces():
    s = "Hence $\\boxed{\\frac{a^{2}+\\sqrt{b_{1}}}{\\{c\\}}}$ and done."
    assert extract_answer(s, "math") == "\\frac{a^{2}+\\sqrt{b_{1}}}{\\{c\\}}"


def test_unknown_task():
    with pytest.raises(ValueError, match="unknown task"):
        extract_answer("The answer is 5", "svamp")
    with pytest.raises(ValueError, match="unknown task"):
        equivalent("5", "5", "svamp")


# ---------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------

GSM8K_EQ = [
    ("18", "18", True), ("18.0", "18", True), ("18.00", "18", True), ("1,080", "1080", True),
    ("$18", "18", True), ("\\$18", "18", True), ("18 dollars", "18", True), ("-5", "-5", True),
    ("0.5", ".5", True), ("1/2", "0.5", True), ("\\frac{36}{2}", "18", True),
    ("18.5", "18", False), ("17.99", "18", False), ("-18", "18", False), ("180", "18", False),
    ("eighteen", "18", True), ("banana", "18", False), ("", "18", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), GSM8K_EQ)
def test_equivalent_gsm8k(pred, gold, expected):
    assert equivalent(pred, gold, "gsm8k") is expected


MATH_EQ = [
    # fractions and decimals
    ("\\frac{1}{2}", "0.5", True), ("\\dfrac{1}{2}", "\\tfrac12", True), ("1/2", "\\frac12", True),
    ("\\frac{-1}{2}", "-\\frac12", True),
    ("0.50", "\\frac{1}{2}", True), ("\\frac{9}{3}", "3", True),
    ("\\frac{4}{8}", "\\frac12", True), ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("0.333", "\\frac{1}{3}", False), ("0.3333333", "\\frac13", True), ("3.0", "3", True),
    ("3", "-3", False), ("2.5", "2\\frac{1}{2}", True), ("\\frac52", "2\\frac{1}{2}", True),
    ("2\\frac{1}{2}", "1", False),
    # radicals, pi, expressions
    ("\\sqrt{8}", "2\\sqrt{2}", True), ("3\\sqrt{3}", "\\sqrt{27}", True),
    ("2\\sqrt{3}", "3\\sqrt{2}", False), ("\\sqrt2/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True), ("1.41421356", "\\sqrt{2}", True),
    ("1.41", "\\sqrt{2}", False), ("4\\pi", "4 \\pi", True), ("\\pi 4", "4\\pi", True),
    ("3.14", "\\pi", False), ("(x+1)^2", "x^2+2x+1", True), ("x^2-4", "(x-2)(x+2)", True),
    ("x+y", "y+x", True), ("x-y", "y-x", False), ("2x", "2y", False), ("10^3", "1000", True),
    ("1+i", "i+1", True), ("1-i", "1+i", False),
    # tuples, intervals, sets, lists
    ("(1,2)", "(1, 2)", True), ("\\left( 1,2\\right)", "(1,2)", True), ("(2,1)", "(1,2)", False),
    ("(3,1)", "(5,2)", False), ("[1,2)", "(1,2)", False), ("[2,3]", "[2,3)", False),
    ("(-\\infty, 0) \\cup (1, \\infty)", "\\left(-\\infty,0\\right)\\cup(1,\\infty)", True),
    ("(-\\infty, 0] \\cup (1, \\infty)", "(-\\infty,0)\\cup(1,\\infty)", False),
    ("\\{2,1\\}", "\\{1,2\\}", True), ("2, 1", "1,2", True), ("1, 2", "\\{1,2\\}", True),
    ("1,2", "1,2,3", False), ("1 \\text{ and } 2", "2, 1", True), ("x=1, x=2", "1, 2", True),
    ("\\pm 3", "3, -3", True), ("(1,2,3)", "\\langle 1,2,3\\rangle", True),
    ("x>5", "(5,\\infty)", True),
    ("x \\ge 5", "[5,\\infty)", True), ("x \\in [2,5)", "[2,5)", True),
    # matrices
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", True),
    ("\\begin{pmatrix}1/2\\\\3\\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 3 \\end{pmatrix}",
     True),
    ("\\begin{pmatrix}\\sqrt8\\\\3\\end{pmatrix}", "\\begin{pmatrix}2\\sqrt2\\\\3\\end{pmatrix}",
     True),
    ("\\begin{pmatrix}1\\\\3\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False),
    ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", False),
    # units, money, percent, degrees, thousands
    ("5\\text{ cm}", "5", True), ("5 cm", "5\\text{ cm}", True), ("10", "10\\text{ cm}^2", True),
    ("6 \\text{ inches}^2", "6", True), ("840", "840\\text{ square inches}", True),
    ("\\$18.90", "18.90", True), ("\\$20", "20", True),
    ("20.00", "20", True), ("19", "\\$20", False),
    ("20", "20\\%", True), ("12\\%", "12", True),
    ("45^{\\circ}", "45", True), ("30", "30^\\circ", True),
    ("\\frac{\\pi}{4}", "45^\\circ", False), ("1,000,000", "1,\\!000,\\!000", True),
    ("1\\!000", "1000", True), ("10{,}000", "10000", True), ("2516", "2516_8", True),
    # equations and text
    ("x=5", "5", True), ("y = 2x+3", "2x+3", True), ("x=2", "y=2", True), ("x = 6", "5", False),
    ("\\text{Evelyn}", "Evelyn", True), ("evelyn", "\\text{Evelyn}", True),
    ("\\text{Monday}", "\\text{Sunday}", False), ("\\mbox{Monday}", "\\text{Monday}", True),
    ("A", "\\text{(A)}", True), ("(A)", "\\text{(A)}", True), ("\\textbf{(B)}", "B", True),
    ("B", "\\text{(A)}", False), ("\\text{odd}", "odd", True), ("\\text{even}", "odd", False),
    ("five", "5", True), ("\\infty", "\\infty", True), ("-\\infty", "\\infty", False),
    ("\\,5\\;", "5", True), ("\\!\\sqrt{33}", "\\sqrt{33}", True),
    ("\\frac{1}{3} \\approx 0.33", "\\frac13", True),
    ("x = \\frac{1}{3} \\approx 0.33", "0.33", False),
    # empty and garbage
    ("", "5", False), ("5", "", False), ("???", "5", False), ("\\frac{1}{0}", "\\infty", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATH_EQ)
def test_equivalent_math(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected


def test_none_answers():
    assert equivalent(None, "5", "math") is False
    assert equivalent("5", None, "gsm8k") is False


def test_normalize_math_examples():
    assert answers._key(normalize_math("\\left( \\dfrac{1}{2}, 3 \\right)")) == "(\\frac{1}{2},3)"
    assert normalize_math("\\frac12") == "\\frac{1}{2}"
    assert normalize_math("\\text{(C)}") == "C"
    assert normalize_math("1,\\!000") == "1000"
    assert normalize_math("x = \\sqrt2") == "\\sqrt{2}"


def test_parse_number():
    from fractions import Fraction as F

    assert parse_number("1,234.5") == F(24690, 20)
    assert parse_number("-\\frac{3}{4}") == F(-3, 4)
    assert parse_number("2\\frac{1}{2}") == F(5, 2)
    assert parse_number("3/4") == F(3, 4)
    assert parse_number("x") is None
    assert parse_number("1/0") is None


# ---------------------------------------------------------------------------------------------
# Grading end to end
# ---------------------------------------------------------------------------------------------

GRADE = [
    ("gsm8k", "She makes 9 * 2 = $<<9*2=18>>18.\n#### 18", "18", True),
    ("gsm8k", "Step 1: 16 - 3 - 4 = 9.\nStep 2: 9 * 2 = 18.\nThe answer is 18.", "18", True),
    ("gsm8k", "Step 1: 16 - 3 - 4 = 9.\nThe answer is 9.", "18", False),
    ("gsm8k", "The final answer is $\\boxed{18}$. I hope it is correct.", "18", True),
    ("gsm8k", "The answer is $1,080.00.", "1,080", True),
    ("gsm8k", "= 18 dollars.", "18", True),
    ("math", "The final answer is $\\boxed{5}$. I hope it is correct.", "5", True),
    ("math", "Thus the answer is $\\boxed{\\dfrac{1}{2}}$.", "\\frac12", True),
    ("math", "The answer is 0.5.", "\\frac{1}{2}", True),
    ("math", "The answer is $\\boxed{(1, 2)}$.", "(2,1)", False),
    ("math", "$\\boxed{x = 5}$", "5", True),
    ("math", "Hence $\\boxed{2\\sqrt{2}}$", "\\sqrt{8}", True),
    ("math", "So the answer is $\\boxed{\\text{(C)}}$", "C", True),
    ("math", "So the answer is $\\boxed{\\text{(C)}}$", "D", False),
    ("math", "**Answer:** $\\frac{3}{4}$", "0.75", True),
    ("math", "", "5", False),
]


@pytest.mark.parametrize(("task", "completion", "gold", "expected"), GRADE)
def test_grade(task, completion, gold, expected):
    assert grade(completion, gold, task) is expected


# ---------------------------------------------------------------------------------------------
# Time bounds and safety
# ---------------------------------------------------------------------------------------------

PATHOLOGICAL = [
    ("9^{9^{9^{9}}}", "1"),
    ("2^{2^{40}}", "1"),
    ("1", "2^{2^{40}}"),
    ("2^{2^{40}}", "2^{2^{40}}+1"),
    ("(9^{9^{9}})!", "1"),
    ("x^{9^{9^{9}}}-x", "0"),
    ("99999999999999999999!", "3"),
    ("{" * 500 + "1" + "}" * 500, "1"),
    ("\\sqrt{" * 300 + "2" + "}" * 300, "2"),
]
BOUND_S = answers.SYMPY_TIMEOUT_S + 2.5  # + worker restart after a kill


@pytest.mark.parametrize(("pred", "gold"), PATHOLOGICAL)
def test_pathological_is_bounded(pred, gold):
    answers._sympy_equal_cached.cache_clear()
    t = time.monotonic()
    assert equivalent(pred, gold, "math") is False
    assert time.monotonic() - t < BOUND_S


def test_bounded_in_a_thread():
    """SIGALRM only works in the main thread; the worker processes make the bound hold in
    any thread."""
    answers._sympy_equal_cached.cache_clear()
    out = {}

    def run():
        t = time.monotonic()
        out["r"] = equivalent("9^{9^{9^{9}}}", "1", "math")
        out["ok"] = equivalent("\\sqrt{8}", "2\\sqrt{2}", "math")
        out["t"] = time.monotonic() - t

    th = threading.Thread(target=run)
    th.start()
    th.join(timeout=30)
    assert not th.is_alive()
    assert out == {"r": False, "ok": True, "t": pytest.approx(out["t"])}
    assert out["t"] < 2 * BOUND_S


def test_concurrent_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    answers._sympy_equal_cached.cache_clear()
    pairs = [("\\sqrt{8}", "2\\sqrt{2}", True), ("x^2-1", "(x-1)(x+1)", True),
             ("\\sqrt{8}", "3\\sqrt{2}", False), ("\\pi/2", "\\frac{\\pi}{2}", True)] * 3
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda t: equivalent(t[0], t[1], "math"), pairs))
    assert got == [e for _p, _g, e in pairs]


@pytest.mark.parametrize("task", ["gsm8k", "math"])
def test_huge_and_garbage_completions_are_fast(task):
    junk = [
        "x" * 1_000_000 + " The answer is 5",
        "\\boxed{" * 20_000,
        "$" * 100_000 + "answer: " * 10_000,
        "The answer is " + "9^{" * 3000 + "9" + "}" * 3000,
        "\x00\x01\x02 ∑∫ 🙂" * 1000,
    ]
    for c in junk:
        t = time.monotonic()
        grade(c, "5", task)
        assert time.monotonic() - t < BOUND_S


def test_model_output_is_never_evaluated(tmp_path, monkeypatch):
    """Python code in an answer must not run (no eval/sympify of model text)."""
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    for s in (payload, f"\\boxed{{{payload}}}", f"The answer is {payload}"):
        grade(s, "5", "math")
        grade(s, "5", "gsm8k")
        equivalent(payload, "x", "math")
    assert not marker.exists()


def test_forked_child_uses_its_own_workers():
    import multiprocessing as mp

    answers._sympy_equal_cached.cache_clear()
    assert equivalent("\\sqrt{8}", "2\\sqrt{2}", "math")  # parent has a worker now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply(_child_check)
    assert got == (True, False)
    assert equivalent("\\sqrt{12}", "2\\sqrt{3}", "math")


def _child_check():
    answers._sympy_equal_cached.cache_clear()
    return (equivalent("\\sqrt{18}", "3\\sqrt{2}", "math"),
            equivalent("\\sqrt{18}", "2\\sqrt{3}", "math"))
