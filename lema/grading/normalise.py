"""Normalisation of answers: exact numbers (``parse_number``, ``numbers_equal``), MATH answers
as canonical LaTeX strings (``normalize_math``: ``\\left``/``\\right``, spacing commands,
``\\dfrac``, ``\\frac12``, ``$``, ``\\%``, degrees, units, ``\\text{...}`` wrappers, ``x =``
prefixes, thousands separators) and the comparison keys of plain and text answers."""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from lema.grading.latex import find_boxed, split_top, unwrap_cmd

NUM_BODY = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
NUM_RE = re.compile(r"(?<![\w.])-?" + NUM_BODY + r"(?![\d])")
WORD_NUMBERS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def to_fraction(num: str) -> Fraction | None:
    """``num`` (thousands commas allowed) as an exact fraction; None when it is not one."""
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
    if re.fullmatch(r"-?" + NUM_BODY, s):
        return to_fraction(s)
    if re.fullmatch(r"\+" + NUM_BODY, s):
        return to_fraction(s[1:])
    m = _FRAC_RE.match(s)
    if m:
        a, b = m.group(2).replace(" ", ""), m.group(3).replace(" ", "")
        return _quotient(m.group(1), to_fraction(a), to_fraction(b))
    m = _MIXED_RE.match(s)
    if m:
        return _mixed(m)
    m = _SLASH_RE.match(s)
    if m:
        return _quotient(m.group(1), to_fraction(m.group(2)), to_fraction(m.group(3)))
    m = _MIXED_SLASH_RE.match(s)
    if m:
        return _mixed(m)
    return None


def _quotient(minus: str | None, a: Fraction | None, b: Fraction | None) -> Fraction | None:
    """``a / b`` (negated when ``minus``); None when either is missing or ``b`` is 0."""
    if a is None or b is None or b == 0:
        return None
    v = a / b
    return -v if minus else v


def _mixed(m: re.Match[str]) -> Fraction | None:
    """A mixed number matched as (sign, whole, numerator, denominator)."""
    w, a, b = int(m.group(2)), int(m.group(3)), int(m.group(4))
    if b == 0:
        return None
    v = w + Fraction(a, b)
    return -v if m.group(1) else v


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


_TEXTCMD_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|mbox|mathrm|mathbf|"
    r"mathit|mathsf|mathtt|mathnormal|operatorname|hbox|emph)\s*\{"
)


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
MC_RE = re.compile(r"^\(?([A-Ea-e])\)?$")
MC_LEAD_RE = re.compile(r"^\(([A-E])\)(?:\s+|\s*[:=]\s*)[^\s+\-*/^]")


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
    s = _plain_latex(s)
    s = _unwrapped(s)
    s = _assigned_value(s)
    return _canonical_value(s)


def _plain_latex(s: str) -> str:
    """``s`` with one spelling for each symbol: no delimiters, sizing or spacing commands,
    ``\\frac`` for ``\\dfrac``, no degrees or percent, repeating decimals as fractions, the
    reals and the empty set by one name."""
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
    return s


def _unwrapped(s: str) -> str:
    """``s`` without what wraps the answer: trailing periods, empty ``\\text{}``, list words
    (``1 and 2`` -> ``1,2``), units, ``\\text{..}`` / ``\\boxed{..}`` wrappers; short fractions
    and roots braced (``\\frac12`` -> ``\\frac{1}{2}``)."""
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(".").rstrip()
    s = re.sub(r"^(?:\\text\{\s*\}|\s)+|(?:\\text\{\s*\}|\s)+$", "", s)
    # lists written with words: "1 and 2", "x=1 \text{ or } x=2"
    s = _SEP_WORDS_RE.sub(",", s)
    s = re.sub(r",\s*,", ",", s).strip(", ")
    s = _strip_units(s)
    # remaining \text{..} / \mathrm{..} wrappers
    s = unwrap_cmd(s, _TEXTCMD_RE)
    s = unwrap_cmd(s, re.compile(r"\\(?:boxed|fbox|overline|underline)\s*\{"))
    s = _strip_units(s.strip())
    for rx, rep in _FRAC_SHORT_RE:
        s = rx.sub(rep, s)
    return s


def _assigned_value(s: str) -> str:
    """The value of an assignment (``x = 5`` -> ``5``, ``a = b = 5`` -> ``5``), also inside
    list elements; inequalities are kept."""
    parts = split_top(s, ",")
    if all("=" in p for p in parts) or len(parts) == 1:
        new = []
        for p in parts:
            if p.count("=") and not re.search(r"[<>]|\\[lg]eq?|\\neq", p):
                pieces = re.split(r"(?<![<>!\\])=", p)
                if len(pieces) > 2 or _ASSIGN_RE.match(p):
                    p = pieces[-1]
            new.append(p.strip())
        s = ",".join(new) if len(parts) > 1 else new[0]
    return s


def _canonical_value(s: str) -> str:
    """The last rewrites: exact values before ``\\approx``, no thousands separators or base
    subscripts, no ``x \\in``, a multiple-choice letter upper-cased, number words as digits."""
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
    m = MC_RE.match(s)
    if m:
        s = m.group(1).upper()
    elif s.lower() in WORD_NUMBERS:
        s = str(WORD_NUMBERS[s.lower()])
    return s


def compare_key(s: str) -> str:
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


def is_text_answer(s: str) -> bool:
    """A word answer (a name, a weekday, 'no solution') rather than mathematics."""
    words = [w for w in _TEXT_WORD_RE.findall(s) if w.lower() not in _MATH_WORDS]
    if not words:
        return False
    letters = sum(len(w) for w in words)
    return letters >= 3 and not re.search(r"[\^_]|\\frac|\\sqrt", s)


def text_key(s: str) -> str:
    """Comparison key of a word answer: lower case, no spaces or punctuation."""
    return re.sub(r"[\s.,;:!'\"()\\{}]", "", s).lower()
