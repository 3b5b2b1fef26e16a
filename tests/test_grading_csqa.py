"""CommonsenseQA grading: a completion's answer mapped onto one of the row's candidate texts
(lema.grading.choice.extract_candidate), the task-kind grading with candidates, grade_batch
items, the paper's nearest-candidate rule, and every row of the real dev file."""

from __future__ import annotations

import pytest

from lema.evaluation.votes import label_samples, majority_correct
from lema.grading import (
    equivalent,
    extract_answer,
    extract_candidate,
    grade,
    grade_batch,
    grade_choice,
    paper_correct,
    typed_item,
)
from lema.grading.choice import CLOSE_ENOUGH, levenshtein, similarity
from tests.conftest import in_ci
from tests.datafiles import SHARED_BENCHMARKS, jsonl

CANDS = ("bank", "library", "department store", "mall", "new york")
#: candidates where one is a prefix / a part of another
STORES = ("store", "department store", "shop", "grocery store", "street")


def pick(completion: str, candidates=CANDS) -> str | None:
    return extract_candidate(completion, candidates)


# ---------------------------------------------------------------------------- edit distance


class TestLevenshtein:
    @pytest.mark.parametrize(
        ("a", "b", "d"),
        [("", "", 0), ("bank", "bank", 0), ("bank", "banks", 1), ("", "abc", 3),
         ("kitten", "sitting", 3), ("libary", "library", 1), ("flaw", "lawn", 2)],
    )  # fmt: skip
    def test_distance(self, a, b, d):
        assert levenshtein(a, b) == d
        assert levenshtein(b, a) == d

    def test_similarity(self):
        assert similarity("bank", "banks") == pytest.approx(0.8)
        assert similarity("", "") == 1.0
        assert similarity("mall", "bank") < CLOSE_ENOUGH


# ------------------------------------------------------------------------ extract_candidate


class TestExact:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("Step 1: banks keep money.\nThe answer is bank.", "bank"),
            ("The answer is new york.", "new york"),
            ("The answer is department store", "department store"),
        ],
    )
    def test_matches(self, completion, want):
        assert pick(completion) == want

    @pytest.mark.parametrize(
        "completion",
        ["The answer is pizza.", "The answer is a kitchen.", "Let me think about it."],
    )
    def test_no_candidate(self, completion):
        assert pick(completion) is None


class TestNormalisation:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is BANK.", "bank"),
            ("The answer is **bank**.", "bank"),
            ("The answer is: **Library**", "library"),
            ("**The answer is:** the mall.", "mall"),
            ("the answer is a bank", "bank"),
            ("The answer is an library!", "library"),
            ("The answer is 'New York'.", "new york"),
            ("The answer is: department   store.", "department store"),
            ("Answer: mall", "mall"),
        ],
    )
    def test_matches(self, completion, want):
        assert pick(completion) == want

    @pytest.mark.parametrize(
        ("completion", "not_want"),
        [("The answer is **banker's lamp**.", "bank"), ("The answer is the malleable.", "mall")],
    )
    def test_other_words_do_not(self, completion, not_want):
        assert pick(completion) != not_want


class TestNumber:
    """A candidate in the other grammatical number: a plural whose edit distance is too far
    for the threshold (-ies, -es) still names its candidate, when it names one only."""

    @pytest.mark.parametrize(
        ("completion", "candidates", "want"),
        [
            ("The answer is cities.", ("london", "apartment building", "city", "town"), "city"),
            ("The answer is libraries.", ("home", "library", "cabinet"), "library"),
            ("The answer is rushes.", ("slowly", "rush", "have fun"), "rush"),
            ("The answer is houses.", ("house", "mouse", "barn"), "house"),
            ("The answer is city.", ("cities", "town", "village"), "cities"),
            ("The answer is department stores.", STORES, "department store"),
        ],
    )
    def test_matches(self, completion, candidates, want):
        assert pick(completion, candidates) == want

    @pytest.mark.parametrize(
        ("completion", "candidates"),
        [
            ("The answer is glasses.", ("grass", "class", "mass")),  # no candidate's plural
            ("The answer is boxes.", ("bus", "fox", "ox")),  # near words, not its singular
        ],
    )
    def test_no_answer(self, completion, candidates):
        assert pick(completion, candidates) is None

    def test_the_exact_candidate_wins_over_another_in_the_other_number(self):
        assert pick("The answer is glasses.", ("glass", "glasses", "cup")) == "glasses"
        assert pick("The answer is glass.", ("glass", "glasses", "cup")) == "glass"


class TestBox:
    def test_box(self):
        assert pick("Reasoning...\n\\boxed{bank}") == "bank"
        assert pick("So \\boxed{\\text{department store}}.") == "department store"
        assert pick("The answer is $\\boxed{mall}$.") == "mall"

    def test_last_box_wins_and_far_box_is_none(self):
        assert pick("\\boxed{bank} no wait \\boxed{library}") == "library"
        assert pick("\\boxed{pizza}") is None


class TestLetters:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is A", "bank"),
            ("The answer is (B).", "library"),
            ("The answer is C)", "department store"),
            ("The answer is option D.", "mall"),
            ("The answer is E.", "new york"),
            ("The answer is (A) bank", "bank"),
            ("The answer is (B) library.", "library"),
            ("The answer is (A) library", "library"),  # the text wins over the letter
            ("The answer is (C) dept.", "department store"),  # text names nothing: the letter
            ("The answer is A bank.", "bank"),  # "A" is the article here
            ("(B) is the correct answer.", "library"),
        ],
    )
    def test_matches(self, completion, want):
        assert pick(completion) == want

    @pytest.mark.parametrize(
        "completion",
        [
            "The answer is F.",  # past the last candidate
            "The answer is A good place to keep money.",  # an article, no candidate
        ],
    )
    def test_no_answer(self, completion):
        assert pick(completion) is None


class TestPrefixAndExplanation:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is bank. Explanation: a library has no vault.", "bank"),
            ("The answer is department stores, because a mall is outdoors.", "department store"),
            ("The answer is mall, since a bank is closed.", "mall"),
            ("The answer is bank because it has a vault", "bank"),
            ("The answer is new york city", "new york"),
            ("The answer is library - quiet and calm, unlike a bank", "library"),
        ],
    )
    def test_matches(self, completion, want):
        assert pick(completion) == want

    def test_candidate_must_end_at_a_word_boundary(self):
        assert pick("The answer is banking.") is None  # not "bank", and 0.57 from it
        assert pick("The answer is mallard ducks.") is None


class TestInsideSentence:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is that people go to the bank.", "bank"),
            ("The answer is clearly the library in this case.", "library"),
            ("The answer is going to a department store to shop.", "department store"),
        ],
    )
    def test_one_candidate(self, completion, want):
        assert pick(completion) == want

    @pytest.mark.parametrize(
        "completion",
        [
            "The answer is either the bank or the library.",
            "The answer is bank or library.",
            "The answer is: it could be a mall and also a bank.",
        ],
    )
    def test_two_candidates_are_no_answer(self, completion):
        assert pick(completion) is None

    def test_two_candidates_do_not_fall_back_to_an_earlier_statement(self):
        assert pick("The answer is bank.\nWait, the answer is bank or mall.") is None


class TestFuzzy:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is banks.", "bank"),
            ("The answer is libary.", "library"),
            ("The answer is departmen store.", "department store"),
            ("The answer is malls", "mall"),
            ("The answer is New Yrok.", "new york"),
        ],
    )
    def test_close_enough(self, completion, want):
        assert pick(completion) == want

    def test_one_substitution_in_four_letters_is_within_the_threshold(self):
        assert pick("The answer is bark.") == "bank"  # similarity 0.75

    @pytest.mark.parametrize(
        "completion",
        ["The answer is cinema.", "The answer is york.", "The answer is pizza.",
         "The answer is banking."],
    )  # fmt: skip
    def test_far_word_is_no_answer(self, completion):
        assert pick(completion) is None  # not a wrong candidate

    def test_tie_is_no_answer(self):
        assert pick("The answer is cat.", ("bat", "hat", "dog")) is None
        assert pick("The answer is cats.", ("cat", "hat", "dog")) == "cat"


class TestLastLine:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("Banks keep money safe.\nbank", "bank"),
            ("Thinking...\n**Library**.", "library"),
            ("Thinking...\n(C)", "department store"),
            ("Thinking...\nD", "mall"),
            ("Thinking...\n(E) new york", "new york"),
            ("mall", "mall"),
        ],
    )
    def test_line_that_is_an_answer(self, completion, want):
        assert pick(completion) == want

    @pytest.mark.parametrize(
        "completion",
        [
            "A bank has revolving doors for security.",  # a sentence, not a letter
            "I would go to the bank.",  # a candidate inside prose, no answer phrase
            "Thinking...\nbanks",  # fuzzy needs an answer statement
            "",
            "   ",
        ],
    )
    def test_prose_is_no_answer(self, completion):
        assert pick(completion) is None

    def test_candidate_list_in_an_echoed_prompt_is_no_answer(self):
        text = "Candidate Answers: bank, library, department store, mall, new york.\nHmm."
        assert pick(text) is None


class TestPrefixCandidates:
    @pytest.mark.parametrize(
        ("completion", "want"),
        [
            ("The answer is department store.", "department store"),
            ("The answer is store.", "store"),
            ("The answer is a department store, where doors revolve.", "department store"),
            ("The answer is that you buy it at the grocery store.", "grocery store"),
            ("The answer is a store.", "store"),
            ("The answer is street", "street"),
            ("The answer is stores.", "store"),
            ("The answer is department stores", "department store"),
        ],
    )
    def test_longest_wins(self, completion, want):
        assert pick(completion, STORES) == want

    def test_two_separate_mentions_are_no_answer(self):
        text = "The answer is that the shop is next to the department store."
        assert pick(text, STORES) is None


class TestBounded:
    def test_long_completions_are_read_quickly(self):
        import time

        started = time.perf_counter()
        one_line = "the answer is a bank or " * 8000 + "The answer is mall."
        assert pick(one_line) == "mall"
        assert pick("x" * 200_000) is None
        assert pick("The answer is " + "libary " * 30_000) is None
        assert time.perf_counter() - started < 5


# ------------------------------------------------------------- task-kind grading, choices


class TestTaskKind:
    def test_extract_answer_with_and_without_choices(self):
        text = "Step 1: ...\nThe answer is: **Banks**, because they have vaults."
        assert extract_answer(text, "csqa", CANDS) == "bank"
        assert extract_answer(text, "csqa") == "Banks"
        assert extract_answer("The answer is pizza.", "csqa", CANDS) is None
        assert extract_answer("Just thinking about the question here.", "csqa") is None

    def test_equivalent(self):
        assert equivalent("banks", "bank", "csqa", CANDS)
        assert equivalent("bank", "bank", "csqa", CANDS)
        assert not equivalent("library", "bank", "csqa", CANDS)
        assert not equivalent("pizza", "bank", "csqa", CANDS)
        assert equivalent("The Bank.", "bank", "csqa")
        assert not equivalent("banks", "bank", "csqa")  # no candidates: text equality only
        assert not equivalent(None, "bank", "csqa", CANDS)

    def test_grade(self):
        assert grade("The answer is (A).", "bank", "csqa", CANDS)
        assert not grade("The answer is (B).", "bank", "csqa", CANDS)
        assert not grade("The answer is bank or library.", "bank", "csqa", CANDS)

    def test_other_kinds_ignore_choices(self):
        assert extract_answer("The answer is 18.", "gsm8k", CANDS) == "18"
        assert grade("The answer is $\\frac12$.", "0.5", "math", CANDS)
        assert equivalent("18", "18.0", "gsm8k", CANDS)

    def test_grade_choice_text_gold_and_letter_gold(self):
        assert grade_choice("The answer is banks.", "bank", CANDS)
        assert not grade_choice("The answer is mall.", "bank", CANDS)
        # a letter gold is graded as AQuA's: the letter, or an option with the same text
        assert grade_choice("The answer is (A).", "A", CANDS)
        assert grade_choice("The answer is bank", "A", CANDS)
        assert not grade_choice("The answer is (B).", "A", CANDS)

    def test_duplicate_candidate_texts_are_one_answer(self):
        cands = ("Bank", "library", "bank.", "mall", "park")
        assert grade("The answer is (C).", "Bank", "csqa", cands)
        assert grade_choice("The answer is C", "Bank", cands)


class TestBatch:
    def test_csqa_items(self):
        items = [
            ("The answer is bank.", "bank", "csqa", CANDS),
            ("The answer is (B).", "library", "csqa", CANDS),
            ("The answer is mall.", "bank", "csqa", CANDS),
            ("The answer is pizza.", "bank", "csqa", CANDS),
            ("The answer is banks.", "bank", "csqa"),  # no candidates: text equality
            ("", "bank", "csqa", CANDS),
        ]
        got = [(g.pred, g.correct) for g in grade_batch(items, workers=1)]
        assert got == [
            ("bank", True),
            ("library", True),
            ("mall", False),
            (None, False),
            ("banks", False),
            (None, False),
        ]

    def test_typed_choice_items_with_a_text_gold(self):
        items = [
            typed_item("The answer is department stores.", "department store", "choice", CANDS),
            typed_item("The answer is (D)", "department store", "choice", CANDS),
            typed_item("The answer is cinema", "department store", "choice", CANDS),
            typed_item("The answer is (C)", "C", "choice", CANDS),  # a letter gold: AQuA's way
        ]
        got = [(g.pred, g.correct) for g in grade_batch(items, workers=1)]
        assert got == [
            ("department store", True),
            ("mall", False),
            (None, False),
            ("C", True),
        ]


class TestVotes:
    def test_candidates_cluster(self):
        comps = ["The answer is library.", "The answer is Library", "The answer is mall",
                 "The answer is bank", "the answer is libary"]  # fmt: skip
        graded = grade_batch([(c, "bank", "csqa", CANDS) for c in comps], workers=1)
        answers = [[g.pred for g in graded]]
        correct = [[g.correct for g in graded]]
        labels = label_samples(answers, correct, "csqa", workers=1)
        assert labels == [[0, 0, 2, 3, 0]]
        assert not majority_correct(labels[0], correct[0], 5)

    def test_texts_without_candidates_cluster_by_normalised_text(self):
        # contested (a correct vote, outvoted): the wrong answers are compared
        answers = [["Library", "library.", "bank", "the library", "mall"]]
        correct = [[False, False, True, False, False]]
        labels = label_samples(answers, correct, "csqa", workers=1)
        assert labels == [[0, 0, 2, 0, 4]]
        assert not majority_correct(labels[0], correct[0], 5)
        assert equivalent("the library", "Library.", "csqa")


# -------------------------------------------------------------------------- the paper rule


class TestPaperRule:
    def test_nearest_candidate_without_threshold(self):
        # the paper maps anything after "The answer is" to the nearest candidate
        assert paper_correct("The answer is banx.", "bank", "csqa", CANDS)
        assert paper_correct("The answer is bank.", "bank", "csqa", CANDS)
        assert not paper_correct("The answer is library.", "bank", "csqa", CANDS)
        # a far word still maps to the nearest candidate ("bank": 4 edits; "mall": 5)
        assert paper_correct("The answer is pizza.", "bank", "csqa", CANDS)
        assert not grade("The answer is pizza.", "bank", "csqa", CANDS)
        assert paper_correct("The answer is banking.", "bank", "csqa", CANDS)
        assert not grade("The answer is banking.", "bank", "csqa", CANDS)

    def test_far_word_is_a_candidate_for_the_paper_and_none_for_us(self):
        cands = ("dog", "cat", "zebra", "fish", "bird")
        assert paper_correct("The answer is cow.", "dog", "csqa", cands)  # d(cow, dog) = 2
        assert extract_candidate("The answer is cow.", cands) is None

    def test_ties_go_to_the_first_candidate(self):
        cands = ("bat", "hat", "dog")
        assert paper_correct("The answer is cat", "bat", "csqa", cands)
        assert not paper_correct("The answer is cat", "hat", "csqa", cands)

    def test_needs_the_phrase(self):
        assert not paper_correct("\\boxed{bank}", "bank", "csqa", CANDS)
        assert not paper_correct("answer: bank", "bank", "csqa", CANDS)
        assert not paper_correct("The answer is bank.", "bank", "csqa")  # no candidates
        # only the last "The answer is" counts
        assert not paper_correct("The answer is bank. The answer is mall.", "bank", "csqa", CANDS)

    def test_metrics_use_it_for_csqa_and_text_gold_choice_items(self):
        from lema.evaluation.metrics import _paper_correct

        assert _paper_correct(("The answer is banks.", "bank", "csqa", CANDS)) is True
        assert _paper_correct(typed_item("The answer is mall", "bank", "choice", CANDS)) is False
        assert _paper_correct(typed_item("The answer is (A)", "A", "choice", CANDS)) is None
        assert _paper_correct(typed_item("The answer is Bob", "Bob", "text")) is None


# ------------------------------------------------------------------------ the real dev file

CSQA_DEV = SHARED_BENCHMARKS / "csqa_dev.jsonl"


@pytest.fixture(scope="module")
def dev_rows() -> list[dict]:
    if not CSQA_DEV.is_file():
        if in_ci():
            pytest.fail(f"CI=true but {CSQA_DEV} is missing", pytrace=False)
        pytest.skip(f"needs the CSQA dev file at {CSQA_DEV} (set LEMA_SHARED_DATA)")
    return jsonl(CSQA_DEV)


@pytest.mark.shared
def test_dev_gold_and_other_candidates(dev_rows):
    items, want = [], []
    for row in dev_rows:
        cands = tuple(row["candidates"])
        assert row["answer"] in cands
        for c in cands:
            items.append(
                (f"Step 1: think about it.\nThe answer is {c}.", row["answer"], "csqa", cands)
            )
            want.append(c.strip().lower() == row["answer"].strip().lower())
    graded = grade_batch(items, workers=1)
    wrong = [(it[0], it[1]) for it, g, w in zip(items, graded, want, strict=True) if g.correct != w]
    assert not wrong, wrong[:5]
    assert all(g.pred is not None for g in graded)


@pytest.mark.shared
def test_dev_typo_gold_still_maps_to_the_gold(dev_rows):
    checked = 0
    for row in dev_rows:
        gold, cands = row["answer"], tuple(row["candidates"])
        if len(gold) < 6:
            continue
        k = len(gold) // 2
        typo = gold[:k] + gold[k + 1 :]
        d_gold = levenshtein(typo.lower(), gold.lower())
        if any(levenshtein(typo.lower(), c.lower()) <= d_gold for c in cands if c != gold):
            continue  # another candidate is as close: no answer is right
        checked += 1
        got = grade_batch([(f"The answer is {typo}.", gold, "csqa", cands)], workers=1)[0]
        assert got.correct, (typo, gold, cands, got)
    assert checked > 500


def test_grading_items_of_a_csqa_table_carry_the_candidates():
    import polars as pl

    from lema.evaluation.metrics import _paper_correct, grading_items

    frame = pl.DataFrame(
        {
            "id": ["q1", "q2"],
            "completion": ["The answer is banks.", "The answer is pizza."],
            "gold": ["bank", "bank"],
            "choices": [list(CANDS), list(CANDS)],
        }
    )
    items = grading_items(frame, "csqa")
    assert items == [(c, "bank", "csqa", CANDS) for c in frame["completion"]]
    assert [(g.pred, g.correct) for g in grade_batch(items, workers=1)] == [
        ("bank", True),
        (None, False),
    ]
    assert [_paper_correct(it) for it in items] == [True, True]  # pizza: nearest is bank
    assert grading_items(frame, "gsm8k")[0] == ("The answer is banks.", "bank", "gsm8k")
