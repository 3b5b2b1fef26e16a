"""Multiple-choice answers (AQuA's letters A-E) and short text answers (ASDiv's names,
yes/no and phrases): which answer a completion states, and whether it is the gold one.

The answer a completion states is read from, in this order: its last ``\\boxed{...}``; the
rest of the line after its last "answer is" / "answer:" / "choice is" / "option is"; else its
last non-empty line. A choice is then the letter that span starts with (``(C)``, ``C)``,
``C``, ``C: 5(√3 + 1)``, ``option C``), or, failing that, the option whose text the span is
(``5(√3 + 1)``, ``$67.40`` for ``$67.4``). On a last line without an answer phrase only a
bracketed letter counts (``(C)``, ``C)``), so a sentence starting "A car ..." is no answer.
Two options with the same text are the same answer (AQuA has seven such rows).

A text answer matches when the span equals the gold after normalisation: case, punctuation,
markdown and a leading "the"/"a"/"an" ignored (``the 60th caller`` = ``The 60th caller.``).
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


def extract_choice(completion: str | None, choices: Sequence[str] | None = None) -> str | None:
    """The option letter a completion chose (``"C"``), or None. ``choices``: the option texts
    in letter order; with them a letter past the last option does not count, and an answer
    that is an option's text chooses that option."""
    found = answer_span(completion)
    if found is None:
        return None
    span, marked = found
    letters = LETTERS[: len(choices)] if choices else LETTERS[:5]
    if marked:
        m = _LETTER_RE.match(_PREFIX_RE.sub("", span))
    else:
        m = _STRONG_LETTER_RE.match(span)
    letter = next((g for g in m.groups() if g), None) if m else None
    if letter is not None and letter.upper() in letters:
        return letter.upper()
    if choices:
        key = _option_key(span)
        for candidate, text in zip(letters, choices, strict=False):
            if key and _option_key(text) == key:
                return candidate
    return None


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
