"""Answer classes the benchmark beside math-verify (benchmarks/grading_vs_math_verify.py) found
lema behind on, each with cases that must match and cases that must not. Examples are ours."""

from __future__ import annotations

import pytest

from lema.grading import equivalent, extract_answer, grade

# ------------------------------------------- GSM8K: spaced thousands and decimal commas in prose


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        ("The answer is 12 000.", "12000"),
        ("So the total is 1 234 567 dollars.\nThe answer is 1 234 567 dollars.", "1234567"),
        ("The answer is 3,75.", "3.75"),
        ("The answer is 0,5 liters.", "0.5"),
        ("The answer is 3,750.", "3750"),  # three digits: a thousands separator
        ("The answer is 12 000 + 5", "12"),  # not one number: left as before
    ],
)
def test_gsm8k_grouped_and_comma_numbers_in_a_sentence(completion, expected):
    assert extract_answer(completion, "gsm8k") == expected


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("The answer is 12 000.", "12000", True),
        ("The answer is 12 000.", "12", False),
        ("The answer is 12 000.", "1200", False),
        ("The answer is 3,75.", "3.75", True),
        ("The answer is 3,75.", "375", False),
        ("The answer is 3,75.", "3", False),
    ],
)
def test_gsm8k_grouped_and_comma_numbers_graded(completion, gold, expected):
    assert grade(completion, gold, "gsm8k") is expected


# -------------------------------------------------------------- MATH fallback: "x \approx 17"


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("So $x \\approx 17$.", "17", True),
        ("So $x \\approx 17$.", "71", False),
        ("So $\\frac13 \\approx 0.33$.", "\\frac13", True),  # the exact value before it
        ("So $\\frac13 \\approx 0.33$.", "0.33", False),
    ],
)
def test_approx_in_the_last_math(completion, gold, expected):
    assert grade(completion, gold, "math") is expected


# ------------------------------------------------------------ MATH fallback: a clock time


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("The train leaves at 4:15 p.m.", "4:15\\text{ p.m.}", True),
        ("The train leaves at 4:15 a.m.", "4:15\\text{ p.m.}", False),
        ("The train leaves at 4:15 p.m.", "15", False),  # not the minutes of the time
        ("They meet at 16:40 sharp.", "4:40\\text{ p.m.}", True),
    ],
)
def test_trailing_clock_time(completion, gold, expected):
    assert grade(completion, gold, "math") is expected


# ------------------------------------------------------ multiple choice: letters, option text


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("The answer is (D) -16.2.", "D", True),
        ("The answer is (A) 4,000.", "A", True),
        ("The answer is (B) 62, 34.", "B", True),
        ("The answer is (B) 62, 34.", "A", False),
        ("The answer is (B) 5 or (C) 6.", "B", False),  # two choices: no answer
        ("The answer is (D) -16.2.", "\\text{(D)}", True),
        ("(C)", "C", True),
        ("C", "C", True),
        ("C.", "C", True),
        ("(C)", "D", False),
        ("F", "F", False),  # not a choice letter, and no number: no answer
    ],
)
def test_choice_letters(completion, gold, expected):
    assert grade(completion, gold, "math") is expected


# ------------------------------------------------------------------ a base against its value


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("1101_{2}", "13", True),
        ("13", "1101_2", True),
        ("1101_2", "14", False),
        ("1101_2", "1101_3", False),
        ("1101_2", "1101", True),  # the digits of the base the gold means
    ],
)
def test_base_number_against_its_decimal_value(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected


# -------------------------------------------- sympy: one-letter variables are not units


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("6 +9c", "9c+6", True),
        ("6+9c", "15", False),  # math-verify's unit list would read "9c" as 9
        ("9c+6", "9c+7", False),
        ("2h+1", "1+2h", True),
    ],
)
def test_trailing_letter_variable_kept(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected


# --------------------------------------------- a bare answer in one-letter variables only


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("q - r + p", "p+q-r", True),
        ("q - r + p", "p-q+r", False),
        ("a^b", "a^b", True),
        ("I am", "I", False),  # words, not algebra
    ],
)
def test_bare_letter_algebra(completion, gold, expected):
    assert grade(completion, gold, "math") is expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("(E) None of these", "E", True),
        ("(A): 4", "A", True),
        ("(E)+1", "E", False),  # arithmetic on a letter is no option text
        ("\\text{(E)},+1", "\\text{(E)},", False),
        ("(A)(B)", "A", False),
    ],
)
def test_choice_letter_with_text_equivalence(pred, gold, expected):
    assert equivalent(pred, gold, "math") is expected


# ------------------------------------------------------- GSM8K: a hedged answer is no answer


@pytest.mark.parametrize(
    ("completion", "gold", "expected"),
    [
        ("The answer is 27 or 28.", "27", False),
        ("The answer is 27 or 28.", "28", False),  # not the last number either
        ("The answer is 27, or maybe 28.", "27", False),
        ("#### 27 or 28", "27", False),
        ("The answer is 27 ordered pairs.", "27", True),  # "or" inside a word
        ("The answer is 27 or 28.\nThe answer is 28.", "28", True),  # a later statement decides
    ],
)
def test_gsm8k_hedged_answer(completion, gold, expected):
    assert grade(completion, gold, "gsm8k") is expected
