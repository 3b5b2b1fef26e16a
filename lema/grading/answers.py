"""Answer extraction and grading for GSM8K and MATH: the module every stage uses.

``extract_answer(completion, task)`` finds the final answer of a model completion or a gold
solution; ``equivalent(pred, gold, task)`` decides whether two answers are the same;
``grade(completion, gold, task)`` is extract-then-compare.

How MATH equivalence is decided, cheapest first:

1. Both answers are normalised as strings (``normalize_math``): ``\\left``/``\\right``,
   spacing commands, ``\\dfrac``, ``\\frac12``, ``$``, ``\\%``, degrees, text units,
   ``\\text{...}`` wrappers, ``x =`` prefixes, thousands separators. Equal strings are equal.
2. The answers are split into structure (``parse_structure``): tuples and intervals (order and
   bracket types matter), sets and bare comma lists (order does not), unions of intervals,
   matrices. Structure mismatches are decided here.
3. Each element pair is compared as a scalar: text answers case-insensitively, plain numbers
   (integers, decimals, fractions, mixed numbers) exactly with ``fractions.Fraction``.
4. What is left (radicals, pi, polynomials, expressions) goes to sympy through math-verify's
   LaTeX parser and ``verify``, in a separate worker process (``lema.grading.sympy_worker``) with a
   hard per-call deadline: a stuck worker is killed and replaced, so every call returns in
   bounded time from any thread. Model output is parsed only by regular expressions, our own
   number parser and the antlr LaTeX grammar; it never reaches ``eval``/``sympify``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from functools import lru_cache

log = logging.getLogger(__name__)

TASKS = ("gsm8k", "math")

#: hard bound (seconds) on one sympy comparison, measured in the calling process
SYMPY_TIMEOUT_S = float(os.environ.get("LEMA_GRADE_TIMEOUT", "3.0"))
#: the worker's own (signal-based) budget; shorter, so a well-behaved worker answers in time
WORKER_BUDGET_S = max(0.5, SYMPY_TIMEOUT_S - 1.0)
#: most sympy worker processes at once (concurrent callers beyond this wait their turn)
MAX_WORKERS = int(os.environ.get("LEMA_GRADE_WORKERS", str(max(2, os.cpu_count() or 2))))
#: longest answer text handed to sympy; longer ones are compared as strings only
MAX_SYMPY_CHARS = 400
#: longest answer normalised; longer ones are compared verbatim
MAX_ANSWER_CHARS = 3000
#: answer statements of one kind considered (the last ones)
MAX_ANCHORS = 20
#: longest completion scanned (characters, from the end)
MAX_COMPLETION_CHARS = 200_000


def _check_task(task: str) -> str:
    t = (task or "").strip().lower()
    if t not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return t


# ---------------------------------------------------------------------------------------------
# Brace-aware helpers
# ---------------------------------------------------------------------------------------------

_BOX_RE = re.compile(r"\\(?:boxed|fbox|framebox)\b\s*")


def _match_brace(s: str, i: int) -> int:
    """Index of the brace closing the one at ``s[i]`` (``-1`` if unbalanced)."""
    depth = 0
    for k in range(i, len(s)):
        c = s[k]
        if c == "\\":  # skip escaped braces \{ \}
            continue
        if c == "{" and (k == 0 or s[k - 1] != "\\"):
            depth += 1
        elif c == "}" and (k == 0 or s[k - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return k
    return -1


def find_boxed(text: str) -> list[tuple[int, int, str]]:
    """All ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed X`` as (start, end, content)."""
    out = []
    pos = 0
    while True:
        m = _BOX_RE.search(text, pos)
        if not m:
            break
        j = m.end()
        if j < len(text) and text[j] == "{":
            k = _match_brace(text, j)
            if k < 0:  # unbalanced: take the rest, minus trailing delimiters
                content = text[j + 1 :].rstrip().rstrip("$").rstrip()
                out.append((m.start(), len(text), content))
                break
            out.append((m.start(), k + 1, text[j + 1 : k]))
            pos = k + 1
        else:  # \boxed 5  /  \boxed5
            mm = re.match(r"[^\s$\\]+|\\[a-zA-Z]+", text[j:])
            if mm:
                out.append((m.start(), j + mm.end(), mm.group(0)))
                pos = j + mm.end()
            else:
                pos = j
    return out


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{}`` (the MATH gold-answer convention), else None."""
    boxes = find_boxed(text)
    return boxes[-1][2].strip() if boxes else None


def _split_top(s: str, seps: str = ",") -> list[str]:
    """Split ``s`` at separators outside (), [], {} and \\{ \\}."""
    parts, depth, cur = [], 0, []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            cur.append(s[i : i + 2])
            i += 2
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c in seps and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def _outer_pair_closes_at_end(s: str) -> bool:
    """True when the bracket opening at s[0] is closed only by s[-1] (any bracket kinds)."""
    depth = 0
    for k, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and k != len(s) - 1:
                return False
    return depth == 0


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

_NUM_BODY = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_NUM_RE = re.compile(r"(?<![\w.])-?" + _NUM_BODY + r"(?![\d])")
_WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def _to_fraction(num: str) -> Fraction | None:
    num = num.replace(",", "")
    try:
        return Fraction(num)
    except (ValueError, ZeroDivisionError):
        return None


_FRAC_RE = re.compile(r"^(-)?\\frac\{(-?\s*[\d.]+)\}\{(-?\s*[\d.]+)\}$")
_MIXED_RE = re.compile(r"^(-)?(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
_SLASH_RE = re.compile(r"^(-)?\(?(-?[\d.]+)\)?\s*/\s*\(?(-?[\d.]+)\)?$")
_MIXED_SLASH_RE = re.compile(r"^(-)?(\d+)\s+(\d+)/(\d+)$")


def parse_number(s: str) -> Fraction | None:
    """An exact number from a plain numeric answer: -3, 1,000, 2.50, .5, 3/4, \\frac{3}{4},
    -\\frac34 (after normalisation), 2\\frac{1}{2} (mixed number = 5/2). None otherwise."""
    s = s.strip().replace(" ", "") if re.fullmatch(r"[-\d., ]+", s.strip()) else s.strip()
    if not s or len(s) > 60:
        return None
    if re.fullmatch(r"-?" + _NUM_BODY, s):
        return _to_fraction(s)
    if re.fullmatch(r"\+" + _NUM_BODY, s):
        return _to_fraction(s[1:])
    m = _FRAC_RE.match(s)
    if m:
        a, b = _to_fraction(m.group(2).replace(" ", "")), _to_fraction(m.group(3).replace(" ", ""))
        if a is None or b is None or b == 0:
            return None
        v = a / b
        return -v if m.group(1) else v
    m = _MIXED_RE.match(s)
    if m:
        w, a, b = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if b == 0:
            return None
        v = w + Fraction(a, b)
        return -v if m.group(1) else v
    m = _SLASH_RE.match(s)
    if m:
        a, b = _to_fraction(m.group(2)), _to_fraction(m.group(3))
        if a is None or b is None or b == 0:
            return None
        v = a / b
        return -v if m.group(1) else v
    m = _MIXED_SLASH_RE.match(s)
    if m:
        w, a, b = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if b == 0:
            return None
        v = w + Fraction(a, b)
        return -v if m.group(1) else v
    return None


def _is_decimal_text(s: str) -> bool:
    return bool(re.fullmatch(r"[-+]?\d*\.\d+", s.strip().replace(",", "")))


def numbers_equal(a: Fraction, b: Fraction, a_text: str = "", b_text: str = "") -> bool:
    """Exact equality; when one side is written as a decimal, equality to 1e-6 relative
    (so 0.3333333 matches 1/3 but 0.33 does not)."""
    if a == b:
        return True
    if _is_decimal_text(a_text) or _is_decimal_text(b_text):
        return abs(a - b) <= Fraction(1, 10**6) * max(1, abs(a), abs(b))
    return False


# ---------------------------------------------------------------------------------------------
# Cleaning shared by both tasks
# ---------------------------------------------------------------------------------------------

_STOP_TOKENS = ("<|endoftext|>", "</s>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<eos>")
_CONTINUATION_RE = re.compile(
    r"\n\s*(?:(?:#+\s*|\*\*)?(?:Question|Problem|Q|Instruction|Human|User|Input|Exercise)"
    r"\s*\d*\s*(?:\*\*)?\s*[:.]|#+\s*(?:Question|Problem|Instruction)\b)",
    re.IGNORECASE,
)
#: text before a hallucinated follow-up question that makes it the model's own work: an answer
#: statement, or (before an unnumbered "Question:") any number, as GSM8K chains of thought often
#: end with a bare "... = 18." ("Question 2:" after numbers may be part of the solution)
_HAS_ANSWER_RE = re.compile(r"\\boxed|\\fbox|answer|####", re.IGNORECASE)


def _trim(text: str) -> str:
    """Drop what a model wrote after its own answer: stop tokens and hallucinated follow-up
    questions ("\\n\\nQuestion: ..."), when an answer was given before them."""
    text = text[-MAX_COMPLETION_CHARS:]
    for tok in _STOP_TOKENS:
        k = text.find(tok)
        if k >= 0:
            text = text[:k]
    for m in _CONTINUATION_RE.finditer(text):
        before = text[: m.start()]
        if m.start() > 0 and (
            _HAS_ANSWER_RE.search(before)
            or (not re.search(r"\d", m.group(0)) and re.search(r"\d", before))
        ):
            return before
    return text


_TEXTCMD_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|mbox|mathrm|mathbf|"
    r"mathit|mathsf|mathtt|mathnormal|operatorname|hbox|emph)\s*\{"
)


def _unwrap_cmd(s: str, cmd_re: re.Pattern[str], keep: Callable[[str], str] = lambda x: x) -> str:
    """Replace ``\\cmd{X}`` by ``keep(X)`` (brace-aware, all occurrences)."""
    out = []
    pos = 0
    while True:
        m = cmd_re.search(s, pos)
        if not m:
            out.append(s[pos:])
            break
        j = m.end() - 1
        k = _match_brace(s, j)
        if k < 0:
            out.append(s[pos:])
            break
        out.append(s[pos : m.start()])
        out.append(keep(s[j + 1 : k]))
        pos = k + 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# MATH normalisation
# ---------------------------------------------------------------------------------------------

_UNIT_WORDS = (
    "units?|square|sq|cubic|cu|feet|foot|ft|inch(?:es)?|in|yards?|yd|miles?|mi|mph|km|kilometers?|"
    "kilometres?|meters?|metres?|m|cm|mm|centimeters?|millimeters?|grams?|g|kg|kilograms?|"
    "pounds?|lbs?|ounces?|oz|tons?|liters?|litres?|l|ml|gallons?|gal|quarts?|pints?|cups?|"
    "seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|weeks?|months?|years?|yrs?|"
    "dollars?|cents?|euros?|points?|degrees?|deg|radians?|rad|percent|ways?|integers?|"
    "numbers?|digits?|people|persons?|students?|edges?|faces?|vertices|diagonals?|"
    "handshakes?|games?|matches|teams?|outfits?|sandwiches|combinations?|arrangements?|"
    "possibilities|choices|paths?|routes?|triangles?|squares?|rectangles?|questions?|"
    "problems?|pages?|books?|marbles?|balls?|coins?|cards?|boxes|apples?|candies|cookies|"
    "pieces?|slices?|tiles?|rows?|columns?|times|sides?|blocks?|stamps?|members?|"
    "boys?|girls?|men|women|children|kids|miles per hour|per hour|per day|each|total|"
    "inches squared|feet squared|square units|square feet|square inches|square meters|"
    "square centimeters|cubic units|cubic feet|cubic inches|cubic centimeters|cubic meters|"
    "am|pm|a\\.m\\.?|p\\.m\\.?"
)
_TRAILING_TEXT_UNIT_RE = re.compile(
    r"^(?P<body>.*?[\w})\]!.])\s*\\text\{\s*[a-zA-Z][a-zA-Z .\-']*\}\s*(?:\^\s*\{?\d\}?)?\s*$"
)
_TRAILING_WORD_UNIT_RE = re.compile(
    r"^(?P<body>.*?[\d})\]])\s*(?:(?:" + _UNIT_WORDS + r")\b\.?\s*)+(?:\^\s*\{?\d\}?)?\s*$",
    re.IGNORECASE,
)
_LEFT_RIGHT_RE = re.compile(
    r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg)"
    r"(?![a-zA-Z])\s*(\\?[()\[\]{}|.]|\\[lr]?vert|\\[lr]angle|"
    r"\\lbrace|\\rbrace|\\lbrack|\\rbrack)?"
)
_SPACING_RE = re.compile(
    r"(?<!\\)\\[,;:!>]|\\quad|\\qquad|\\hspace\*?\{[^}]*\}|\\displaystyle|"
    r"\\textstyle|\\limits|\\nonumber|\\mathrm\{th\}|\\text\{th\}"
)
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°|\^\s*\{\s*o\s*\}")
_FRAC_SHORT_RE = [
    (re.compile(r"\\frac\s*(\d)\s*(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*(\d)\s*\{"), r"\\frac{\1}{"),
    (re.compile(r"\\frac\s*\{([^{}]*)\}\s*(\d)"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\frac\s*([a-zA-Z])\s*([a-zA-Z0-9])"), r"\\frac{\1}{\2}"),
    (re.compile(r"\\sqrt\s*(\d+|[a-zA-Z])"), r"\\sqrt{\1}"),
]
_ASSIGN_RE = re.compile(
    r"^\s*(?:[a-zA-Z](?:_\{?\w+\}?)?|\\[a-zA-Z]+|[a-zA-Z]\s*\([a-z]\)|"
    r"\\text\{[^{}]*\}|[a-zA-Z]{2,12})\s*=(?!=)\s*"
)
_THOUSANDS_RE = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_SEP_WORDS_RE = re.compile(r"\\text\{\s*,?\s*(?:and|or)\s*\}|,?\s+(?:and|or)\s+|\\(?:and|or)\b|;")
_MC_RE = re.compile(r"^\(?([A-Ea-e])\)?$")
_MC_LEAD_RE = re.compile(r"^\(([A-E])\)(?:\s+|\s*[:=]\s*)[^\s+\-*/^]")
_TEXT_ONLY_RE = re.compile(r"^\\text\{([^{}]*)\}$")


def _strip_units(s: str) -> str:
    for _ in range(3):
        m = _TRAILING_TEXT_UNIT_RE.match(s)
        if m and m.group("body").strip() and not m.group("body").rstrip().endswith(("=", "+", "-")):
            s = m.group("body").strip()
            continue
        m = _TRAILING_WORD_UNIT_RE.match(s)
        if m and m.group("body").strip():
            s = m.group("body").strip()
            continue
        break
    return s


_REPEATING_RE = re.compile(r"(?<![\d.])(-?)(\d*)\.(\d*)\\(?:overline|bar)\s*\{\s*(\d+)\s*\}")
_ALL_REALS_RE = re.compile(
    r"\\mathbb\s*\{?R\}?|\\R|\\reals|(?:\\text\{\s*)?(?:all\s+)?real\s+numbers\s*\}?|"
    r"(?:\\text\{\s*)?all\s+reals\s*\}?",
    re.I,
)


_EMPTY_SET_RE = re.compile(
    r"\\(?:emptyset|varnothing)|\\\{\s*\\\}|\{\s*\}|"
    r"(?:\\text\{\s*)?(?:the\s+)?empty\s+set\s*\}?",
    re.I,
)


def _repeating_to_frac(m: re.Match[str]) -> str:
    sign, whole, fixed, rep = m.group(1), m.group(2) or "0", m.group(3), m.group(4)
    if len(fixed) + len(rep) > 30:
        return m.group(0)
    v = Fraction(
        int(whole + fixed + rep) - int(whole + fixed or "0"),
        10 ** len(fixed) * (10 ** len(rep) - 1),
    )
    return f"{sign}\\frac{{{v.numerator}}}{{{v.denominator}}}"


@lru_cache(maxsize=65536)
def normalize_math(s: str) -> str:
    """A canonical LaTeX string for a MATH answer (spaces kept where LaTeX needs them)."""
    s = s.strip()
    if not s:
        return ""
    b = find_boxed(s)
    if b and b[-1][0] == 0:
        s = b[-1][2]
    s = s.replace("\n", " ").replace("\t", " ").replace("\r", " ")
    s = s.replace("−", "-").replace("–", "-").replace("×", "\\times ").replace("÷", "\\div ")
    s = s.replace("π", "\\pi ").replace("√", "\\sqrt").replace("∞", "\\infty ")
    s = s.replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    s = s.replace("\\[", "").replace("\\]", "")
    s = re.sub(r"\*\*|__", "", s)  # markdown bold
    s = _LEFT_RIGHT_RE.sub(lambda m: m.group(1) if m.group(1) and m.group(1) != "." else "", s)
    s = re.sub(r"\{\s*,\s*\}", ",", s)  # 10{,}000
    s = _SPACING_RE.sub(" ", s)
    s = re.sub(r"(?<!\\)\\ ", " ", s).replace("~", " ")
    s = re.sub(r"\\[dtc]frac", r"\\frac", s)
    s = s.replace("\\mbox", "\\text").replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = s.replace("\\lbrack", "[").replace("\\rbrack", "]")
    s = s.replace("\\langle", "(").replace("\\rangle", ")")
    s = _DEGREE_RE.sub("", s)
    s = re.sub(r"\\?%|\\text\{\s*percent\s*\}", "", s)
    s = re.sub(r"\\infin\b|\\infinity\b", r"\\infty", s)
    s = _REPEATING_RE.sub(_repeating_to_frac, s)  # 0.\overline{3} -> \frac{1}{3}
    if _ALL_REALS_RE.fullmatch(s.strip()):
        s = "(-\\infty,\\infty)"
    elif _EMPTY_SET_RE.fullmatch(s.strip()):
        s = "\\emptyset"
    s = re.sub(r"\\dots|\\ldots|\\cdots", "", s) if re.search(r"\d", s) else s
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(".").rstrip()
    s = re.sub(r"^(?:\\text\{\s*\}|\s)+|(?:\\text\{\s*\}|\s)+$", "", s)
    # lists written with words: "1 and 2", "x=1 \text{ or } x=2"
    s = _SEP_WORDS_RE.sub(",", s)
    s = re.sub(r",\s*,", ",", s).strip(", ")
    s = _strip_units(s)
    # remaining \text{..} / \mathrm{..} wrappers
    s = _unwrap_cmd(s, _TEXTCMD_RE)
    s = _unwrap_cmd(s, re.compile(r"\\(?:boxed|fbox|overline|underline)\s*\{"))
    s = _strip_units(s.strip())
    for rx, rep in _FRAC_SHORT_RE:
        s = rx.sub(rep, s)
    # "x = 5" -> "5" (also inside list elements); chains "a = b = 5" -> "5"
    parts = _split_top(s, ",")
    if all("=" in p for p in parts) or len(parts) == 1:
        new = []
        for p in parts:
            if p.count("=") and not re.search(r"[<>]|\\[lg]eq?|\\neq", p):
                pieces = re.split(r"(?<![<>!\\])=", p)
                if len(pieces) > 2 or _ASSIGN_RE.match(p):
                    p = pieces[-1]
            new.append(p.strip())
        s = ",".join(new) if len(parts) > 1 else new[0]
    # "\frac{1}{3} \approx 0.33": the exact value is the answer
    if "\\approx" in s and s.split("\\approx")[0].strip():
        s = s.split("\\approx")[0]
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if _THOUSANDS_RE.match(s.replace(" ", "")):
        s = s.replace(",", "").replace(" ", "")
    # base subscripts: 2516_8, 2516_{8}
    s = re.sub(r"^(\w+)_\{?\d+\}?$", r"\1", s)
    # "x \in [2, 5)" -> "[2, 5)"
    s = re.sub(r"^[a-zA-Z]\s*\\in\s+", "", s)
    m = _MC_RE.match(s)
    if m:
        s = m.group(1).upper()
    elif s.lower() in _WORD_NUMBERS:
        s = str(_WORD_NUMBERS[s.lower()])
    return s


def _key(s: str) -> str:
    """Comparison key: normalised and spaceless."""
    return re.sub(r"\s+", "", s)


_TEXT_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_MATH_WORDS = {
    "sin",
    "cos",
    "tan",
    "cot",
    "sec",
    "csc",
    "log",
    "ln",
    "exp",
    "sqrt",
    "frac",
    "pi",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "max",
    "min",
    "gcd",
    "lcm",
    "mod",
    "pmod",
    "infty",
    "cup",
    "cap",
    "det",
    "lim",
    "deg",
    "sum",
    "prod",
    "int",
    "binom",
    "dfrac",
}


def _is_text_answer(s: str) -> bool:
    """A word answer (a name, a weekday, 'no solution') rather than mathematics."""
    words = [w for w in _TEXT_WORD_RE.findall(s) if w.lower() not in _MATH_WORDS]
    if not words:
        return False
    letters = sum(len(w) for w in words)
    return letters >= 3 and not re.search(r"[\^_]|\\frac|\\sqrt", s)


def _text_key(s: str) -> str:
    return re.sub(r"[\s.,;:!'\"()\\{}]", "", s).lower()


# ---------------------------------------------------------------------------------------------
# Structure of MATH answers
# ---------------------------------------------------------------------------------------------

_MATRIX_RE = re.compile(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^}]*\})?(.*?)\\end\{\1\}", re.S)


def parse_structure(s: str) -> tuple:
    """('matrix', rows) | ('union', parts) | ('seq', open, close, elems) | ('set', elems) |
    ('list', elems) | ('scalar', s) for a normalised answer ``s``."""
    s = s.strip()
    m = _MATRIX_RE.fullmatch(s)
    if not m and len(s) > 2 and s[0] + s[-1] in ("[]", "()"):
        m = _MATRIX_RE.fullmatch(s[1:-1].strip())
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        return ("matrix", [[c.strip() for c in r.split("&")] for r in rows])
    if "\\cup" in s:
        parts = [p.strip() for p in s.split("\\cup")]
        if all(p for p in parts):
            return ("union", parts)
    if s.startswith("\\{") and s.endswith("\\}"):
        return ("set", [e.strip() for e in _split_top(s[2:-2], ",")])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _outer_pair_closes_at_end(s):
        elems = _split_top(s[1:-1], ",")
        if len(elems) >= 2:
            return ("seq", s[0], s[-1], [e.strip() for e in elems])
    elems = _split_top(s, ",")
    if len(elems) >= 2 and all(e.strip() for e in elems):
        return ("list", [e.strip() for e in elems])
    return ("scalar", s)


def _expand_pm(elems: list[str]) -> list[str]:
    out = []
    for e in elems:
        if e.count("\\pm") == 1:
            a, b = e.split("\\pm")
            a = a.strip()
            out.append(f"{a}+{b.strip()}" if a else b.strip())
            out.append(f"{a}-{b.strip()}" if a else f"-{b.strip()}")
        else:
            out.append(e)
    return out


Tri = bool | None  # True / False / undecided


def _all3(results) -> Tri:
    """Conjunction of tri-state results (False wins, then None)."""
    undecided = False
    for r in results:
        if r is False:
            return False
        if r is None:
            undecided = True
    return None if undecided else True


def _match_unordered(p: list[str], g: list[str], scalar: Callable[[str, str], Tri]) -> Tri:
    if len(p) != len(g):
        return False
    remaining = list(range(len(p)))
    undecided = False
    for ge in g:
        hit = None
        for idx in remaining:
            r = scalar(p[idx], ge)
            if r is True:
                hit = idx
                break
            if r is None:
                undecided = True
        if hit is None:
            return None if undecided else False
        remaining.remove(hit)
    return True


_RELATION_RE = re.compile(r"[<>]|\\[lg]eq?\b|\\[lg]t\b|\\leqslant|\\geqslant")
_REL_OPS = {
    "<": "<",
    ">": ">",
    "\\lt": "<",
    "\\gt": ">",
    "\\le": "<=",
    "\\leq": "<=",
    "\\leqslant": "<=",
    "\\ge": ">=",
    "\\geq": ">=",
    "\\geqslant": ">=",
    "<=": "<=",
    ">=": ">=",
    "\\ne": "!=",
    "\\neq": "!=",
}
_REL_OP_RX = r"(<=|>=|<|>|\\(?:leqslant|geqslant|leq|geq|le|ge|lt|gt|neq|ne)(?![a-zA-Z]))"
_INEQ1_RE = re.compile(r"^([a-zA-Z])\s*" + _REL_OP_RX + r"\s*(.+)$")
_INEQ1R_RE = re.compile(r"^(.+?)\s*" + _REL_OP_RX + r"\s*([a-zA-Z])$")
_INEQ2_RE = re.compile(r"^(.+?)\s*" + _REL_OP_RX + r"\s*([a-zA-Z])\s*" + _REL_OP_RX + r"\s*(.+)$")
_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "!=": "!="}


def _ineq_to_intervals(s: str) -> str | None:
    """A one-variable inequality (or a list of them joined by 'or') as a union of intervals:
    "x<-2, x>3" -> "(-\\infty,-2)\\cup(3,\\infty)"; "-1 \\le x < 2" -> "[-1,2)"; None when
    ``s`` is anything else."""
    parts = [q.strip() for q in _split_top(s, ",")]
    var, out = None, []

    def bound_ok(b: str, v: str) -> bool:
        return (
            bool(b)
            and not _RELATION_RE.search(b)
            and "=" not in b
            and not re.search(r"(?<![\\a-zA-Z])" + v + r"(?![a-zA-Z])", b)
        )

    for q in parts:
        m2 = _INEQ2_RE.match(q)
        if m2:
            lo, o1, v, o2, hi = m2.groups()
            o1, o2 = _REL_OPS[o1], _REL_OPS[o2]
            if o1 in (">", ">=") and o2 in (">", ">="):  # 5 > x > 1
                lo, hi, o1, o2 = hi, lo, _FLIP[o2], _FLIP[o1]
            if o1 not in ("<", "<=") or o2 not in ("<", "<="):
                return None
            if not (bound_ok(lo, v) and bound_ok(hi, v)):
                return None
            out.append(
                ("(" if o1 == "<" else "[")
                + f"{lo.strip()},{hi.strip()}"
                + (")" if o2 == "<" else "]")
            )
        else:
            m1 = _INEQ1_RE.match(q)
            if m1:
                v, op, b = m1.group(1), _REL_OPS[m1.group(2)], m1.group(3).strip()
            else:
                m1 = _INEQ1R_RE.match(q)
                if not m1:
                    return None
                b, op, v = m1.group(1).strip(), _FLIP[_REL_OPS[m1.group(2)]], m1.group(3)
            if not bound_ok(b, v):
                return None
            out.append(
                {
                    "<": f"(-\\infty,{b})",
                    "<=": f"(-\\infty,{b}]",
                    ">": f"({b},\\infty)",
                    ">=": f"[{b},\\infty)",
                    "!=": f"(-\\infty,{b})\\cup({b},\\infty)",
                }[op]
            )
        if var not in (None, v):
            return None
        var = v
    return "\\cup".join(out) if out else None


def math_equal(pred: str, gold: str, scalar: Callable[[str, str], Tri]) -> Tri:
    """Structural comparison of two MATH answers; ``scalar`` compares elements."""
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return _key(pred) == _key(gold)
    p, g = normalize_math(pred), normalize_math(gold)
    if not p or not g:
        return False
    if _key(p) == _key(g):
        return True
    if _RELATION_RE.search(p) or _RELATION_RE.search(g):  # "x<-2 or x>3" for an interval
        pi, gi = _ineq_to_intervals(p), _ineq_to_intervals(g)
        if pi or gi:
            p, g = pi or p, gi or g
            if _key(p) == _key(g):
                return True
    ps, gs = parse_structure(p), parse_structure(g)
    if gs[0] == "scalar" and ps[0] == "scalar":
        return scalar(p, g)
    if gs[0] == "matrix" or ps[0] == "matrix":
        # a vector written as a tuple: "(1, 2)" for a one-column or one-row matrix
        mat, seq = (ps, gs) if ps[0] == "matrix" else (gs, ps)
        if (
            seq[0] == "seq"
            and (seq[1], seq[2]) == ("(", ")")
            and (len(mat[1]) == 1 or all(len(r) == 1 for r in mat[1]))
        ):
            flat = [c for r in mat[1] for c in r]
            if len(flat) != len(seq[3]):
                return False
            pairs = zip(flat, seq[3], strict=True) if mat is ps else zip(seq[3], flat, strict=True)
            return _all3(scalar(a, b) for a, b in pairs)
        if ps[0] != gs[0]:
            return None if "matrix" not in (ps[0],) or "matrix" not in (gs[0],) else False
        pr, gr = ps[1], gs[1]
        if len(pr) != len(gr) or any(len(a) != len(b) for a, b in zip(pr, gr, strict=True)):
            # a row vector written as a column (or the reverse) is still the same vector
            pf = [c for r in pr for c in r]
            gf = [c for r in gr for c in r]
            if len(pf) == len(gf) and (len(pr) == 1 or len(gr) == 1):
                return _all3(scalar(a, b) for a, b in zip(pf, gf, strict=True))
            return False
        return _all3(
            scalar(a, b) for ra, rb in zip(pr, gr, strict=True) for a, b in zip(ra, rb, strict=True)
        )
    if gs[0] == "union" or ps[0] == "union":
        if ps[0] != gs[0] or len(ps[1]) != len(gs[1]):
            return None  # e.g. an inequality written for a union: let sympy decide
        return _match_unordered(ps[1], gs[1], lambda a, b: math_equal(a, b, scalar))
    if gs[0] == "seq":
        _, go, gc, ge = gs
        if ps[0] == "seq":
            _, po, pc, pe = ps
            if (po, pc) != (go, gc) or len(pe) != len(ge):
                return False
            return _all3(scalar(a, b) for a, b in zip(pe, ge, strict=True))
        if ps[0] == "scalar" and _RELATION_RE.search(p):  # "x > 5" for "(5, \infty)"
            return None
        if ps[0] == "list" and (go, gc) == ("(", ")"):  # "1, 2" for the pair "(1, 2)"
            pe = ps[1]
            if len(pe) != len(ge):
                return False
            return _all3(scalar(a, b) for a, b in zip(pe, ge, strict=True))
        return False
    if gs[0] in ("set", "list"):
        ge = _expand_pm(gs[1])
        if ps[0] in ("set", "list"):
            return _match_unordered(_expand_pm(ps[1]), ge, scalar)
        if ps[0] == "scalar" and "\\pm" in p:
            return _match_unordered(_expand_pm([p]), ge, scalar)
        return False
    # gold scalar, pred structured
    if ps[0] in ("list", "set"):
        pe = _expand_pm(ps[1])
        if "\\pm" in g:
            return _match_unordered(pe, _expand_pm([g]), scalar)
        # the same value repeated ("x = 2, 2") still names one answer
        results = [scalar(e, g) for e in pe]
        return True if all(r is True for r in results) else (None if None in results else False)
    if ps[0] == "seq" and (g.startswith("(") or g.startswith("[")):
        return None
    return False


def scalar_fast(p: str, g: str) -> Tri:
    """Element comparison without sympy: strings, text answers, plain numbers."""
    p, g = normalize_math(p), normalize_math(g)
    if not p or not g:
        return False
    if _key(p) == _key(g):
        return True
    # a multiple-choice letter with its value: "(B) 5" for "\\text{(B)}"
    mp, mg = _MC_RE.match(p), _MC_RE.match(g)
    if mg and not mp and (lead := _MC_LEAD_RE.match(p)):
        return lead.group(1).upper() == mg.group(1).upper()
    if mp and not mg and (lead := _MC_LEAD_RE.match(g)):
        return lead.group(1).upper() == mp.group(1).upper()
    pt, gt = _is_text_answer(p), _is_text_answer(g)
    if gt or pt:
        if _text_key(p) == _text_key(g):
            return True
        if gt and pt:
            return False
        # one side words, the other not: only numbers can still match ("5 ways" cleaned)
        return None if (parse_number(p) is None and parse_number(g) is None) else False
    pn, gn = parse_number(p), parse_number(g)
    if pn is not None and gn is not None:
        return numbers_equal(pn, gn, p, g)
    m = _MC_RE.match(p), _MC_RE.match(g)
    if m[0] and m[1]:
        return m[0].group(1).upper() == m[1].group(1).upper()
    return None


# ---------------------------------------------------------------------------------------------
# The sympy worker pool (lema.grading.sympy_worker runs in child processes)
# ---------------------------------------------------------------------------------------------


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        env.setdefault("PYTHONHASHSEED", "0")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lema.grading.sympy_worker", str(WORKER_BUDGET_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
            close_fds=True,
        )
        self.buf = b""
        self.ready = False

    def _readline(self, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def wait_ready(self, timeout: float = 120.0) -> bool:
        if not self.ready:
            line = self._readline(time.monotonic() + timeout)
            self.ready = line == b"ready"
        return self.ready

    def ask(self, pred: str, gold: str, timeout: float) -> bool | None:
        """True/False, or None when the worker ran out of time or died."""
        msg = json.dumps({"p": pred, "g": gold}).encode() + b"\n"
        try:
            self.proc.stdin.write(msg)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        line = self._readline(time.monotonic() + timeout)
        if line is None:
            return None
        try:
            return bool(json.loads(line)["r"])
        except (ValueError, KeyError):
            return None

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - best effort
            pass


class _Pool:
    """Idle workers kept for reuse; one per concurrent caller; stuck ones are killed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Worker] = []
        self.all: set[_Worker] = set()
        self.broken = False
        self.pid = os.getpid()
        self.slots = threading.BoundedSemaphore(MAX_WORKERS)

    def _after_fork(self) -> None:
        # a forked child must not share its parent's worker pipes: start its own workers
        if os.getpid() != self.pid:
            self.__init__()

    def _get(self) -> _Worker | None:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        w = _Worker()
        with self.lock:
            self.all.add(w)
        if not w.wait_ready():
            log.warning(
                "lema.grading.answers: the sympy worker did not start; MATH answers that need "
                "sympy will grade as not equivalent"
            )
            self._drop(w)
            self.broken = True
            return None
        return w

    def _drop(self, w: _Worker) -> None:
        w.kill()
        with self.lock:
            self.all.discard(w)

    def compare(self, pred: str, gold: str, timeout: float) -> bool | None:
        self._after_fork()
        if self.broken:
            return None
        with self.slots:  # at most MAX_WORKERS comparisons (and workers) at a time
            w = self._get()
            if w is None:
                return None
            r = w.ask(pred, gold, timeout)
            if r is None:  # too slow or dead: kill it, start a fresh one for later calls
                self._drop(w)
                return None
            with self.lock:
                self.idle.append(w)
            return r

    def close(self) -> None:
        with self.lock:
            ws = list(self.all)
            self.all.clear()
            self.idle.clear()
        for w in ws:
            w.kill()


_POOL = _Pool()
atexit.register(_POOL.close)


@lru_cache(maxsize=65536)
def _sympy_equal_cached(pred: str, gold: str) -> bool:
    r = _POOL.compare(pred, gold, SYMPY_TIMEOUT_S)
    return bool(r)


# ---------------------------------------------------------------------------------------------
# Equivalence
# ---------------------------------------------------------------------------------------------


def _gsm8k_value(s: str) -> Fraction | None:
    if s is None:
        return None
    s = _clean_number_text(s)
    v = parse_number(s)
    if v is not None:
        return v
    num = _number_in_span(s)
    return _to_fraction(num) if num is not None else None


def equivalent(pred: str | None, gold: str | None, task: str) -> bool:
    """Whether answer ``pred`` equals gold answer ``gold`` (both extracted answers)."""
    task = _check_task(task)
    if pred is None or gold is None:
        return False
    pred, gold = str(pred), str(gold)
    if not pred.strip() or not gold.strip():
        return False
    if task == "gsm8k":
        pv, gv = _gsm8k_value(pred), _gsm8k_value(gold)
        if pv is None or gv is None:
            return False
        return numbers_equal(pv, gv, _clean_number_text(pred), _clean_number_text(gold))
    r = math_equal(pred, gold, scalar_fast)
    if r is not None:
        return r
    p, g = normalize_math(pred), normalize_math(gold)
    if len(p) > MAX_SYMPY_CHARS or len(g) > MAX_SYMPY_CHARS:
        return False
    return _sympy_equal_cached(p, g)


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------

_ANCHORS = [
    # (regex, kind); the last match in the text wins
    # "final answer" only with answer syntax after it ("Final Answer: X", "final answer is X",
    # "= X", a "**Final Answer**" / "# Final Answer" header line); "our final answer of $36$"
    # is a loose mention, not a statement
    (re.compile(r"final\s+answer\s*(?:\*\*)?\s*(?:is\b|:|=)\s*:?", re.I), "final"),
    (
        re.compile(
            r"(?m)^[ \t]*(?:#+[ \t]*|\*\*)?final\s+answer[ \t]*(?:\*\*)?[ \t]*:?[ \t]*"
            r"(?:\*\*)?[ \t]*$",
            re.I,
        ),
        "final",
    ),
    # PRM800K style: "# Answer\n\n18"
    (re.compile(r"(?m)^[ \t]*#+[ \t]*answer[ \t]*:?[ \t]*$", re.I), "final"),
    (re.compile(r"<answer>", re.I), "final"),
    (
        re.compile(
            r"\banswers?(?:\s+to\s+[^.\n]{0,60}?)?\s+(?:is|are|would\s+be|will\s+be|"
            r"should\s+be)\s*:?",
            re.I,
        ),
        "is",
    ),
    (re.compile(r"answer\s*(?:\*\*)?\s*[:=]", re.I), "colon"),
    (re.compile(r"####"), "hash"),
    (re.compile(r"(?m)^\s*A\s*:"), "a"),
]
_HOPE_RE = re.compile(r"\s*I\s+hope\s+it\s+is\s+correct.*$", re.I | re.S)


_FILLER_RE = re.compile(
    r"^(?:(?:therefore|thus|hence|then|so|simply|just|indeed|clearly|now|actually|exactly|"
    r"that|equal\s+to|equals|given\s+by|as\s+follows)\b[\s:,]*|"
    r"the\s+(?:number|value)\s+(?=[-\d$\\]))+",
    re.I,
)
#: connectors between the math spans of one answer ("$2$ and $3$")
_JOIN_RE = re.compile(
    r"[ \t]*(?:,[ \t]*(?:and|or)?|and|or|"
    r"\\text\{\s*(?:,\s*)?(?:and|or)\s*\})[ \t]*(?=\$|\\\()",
    re.I,
)
#: a reason after the answer: "\frac12, because ...", "5 since ..."
_REASON_RE = re.compile(r",?\s+(?:because|since|as|which|where|so\s+that|when|if)\b.*$", re.I)


def _math_delimited_end(span: str) -> int:
    """Index just past the delimited math span that ``span`` starts with (after the same
    stripping as ``_math_delimited``); 0 when there is none."""
    lead = len(span) - len(span.lstrip(" *\t:"))
    body = span[lead:]
    for op, cl in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if body.startswith(op):
            k = body.find(cl, len(op))
            while op == "$" and k > 0 and body[k - 1] == "\\":
                k = body.find(cl, k + 1)
            if k > 0:
                return lead + k + len(cl)
    return 0


def _math_delimited(span: str) -> str | None:
    """If ``span`` starts with a math delimiter ($, $$, \\(, \\[), its content."""
    span = span.lstrip(" *\t:")
    for op, cl in (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$")):
        if span.startswith(op):
            k = span.find(cl, len(op))
            while op == "$" and k > 0 and span[k - 1] == "\\":  # \$ inside
                k = span.find(cl, k + 1)
            if k > 0:
                return span[len(op) : k]
    return None


def _span_after(text: str, pos: int) -> str:
    """The answer text following an anchor at ``pos``: a delimited math span, else the rest
    of the line up to a sentence end."""
    rest = text[pos : pos + 2000]
    rest = re.sub(r"^[\s*_:]+", "", rest)  # markdown bold around "Answer:**"
    rest = _FILLER_RE.sub("", rest)  # "is therefore $18$", "is equal to 5"
    inner = _math_delimited(rest)
    if inner is not None:
        box = find_boxed(inner)
        if box:
            return box[-1][2]
        # "$2$ and $3$", "$x=1$, $x=2$": one answer in several math spans
        parts, after = [inner], rest[_math_delimited_end(rest) :]
        while len(parts) < 10:
            m = _JOIN_RE.match(after)
            nxt = _math_delimited(after[m.end() :]) if m else None
            if nxt is None:
                break
            parts.append(nxt)
            after = after[m.end() :]
            after = after[_math_delimited_end(after) :]
        return ", ".join(p.strip() for p in parts)
    box = find_boxed(rest.split("\n\n")[0])
    if box and box[0][0] < 5:
        return box[0][2]
    line = _sentence(rest.split("\n\n")[0])
    line = re.sub(r"</answer>.*$", "", line)
    line = _REASON_RE.sub("", line)
    line = _HOPE_RE.sub("", line)
    return line.strip().strip("*").strip()


def _sentence(s: str) -> str:
    """``s`` up to the end of its first sentence: a line break, a period followed by a space,
    a capital letter or the end ("3.5", "a.m." and ".5" do not end it), '!' or '?' followed by a
    space; none of them inside braces ("\\text{ways.}", "1,\\!000", "\\text{square\\nunits}")."""
    depth = 0
    n = len(s)
    for k, c in enumerate(s):
        if c == "{" and (k == 0 or s[k - 1] != "\\"):
            depth += 1
        elif c == "}" and (k == 0 or s[k - 1] != "\\") and depth > 0:
            depth -= 1
        elif depth:
            continue
        elif c == "\n":
            return s[:k]
        elif c == "." and (k + 1 == n or s[k + 1].isspace() or s[k + 1].isupper()):
            return s[:k]
        elif c in "!?" and (k == 0 or s[k - 1] != "\\") and (k + 1 == n or s[k + 1].isspace()):
            return s[:k]
    return s if depth == 0 else s.split("\n")[0]


def _clean_number_text(s: str) -> str:
    s = s.replace("−", "-").replace("\\!", "").replace("{,}", ",").replace("\\,", "")
    s = s.replace("\\$", "").replace("$", "").replace("**", "").replace("\\%", "%")
    s = re.sub(r"\\text\{([^{}]*)\}", r" \1 ", s)
    s = re.sub(r"\\boxed\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"(\d),\s(\d{3})(?!\d)", r"\1,\2", s) if re.search(r"\d,\s\d{3}\b", s) else s
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = re.sub(r"(?<=\d)\s*%", "", s)
    return s.strip()


def _number_in_span(span: str) -> str | None:
    """The number an answer span states: after the last '=', else its first number."""
    s = _clean_number_text(span)
    lead = re.match(r"^[\s:*(]*(-?" + _NUM_BODY + r")(?![\d])\s*(?P<op>[-+*/×x÷^(])?", s)
    if lead and not lead.group("op"):
        return lead.group(1).replace(",", "")
    if lead and lead.group("op") == "/" and "=" not in s:  # "The answer is 1/2."
        fm = re.match(r"^[\s:*(]*(-?\d+)\s*/\s*(\d+)(?![\d.,]\d)", s)
        if fm and int(fm.group(2)):
            return _fraction_text(Fraction(int(fm.group(1)), int(fm.group(2))))
    if "=" in s:
        after = s.rsplit("=", 1)[1]
        if _NUM_RE.search(after):
            s = after
    elif len(re.findall(r"[a-zA-Z]+", s)) > 8:
        return None  # prose: "Answer: Janet has 16 eggs and ..." states no final number
    m = re.search(r"-?\\frac\{-?\d+\}\{\d+\}", s)
    nm = _NUM_RE.search(s)
    if m and (nm is None or m.start() <= nm.start()):
        v = parse_number(m.group(0))
        if v is not None:
            return _fraction_text(v)
    if nm:
        return nm.group(0).replace(",", "")
    w = re.search(r"\b(" + "|".join(_WORD_NUMBERS) + r")\b", s, re.I)
    if w and len(s) < 40:
        return str(_WORD_NUMBERS[w.group(1).lower()])
    return None


def _fraction_text(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        return format(v.numerator / v.denominator, "f").rstrip("0").rstrip(".")
    return f"{v.numerator}/{v.denominator}"


def _last_number(text: str) -> str | None:
    s = _clean_number_text(text)
    s = re.sub(r"<<[^<>]*>>", "", s)
    # step labels and list numbers are not results: "Step 3:", "\n2. minus 3 = 13"
    s = re.sub(r"(?im)\bstep\s*\d+\s*[:.)]|^[ \t#*]*\d+[.)][ \t]+(?=\S)", " ", s)
    nums = _NUM_RE.findall(s)
    return nums[-1].replace(",", "") if nums else None


def _candidates(text: str) -> list[tuple[int, str, str]]:
    """(position, kind, span) of every answer statement, in text order."""
    out = [(s, "boxed", c) for s, _e, c in find_boxed(text)]
    for rx, kind in _ANCHORS:
        for m in list(rx.finditer(text))[-MAX_ANCHORS:]:
            out.append((m.start(), kind, _span_after(text, m.end())))
    out.sort(key=lambda x: x[0])
    return out


def _join_boxes(text: str) -> str | None:
    """The last boxed answer; boxes separated only by ',', 'and', 'or' are joined ("\\boxed{1},
    \\boxed{2}" -> "1, 2")."""
    boxes = find_boxed(text)
    if not boxes:
        return None
    group = [boxes[-1]]
    for b in reversed(boxes[:-1]):
        between = text[b[1] : group[0][0]]
        if re.fullmatch(
            r"[\s$]*(?:,|and|or|\\text\{\s*(?:,\s*)?(?:and|or)\s*\}|;)?[\s$,]*", between
        ) and between.strip(" $"):
            group.insert(0, b)
        else:
            break
    contents = [c.strip() for _s, _e, c in group]
    dedup = [c for i, c in enumerate(contents) if c not in contents[:i]]
    return ", ".join(dedup)


_TIERS = (("boxed", "final", "hash"), ("is", "colon"), ("a",))
_NOT_ANSWER_START = re.compile(
    r"^(?:correct|incorrect|wrong|right|not|in|an?(?=\s+[a-z])|the|that|this|these|those|to|as|because|"
    r"therefore|since|yes|no|indeed|also|clearly|obviously|given|found|shown|below|above|still|"
    r"then|we|it|equal|same|different|already|simply|just|now|here|there|which|what|how|"
    r"unchanged|valid|invalid|reasonable|indeed|positive|negative|consistent)\b",
    re.I,
)


def _plausible(span: str, task: str, kind: str = "") -> bool:
    if not span or not span.strip():
        return False
    if (
        kind != "boxed"
        and _NOT_ANSWER_START.match(span.strip(" *:"))
        and not re.search(r"[\d$\\]", span)
    ):
        return False
    if task == "gsm8k":
        return _number_in_span(span) is not None
    s = span.strip()
    # prose after "answer:" ("Let's think step by step") is not an answer
    words = re.findall(r"[a-zA-Z]+", re.sub(r"\\[a-zA-Z]+", "", s))
    if not re.search(r"[\d=\\^_{}()\[\]<>+\-]", s):
        return len(words) <= 3 and len(s) <= 40
    return len(s) < 300


def extract_answer(completion: str | None, task: str) -> str | None:
    """The final answer stated in ``completion`` (a model output or a gold solution).

    GSM8K: a plain number string ("18", "-2.5", "1000"); MATH: the LaTeX of the answer as
    written (``\\boxed`` content, or what follows "The answer is" / "Final Answer:" ...).
    None when no answer can be found.
    """
    task = _check_task(task)
    if not completion or not completion.strip():
        return None
    text = _trim(str(completion))
    cands = _candidates(text)
    # the last statement wins; "The answer is $\boxed{5}$" yields the boxed content once
    boxes = find_boxed(text)
    # tiers: explicit final statements first (a later "we can check our answer: ..." must not
    # override a boxed answer), then "the answer is" / "answer:", then "A:"; the last one
    # within a tier wins
    for tier in _TIERS:
        for pos, kind, span in reversed(cands):
            if kind not in tier:
                continue
            if kind == "boxed" and pos == boxes[-1][0]:
                span = _join_boxes(text) or span
            if kind == "a" and len(span) > 40:
                continue
            if not _plausible(span, task, kind):
                continue
            if task == "gsm8k":
                return _number_in_span(span)
            ans = _clean_math_span(span)
            if ans:
                return ans
    if task == "gsm8k":
        return _last_number(text)
    return _math_fallback(text)


_PROSE_IS_RE = re.compile(r"^(?:[A-Za-z',]+\s+){1,8}(?:is|are|equals|=)\s+(?P<ans>[^\s].*)$")


def _clean_math_span(span: str) -> str | None:
    s = span.strip()
    m = _PROSE_IS_RE.match(s)  # "The number of ways is 12" (after a "Final Answer" header)
    if m:
        s = m.group("ans")
    s = _HOPE_RE.sub("", s).strip()
    s = s.strip("*").strip()
    inner = _math_delimited(s)
    if inner is not None and inner.strip():
        s = inner
    s = s.replace("\\$", "\\\x00").replace("$", "").replace("\\\x00", "\\$").strip()
    s = re.sub(r"(?:\\\\|\s)+$", "", s)  # a trailing LaTeX line break
    s = s.rstrip(".").rstrip()
    return s or None


_MATH_SEG_RE = re.compile(
    r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|(?<![\\\d])\$((?:\\\$|[^$\n])+?)\$", re.S
)


def _math_fallback(text: str) -> str | None:
    """No boxed answer and no answer phrase: the last math of the last paragraph (its right-hand
    side when it is an equation), else the last number; None for a completion cut off mid-way
    (max_tokens), whose last math is not an answer."""
    if _looks_truncated(text):
        return None
    tail = text.strip()[-1500:]
    paras = [p for p in re.split(r"\n\s*\n", tail) if p.strip()]
    last_para = paras[-1] if paras else tail
    segs = [next(g for g in m.groups() if g is not None) for m in _MATH_SEG_RE.finditer(last_para)]
    segs = [g for g in segs if re.sub(r"\\boxed\s*\{\s*\}|\s", "", g)]
    if segs:
        # "$x = 2$ and $x = 3$": the last math and the spans joined to it by and/or/commas
        ms = [
            m
            for m in _MATH_SEG_RE.finditer(last_para)
            if re.sub(r"\\boxed\s*\{\s*\}|\s", "", next(g for g in m.groups() if g is not None))
        ]
        group = [ms[-1]]
        for m in reversed(ms[:-1]):
            between = last_para[m.end() : group[0].start()]
            jm = _JOIN_RE.match(between + "$")
            if not jm or jm.end() != len(between) or len(group) >= 10:
                break
            group.insert(0, m)
        if len(group) > 1:
            return ", ".join(_rhs(next(g for g in m.groups() if g is not None)) for m in group)
        seg = segs[-1].strip()
        parts = re.split(r"(?<![<>!\\])=", seg)
        seg = parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else seg
        seg = re.sub(r"\\approx.*$", "", seg).strip()
        return seg.rstrip(".").strip() or None
    return _last_number(last_para) or _last_number(text)


_TRUNCATED_END_RE = re.compile(
    r"(?:[=+\-*/^_,:;({\[&\\]|\b(?:so|then|and|or|is|are|was|be|of|the|we|get|to|by|with|that|"
    r"which|gives|a|an|as|for|in|at|from|this|it|has|have|can|will|let|since|because|if|"
    r"therefore|thus|hence|equals?|find|compute|need|know))\s*$",
    re.I,
)


def _looks_truncated(text: str) -> bool:
    """A completion that stops mid-sentence or mid-formula (cut at max_tokens)."""
    t = text.rstrip()
    if not t:
        return True
    if _TRUNCATED_END_RE.search(t[-40:]):
        return True
    # an open inline math span: an odd number of unescaped '$' (display $$ counts twice) with
    # formula text after the last one (not a price: "costs $5.")
    dollars = [m.end() for m in re.finditer(r"(?<!\\)\$", t[-20000:])]
    if len(dollars) % 2 == 1 and re.search(r"[\\^_{=]", t[-20000:][dollars[-1] :]):
        return True
    return t.count("\\[") > t.count("\\]") or t.count("\\(") > t.count("\\)")


def _rhs(seg: str) -> str:
    parts = re.split(r"(?<![<>!\\])=", seg.strip())
    return parts[-1].strip() if len(parts) > 1 and parts[-1].strip() else seg.strip()


def grade(completion: str | None, gold: str, task: str) -> bool:
    """Whether ``completion`` states the gold answer ``gold`` (the dataset's answer string)."""
    task = _check_task(task)
    pred = extract_answer(completion, task)
    if pred is None:
        return False
    return equivalent(pred, gold, task)


def gold_answer(solution: str, task: str) -> str | None:
    """The dataset's own answer of a gold solution: GSM8K's number after '####' (commas
    removed), MATH's last ``\\boxed{}`` content."""
    task = _check_task(task)
    if task == "gsm8k":
        if "####" not in solution:
            return None
        return solution.rsplit("####", 1)[1].strip().replace(",", "") or None
    return last_boxed(solution)


def shutdown() -> None:
    """Stop the sympy worker processes (they also stop when this process exits)."""
    _POOL.close()
