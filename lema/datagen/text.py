"""Text normalisation of the data-generation stages: de-duplication keys, contamination
matching, and the cleaning of a sampled path."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_QUESTION_CUT = re.compile(r"\n\s*(?:Question|Problem|Q)\s*:", re.IGNORECASE)
_ANSWER_LINE = re.compile(r"(?im)^.*\bthe\s+(?:final\s+)?answer\s+is\b.*$")


def norm_ws(text: str) -> str:
    """Lower-case, NFKC and whitespace-collapsed text (de-duplication of paths)."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def norm_words(text: str) -> str:
    """Lower-case alphanumeric words only (contamination matching)."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", text or "").lower()).split())


def clean_path(completion: str) -> str:
    """A sampled path without what follows it: a new few-shot 'Question:' or chatter after
    the line that states the answer."""
    text = completion or ""
    cut = _QUESTION_CUT.search(text)
    if cut:
        text = text[: cut.start()]
    m = _ANSWER_LINE.search(text)
    if m:
        text = text[: m.end()]
    return text.strip()
