"""Every final-answer shape (issue 12, items 1 and 2): extraction and equivalence, each class
with cases that must match and cases that must not. Examples are our own."""

from __future__ import annotations

import pytest

from lema.grading import equivalent, extract_answer, grade
from lema.grading.extract import gold_value

# ---------------------------------------------------------- a completion that is a bare answer

BARE_MATH = [
    ("3/4", "3/4"),
    ("5\\sqrt{2}", "5\\sqrt{2}"),
    ("(2,-7)", "(2,-7)"),
    ("\\frac{3}{8}", "\\frac{3}{8}"),
    ("2 500", "2 500"),
    ("$\\frac{3}{8}$", "\\frac{3}{8}"),
    ("12 cm", "12 cm"),
]


@pytest.mark.parametrize(("completion", "expected"), BARE_MATH)
def test_bare_answer_is_the_whole_text(completion, expected):
    assert extract_answer(completion, "math") == expected


@pytest.mark.parametrize(
    ("completion", "expected"), [("3/4", "0.75"), ("2 500", "2500"), ("\\frac{3}{8}", "0.375")]
)
def test_bare_answer_gsm8k(completion, expected):
    assert extract_answer(completion, "gsm8k") == expected


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("3/4", "\\frac34", True),
        ("3/4", "4", False),
        ("5\\sqrt{2}", "2", False),
        ("5\\sqrt{2}", "\\sqrt{50}", True),
        ("(2,-7)", "-7", False),
        ("(2,-7)", "(2,-7)", True),
        ("2 500", "2500", True),
        ("2 500", "500", False),
    ],
)
def test_bare_answer_graded(completion, gold, expected):
    assert grade(completion, gold, "math") is expected


@pytest.mark.parametrize(
    "completion",
    [
        "So the ratio works out to 3/4",  # prose: the last number is inside an expression
        "and hence we get 5\\sqrt{2}",
        "The point we want is (2,-7)",
        "which means the value 2^{10}",
    ],
)
def test_math_last_number_never_cut_from_an_expression(completion):
    got = extract_answer(completion, "math")
    assert got not in ("4", "2", "-7", "10")


@pytest.mark.parametrize(
    "completion",
    ["I think 3 and 4 are", "It costs $5 and then", "!!!", "\\boxed{}", "I don't know."],
)
def test_not_a_bare_answer(completion):
    """Sentences, cut-off text and empty boxes are not answers as they stand."""
    assert extract_answer(completion, "math") is None


def test_free_last_number_still_read():
    assert extract_answer("We count them all and get 18.", "math") == "18"


# ------------------------------------------------------------------------ final-answer sentences

SENTENCES = [
    ("Final Answer: The smallest $k$ is 12.", "12"),
    ("Final Answer: The number of ways is 35.", "35"),
    ("Therefore the answer is $x \\approx 7$", "7"),
    ("so the total is \\boxed{31}. \\] 2 2 2 2 \\boxed{", "31"),
    ("so the total is \\boxed{31}. \\]\n\n,,,, ) ) ) 7 7 7 7", "31"),
]


@pytest.mark.parametrize(("completion", "gold"), SENTENCES)
def test_final_answer_sentences(completion, gold):
    assert grade(completion, gold, "math") is True
    assert grade(completion, str(int(gold) + 1), "math") is False


def test_equation_answer_keeps_its_left_side():
    assert extract_answer("The line is $\\boxed{y = 2x + 1}$.", "math") == "y = 2x + 1"


# ------------------------------------------------------------------ gold given as a whole solution


def test_gold_solution_read_like_a_completion():
    gsm = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs at $2 each: 9 * 2 = 18.\n#### 18"
    assert gold_value(gsm, "gsm8k") == "18"
    assert grade("The answer is 18.", gsm, "gsm8k") is True
    assert grade("The answer is 9.", gsm, "gsm8k") is False
    math = "Halving gives $x = 1/2$, so the answer is $\\boxed{\\frac{1}{2}}$."
    assert gold_value(math, "math") == "\\frac{1}{2}"
    assert grade("so \\boxed{0.5}", math, "math") is True
    assert grade("so \\boxed{\\frac13}", math, "math") is False
    prose = (
        "Adding the two groups gives seven apples, which is the whole count of fruit that "
        "the question asks about here. The answer is 7."
    )
    assert grade("\\boxed{7}", prose, "math") is True
    assert grade("\\boxed{8}", prose, "math") is False


@pytest.mark.parametrize(
    "gold",
    ["18", "\\frac{1}{2}", "\\boxed{5}", "\\text{Devon}", "(-\\infty, 3) \\cup (5, \\infty)"],
)
def test_bare_gold_left_as_it_is(gold):
    assert gold_value(gold, "math") == gold


# ----------------------------------------------------------------------------------- equivalence

EQUAL = [
    # thousands separators
    ("12 000", "12000"),
    ("4,\\!500", "4500"),
    ("4{,}500", "4500"),
    # decimal commas a thousands separator cannot be mistaken for
    ("3,75", "3.75"),
    ("3,75", "\\frac{15}{4}"),
    ("0,125", "\\frac18"),
    # percent words, units in text commands
    ("40 percent", "40"),
    ("40 pct", "40"),
    ("40\\text{ percent}", "40\\%"),
    ("5\\text{ cm}", "5"),
    ("5\\textnormal{ cm}", "5"),
    ("5\\mbox{ cm}", "5"),
    # infinity
    ("+\\infty", "\\infty"),
    ("(-\\infty, +\\infty)", "(-\\infty,\\infty)"),
    # complex numbers in any arrangement
    ("\\frac{2+i}{4}", "\\frac12 + \\frac14 i"),
    ("\\frac{2+i}{4}", "0.5+0.25i"),
    ("\\frac14 i + \\frac12", "0.5+0.25i"),
    ("(2+i)/4", "\\frac{1}{2}+\\frac{i}{4}"),
    ("-i", "0-i"),
    # times
    ("3 p.m.", "3:00 p.m."),
    ("3\\text{ p.m.}", "3:00 \\text{p.m.}"),
    ("15:00", "3 p.m."),
    ("4:30", "\\text{4:30 p.m.}"),
    # ordinals in dates
    ("May 3rd", "May 3"),
    ("\\text{June 21st}", "\\text{June 21}"),
    # equations of the same line or curve
    ("y = 2x + 1", "2x - y + 1 = 0"),
    ("4x - 2y + 2 = 0", "y = 2x+1"),
    ("x^2 + y^2 = 4", "2x^2 + 2y^2 - 8 = 0"),
    # approximations
    ("x \\approx 12", "12"),
    ("\\frac{1}{3} \\approx 0.33", "\\frac13"),
    # bases: the same value, or the digits of a base the gold names
    ("1011_2", "11_{10}"),
    ("1011_2", "1011_{2}"),
    ("1011", "1011_2"),
    # decimals
    ("0.00041", ".00041"),
    ("0.3333333", "\\frac13"),
]

NOT_EQUAL = [
    ("12 000", "12"),
    ("1 2", "12"),
    ("3,75", "375"),
    ("3,750", "3.75"),  # three digits after the comma: a thousands separator
    ("4,5", "4.6"),
    ("40 percent", "4"),
    ("5\\text{ cm}", "6"),
    ("-\\infty", "+\\infty"),
    ("\\frac{2+i}{4}", "0.5-0.25i"),
    ("\\frac{2+i}{4}", "0.5+0.25"),
    ("i", "-i"),
    ("3:00 p.m.", "3:00 a.m."),
    ("3 p.m.", "3 a.m."),
    ("3 p.m.", "4 p.m."),
    ("3:15 p.m.", "3:00 p.m."),
    ("May 3rd", "May 4"),
    ("y = 2x + 1", "2x - y - 1 = 0"),
    ("y = 2x + 1", "y = 2x + 2"),
    ("x^2 + y^2 = 4", "x^2 + y^2 = 2"),
    ("x \\approx 12", "13"),
    ("1011_2", "1011_3"),
    ("1011_{2}", "1011_3"),
    ("1011_2", "1011_{3}"),
    ("0.00041", ".000412"),
    ("0.000041", "0.0000412"),
    ("0.333", "\\frac13"),
]


@pytest.mark.parametrize(("pred", "gold"), EQUAL)
def test_equal_shapes(pred, gold):
    assert equivalent(pred, gold, "math") is True


@pytest.mark.parametrize(("pred", "gold"), NOT_EQUAL)
def test_unequal_shapes(pred, gold):
    assert equivalent(pred, gold, "math") is False


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("12 000", "12000", True),
        ("4,\\!500", "4500", True),
        ("3,75", "3.75", True),
        ("1 2", "12", False),
        ("0.00041", "0.000412", False),
        ("40 pct", "40", True),
    ],
)
def test_gsm8k_numbers(pred, gold, expected):
    assert equivalent(pred, gold, "gsm8k") is expected
