"""The paper's own grading rule, beside lema's: how An et al. (2023) scored their outputs.

The LeMa paper's figures come from microsoft/LEMA's evaluation script, which does not test
mathematical equivalence. It reads the text after the **last** "The answer is " of a
completion and then:

- GSM8K: cleans it to a number (currency signs, commas, words, a trailing period, a final
  "%" go; after "=" or ">>" only the last part counts; before ":" only the first) and
  compares it with the gold number as floats: ``18.0`` = ``18``, but an answer never stated
  as "The answer is ..." is wrong, whatever number the text ends with. Simple arithmetic
  (``3/4``, ``-5``, ``2+3``) is evaluated, here with our own small parser, never ``eval``.
- MATH: takes that text (without ``$`` and one trailing period; a ``\\boxed{}`` in it, or
  with no "The answer is" at all the completion's last ``\\boxed{}``, gives its content),
  normalises it as the Hendrycks MATH code does (``strip_string``: no newlines, spaces,
  ``\\!``, ``\\left``/``\\right``, ``^\\circ``, ``\\$``, ``\\%``; ``dfrac``/``tfrac`` ->
  ``frac``; ``\\frac12`` -> ``\\frac{1}{2}``; ``\\sqrt2`` -> ``\\sqrt{2}``; units after
  ``\\text{ `` (with the space); a short ``k = `` prefix; ``.5`` -> ``0.5``; exactly ``0.5`` ->
  ``\\frac{1}{2}``; ``3/4`` -> ``\\frac{3}{4}``) and compares the two strings exactly.
  So ``\\dfrac12`` = ``\\frac{1}{2}`` and ``0.5`` = ``\\frac12``, but ``0.25`` != ``\\frac14``,
  ``2\\sqrt2`` != ``\\sqrt8`` and ``50%`` != ``50`` (a plain ``%`` stays).
- CSQA: maps that text (whitespace and one trailing period stripped, nothing else) to the
  candidate answer at the smallest edit distance, whatever the distance (ties to the first
  candidate), and counts it right when that is the gold candidate; no "The answer is":
  wrong. So "The answer is pizza" is graded as whichever candidate happens to be nearest,
  where lema's own rule (:func:`lema.grading.choice.extract_candidate`) says "no answer".

The gold answer goes through the same normalisation: a bare answer (what lema's tables hold)
as it is, a whole solution through the same extraction first. This module is our own code
following that description; it does only string operations, in time linear in the text.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from lema.grading.choice import levenshtein
from lema.grading.extract import check_task

#: what metrics.json records as the paper rule
PAPER_RULE = (
    "microsoft/LEMA evaluation: the text after the last 'The answer is'; GSM8K compared as a "
    "float, MATH as a string after the Hendrycks MATH normalisation (no symbolic equivalence), "
    "CSQA mapped to the candidate at the smallest edit distance"
)

_PHRASE = "The answer is "
#: the longest arithmetic expression evaluated (characters) and the largest exponent
_MAX_EXPR = 200
_MAX_EXPONENT = 64
_MAX_BITS = 4096


class _NoAnswer(Exception):
    """The rule finds no usable answer (the script's fallback value)."""


# ------------------------------------------------------------------------------------ MATH


def _last_box(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces counted from the first ``{`` after it);
    without a ``\\boxed``, the last ``\\fbox``, which never counts (it is not ``\\boxed{``)."""
    idx = text.rfind("\\boxed")
    if idx < 0:
        idx = text.rfind("\\fbox")
        if idx < 0:
            return None
    depth = 0
    for j in range(idx, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                span = text[idx : j + 1]
                return span[len("\\boxed{") : -1] if span.startswith("\\boxed{") else None
    return None


def _units(s: str) -> str:
    """Drop units written ``\\text{ unit}`` on the right (two of them: no answer)."""
    parts = s.split("\\text{ ")
    if len(parts) == 1:
        return s
    if len(parts) != 2:
        raise _NoAnswer
    return parts[0]


def _sqrt_braces(s: str) -> str:
    """``\\sqrt3`` -> ``\\sqrt{3}`` (one character); ``\\sqrt`` at the very end: no answer."""
    pieces = s.split("\\sqrt")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if not piece:
            raise _NoAnswer
        out.append("\\sqrt" + (piece if piece[0] == "{" else "{" + piece[0] + "}" + piece[1:]))
    return "".join(out)


def _frac_braces(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{72}`` -> ``\\frac{1}{72}`` (``\\frac{72}1``
    stays); a ``\\frac`` with one character after it leaves the string as it was."""
    pieces = s.split("\\frac")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if not piece:
            raise _NoAnswer
        if piece[0] == "{":
            out.append("\\frac" + piece)
        elif len(piece) < 2:
            return s
        elif piece[1] != "{":
            out.append("\\frac{" + piece[0] + "}{" + piece[1] + "}" + piece[2:])
        else:
            out.append("\\frac{" + piece[0] + "}" + piece[1:])
    return "".join(out)


def _slash_fraction(s: str) -> str:
    """``3/4`` (two integers written plainly) -> ``\\frac{3}{4}``."""
    parts = s.split("/")
    if len(parts) != 2:
        return s
    try:
        a, b = int(parts[0]), int(parts[1])
    except ValueError:
        return s
    return f"\\frac{{{a}}}{{{b}}}" if s == f"{a}/{b}" else s


def normalise_math(s: str) -> str:
    """The Hendrycks MATH normalisation of an answer string, step by step in its order.
    Raises _NoAnswer where the original would fail."""
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "")
    s = _units(s)
    s = s.replace("\\%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        s = sides[1]
    s = _sqrt_braces(s)
    s = s.replace(" ", "")
    s = _frac_braces(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _slash_fraction(s)


def _math_raw(text: str) -> str | None:
    """The MATH answer text of a completion, before normalisation (None: none)."""
    for cut in ("Q:", "Question:"):
        if cut in text:
            text = text.split(cut, 1)[0].strip()
    text = text.replace("The answer is: ", _PHRASE)
    if _PHRASE not in text:
        return _last_box(text)
    result = text.rsplit(_PHRASE, 1)[1].strip()
    if result.endswith("."):
        result = result[:-1]
    result = result.replace("$", "").strip()
    if "boxed{" in result:
        return _last_box(result)
    return result


def math_answer(completion: str, *, bare: bool = False) -> str | None:
    """The paper rule's normalised MATH answer of ``completion`` (``bare``: the text is the
    answer itself, as a gold answer is), or None when it finds none."""
    raw = completion if bare else _math_raw(completion)
    if not raw:
        return None
    try:
        return normalise_math(raw) or None
    except _NoAnswer:
        return None


# ----------------------------------------------------------------------------------- GSM8K

_TOKEN_RE = re.compile(r"\s*(\d+\.?\d*|\.\d+|\*\*|//|[-+*/()])")


class _Arithmetic:
    """A tiny recursive-descent evaluator of ``+ - * / // **`` and parentheses over decimal
    numbers (what the script hands to Python): never ``eval``; bounded exponents."""

    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:
                raise _NoAnswer
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise _NoAnswer
        self.i += 1
        return tok

    def value(self) -> float:
        v = self._sum()
        if self._peek() is not None:
            raise _NoAnswer
        return float(v)

    def _sum(self) -> int | float:
        v = self._product()
        while self._peek() in ("+", "-"):
            op, w = self._take(), self._product()
            v = v + w if op == "+" else v - w
        return v

    def _product(self) -> int | float:
        v = self._unary()
        while self._peek() in ("*", "/", "//"):
            op, w = self._take(), self._unary()
            if op != "*" and w == 0:
                raise _NoAnswer
            v = v * w if op == "*" else (v / w if op == "/" else v // w)
        return v

    def _unary(self) -> int | float:
        if self._peek() in ("+", "-"):
            sign = self._take()
            v = self._unary()
            return -v if sign == "-" else v
        return self._power()

    def _power(self) -> int | float:
        base = self._atom()
        if self._peek() != "**":
            return base
        self._take()
        exp = self._unary()
        if abs(exp) > _MAX_EXPONENT or (base == 0 and exp < 0):
            raise _NoAnswer
        if isinstance(base, int) and abs(base) > 1 and abs(exp) * base.bit_length() > _MAX_BITS:
            raise _NoAnswer  # far beyond any float: what Python would fail to convert
        return base**exp

    def _atom(self) -> int | float:
        tok = self._take()
        if tok == "(":
            v = self._sum()
            if self._take() != ")":
                raise _NoAnswer
            return v
        if not (tok[0].isdigit() or tok[0] == "."):
            raise _NoAnswer
        if "." in tok:
            return float(tok)
        if len(tok) > 1 and tok[0] == "0" and tok.strip("0"):
            raise _NoAnswer  # Python rejects 05 as a literal
        return int(tok)


def _gsm8k_number(result: str) -> float:
    """The script's cleaning of the text after 'The answer is ' into a float."""
    if not result:
        raise _NoAnswer
    result = result.removesuffix(".").replace("£", "").replace("€", "")
    if not result:
        raise _NoAnswer
    result = result.removesuffix(".").replace(",", "")
    if "=" in result:
        result = result.rsplit("=", 1)[1].strip()
    if ">>" in result:
        result = result.rsplit(">>", 1)[1].strip()
    result = "".join(c for c in result.lower() if c not in string.ascii_lowercase)
    result = result.split(":", 1)[0].replace("$", "").replace('"', "")
    if "%" in result:
        result = result.strip()
        if not result.endswith("%"):
            raise _NoAnswer
        result = result[:-1]
    result = result.removesuffix("/").replace(" ", "") if result else result
    if not result:
        raise _NoAnswer
    try:
        if any(op in result for op in "+-*/"):
            if len(result) > _MAX_EXPR:
                raise _NoAnswer
            return _Arithmetic(result).value()
        return float(result)
    except (ValueError, OverflowError, TypeError):
        raise _NoAnswer from None


def gsm8k_answer(completion: str, *, bare: bool = False) -> float | None:
    """The paper rule's GSM8K number of ``completion`` (``bare``: the text is the answer
    itself; a whole solution's ``#### N`` is read too), or None when it finds none."""
    if bare:
        text = completion.rsplit("####", 1)[1] if "####" in completion else completion
        result = text.strip()
    else:
        for cut in ("\n\nQ: ", "\n\nQuestion: "):
            if cut in completion:
                completion = completion.split(cut, 1)[0]
        completion = completion.replace("The answer is: ", _PHRASE)
        if _PHRASE not in completion:
            return None
        result = completion.rsplit(_PHRASE, 1)[1]
    try:
        return _gsm8k_number(result)
    except _NoAnswer:
        return None


def _is_solution(gold: str) -> bool:
    return _PHRASE.strip() in gold or "\\boxed" in gold or "####" in gold


# ------------------------------------------------------------------------------------ CSQA


def csqa_answer(completion: str, candidates: Sequence[str]) -> str | None:
    """The paper rule's CSQA candidate of ``completion``: the text after the last "The answer
    is " (whitespace and one trailing period stripped) mapped to the candidate at the smallest
    edit distance, with no threshold (ties: the first such candidate); None without "The
    answer is" or candidates."""
    if _PHRASE not in completion or not candidates:
        return None
    result = completion.rsplit(_PHRASE, 1)[1].strip().removesuffix(".").strip()
    distances = [levenshtein(result, c) for c in candidates]
    return candidates[distances.index(min(distances))]


# ----------------------------------------------------------------------------------- all


def paper_correct(
    completion: str | None, gold: str | None, task: str, choices: Sequence[str] | None = None
) -> bool:
    """Whether ``completion`` is right under the paper's rule (see the module docstring).
    ``gold`` is a bare answer or a whole solution (CSQA: the gold candidate's text, with
    ``choices`` the row's candidates; ignored for the other kinds)."""
    task = check_task(task)
    if not completion or gold is None or not str(gold).strip():
        return False
    gold = str(gold)
    if task == "csqa":
        picked = csqa_answer(completion, choices or ())
        return picked is not None and picked.strip() == gold.strip()
    bare = not _is_solution(gold)
    if task == "gsm8k":
        pred_num = gsm8k_answer(completion)
        gold_num = gsm8k_answer(gold, bare=bare or "####" in gold)
        return pred_num is not None and gold_num is not None and pred_num == gold_num
    pred = math_answer(completion)
    ref = math_answer(gold, bare=bare)
    return pred is not None and ref is not None and pred == ref
