"""Multiple-choice answers (AQuA's letters A-E), short text answers (ASDiv's names, yes/no
and phrases) and candidate answers (CSQA's five texts per question): which answer a
completion states, and whether it is the gold one.

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

A candidate answer (CSQA: the gold is one of the row's candidate texts, ``"bank"`` of
``bank, library, department store, mall, new york``) is read by :func:`extract_candidate`
from the same kind of statements, the last first (a box, the rest of the line after "The
answer is" / "answer:" ...), each mapped onto one candidate: a letter marker by position
("(A)", "B)"; "(A) bank" by its text), the statement's text after normalisation ("**The
Bank**."), its head before a clause end ("department store, because ..."), a candidate it
begins with, the only candidate it mentions ("store" inside "department store" does not
count), else the candidate closest by edit distance when the similarity
``1 - d / max(len)`` is at least :data:`CLOSE_ENOUGH` (0.7) and strictly beats the
runner-up ("banks", "libary"). A statement naming two candidates ("bank or library") and one
close to none ("pizza") are no answer (None), never a wrong candidate. Without an answer
statement only a last line that is a candidate or a bare letter counts. A choice item whose
gold is a candidate's text is graded this way by :func:`grade_choice`; a letter gold as
AQuA's is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from lema.grading.extract import trim_completion
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


def is_text_gold(gold: str | None, choices: Sequence[str] | None) -> bool:
    """Whether ``gold`` names a choice by its text (CSQA: ``"bank"`` among the candidates),
    not by its letter (AQuA: ``"C"``): it is one of ``choices`` after normalisation and not
    an option letter."""
    if gold is None or not choices:
        return False
    letter = gold.strip().strip("()").upper()
    if len(letter) == 1 and letter in LETTERS[: len(choices)]:
        return False
    return candidate_of(gold, choices) is not None


def grade_choice(completion: str | None, gold: str, choices: Sequence[str] | None = None) -> bool:
    """Whether ``completion`` chose the gold option: ``gold`` a letter (AQuA), that option or
    one with the same text; ``gold`` one of the ``choices``' texts (CSQA), the candidate
    :func:`extract_candidate` reads is it (or has its normalised text)."""
    if is_text_gold(gold, choices):
        assert choices is not None
        picked = extract_candidate(completion, choices)
        return picked is not None and candidate_key(picked) == candidate_key(gold)
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


# ------------------------------------------------------------- candidate answers (CSQA)

#: how close a statement must be to a candidate for the edit-distance fallback to take it:
#: similarity ``1 - distance / (length of the longer text)`` on the normalised texts, at
#: least this ("banks" ~ "bank": 0.8; "libary" ~ "library": 0.86; "mall" ~ "bank": 0.25)
CLOSE_ENOUGH = 0.7

#: where a candidate answer is stated: "The answer is", "answer:", "final answer =", "the
#: correct choice is", "Option:" (not "Candidate Answers:", nor "answer bank" in a list of
#: the candidates explained one by one)
_CANDIDATE_ANCHOR_RE = re.compile(
    r"\b(?:answer|choice|option)\s*(?:\*\*)?\s*"
    r"(?:(?:is|would\s+be|will\s+be|must\s+be|should\s+be)\b\s*[,:]?|[:=])\s*:?",
    re.IGNORECASE,
)
#: a statement's letter marker: bracketed "(B)" / "[B]" (group 1), a capital with a
#: separator "B)", "B.", "B:", "B -" or alone (group 2), a capital and a space, which may be
#: the article "A" (group 3); group 4: the text after it
_CANDIDATE_LETTER_RE = re.compile(
    r"\s*(?:[(\[]\s*([A-Ja-j])\s*[)\]]|([A-J])\s*(?:[).:\-]|$)|([A-J])(?=\s))\s*(.*)$", re.S
)
#: where a statement's head ends: punctuation, a dash, a bracket, a reason
_HEAD_END_RE = re.compile(
    r"[,;:!?(]|\.(?:\s|$)|\s[-–—]\s|\s+(?:because|since|due\s+to|which|where|as\s+"
    r"(?:it|they|this|that|the|a|an|people|you|one)\b)\b",
    re.IGNORECASE,
)


def levenshtein(a: str, b: str) -> int:
    """The edit distance of ``a`` and ``b``: the fewest insertions, deletions and
    substitutions of one character that turn one into the other."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """``1 - levenshtein(a, b) / max(len(a), len(b))`` (1.0 for two empty texts)."""
    longer = max(len(a), len(b))
    return 1.0 - levenshtein(a, b) / longer if longer else 1.0


def candidate_key(text: str) -> str:
    """A candidate answer compared: lower case, words and numbers only, markdown and a
    leading article gone (``The **Bank**.`` -> ``bank``)."""
    return _text_key(text)


class _Ambiguous(Exception):
    """A statement names two candidates with nothing to choose between them."""


def _head(span: str) -> str:
    """``span`` up to the end of its first clause ("department stores, because ..." ->
    "department stores")."""
    m = _HEAD_END_RE.search(span)
    return span[: m.start()] if m else span


def number_forms(key: str) -> set[str]:
    """``key`` (a :func:`candidate_key`) and what its last word may be without a regular
    English plural ending (-s, -es, -ies -> -y): ``cities`` -> {cities, citie, citi, city};
    two keys with a form in common are the same word in another number (house / houses,
    city / cities, bus / buses)."""
    head, _, last = key.rpartition(" ")
    lead = f"{head} " if head else ""
    forms = {last}
    if len(last) > 3 and last.endswith("s"):
        forms |= {last[:-1], last[:-2] if last.endswith("es") else last[:-1]}
        if last.endswith("ies"):
            forms.add(last[:-3] + "y")
    return {lead + f for f in forms if f}


def _closest(text: str, keys: Sequence[str]) -> int | None:
    """The index of the candidate key ``text`` (a key) is a plural or singular form of, when
    it is one candidate's only; else of the candidate key closest to it by edit distance, when
    that is close enough (:data:`CLOSE_ENOUGH`) and strictly closer than every candidate with
    another key; else None."""
    if not text:
        return None
    mine = number_forms(text)
    forms = {i for i, k in enumerate(keys) if k and number_forms(k) & mine}
    if len({keys[i] for i in forms}) == 1:
        return min(forms)
    distances = [levenshtein(text, k) for k in keys]
    best = min(range(len(keys)), key=lambda i: distances[i])
    if similarity(text, keys[best]) < CLOSE_ENOUGH:
        return None
    if any(distances[i] <= distances[best] for i, k in enumerate(keys) if k != keys[best]):
        return None
    return best


def _inside(text: str, keys: Sequence[str]) -> int | None:
    """The candidate occurring as a whole phrase in ``text`` (a key), when exactly one does
    (one inside a longer one's occurrence, "store" in "department store", does not count);
    None when none does; _Ambiguous when two do."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for k in dict.fromkeys(keys):
        if k:
            found = [
                (m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(k)}(?!\w)", text)
            ]
            if found:
                spans[k] = found
    every = [(s, e, k) for k, found in spans.items() for s, e in found]
    named = {
        k
        for s, e, k in every
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in every)
    }
    if len(named) > 1:
        raise _Ambiguous
    return keys.index(named.pop()) if named else None


def _by_text(span: str, keys: Sequence[str]) -> int | None:
    """The candidate a statement's text names (an index into ``keys``), or None; see
    :func:`extract_candidate` for the order of the rules."""
    text = candidate_key(span)
    if not text:
        return None
    if text in keys:
        return keys.index(text)
    head = candidate_key(_head(span))
    if head in keys:
        return keys.index(head)
    near = _closest(head, keys)
    if near is not None:
        return near
    starts = [k for k in keys if k and (text == k or text.startswith(k + " "))]
    if starts:
        first = max(starts, key=len)
        if re.match(r"(?:or|and|nor|vs|versus)\b", text[len(first) :].strip()):
            _inside(text, keys)  # "bank or library": two answers, _Ambiguous
        return keys.index(first)
    found = _inside(text, keys)
    if found is not None:
        return found
    return _closest(text, keys) if text != head else None


def _statement_candidate(span: str, keys: Sequence[str]) -> int | None:
    """The candidate (an index) one answer statement names, or None; _Ambiguous when it
    names two."""
    span = span.strip()
    bare = _PREFIX_RE.sub("", span)  # "Option B", "answer: (B)"
    m = _CANDIDATE_LETTER_RE.match(bare)
    if m is not None:
        firm, article, rest = (m.group(1) or m.group(2)), m.group(3), m.group(4).strip()
        letter = (firm or article).upper()
        position = LETTERS.index(letter) if letter in LETTERS[: len(keys)] else None
        if firm and not rest:
            return position
        if rest:
            by_text = _by_text(rest, keys)
            if by_text is not None:
                return by_text
            if firm:
                return position
    found = _by_text(span, keys)  # "answer question" may be a candidate itself
    return found if found is not None or bare == span else _by_text(bare, keys)


#: the most answer statements of a completion read (the last ones), and the longest part of
#: one read (characters): a candidate answer is short, and this bounds the edit distances
MAX_STATEMENTS = 20
MAX_STATEMENT_CHARS = 300


def _candidate_statements(completion: str) -> list[str]:
    """The spans that may state a candidate, the last first: boxes, the rest of a line after
    an answer phrase, and the letter of "(B) is the correct answer"."""
    found = [(start, content) for start, _, content in find_boxed(completion)]
    for m in _CANDIDATE_ANCHOR_RE.finditer(completion):
        rest = completion[m.end() : m.end() + MAX_STATEMENT_CHARS].split("\n", 1)[0]
        if rest.strip():
            found.append((m.start(), rest))
    found += [(m.start(), f"({m.group(1)})") for m in _IS_CORRECT_RE.finditer(completion)]
    found = sorted(found, key=lambda f: f[0], reverse=True)[:MAX_STATEMENTS]
    return [_clean(span[:MAX_STATEMENT_CHARS]) for _, span in found]


def _last_line_candidate(completion: str, keys: Sequence[str]) -> int | None:
    """The candidate a completion's last line is by itself: its text, a bare letter marker
    ("(B)", "B)", "B", "B."), or a marker and that candidate's text ("(B) library")."""
    lines = [line for line in completion.splitlines() if line.strip()]
    if not lines:
        return None
    last = _clean(lines[-1][-MAX_STATEMENT_CHARS:])
    text = candidate_key(last)
    if text and text in keys:
        return keys.index(text)
    last = _PREFIX_RE.sub("", last)
    m = _CANDIDATE_LETTER_RE.match(last)
    if m is None or not (m.group(1) or m.group(2)):
        return None
    letter = (m.group(1) or m.group(2)).upper()
    position = LETTERS.index(letter) if letter in LETTERS[: len(keys)] else None
    rest = candidate_key(m.group(4))
    if not rest:
        return position
    return keys.index(rest) if rest in keys else None


def extract_candidate(completion: str | None, candidates: Sequence[str]) -> str | None:
    """The candidate answer (its text, as in ``candidates``) a completion chose, or None.

    The completion is trimmed as :func:`lema.grading.extract_answer` trims it (stop tokens,
    a hallucinated next question), then its answer statements are read, the last first: a
    ``\\boxed{}``, the rest of a line after "The answer is" / "answer:" / "choice is" /
    "option:", the letter of "(B) is correct". The first statement that names a candidate
    decides:

    1. a letter marker alone ("B", "(B)", "B)", "Option B") is the candidate at that
       position; a marker with text ("(B) library") is what the text names, else the letter
       (a capital followed by a space only, "A bank", may be the article: its text counts);
    2. the statement is a candidate after normalisation (:func:`candidate_key`: case,
       punctuation, markdown, a leading article);
    3. its head, the text before the first clause end (",", ";", ". ", "(", " - ",
       "because", "since", "which" ...), is one, or is close to one by edit distance
       (its plural or singular form, "cities" for "city", when that is one candidate's only;
       else similarity at least :data:`CLOSE_ENOUGH` and strictly closer than every other
       candidate: "banks", "libary", "department stores, because ...");
    4. it begins with candidates at a word boundary ("bank it is"): the longest (unless "or"
       / "and" and another candidate follow it: "bank or library" is no answer);
    5. exactly one candidate occurs in it as a whole phrase (not inside a longer candidate's
       occurrence: "store" in "department store"); two: the statement hedges between two
       answers and the completion counts as no answer (None);
    6. the whole statement is close to one by edit distance (as in 3).

    Without such a statement, a last line that is itself a candidate or a bare letter
    marker counts; else None. Two candidates with the same normalised text are one answer
    (the first is returned)."""
    if not completion or not completion.strip() or not candidates:
        return None
    keys = [candidate_key(c) for c in candidates]
    text = trim_completion(str(completion))
    for span in _candidate_statements(text):
        try:
            found = _statement_candidate(span, keys)
        except _Ambiguous:
            return None
        if found is not None:
            return candidates[keys.index(keys[found])]
    found = _last_line_candidate(text, keys)
    return candidates[keys.index(keys[found])] if found is not None else None


def candidate_of(answer: str | None, candidates: Sequence[str] | None) -> str | None:
    """The candidate an answer text is after normalisation (``"The Bank."`` -> ``"bank"``),
    or None."""
    if answer is None or not candidates:
        return None
    key = candidate_key(answer)
    return next((c for c in candidates if key and candidate_key(c) == key), None)


def stated_candidate_text(completion: str | None) -> str | None:
    """Without the candidates: the answer text a completion states (the head of its last
    answer statement, cleaned), or a short last line; None when there is none."""
    if not completion or not completion.strip():
        return None
    text = trim_completion(str(completion))
    for span in _candidate_statements(text):
        head = _clean(_head(_PREFIX_RE.sub("", span)))
        if candidate_key(head):
            return head
    lines = [line for line in text.splitlines() if line.strip()]
    last = _clean(lines[-1][-MAX_STATEMENT_CHARS:]) if lines else ""
    if last and len(last.split()) <= MAX_LAST_LINE_WORDS and not _HEAD_END_RE.search(last):
        return last
    return None


#: longest last line (words) read as a stated answer when there is no answer statement and
#: no candidates to compare it with
MAX_LAST_LINE_WORDS = 5


def same_candidate(pred: str | None, gold: str | None, candidates: Sequence[str] | None) -> bool:
    """Whether answer ``pred`` is the gold candidate ``gold``: with ``candidates``, ``pred``
    read as an answer statement (:func:`extract_candidate`'s rules) names the candidate whose
    normalised text ``gold`` has (or names itself); without them, equal normalised texts."""
    if pred is None or gold is None:
        return False
    want = candidate_key(gold)
    if not want:
        return False
    if not candidates:
        return candidate_key(pred) == want
    picked = extract_candidate(f"The answer is {pred}", candidates)
    if picked is None:
        return False
    gold_candidate = candidate_of(gold, candidates)
    if gold_candidate is None:
        gold_candidate = extract_candidate(f"The answer is {gold}", candidates)
    return gold_candidate is not None and candidate_key(picked) == candidate_key(gold_candidate)
