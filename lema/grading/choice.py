"""Multiple-choice answers (AQuA's letters A-E) and short text answers (ASDiv's names,
yes/no and phrases): which answer a completion states, and whether it is the gold one.

A choice is read from the statements of a completion, the last first: a ``\\boxed{...}``, the
rest of a line after an answer phrase ("The answer is", "Answer:", "Answer D", "ANS:D",
"answer = B", "Option B", "answer will be"), and "D is the correct choice" / "(A) is correct".
A statement names the letter it starts with (``(C)``, ``C)``, ``C``, ``C: 5(√3 + 1)``), or the
option whose text it is (``5(√3 + 1)``, ``$67.4`` for ``$67.40``). Failing all of them, a
last line that is a bracketed letter or the letter alone (``(C)``, ``C)``, ``C``) counts, so
a sentence starting "A car ..." is no answer, and neither is a question's own "Answer
Choices:" list. Two options with the same text are the same answer (AQuA has seven such
rows). On AQuA's gold rationales this reads the gold letter in 236 of 254 and a wrong one in
none (the other 18 state no letter).

A text answer is the last box's content, else the rest of the line after the last "answer
is" / "answer:" / "choice is", else the last line; it matches when it equals the gold after
normalisation (case, punctuation, markdown and a leading "the"/"a"/"an" ignored: ``the 60th
caller`` = ``The 60th caller.``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from lema.grading.latex import find_boxed

LETTERS = "ABCDEFGHIJ"

_ANCHOR_RE = re.compile(r"\b(?:answer|choice|option)\s*(?:is\b|:)\s*:?", re.IGNORECASE)
_WRAPPER_RE = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit)\s*\{([^{}]*)\}")
_PREFIX_RE = re.compile(r"^(?:option|choice|answer)\s+", re.IGNORECASE)
#: a letter the span starts with, bracketed or followed by a separator: "(C)", "C)", "C: …"
_LETTER_RE = re.compile(r"[(\[]\s*([A-Ja-j])\s*[)\]]|([A-J])(?:\)|(?=[\s:.,;]|$))")
#: on a last line without an answer phrase: "(C)", "[C]", "C)", or the letter alone
_STRONG_LETTER_RE = re.compile(r"(?:[(\[]\s*([A-Ja-j])\s*[)\]]|([A-Ja-j])\))|([A-J])\.?$")
_DASHES = str.maketrans({"–": "-", "—": "-", "−": "-", "‐": "-"})


def _clean(span: str) -> str:
    """``span`` without markdown emphasis, ``$``, LaTeX text wrappers and edge punctuation."""
    s = span.replace("**", "").replace("__", "")
    s = s.replace("\\$", "$").replace("$", "")
    for _ in range(3):
        s = _WRAPPER_RE.sub(r"\1", s)
    return s.strip().lstrip(":").strip().rstrip(".").strip()


def answer_span(completion: str | None) -> tuple[str, bool] | None:
    """The answer a completion states, cleaned, and whether an answer phrase or a box marked
    it (False: it is only the last line); None when the completion is empty."""
    if not completion or not completion.strip():
        return None
    boxes = find_boxed(completion)
    if boxes:
        return _clean(boxes[-1][2]), True
    anchors = list(_ANCHOR_RE.finditer(completion))
    if anchors:
        rest = completion[anchors[-1].end() :].split("\n", 1)[0]
        if rest.strip():
            return _clean(rest), True
    lines = [line for line in completion.splitlines() if line.strip()]
    return _clean(lines[-1]), False


def _option_key(text: str) -> str:
    """An option text compared: dashes unified, spaces, ``$`` and case ignored, a number as
    its value (``$67.40`` = ``67.4``)."""
    s = _clean(text).translate(_DASHES).replace(",", "")
    s = re.sub(r"\s+", "", s).lower()
    try:
        value = Decimal(s)
    except InvalidOperation:
        return s
    return format(value.normalize(), "f") if value.is_finite() else s


#: where a choice is stated: "answer is", "Answer:", "Answer D", "ANS:D", "answer.A",
#: "answer = B", "Option B", "choice is" (not "Answer Choices:", a question's option list,
#: nor "each answer choice:")
_CHOICE_ANCHOR_RE = re.compile(
    r"\b(?:answer(?!\s*choices?\b)|ans|(?<!answer )choice|option)\b(?!\s*choices)\s*"
    r"(?:(?:is|will\s+be|would\s+be|must\s+be)\b\s*[,:]?|[=:.\-])?\s*:?",
    re.IGNORECASE,
)
#: "D is the correct choice", "(A) is correct answer", "B is right", "D is the answer"
_IS_CORRECT_RE = re.compile(
    r"(?<![\w(\[])[(\[]?([A-J])[)\]]?\s+is\s+(?:the\s+)?(?:correct|right|answer)\b",
    re.IGNORECASE,
)


def _choice_statements(completion: str) -> list[str]:
    """The spans that may state a choice, the last first: boxes, the rest of a line after an
    answer phrase, and the letter of "X is the correct answer"."""
    found = [(start, content) for start, _, content in find_boxed(completion)]
    for m in _CHOICE_ANCHOR_RE.finditer(completion):
        rest = completion[m.end() :].split("\n", 1)[0]
        if rest.strip():
            found.append((m.start(), rest))
    found += [(m.start(), f"({m.group(1)})") for m in _IS_CORRECT_RE.finditer(completion)]
    return [_clean(span) for _, span in sorted(found, key=lambda f: f[0], reverse=True)]


def _chosen(
    span: str, pattern: re.Pattern[str], letters: str, choices: Sequence[str] | None
) -> str | None:
    """The letter ``span`` starts with (as ``pattern`` reads one) or the option it is."""
    m = pattern.match(_PREFIX_RE.sub("", span))
    letter = next((g for g in m.groups() if g), None) if m else None
    if letter is not None and letter.upper() in letters:
        return letter.upper()
    key = _option_key(span)
    for candidate, text in zip(letters, choices or (), strict=False):
        if key and _option_key(text) == key:
            return candidate
    return None


def extract_choice(completion: str | None, choices: Sequence[str] | None = None) -> str | None:
    """The option letter a completion chose (``"C"``), or None: the last statement of a
    choice that names an option, else a last line that is one ("(C)", "C)", "C").
    ``choices``: the option texts in letter order; with them a letter past the last option
    does not count, and an answer that is an option's text chooses that option."""
    if not completion or not completion.strip():
        return None
    letters = LETTERS[: len(choices)] if choices else LETTERS[:5]
    for span in _choice_statements(completion):
        letter = _chosen(span, _LETTER_RE, letters, choices)
        if letter is not None:
            return letter
    last = _clean([line for line in completion.splitlines() if line.strip()][-1])
    return _chosen(last, _STRONG_LETTER_RE, letters, choices)


def grade_choice(completion: str | None, gold: str, choices: Sequence[str] | None = None) -> bool:
    """Whether ``completion`` chose the gold option ``gold`` (a letter), or an option with the
    same text."""
    gold = gold.strip().strip("()").upper()
    picked = extract_choice(completion, choices)
    if picked is None:
        return False
    if picked == gold:
        return True
    if choices and gold in LETTERS[: len(choices)]:
        same = _option_key(choices[LETTERS.index(picked)])
        return same == _option_key(choices[LETTERS.index(gold)])
    return False


def _text_key(text: str) -> str:
    """A text answer compared: lower case, words and numbers only, no leading article."""
    s = _clean(text).lower().translate(_DASHES).replace("'", "").replace("’", "")
    s = re.sub(r"(?<!\d)\.|\.(?!\d)", "", s)  # "p.m." = "pm", "Mrs." = "Mrs"; 2.5 stays
    s = re.sub(r"[^\w\s:/.]", " ", s)
    s = re.sub(r"(?<!\d)[:/]|[:/](?!\d)", " ", s)  # 3:30 and 5/2 stay
    s = re.sub(r"\s+", " ", s).strip()
    return re.sub(r"^(?:the|a|an) ", "", s)


def extract_text_answer(completion: str | None) -> str | None:
    """The text answer a completion states (see :func:`answer_span`), or None."""
    found = answer_span(completion)
    return found[0] if found and found[0] else None


def grade_text(completion: str | None, gold: str) -> bool:
    """Whether ``completion`` states the text answer ``gold`` (up to case, punctuation and a
    leading article; the part before a comma counts too: "Mrs. Hilt, since ...")."""
    stated = extract_text_answer(completion)
    want = _text_key(gold)
    if stated is None or not want:
        return False
    return want in (_text_key(stated), _text_key(stated.split(",", 1)[0]))
