"""Unit tests of lema.grading: extraction, normalisation, equivalence, grading, time bounds."""

from __future__ import annotations

import threading
import time

import pytest

from lema.grading import equivalent, extract_answer, grade, normalize_math
from lema.grading import pool as sympy_pool
from lema.grading.normalise import compare_key, parse_number

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
    (
        "Step 1: 3 + 4 = 7\nThe answer is 7.\n\nQuestion: What is 3 + 3?\nAnswer: The answer is 6.",
        "7",
    ),
    ("The answer is 7.</s>The answer is 9.", "7"),
    # "Answer:" followed by prose is not an answer statement
    ("Answer: Let's solve it step by step.\nStep 1: 3 + 4 = 7\nThe answer is 7.", "7"),
    (
        "Answer: Janet has 16 eggs and she eats three of them every single morning for breakfast, "
        "so she sells 18.",
        "18",
    ),
    ("We can check that the answer is correct: \\boxed{12}", "12"),
    # a loose "final answer" mention is not an answer statement
    ("Let's check our final answer of 36 against the data.\nThe answer is 36.", "36"),
    ("To get the final answer, we multiply 9 by 2.\nThe answer is 18.", "18"),
    ("The answer is 1/2.", "0.5"),
    ("The answer is 3/4 of a cup.", "0.75"),
    ("Step 1: compute 3 * 4 = 12.\nStep 2: add 12 + 5 = 17.\nStep 3: now we", "17"),
    ("Let's break it down:\n1. 16 eggs\n2. minus 3 = 13\n3. minus 4 = 9\n4. 9 x $2 = $18", "18"),
    # a hallucinated next question after a bare result (no answer phrase) is dropped
    ("so she makes 9 * 2 = $18.\n\nQuestion: Tom has 3 apples. How many?\nAnswer: 3", "18"),
    ("9 * 2 = 18\n\\boxed{18}\n\nHuman: Thanks! Now what is 3 + 4?\n\nAssistant: 7", "18"),
    ("<answer>18</answer>", "18"),
]


@pytest.mark.parametrize(("completion", "expected"), GSM8K_EXTRACT)
def test_extract_gsm8k(completion, expected):
    assert extract_answer(completion, "gsm8k") == expected


MATH_EXTRACT = [
    ("so $f^{-1}(17)=\\boxed{23}$.", "23"),
    ("The final answer is $\\boxed{\\frac{1}{2}}$. I hope it is correct.", "\\frac{1}{2}"),
    ("so $x=\\boxed{\\frac{\\sqrt{3}}{2}}$.", "\\frac{\\sqrt{3}}{2}"),
    (
        "$\\boxed{\\left(\\frac{1}{2}, \\frac{\\sqrt{3}}{2}\\right)}$",
        "\\left(\\frac{1}{2}, \\frac{\\sqrt{3}}{2}\\right)",
    ),
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
    # the consumer-reported bug: "final answer" without answer syntax is a loose mention
    ("\u2026our final answer of $36$.\nThe answer is 36.", "36"),
    (
        "We check our final answer of $35$ against the constraint; it fails.\nThe answer is 36.",
        "36",
    ),
    ("Our final answer: $\\frac{1}{2}$", "\\frac{1}{2}"),
    ("**Final Answer**\n\n$\\frac{3}{4}$", "\\frac{3}{4}"),
    ("### Final Answer\nThe number of ways is 12.", "12"),
    (
        "So $x = 5$.\n\n# Answer\n\n\\frac{1}{2}\n\n# Question\n\nWhat is $3+4$?\n\n# Answer\n\n7",
        "\\frac{1}{2}",
    ),
    # multiple-choice letters, fillers, several math spans, reasons, sentence ends
    ("The answer is A.", "A"),
    ("\\boxed{A, C}", "A, C"),
    ("The answer is therefore $18$.", "18"),
    ("The answer is equal to $\\frac{3}{4}$.", "\\frac{3}{4}"),
    ("The answer is $2$ and $3$.", "2, 3"),
    ("The answers are $x=2$ and $x=3$.", "x=2, x=3"),
    ("The solutions are $x = 2$ and $x = 3$.", "2, 3"),
    ("The answer is \\frac{1}{2}, because the die is fair.", "\\frac{1}{2}"),
    ("The answer is: 9\\text{ a.m.}", "9\\text{ a.m.}"),
    ("The answer is: 11,\\! 111,\\! 100", "11,\\! 111,\\! 100"),
    ("The answer is 5\\\\\n", "5"),
    # cut off at max_tokens: no answer (GSM8K keeps its last-number fallback)
    ("We know $x^2 = 25$, so", None),
    ("Adding, we find \\[a+b = \\frac{5}{2}", None),
    ("We get $\\frac{3}{", None),
    ("It costs $5.", "5"),
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
    ("18", "18", True),
    ("18.0", "18", True),
    ("18.00", "18", True),
    ("1,080", "1080", True),
    ("$18", "18", True),
    ("\\$18", "18", True),
    ("18 dollars", "18", True),
    ("-5", "-5", True),
    ("0.5", ".5", True),
    ("1/2", "0.5", True),
    ("\\frac{36}{2}", "18", True),
    ("18.5", "18", False),
    ("17.99", "18", False),
    ("-18", "18", False),
    ("180", "18", False),
    ("eighteen", "18", True),
    ("banana", "18", False),
    ("", "18", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), GSM8K_EQ)
def test_equivalent_gsm8k(pred, gold, expected):
    assert equivalent(pred, gold, "gsm8k") is expected


MATH_EQ = [
    # fractions and decimals
    ("\\frac{1}{2}", "0.5", True),
    ("\\dfrac{1}{2}", "\\tfrac12", True),
    ("1/2", "\\frac12", True),
    ("\\frac{-1}{2}", "-\\frac12", True),
    ("0.50", "\\frac{1}{2}", True),
    ("\\frac{9}{3}", "3", True),
    ("\\frac{4}{8}", "\\frac12", True),
    ("\\frac{1}{2}", "\\frac{1}{3}", False),
    ("0.333", "\\frac{1}{3}", False),
    ("0.3333333", "\\frac13", True),
    ("3.0", "3", True),
    ("3", "-3", False),
    ("2.5", "2\\frac{1}{2}", True),
    ("\\frac52", "2\\frac{1}{2}", True),
    ("2\\frac{1}{2}", "1", False),
    # radicals, pi, expressions
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("3\\sqrt{3}", "\\sqrt{27}", True),
    ("2\\sqrt{3}", "3\\sqrt{2}", False),
    ("\\sqrt2/2", "\\frac{\\sqrt{2}}{2}", True),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
    ("1.41421356", "\\sqrt{2}", True),
    ("1.41", "\\sqrt{2}", False),
    ("4\\pi", "4 \\pi", True),
    ("\\pi 4", "4\\pi", True),
    ("3.14", "\\pi", False),
    ("(x+1)^2", "x^2+2x+1", True),
    ("x^2-4", "(x-2)(x+2)", True),
    ("x+y", "y+x", True),
    ("x-y", "y-x", False),
    ("2x", "2y", False),
    ("10^3", "1000", True),
    ("1+i", "i+1", True),
    ("1-i", "1+i", False),
    # tuples, intervals, sets, lists
    ("(1,2)", "(1, 2)", True),
    ("\\left( 1,2\\right)", "(1,2)", True),
    ("(2,1)", "(1,2)", False),
    ("(3,1)", "(5,2)", False),
    ("[1,2)", "(1,2)", False),
    ("[2,3]", "[2,3)", False),
    ("(-\\infty, 0) \\cup (1, \\infty)", "\\left(-\\infty,0\\right)\\cup(1,\\infty)", True),
    ("(-\\infty, 0] \\cup (1, \\infty)", "(-\\infty,0)\\cup(1,\\infty)", False),
    ("\\{2,1\\}", "\\{1,2\\}", True),
    ("2, 1", "1,2", True),
    ("1, 2", "\\{1,2\\}", True),
    ("1,2", "1,2,3", False),
    ("1 \\text{ and } 2", "2, 1", True),
    ("x=1, x=2", "1, 2", True),
    ("\\pm 3", "3, -3", True),
    ("(1,2,3)", "\\langle 1,2,3\\rangle", True),
    ("x>5", "(5,\\infty)", True),
    ("x \\ge 5", "[5,\\infty)", True),
    ("x \\in [2,5)", "[2,5)", True),
    # matrices
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", True),
    ("\\begin{pmatrix}1/2\\\\3\\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 3 \\end{pmatrix}", True),
    (
        "\\begin{pmatrix}\\sqrt8\\\\3\\end{pmatrix}",
        "\\begin{pmatrix}2\\sqrt2\\\\3\\end{pmatrix}",
        True,
    ),
    ("\\begin{pmatrix}1\\\\3\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", False),
    ("\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", True),
    ("\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", False),
    # units, money, percent, degrees, thousands
    ("5\\text{ cm}", "5", True),
    ("5 cm", "5\\text{ cm}", True),
    ("10", "10\\text{ cm}^2", True),
    ("6 \\text{ inches}^2", "6", True),
    ("840", "840\\text{ square inches}", True),
    ("\\$18.90", "18.90", True),
    ("\\$20", "20", True),
    ("20.00", "20", True),
    ("19", "\\$20", False),
    ("20", "20\\%", True),
    ("12\\%", "12", True),
    ("45^{\\circ}", "45", True),
    ("30", "30^\\circ", True),
    ("\\frac{\\pi}{4}", "45^\\circ", False),
    ("1,000,000", "1,\\!000,\\!000", True),
    ("1\\!000", "1000", True),
    ("10{,}000", "10000", True),
    ("2516", "2516_8", True),
    # equations and text
    ("x=5", "5", True),
    ("y = 2x+3", "2x+3", True),
    ("x=2", "y=2", True),
    ("x = 6", "5", False),
    ("\\text{Evelyn}", "Evelyn", True),
    ("evelyn", "\\text{Evelyn}", True),
    ("\\text{Monday}", "\\text{Sunday}", False),
    ("\\mbox{Monday}", "\\text{Monday}", True),
    ("A", "\\text{(A)}", True),
    ("(A)", "\\text{(A)}", True),
    ("\\textbf{(B)}", "B", True),
    ("B", "\\text{(A)}", False),
    ("\\text{odd}", "odd", True),
    ("\\text{even}", "odd", False),
    ("five", "5", True),
    ("\\infty", "\\infty", True),
    ("-\\infty", "\\infty", False),
    ("\\,5\\;", "5", True),
    ("\\!\\sqrt{33}", "\\sqrt{33}", True),
    ("\\frac{1}{3} \\approx 0.33", "\\frac13", True),
    ("x = \\frac{1}{3} \\approx 0.33", "0.33", False),
    # empty and garbage
    ("", "5", False),
    ("5", "", False),
    ("???", "5", False),
    ("\\frac{1}{0}", "\\infty", False),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATH_EQ)
def test_equivalent_math(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected


def test_none_answers():
    assert equivalent(None, "5", "math") is False
    assert equivalent("5", None, "gsm8k") is False


def test_normalize_math_examples():
    assert compare_key(normalize_math("\\left( \\dfrac{1}{2}, 3 \\right)")) == "(\\frac{1}{2},3)"
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
BOUND_S = sympy_pool.SYMPY_TIMEOUT_S + 2.5  # + worker restart after a kill


@pytest.mark.parametrize(("pred", "gold"), PATHOLOGICAL)
def test_pathological_is_bounded(pred, gold):
    sympy_pool.bounded_sympy_equal.cache_clear()
    t = time.monotonic()
    assert equivalent(pred, gold, "math") is False
    assert time.monotonic() - t < BOUND_S


def test_bounded_in_a_thread():
    """SIGALRM only works in the main thread; the worker processes make the bound hold in
    any thread."""
    sympy_pool.bounded_sympy_equal.cache_clear()
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

    sympy_pool.bounded_sympy_equal.cache_clear()
    pairs = [
        ("\\sqrt{8}", "2\\sqrt{2}", True),
        ("x^2-1", "(x-1)(x+1)", True),
        ("\\sqrt{8}", "3\\sqrt{2}", False),
        ("\\pi/2", "\\frac{\\pi}{2}", True),
    ] * 3
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

    sympy_pool.bounded_sympy_equal.cache_clear()
    assert equivalent("\\sqrt{8}", "2\\sqrt{2}", "math")  # parent has a worker now
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply(_child_check)
    assert got == (True, False)
    assert equivalent("\\sqrt{12}", "2\\sqrt{3}", "math")


def _child_check():
    sympy_pool.bounded_sympy_equal.cache_clear()
    return (
        equivalent("\\sqrt{18}", "3\\sqrt{2}", "math"),
        equivalent("\\sqrt{18}", "2\\sqrt{3}", "math"),
    )


# ---------------------------------------------------------------------------------------------
# Realistic model completions (LLaMA-2, WizardMath, MetaMath, Minerva, GPT-4 markdown, Qwen,
# PRM800K, Llama-3 formats; units, money, hallucinated continuations, truncation), with labels
# ---------------------------------------------------------------------------------------------

Q_NEXT = (
    "\n\nQuestion: A baker has 12 cupcakes and sells 7. How many are left?\n"
    "Answer: 12 - 7 = 5. The answer is 5."
)

REALISTIC = [
    (
        "gsm8k",
        "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altog"
        "ether in April and May.\nThe answer is 72." + Q_NEXT,
        "72",
        True,
    ),
    ("gsm8k", "Natalia sold 48/2 = 24 clips in May.\nThe answer is 24." + Q_NEXT, "72", False),
    (
        "gsm8k",
        "Step 1: Janet's ducks lay 16 eggs per day.\nStep 2: She eats 3 and bakes "
        "4, so 16 - 3 - 4 = 9 eggs remain.\nStep 3: 9 * 2 = 18.\n\nThe answer is: 18",
        "18",
        True,
    ),
    (
        "gsm8k",
        "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 "
        "= $<<9*2=18>>18 every day at the farmer's market.\n#### 18\nThe answer is:"
        " 18",
        "18",
        True,
    ),
    (
        "gsm8k",
        "First, compute the remaining eggs: 16 - 3 - 4 = 9.\n\nThen multiply by the"
        " price: 9 × $2 = $18.\n\n**Final Answer**: $\\boxed{18}$",
        "18",
        True,
    ),
    ("gsm8k", "Janet makes $18.00 every day at the farmers' market.", "18", True),
    ("gsm8k", "So she makes 9 * 2 = 18 dollars.\nThe answer is 18 apples.", "18", True),
    ("gsm8k", "The total comes to $1,234.50.\nThe answer is $1,234.50.", "1234.5", True),
    (
        "gsm8k",
        "Step 1: She has 16 eggs.\nStep 2: She eats 3, so 16 - 3 = 13.\nStep 3: She"
        " bakes with 4, so 13 - 4 =",
        "9",
        False,
    ),
    ("gsm8k", "The answer is 25%.", "25", True),
    ("gsm8k", "Therefore, the total cost is $\\$1,234$.", "1234", True),
    ("gsm8k", "The answer is 18.5", "18", False),
    ("gsm8k", "The answer is 1.8", "18", False),
    ("gsm8k", "#### 1,000", "1000", True),
    (
        "gsm8k",
        "Janet sells $9 \\times 2 = 18$ dollars worth of eggs.\n\nThe final answer i"
        "s \\boxed{18}.\n\nI hope this helps! Let me know if you have 2 or 3 other q"
        "uestions.",
        "18",
        True,
    ),
    (
        "gsm8k",
        "The answer is 18 dollars. She has 16 - 3 - 4 = 9 eggs left, and 9 * 2 = 18.",
        "18",
        True,
    ),
    ("gsm8k", "Answer: 18", "18", True),
    ("gsm8k", "She makes 18 dollars.\n\\boxed{16}", "18", False),
    (
        "gsm8k",
        "The answer is 18.The answer is 18.The answer is 18.The answer is 18.The answer is",
        "18",
        True,
    ),
    ("gsm8k", "The answer is: $18", "18", True),
    ("gsm8k", "The answer is twelve.", "12", True),
    ("gsm8k", "Therefore, the answer is 3 hours.", "3", True),
    ("gsm8k", "The answer is 5,000 square feet.", "5000", True),
    ("gsm8k", "**Answer: 18**", "18", True),
    ("gsm8k", "The answer is $\\boxed{18}$ dollars.", "18", True),
    ("gsm8k", "Total = 12 + 6 = 18 dollars", "18", True),
    ("gsm8k", "So the answer is 18.00.", "18", True),
    (
        "gsm8k",
        "Let's think step by step. Our final answer of 36 is wrong; recompute: 6 "
        "* 7 = 42.\nThe answer is 42.",
        "42",
        True,
    ),
    (
        "gsm8k",
        "She pays 2 * $5 = $10 for the tickets. Then she pays $10 + $8 = $18 in t"
        "otal.\nSo the final answer is 18.",
        "18",
        True,
    ),
    ("gsm8k", "Final answer: 18", "18", True),
    (
        "gsm8k",
        "## Step 1: Compute eggs\n16 - 3 - 4 = 9\n\n## Step 2: Revenue\n9 * 2 = 18\n\nT"
        "he final answer is: $\\boxed{18}$",
        "18",
        True,
    ),
    (
        "gsm8k",
        "<|start_header_id|>assistant<|end_header_id|>\n\n9 * 2 = 18.\n\nThe answer i"
        "s 18.<|eot_id|>The answer is 7",
        "18",
        True,
    ),
    (
        "gsm8k",
        "He runs 3 sprints 3 times a week, so 3 * 3 = 9 sprints. Each is 60 meter"
        "s, so 9 * 60 = 540 meters.\nThe answer is 540 meters.",
        "540",
        True,
    ),
    (
        "gsm8k",
        "Let x be the number of apples. Then x + 2x = 18, so x = 6.\nThe answer is x = 6.",
        "6",
        True,
    ),
    (
        "gsm8k",
        "The answer is 6.\n\nQuestion: Tom has 3 apples and 2 pears. How many fruit"
        "s?\nLet's think step by step.\n3 + 2 = 5",
        "6",
        True,
    ),
    (
        "gsm8k",
        "It takes 2 bolts of blue fiber and 2/2=1 bolt of white fiber.\nSo the tot"
        "al is 2+1=3.\nThe answer is 3 bolts.",
        "3",
        True,
    ),
    ("gsm8k", "The answer is -5 degrees.", "-5", True),
    ("gsm8k", "The answer is 1/2.", "0.5", True),
    ("gsm8k", "The difference is 70,000 - 50,000 = 20,000.\nThe answer is 20,000.", "20000", True),
    ("gsm8k", "The profit is $\\$70{,}000$.\n#### 70000", "70000", True),
    ("gsm8k", "We need 3.5 hours. The answer is 3.5", "3.5", True),
    ("gsm8k", "The answer is 3.5 hours, which is 210 minutes.", "210", False),
    ("gsm8k", "The final answer is 18. I hope it is correct.", "18", True),
    ("gsm8k", "Therefore, Janet makes **$18** every day.", "18", True),
    (
        "gsm8k",
        "**Step 3:** 9 × 2 = 18\n\n**Answer:** Janet makes **$18** per day at the farmers' market.",
        "18",
        True,
    ),
    ("gsm8k", "The final answer is $18$.", "18", True),
    ("gsm8k", "The answer is 160 \\text{ km}", "160", True),
    ("gsm8k", "", "18", False),
    ("gsm8k", "I'm sorry, I can't help with that.", "18", False),
    ("math", "…our final answer of $36$.\nThe answer is 36.", "36", True),
    (
        "math",
        "We check our final answer of $35$ against the constraint; it fails, so w"
        "e need the next one.\nThe answer is 36.",
        "36",
        True,
    ),
    (
        "math",
        "We get $x = 5$.\nFinal Answer: The final answer is $5$. I hope it is correct.",
        "5",
        True,
    ),
    (
        "math",
        "Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.\n\n"
        "Problem:\nFind $x$.\n\nSolution:\nFinal Answer: The final answer is $3$. I h"
        "ope it is correct.",
        "\\frac12",
        True,
    ),
    (
        "math",
        "Simplifying, we get $\\frac{2}{4}=\\frac{1}{2}$.\nThe answer is: \\frac{1}{2}",
        "\\dfrac{1}{2}",
        True,
    ),
    (
        "math",
        "So the distance is $\\sqrt{8} = 2\\sqrt{2}$.\nThe answer is: 2\\sqrt{2}",
        "\\sqrt8",
        True,
    ),
    (
        "math",
        "The angle is a right angle over 2.\n\n**Final Answer**: $\\boxed{\\frac{\\pi}{2}}$",
        "\\pi/2",
        True,
    ),
    (
        "math",
        "Thus the angle measures\n\\[\n\\boxed{90^\\circ}\n\\]\n\nThis confirms that the t"
        "riangle is right-angled, since 3, 4, 5 is a Pythagorean triple.",
        "90",
        True,
    ),
    ("math", "Solving, $\\boxed{x=5}$.", "5", True),
    ("math", "The correct choice is $\\boxed{\\text{(B)}}$.", "\\text{(B)}", True),
    ("math", "The correct choice is $\\boxed{\\text{(B)}}$.", "B", True),
    ("math", "The correct choice is $\\boxed{\\text{(B)}}$.", "\\text{(C)}", False),
    ("math", "The answer is (B) 5.", "\\text{(B)}", True),
    ("math", "The answer is $\\boxed{\\text{Monday}}$.", "\\text{Monday}", True),
    ("math", "So the day is Monday.\nThe answer is: Monday", "\\text{Monday}", True),
    ("math", "The total is $\\boxed{\\$1,234.50}$.", "1234.50", True),
    ("math", "The answer is $\\boxed{1,234}$.", "1234", True),
    ("math", "The answer is $3/4$.", "\\frac34", True),
    ("math", "The answer is $0.75$.", "\\frac{3}{4}", True),
    ("math", "The answer is $\\dfrac{3}{4}$.", "\\frac{3}{4}", True),
    ("math", "The answer is $2 \\sqrt{2}$.", "\\sqrt{8}", True),
    ("math", "The answer is $\\sqrt8$.", "2\\sqrt2", True),
    ("math", "The answer is $\\pi/2$.", "\\frac{\\pi}{2}", True),
    ("math", "The measure is $\\boxed{90^\\circ}$.", "90^\\circ", True),
    ("math", "The solution set is $\\boxed{(-\\infty, 3]}$.", "(-\\infty,3]", True),
    ("math", "The solution set is $\\boxed{(-\\infty, 3)}$.", "(-\\infty,3]", False),
    ("math", "The answer is $[2,5)$.", "[2,5)", True),
    ("math", "The answer is $\\boxed{\\{1,2\\}}$.", "1, 2", True),
    (
        "math",
        "The solutions are $x=1 \\text{ or } x=2$.\nThe answer is $x=1 \\text{ or } x=2$.",
        "1,2",
        True,
    ),
    (
        "math",
        "Therefore $\\mathbf{v} = \\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}$.",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        True,
    ),
    (
        "math",
        "Therefore $\\mathbf{v} = \\boxed{\\begin{pmatrix}2\\\\1\\end{pmatrix}}$.",
        "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}",
        False,
    ),
    ("math", "Let's compute. We have $a = 3$ and $b = 4$, so $c^2 = 9 + 16 =", "5", False),
    ("math", "We know $x^2 = 25$, so", "5", False),
    ("math", "The answer is $\\frac{1}{2}$.", "1", False),
    ("math", "The answer is $1.8$.", "18", False),
    ("math", "The answer is $(2,1)$.", "(1,2)", False),
    ("math", "The answer is $[1,2]$.", "(1,2)", False),
    ("math", "The answer is $18$, since ... wait. Actually $\\boxed{17}$.", "18", False),
    ("math", "Since $x = 18$ satisfies everything, $\\boxed{16}$.", "18", False),
    ("math", "The area is $\\boxed{18\\text{ square units}}$.", "18", True),
    (
        "math",
        "The answer is $\\boxed{5}$.\n\nWe can double check: plugging in $x=4$ gives"
        " 20, which is not right.",
        "5",
        True,
    ),
    (
        "math",
        "Hence \\[\\boxed{\\frac{3}{4}}\\] is the probability.\n\nNote: if the die were"
        " unfair the answer would be $\\frac{1}{2}$.",
        "\\frac34",
        True,
    ),
    (
        "math",
        "## Step 3: Simplify\n$\\frac{6}{8} = \\frac{3}{4}$\n\nThe final answer is: $\\"
        "boxed{\\frac{3}{4}}$",
        "\\frac{3}{4}",
        True,
    ),
    ("math", "### Final Answer\n\\[\n\\boxed{12}\n\\]", "12", True),
    ("math", "**Final Answer**\n\n\\boxed{12}", "12", True),
    ("math", "**Final Answer**\nThe number of ways is $\\boxed{12}$.", "12", True),
    ("math", "The answer is $x \\in [2, 5)$.", "[2,5)", True),
    ("math", "Thus, $k = \\boxed{-\\frac{7}{2}}$.", "-\\frac{7}{2}", True),
    ("math", "The answer is $\\boxed{-3.5}$.", "-\\frac72", True),
    ("math", "The answer is $\\boxed{\\frac{7}{2}}$.", "-\\frac72", False),
    ("math", "The answer is $\\boxed{3 + 2i}$.", "3+2i", True),
    ("math", "The answer is $\\boxed{2i + 3}$.", "3+2i", True),
    ("math", "The answer is $\\boxed{3 - 2i}$.", "3+2i", False),
    ("math", "The answer is $\\boxed{x^2 + 2x + 1}$.", "(x+1)^2", True),
    ("math", "The answer is $\\boxed{10\\%}$.", "10", True),
    ("math", "The answer is $\\boxed{75\\%}$.", "\\frac34", False),
    ("math", "The final answer is $\\boxed{1, 2}$.", "\\{1,2\\}", True),
    ("math", "The final answer is $\\boxed{2,1}$.", "1,2", True),
    ("math", "The final answer is $\\boxed{(1, 2)}$.", "(1,2)", True),
    (
        "math",
        "The final answer is $\\boxed{\\left(3, \\frac{\\pi}{2}\\right)}$.",
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        True,
    ),
    (
        "math",
        "The final answer is $\\boxed{(3, \\frac{\\pi}{2})}$.",
        "\\left( 3, \\frac{\\pi}{4} \\right)",
        False,
    ),
    ("math", "The answer is $\\boxed{\\text{even}}$.", "\\text{even}", True),
    ("math", "The answer is $\\boxed{\\text{neither}}$.", "\\text{odd}", False),
    ("math", "The answer is $\\boxed{10}$ inches.", "10", True),
    ("math", "I think the answer is 10, but the final answer is 12.", "12", True),
    ("math", "The final answer is $\\boxed{3\\sqrt{3}}$.", "\\sqrt{27}", True),
    ("math", "The final answer is $\\boxed{3\\sqrt{2}}$.", "2\\sqrt{3}", False),
    ("math", "The final answer is $\\boxed{\\frac{\\sqrt{3}}{3}}$.", "\\frac{1}{\\sqrt{3}}", True),
    ("math", "The final answer is $\\boxed{\\frac{1}{\\sqrt{3}}}$.", "\\frac{\\sqrt{3}}{3}", True),
    ("math", "The final answer is $\\boxed{1}$.", "\\frac{1}{2}", False),
    ("math", "The final answer is $\\boxed{100}$.", "10", False),
    ("math", "The final answer is $\\boxed{-1}$.", "1", False),
    ("math", "The final answer is $\\boxed{0.5}$.", "5", False),
    ("math", "The answer is $\\$18.00$.", "18", True),
    ("math", "The answer is $\\boxed{\\textbf{(C) }24}$.", "\\text{(C)}", True),
    ("math", "The answer is $\\boxed{5\\sqrt{2}}$ units.", "5\\sqrt2", True),
    ("math", "The answer is $\\boxed{y = 2x + 3}$.", "y=2x+3", True),
    ("math", "The answer is $\\boxed{y = 2x - 3}$.", "y=2x+3", False),
    ("math", "The answer is $\\boxed{2}$ and $\\boxed{3}$.", "2, 3", True),
    ("math", "The answer is $\\boxed{6\\pi}$.", "6\\pi", True),
    ("math", "The answer is $\\boxed{18.85}$.", "6\\pi", False),
    (
        "math",
        "The answer is $\\boxed{\\frac{-1 \\pm \\sqrt{5}}{2}}$.",
        "\\frac{-1+\\sqrt5}{2}, \\frac{-1-\\sqrt5}{2}",
        True,
    ),
    ("math", "Thus $a+b+c = 3 + 4 + 5 = \\boxed{12}$.", "12", True),
    ("math", "The remainder is $\\boxed{3}$.", "3", True),
    ("math", "The largest is $\\boxed{2^{10}}$", "1024", True),
    ("math", "The answer is 2.", "2", True),
    ("math", "The answer is: 2", "2", True),
    ("math", "$x = \\boxed{5}$ or so.", "5", True),
    ("math", "The answer is $\\boxed{1{,}000}$.", "1000", True),
    ("math", "The answer is $\\boxed{5}$ cm.", "5\\text{ cm}", True),
    ("math", "The base-6 representation is $\\boxed{1254_6}$.", "1254_6", True),
    ("math", "The base-6 representation is $\\boxed{1254}$.", "1254_6", True),
    ("math", "The answer is $\\boxed{11:00 \\text{ a.m.}}$", "11:00", True),
    (
        "math",
        "The answer is $\\boxed{(-\\infty, -2) \\cup (3, \\infty)}$.",
        "(-\\infty,-2)\\cup(3,\\infty)",
        True,
    ),
    (
        "math",
        "The answer is $\\boxed{x<-2 \\text{ or } x>3}$.",
        "(-\\infty,-2)\\cup(3,\\infty)",
        True,
    ),
    (
        "math",
        "The answer is $\\boxed{\\frac{1}{4}}$. \n\n Question: What is 1+1? The answer is 2.",
        "\\frac14",
        True,
    ),
    ("math", "The answer is 5\\\\\n", "5", True),
    ("math", "I hope it is correct. The final answer is $\\boxed{8}$", "8", True),
    ("math", "The sum is $1+2+3 = 6$. Therefore the answer is 6.", "6", True),
    ("math", "The sum is $1+2+3 = 6$. Therefore, the sum is $6$.", "6", True),
    ("math", "The answer is \\boxed{\\dfrac{\\sqrt{2}}{2}}", "\\frac{\\sqrt2}{2}", True),
    ("math", "The answer is \\boxed{\\tfrac{\\sqrt{2}}{2}}", "\\frac{1}{\\sqrt2}", True),
    ("math", "So the probability is $\\boxed{\\frac{5}{36}}$.", "\\frac{5}{36}", True),
    ("math", "So the probability is $\\boxed{\\frac{5}{36}}$.", "\\frac{1}{36}", False),
    ("math", "The answer is \\boxed{e^{i\\pi/3}}", "e^{\\pi i/3}", True),
    ("math", "The answer is $\\boxed{\\text{(A), (C)}}$", "\\text{A, C}", True),
    ("math", "The answer is \\boxed{A, C}", "\\text{A, C}", True),
    ("math", "Therefore the answer is \\(\\boxed{7}\\).", "7", True),
    ("math", "Thus, the answer is $\\boxed{4 \\text{ and } 6}$", "4,6", True),
    (
        "gsm8k",
        "Sure! Here's the solution.\n\nJanet has 16 - 3 - 4 = 9 eggs.\n\nSo, Janet ma"
        "kes $18 per day at the farmers' market.\n\nTherefore, the answer is $18.",
        "18",
        True,
    ),
    ("gsm8k", "The answer is:\n18", "18", True),
    ("gsm8k", "The answer is\n\n\\[\n\\boxed{18}\n\\]", "18", True),
    ("gsm8k", "The answer is $ 18", "18", True),
    ("gsm8k", "The correct answer is 18.", "18", True),
    ("gsm8k", "#### 18\n\nQuestion: What is 2 + 3?\n#### 5", "18", True),
    (
        "gsm8k",
        "9 * 2 = 18\n\\boxed{18}\n\nHuman: Thanks! Now what is 3 + 4?\n\nAssistant: 7",
        "18",
        True,
    ),
    ("gsm8k", "so 9 * 2 = 18.\n\n### Instruction:\nSolve 3 + 4.\n\n### Response:\n7", "18", True),
    ("gsm8k", "Answer: 18\nExplanation: She had 20 eggs, then...", "18", True),
    ("gsm8k", "The answer is 18,000.", "18000", True),
    ("gsm8k", "The answer is 1,8.", "18", False),
    ("gsm8k", "The answer is 180.", "18", False),
    ("gsm8k", "The answer is 0.18", "18", False),
    ("gsm8k", "The answer is -18.", "18", False),
    ("gsm8k", "The answer is 18%.", "18", True),
    ("gsm8k", "He needs 3 1/2 cups. The answer is 3.5", "3.5", True),
    ("gsm8k", "Thus she has 30 - 12 = 18 left. \n\nANSWER: 18", "18", True),
    ("gsm8k", "Final answer: \\$18", "18", True),
    ("gsm8k", "The final answer is $18.00$.", "18", True),
    ("gsm8k", "The answer is 18 (dollars).", "18", True),
    ("gsm8k", "The answer is eighteen dollars.", "18", True),
    (
        "gsm8k",
        "Let's break it down:\n1. 16 eggs\n2. minus 3 = 13\n3. minus 4 = 9\n4. 9 x $2"
        " = $18\n\nJanet makes $18.",
        "18",
        True,
    ),
    ("gsm8k", "Result: 18", "18", True),
    ("gsm8k", "The answer is 2 hours and 30 minutes.", "150", False),
    ("gsm8k", "So the answer is 1.5e3", "1500", False),
    (
        "math",
        "Final Answer: The final answer is $\\left(\\frac{1}{2}, 3\\right)$. I hope it is correct.",
        "\\left( \\frac12, 3 \\right)",
        True,
    ),
    ("math", "Final Answer: The final answer is 25\\%. I hope it is correct.", "25\\%", True),
    ("math", "Final Answer: The final answer is $\\$ 5.00$. I hope it is correct.", "\\$5", True),
    ("math", "The answer is $\\boxed{5}$.", "5\\text{ inches}", True),
    ("math", "The answer is $\\boxed{1/4}$.", "\\frac{1}{4}", True),
    ("math", "The answer is $\\boxed{0.25}$.", "\\frac{1}{4}", True),
    ("math", "The answer is $\\boxed{4.24}$.", "3\\sqrt{2}", False),
    ("math", "The answer is $\\boxed{\\sqrt{18}}$.", "3\\sqrt{2}", True),
    ("math", "The answer is $\\boxed{32}$.", "\\$32", True),
    ("math", "The answer is $\\boxed{\\text{B}}$.", "\\text{(B)}", True),
    ("math", "The answer is $\\boxed{four}$.", "4", True),
    ("math", "The answer is $x=-2 \\text{ and } x=1$.", "-2,1", True),
    ("math", "The answer is $2\\frac{1}{4}$.", "\\frac{9}{4}", True),
    ("math", "The answer is $2.25$.", "\\frac{9}{4}", True),
    ("math", "The answer is $x = 4, y = -2$.", "(4,-2)", True),
    ("math", "The answer is $x = -2, y = 4$.", "(4,-2)", False),
    (
        "math",
        "The answer is $\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\end{pmatrix}$.",
        "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}",
        True,
    ),
    ("math", "The answer is $\\boxed{20 \\pi \\text{ square units}}$.", "20\\pi", True),
    ("math", "The answer is $\\boxed{\\text{Devon}}$.", "\\text{Devon}", True),
    ("math", "The answer is $\\boxed{2, 3, \\text{ and } 4}$.", "2,3,4", True),
    ("math", "The answer is $\\boxed{2, 3, and 4}$.", "2,3,4", True),
    (
        "math",
        "The answer is $x \\le -2 \\text{ or } x \\ge 3$.",
        "(-\\infty,-2]\\cup[3,\\infty)",
        True,
    ),
    (
        "math",
        "The answer is $x < -2 \\text{ or } x \\ge 3$.",
        "(-\\infty,-2]\\cup[3,\\infty)",
        False,
    ),
    ("math", "The answer is $\\boxed{12 \\text{ units}^2}$.", "12", True),
    ("math", "The answer is $\\boxed{6.00}$.", "6", True),
    ("math", "The answer is $\\boxed{\\sqrt{6}/3}$.", "\\frac{\\sqrt{6}}{3}", True),
    ("math", "The answer is $\\boxed{\\frac{2}{\\sqrt{6}}}$.", "\\frac{\\sqrt{6}}{3}", True),
    ("math", "The answer is $\\boxed{13,535}$.", "13535", True),
    ("math", "The answer is $\\boxed{13{,}535}$.", "13535", True),
    ("math", "The answer is $\\boxed{11}\\text{ ways}$.", "11", True),
    ("math", "The solutions are $\\boxed{3}$ and $\\boxed{4}$.", "3,4", True),
    ("math", "The answer is $\\boxed{6}$ (since $4+2=6$).", "6", True),
    ("math", "The answer is $\\boxed{2}$.", "2,3", False),
    ("math", "The answer is $\\boxed{2, 2}$.", "2", True),
    ("math", "The answer is $\\boxed{x=\\pm 2}$.", "-2,2", True),
    ("math", "The answer is $\\boxed{\\pm 2}$.", "2", False),
    ("math", "The answer is $\\boxed{\\textbf{(A)}\\ 5}$.", "\\text{(A)}", True),
    ("math", "The answer is $\\boxed{\\textbf{(A) } 5}$.", "\\text{(B)}", False),
    ("math", "The answer is $\\boxed{(A)}$", "\\text{(A)}", True),
    ("math", "The answer is $\\boxed{\\mathbb{R}}$.", "(-\\infty,\\infty)", True),
    ("math", "The answer is all real numbers.", "(-\\infty,\\infty)", True),
    ("math", "The answer is $\\boxed{0.\\overline{3}}$.", "\\frac13", True),
    ("math", "The answer is $\\boxed{\\frac{1}{2}}$, or $0.5$.", "\\frac12", True),
    ("math", "The answer is $\\frac{1}{2}$, or $0.5$.", "\\frac12", True),
    ("math", "The answer is $\\boxed{\\infty}$", "\\infty", True),
    (
        "math",
        "# Answer\n\n\\frac{1}{2}\n\n# Question\n\nWhat is $3+4$?\n\n# Answer\n\n7",
        "\\frac12",
        True,
    ),
    ("math", "So $x = 5$.\n\n# Answer\n\n5", "5", True),
    ("math", "<answer>\\frac{3}{4}</answer>", "\\frac34", True),
    ("math", "The answer is $\\boxed{\\dfrac{-3}{4}}$", "-\\frac34", True),
    ("math", "The answer is $\\boxed{-\\dfrac34}$", "-0.75", True),
    ("math", "The answer is $\\boxed{10^{-3}}$", "0.001", True),
    ("math", "The answer is $\\boxed{1 \\times 10^{-3}}$", "0.001", True),
    ("math", "The answer is $\\boxed{3^{2}}$", "9", True),
    ("math", "The answer is $\\boxed{\\binom{5}{2}}$", "10", True),
    ("math", "The answer is $\\boxed{5!}$", "120", True),
    ("math", "The answer is $\\boxed{\\log_2 8}$", "3", True),
    ("math", "The answer is $\\boxed{\\frac{1}{2}\\text{ hour}}$", "\\frac12", True),
    ("math", "The answer is $\\boxed{\\frac{x+1}{x-1}}$", "\\frac{x+1}{x-1}", True),
    ("math", "The answer is $\\boxed{\\frac{x-1}{x+1}}$", "\\frac{x+1}{x-1}", False),
    ("math", "The answer is $\\boxed{a=3, b=4}$", "(3,4)", True),
    ("math", "The answer is $\\boxed{4, 3}$", "(3,4)", False),
    ("math", "The answer is $\\boxed{\\{3, 4\\}}$", "(3,4)", False),
    ("math", "The answer is $\\boxed{\\frac{\\sqrt{3}}{2}}$.", "\\frac{\\sqrt{2}}{2}", False),
    (
        "math",
        "The final answer is $\\boxed{2}$. The final answer is $\\boxed{2}$. The fi"
        "nal answer is $\\boxed{2}$. The final",
        "2",
        True,
    ),
    ("math", "We have $f(2) = 5$ and $f(3) = 7$, so the sum is", "12", False),
    ("math", "Thus $\\boxed{1}$ is not valid, so the answer is $\\boxed{2}$.", "2", True),
    ("math", "The answer is 7 \\text{ days}.", "7", True),
    ("math", "The answer is $\\boxed{\\text{Tuesday}}$.", "\\text{Monday}", False),
    ("math", "The answer is $\\boxed{\\frac{7}{3}}$.", "2\\frac{1}{3}", True),
    ("math", "The answer is $\\boxed{.5}$.", "\\frac12", True),
]


@pytest.mark.parametrize(("task", "completion", "gold", "expected"), REALISTIC)
def test_realistic_completions(task, completion, gold, expected):
    assert grade(completion, gold, task) is expected


MATH_EQ_MORE = [
    ("12 \\mathrm{~cm}^2", "12", True),
    ("12 \\text{cm}^2", "12", True),
    ("90^{\\circ}", "90", True),
    ("\\$ 7.50", "7.5", True),
    ("7.5", "\\$7.50", True),
    ("18", "1.8", False),
    ("(1,2)", "(2,1)", False),
    ("[1,2]", "(1,2)", False),
    ("1", "\\frac{1}{2}", False),
    ("\\frac{1}{2}", "\\frac{1}{2}\\pi", False),
    ("2\\pi", "\\pi", False),
    ("\\pi", "\\frac{\\pi}{1}", True),
    ("5", "5\\sqrt{2}", False),
    ("\\sqrt{2}", "2", False),
    ("x^2", "x^3", False),
    ("2x+1", "2x+1=0", False),
    ("3", "x=3", True),
    ("y=3", "3", True),
    ("f(x)=x+1", "x+1", True),
    ("(3, 4)", "\\left(3,4\\right)", True),
    ("\\{3\\}", "3", True),
    ("3, 3", "3", True),
    ("-3", "3", False),
    ("0", "-0", True),
    ("\\frac{3}{4}", "75\\%", False),
    ("0.75", "75\\%", False),
    ("1/3", "0.33", False),
    ("0.333", "\\frac13", False),
    ("0.3333", "\\frac13", False),
    ("1.5", "\\frac{3}{2}", True),
    ("1\\frac12", "\\frac32", True),
    ("\\frac{3}{2}", "1\\frac{1}{2}", True),
    ("\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", True),
    ("\\frac{\\sqrt2}{2}", "\\frac{\\sqrt3}{2}", False),
    ("e", "e^1", True),
    ("2", "2i", False),
    ("\\text{A}", "\\text{(A)}", True),
    ("A", "B", False),
    ("(A)", "A", True),
    ("\\textbf{(E)}", "E", True),
    ("\\text{yes}", "\\text{Yes}", True),
    ("\\text{no}", "\\text{yes}", False),
    ("11:00", "11:00\\text{ a.m.}", True),
    ("4:30", "\\text{4:30 p.m.}", True),
    ("4:31", "\\text{4:30 p.m.}", False),
    ("1254", "1254_6", True),
    ("1255", "1254_6", False),
    ("101_2", "101_2", True),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,2)", True),
    ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\dfrac{\\pi}{2}", "\\pi/2", True),
    ("90", "\\frac{\\pi}{2}", False),
    ("\\frac{\\pi}{2}", "90^\\circ", False),
    ("2\\sqrt{2}", "\\sqrt8", True),
    ("2 \\sqrt 2", "\\sqrt{8}", True),
    ("\\sqrt{8}", "2.83", False),
    ("\\frac{1}{4}", "0.25", True),
    ("(-\\infty, 3]", "(-\\infty,3]", True),
    ("(-\\infty, 3)", "(-\\infty,3]", False),
    ("x \\leq 3", "(-\\infty,3]", True),
    ("x<3", "(-\\infty,3]", False),
    ("3 \\geq x", "(-\\infty,3]", True),
    ("-2 < x < 5", "(-2,5)", True),
    ("-2 \\le x < 5", "(-2,5)", False),
    ("5 > x > -2", "(-2,5)", True),
    ("x \\neq 3", "(-\\infty,3)\\cup(3,\\infty)", True),
    ("(3,\\infty)\\cup(-\\infty,-2)", "(-\\infty,-2)\\cup(3,\\infty)", True),
    ("(-\\infty,-2)\\cup(3,\\infty)", "(-\\infty,-2]\\cup(3,\\infty)", False),
    ("\\{1,2\\}", "\\{2,1\\}", True),
    ("\\{1,2\\}", "\\{1,2,3\\}", False),
    ("1, 2", "x=1 \\text{ or } x=2", True),
    ("x=1 \\text{ or } x=2", "1,2", True),
    ("x=1 \\text{ or } x=3", "1,2", False),
    ("a=1,b=2", "(1,2)", True),
    ("a=2,b=1", "(1,2)", False),
    ("10^{10}", "10000000000", True),
    ("2^{100}", "2^{100}", True),
    ("2^{100}", "2^{101}", False),
    ("1,234", "1234", True),
    ("1,234", "1,235", False),
    ("1{,}234", "1234", True),
    ("1\\,234", "1234", True),
    ("12,34", "1234", False),
    ("\\$1,234.50", "1234.5", True),
    ("1234.50", "\\$1,234.50", True),
    ("50\\%", "50", True),
    ("50\\%", "0.5", False),
    ("50", "\\frac12", False),
    ("5 \\text{ dollars}", "5", True),
    ("5 \\text{ apples}", "5", True),
    ("\\text{5 apples}", "5", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2+2x", "(x+1)^2", False),
    ("\\frac{x}{2}", "x/2", True),
    ("\\frac{x}{2}", "2/x", False),
    ("\\log_2 8", "3", True),
    ("\\ln e", "1", True),
    ("\\infty", "\\infty", True),
    ("-\\infty", "\\infty", False),
    ("\\emptyset", "\\varnothing", True),
    ("\\emptyset", "\\{\\}", True),
    ("\\text{none}", "\\text{no solution}", False),
    ("k=3", "3", True),
    ("n = 3", "3", True),
    ("AB = 3", "3", True),
    ("p(x) = x^2 + 1", "x^2+1", True),
    ("(1, -2)", "(1,-2)", True),
    ("(1, -2)", "(-1,2)", False),
    ("\\left[ 1, 2 \\right)", "[1,2)", True),
    ("0.\\overline{3}", "\\frac13", True),
    ("0.\\overline{3}", "0.3", False),
    ("\\frac{10}{3}", "3\\frac13", True),
    ("3.\\overline{3}", "\\frac{10}{3}", True),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATH_EQ_MORE)
def test_equivalent_math_more(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected
