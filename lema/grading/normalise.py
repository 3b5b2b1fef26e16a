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
_SPACED_RE = re.compile(r"-?\s*\d{1,3}(?: \d{3})+(?:\.\d+)?")
#: a decimal comma no thousands separator can be mistaken for: "3,75", "0,5", "2,1234"
DECIMAL_COMMA_RE = re.compile(r"^(-?)(\d+),(\d{1,2}|\d{4,})$|^(-?)(0),(\d+)$")


def parse_number(s: str) -> Fraction | None:
    """An exact number from a plain numeric answer: -3, 1,000, 2.50, .5, 3/4, \\frac{3}{4},
    -\\frac34 (after normalisation), 2\\frac{1}{2} (mixed number = 5/2). None otherwise."""
    s = s.strip()
    if re.fullmatch(r"[-\d., ]+", s):
        # spaces group thousands ("12 000") or follow a sign or comma; "1 2" is not a number
        if re.search(r"\d \d", s) and not _SPACED_RE.fullmatch(s):
            return None
        s = s.replace(" ", "")
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


def _terminates(v: Fraction) -> bool:
    """Whether ``v`` has a finite decimal expansion (its denominator is 2^a 5^b)."""
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def numbers_equal(a: Fraction, b: Fraction, a_text: str = "", b_text: str = "") -> bool:
    """Exact equality; a decimal approximates a value with no finite decimal expansion to 1e-6
    relative (0.3333333 matches 1/3, 0.33 does not). Two finite decimals are compared exactly:
    ``0.00041`` and ``.000412`` differ however small the numbers."""
    if a == b:
        return True
    for dec, dec_text, other in ((a, a_text, b), (b, b_text, a)):
        if _is_decimal_text(dec_text) and not _terminates(other):
            return abs(dec - other) <= Fraction(1, 10**6) * max(abs(dec), abs(other))
    return False


_TEXTCMD_RE = re.compile(
    r"\\(?:text|textnormal|textbf|textit|textrm|textsf|texttt|mbox|mathrm|mathbf|"
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
        if m and m.group("body").strip() and not _letter_variable(m.group("body"), s):
            s = m.group("body").strip()
            continue
        break
    return s


def _letter_variable(body: str, s: str) -> bool:
    """Whether the one-letter "unit" after ``body`` is a variable: ``1+2h``, ``3x^2+5m``
    (``12 m`` and ``4.5 s`` stay units: a plain number before them)."""
    unit = s[len(body) :].strip().rstrip(".")
    return len(unit) == 1 and not re.fullmatch(r"-?[\d.,]+", body.strip())


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
    s = (
        s.replace("\\mbox", "\\text")
        .replace("\\textnormal", "\\text")
        .replace("\\lbrace", "\\{")
        .replace("\\rbrace", "\\}")
    )
    s = s.replace("\\lbrack", "[").replace("\\rbrack", "]")
    s = s.replace("\\langle", "(").replace("\\rangle", ")")
    s = _DEGREE_RE.sub("", s)
    s = re.sub(r"\\?%|\\text(?:normal)?\{\s*(?:percent|per\s*cent|pct)\.?\s*\}", "", s)
    s = re.sub(r"(?<=[\d}])\s*(?:percent|per\s+cent|pct)\b\.?", "", s, flags=re.I)
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
        head, tail = s.split("\\approx", 1)
        # "x \approx 12": a variable before it, the value after
        s = tail if re.fullmatch(r"\s*(?:[a-zA-Z]|\\[a-zA-Z]+)\s*", head) else head
    s = re.sub(r"\s+", " ", s).strip().rstrip(".").strip()
    if _THOUSANDS_RE.match(s.replace(" ", "")) or _SPACED_RE.fullmatch(s):
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
    """Comparison key: normalised and spaceless; digits apart stay apart ("1 2" is not "12";
    thousands grouped by spaces are joined by ``normalize_math``)."""
    return re.sub(r"\s+", "", re.sub(r"(?<=\d)\s+(?=\d)", "\x00", s))


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
    s = re.sub(r"(?<=\d)(?:st|nd|rd|th)\b", "", s)  # "May 3rd" is "May 3"
    return re.sub(r"[\s.,;:!'\"()\\{}]", "", s).lower()


_TIME_RE = re.compile(r"^(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>[ap])?(?(ap)\.?\s*m\.?|)$", re.I)


def parse_time(s: str) -> tuple[int, int, str] | None:
    """A clock time (hour, minute, 'am' / 'pm' / '') from ``3 p.m.``, ``3:00\\text{ p.m.}``,
    ``15:30``; None when ``s`` is not one (a time has a colon or a.m./p.m.)."""
    t = re.sub(r"\\[,;:!]|\\ |~|\$", "", s)
    t = re.sub(r"\\(?:text|textnormal|mbox|mathrm)\s*\{([^{}]*)\}", r"\1", t)
    m = _TIME_RE.match(re.sub(r"\s+", " ", t).strip())
    if not m or not (m.group("m") or m.group("ap")):
        return None
    h, mi = int(m.group("h")), int(m.group("m") or 0)
    ap = (m.group("ap") or "").lower()
    if mi > 59 or h > (12 if ap else 24) or (ap and h == 0):
        return None
    return h, mi, (ap + "m" if ap else "")


def times_equal(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    """Two clock times: a.m. and p.m. differ; a time without them matches its 12- or 24-hour
    reading ("4:30" is "4:30 p.m.", "16:30" is too)."""
    if a[1] != b[1]:
        return False

    def h24(h: int, ap: str) -> int:
        return h % 12 + (12 if ap == "pm" else 0)

    if a[2] and b[2]:
        return h24(a[0], a[2]) == h24(b[0], b[2])
    if not a[2] and not b[2]:
        return a[0] % 24 == b[0] % 24
    plain, mer = (a, b) if not a[2] else (b, a)
    return plain[0] in (mer[0], h24(mer[0], mer[2]))


_BASE_RE = re.compile(r"^\s*\$?\s*(?:\\text\{)?([0-9A-Za-z]+)\}?_\s*\{?\s*(\d+)\s*\}?\s*\$?\s*$")


def base_number(s: str) -> tuple[str, int] | None:
    """(digits, base) of a number written with a base subscript (``1011_2``, ``1011_{2}``)."""
    m = _BASE_RE.match(s)
    return (m.group(1), int(m.group(2))) if m else None


_EQ_SIGN_RE = re.compile(r"(?<![<>!\\])=(?!=)")


def equation_text(s: str) -> str | None:
    """``s`` as one plain equation with a variable (``2x - y + 1 = 0``, ``y = 2x+1``); None
    for anything else (values, lists, relations, ``a = b = c``)."""
    if len(s) > 300:
        return None
    t = _unwrapped(_plain_latex(s))
    if len(_EQ_SIGN_RE.findall(t)) != 1 or re.search(r"[<>]|\\[lg]eq?\b|\\neq", t):
        return None
    bare = re.sub(r"\\[a-zA-Z]+", " ", t)
    if len(split_top(t, ",;")) > 1 or not re.search(r"(?<![a-zA-Z])[a-zA-Z](?![a-zA-Z])", bare):
        return None
    lhs, rhs = _EQ_SIGN_RE.split(t)
    return t.strip() if lhs.strip() and rhs.strip() else None


def assigned_variable(eq: str) -> str | None:
    """The variable an equation assigns (``y`` of ``y = 2x+1``), None when its left side is no
    single variable."""
    m = re.match(r"^\s*([a-zA-Z])\s*=", eq)
    return m.group(1) if m else None


def _complex_term(t: str) -> tuple[Fraction, Fraction] | None:
    """One signless term of a complex number: ``3``, ``\\frac{1}{4}i``, ``2i``, ``i``,
    ``\\frac{3i}{4}``, ``\\frac{i}{2}``."""
    m = re.fullmatch(r"\\frac\{([^{}]*)i\}\{([^{}]+)\}", t)
    if m:
        num, den = parse_number(m.group(1) or "1"), parse_number(m.group(2))
        return (Fraction(0), num / den) if num is not None and den else None
    if t.endswith("i"):
        c = parse_number(t[:-1]) if t[:-1] else Fraction(1)
        return (Fraction(0), c) if c is not None else None
    v = parse_number(t)
    return (v, Fraction(0)) if v is not None else None


def parse_complex(s: str) -> tuple[Fraction, Fraction] | None:
    """(real, imaginary) of a complex number with rational parts written any common way:
    ``0.5+0.25i``, ``\\frac12 + \\frac14 i``, ``\\frac{2+i}{4}``, ``i/4 + 1/2``; None when ``s``
    has no ``i`` or anything else in it (other letters, radicals, powers)."""
    t = re.sub(r"\s+|\\cdot|\*", "", s)
    if "i" not in t or len(t) > 80 or re.search(r"[a-hj-zA-Z^_]", re.sub(r"\\[dt]?frac", "", t)):
        return None
    t = re.sub(r"\\[dt]frac", r"\\frac", t)
    whole = re.fullmatch(r"\\frac\{([^{}]+)\}\{([^{}]+)\}|\(([^()]+)\)/([\d.]+)", t)
    if whole and re.search(r"[+\-]", (whole.group(1) or whole.group(3))[1:]):
        top = parse_complex(whole.group(1) or whole.group(3))
        den = parse_number(whole.group(2) or whole.group(4))
        return (top[0] / den, top[1] / den) if top is not None and den else None
    t = re.sub(r"^([\d.]*)i/([\d.]+)", r"\\frac{\1i}{\2}", t)
    t = re.sub(r"(?<=[+\-])([\d.]*)i/([\d.]+)", r"\\frac{\1i}{\2}", t)
    re_, im = Fraction(0), Fraction(0)
    for sign, term in re.findall(r"([+\-]?)((?:\\frac\{[^{}]*\}\{[^{}]*\}|[^+\-])+)", t):
        v = _complex_term(term)
        if v is None:
            return None
        k = -1 if sign == "-" else 1
        re_, im = re_ + k * v[0], im + k * v[1]
    if re.sub(r"([+\-]?)((?:\\frac\{[^{}]*\}\{[^{}]*\}|[^+\-])+)", "", t):
        return None  # something left over: "++", a trailing sign
    return re_, im
