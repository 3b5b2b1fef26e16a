"""Answer equivalence: whether two extracted answers are the same.

How MATH equivalence is decided, cheapest first:

1. Both answers are normalised as strings (``lema.grading.normalise.normalize_math``). Equal
   strings are equal.
2. The answers are split into structure (``parse_structure``): tuples and intervals (order and
   bracket types matter), sets and bare comma lists (order does not), unions of intervals,
   matrices. Structure mismatches are decided here (``math_equal``).
3. Each element pair is compared as a scalar (``scalar_fast``): text answers
   case-insensitively, plain numbers (integers, decimals, fractions, mixed numbers) exactly with
   ``fractions.Fraction``.
4. What is left (radicals, pi, polynomials, expressions) goes to sympy through math-verify's
   LaTeX parser and ``verify``, in a separate worker process (``lema.grading.pool``) with a hard
   per-call deadline, so every call returns in bounded time from any thread. Model output never
   reaches ``eval``/``sympify``.

GSM8K answers are compared as exact numbers. ``grade`` is extract-then-compare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from fractions import Fraction

from lema.grading.choice import same_candidate
from lema.grading.extract import (
    check_task,
    clean_number_text,
    extract_answer,
    gold_value,
    number_in_span,
)
from lema.grading.latex import outer_pair_closes_at_end, split_top
from lema.grading.normalise import (
    DECIMAL_COMMA_RE,
    MC_LEAD_RE,
    MC_RE,
    assigned_variable,
    base_number,
    compare_key,
    equation_text,
    is_text_answer,
    normalize_math,
    numbers_equal,
    parse_complex,
    parse_number,
    parse_time,
    text_key,
    times_equal,
    to_fraction,
)
from lema.grading.pool import bounded_sympy_equal

#: longest answer text handed to sympy; longer ones are compared as strings only
MAX_SYMPY_CHARS = 400
#: longest answer normalised; longer ones are compared verbatim
MAX_ANSWER_CHARS = 3000


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
        return ("set", [e.strip() for e in split_top(s[2:-2], ",")])
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and outer_pair_closes_at_end(s):
        elems = split_top(s[1:-1], ",")
        if len(elems) >= 2:
            return ("seq", s[0], s[-1], [e.strip() for e in elems])
    elems = split_top(s, ",")
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
    parts = [q.strip() for q in split_top(s, ",")]
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


Scalar = Callable[[str, str], Tri]  # compares two elements of answers


def equation_pair(pred: str, gold: str) -> tuple[str, str] | None:
    """Both answers as equations of a curve, when they are to be compared as such
    (``y = 2x + 1`` and ``2x - y + 1 = 0``); None when at least one is no equation, or both
    assign a variable (then their values are compared: ``y = 2x+1``, ``y = 1+2x``; ``x=2``,
    ``y=2``)."""
    if "=" not in pred or "=" not in gold:
        return None
    pe, ge = equation_text(pred), equation_text(gold)
    if pe is None or ge is None:
        return None
    if assigned_variable(pe) is not None and assigned_variable(ge) is not None:
        return None
    return pe, ge


def _shape_equal(pred: str, gold: str) -> bool | None:
    """Answer shapes decided before normalisation (None: not one of them): clock times
    (a.m. is not p.m.), numbers in a base (``1011_2`` is not ``1011_3``), a predicted decimal
    comma against a numeric gold (``3,75`` for ``3.75``)."""
    pt, gt = parse_time(pred), parse_time(gold)
    if pt is not None and gt is not None:
        return times_equal(pt, gt)
    pb, gb = base_number(pred), base_number(gold)
    if pb is not None and gb is not None:
        return _base_value(pb) == _base_value(gb)
    if (pb is None) != (gb is None):  # "1101_2" for 13: equal by value (else: by digits, below)
        b, other = (pb, gold) if pb is not None else (gb, pred)
        plain = other.strip().strip("$").strip()
        if re.fullmatch(r"\d+", plain) and _base_value(b) == int(plain):
            return True
    letters = _choice_with_text(pred), _choice_with_text(gold)
    gl, pl = MC_RE.match(normalize_math(gold)), MC_RE.match(normalize_math(pred))
    if letters[0] and gl and not pl:  # "(D) -16.2" for the letter D
        return letters[0] == gl.group(1).upper()
    if letters[1] and pl and not gl:
        return letters[1] == pl.group(1).upper()
    dec = decimal_comma(pred)
    if dec is not None:
        gn = parse_number(normalize_math(gold))
        if gn is not None:
            return numbers_equal(Fraction(dec), gn, dec, normalize_math(gold))
    return None


_CHOICE_TEXT_RE = re.compile(
    r"^\s*\$?\s*(?:\\text\{\s*)?\(([A-E])\)\s*\}?(?:\s+|\s*[:=.]\s*)"
    r"(?P<rest>(?:-?[\w\\$(√]).*)$",
    re.S,
)


def _choice_with_text(s: str) -> str | None:
    """The letter of a multiple-choice answer written with its option's text ("(D) -16.2",
    "(A) 4,000", "(B) 62, 34"); None for anything else, or when another choice follows."""
    m = _CHOICE_TEXT_RE.match(s)
    if m is None or re.search(r"\(\s*[A-E]\s*\)", m.group("rest")):
        return None
    return m.group(1)


def decimal_comma(s: str) -> str | None:
    """``3,75`` as ``3.75`` when the comma cannot be a thousands separator; None otherwise."""
    dc = DECIMAL_COMMA_RE.match(s.strip().strip("$").strip())
    if dc is None:
        return None
    sign, whole = dc.group(1) or dc.group(4) or "", dc.group(2) or dc.group(5)
    return f"{sign}{whole}.{dc.group(3) or dc.group(6)}"


def _base_value(b: tuple[str, int]) -> int | tuple[str, int]:
    """The value of digits in a base (the pair itself when they are no valid numeral)."""
    digits, base = b
    try:
        return int(digits, base) if 2 <= base <= 36 else b
    except ValueError:
        return b


def math_equal(pred: str, gold: str, scalar: Scalar, equations: Scalar | None = None) -> Tri:
    """Structural comparison of two MATH answers; ``scalar`` compares elements, ``equations``
    two equations of a curve (``equation_pair``; None: equal only as strings)."""
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return compare_key(pred) == compare_key(gold)
    shape = _shape_equal(pred, gold)
    if shape is not None:
        return shape
    eqs = equation_pair(pred, gold)
    if eqs is not None:
        if compare_key(eqs[0]) == compare_key(eqs[1]):
            return True
        return equations(*eqs) if equations is not None else None
    p, g = normalize_math(pred), normalize_math(gold)
    if not p or not g:
        return False
    if compare_key(p) == compare_key(g):
        return True
    if _RELATION_RE.search(p) or _RELATION_RE.search(g):  # "x<-2 or x>3" for an interval
        pi, gi = _ineq_to_intervals(p), _ineq_to_intervals(g)
        if pi or gi:
            p, g = pi or p, gi or g
            if compare_key(p) == compare_key(g):
                return True
    ps, gs = parse_structure(p), parse_structure(g)
    if gs[0] == "scalar" and ps[0] == "scalar":
        return scalar(p, g)
    if gs[0] == "matrix" or ps[0] == "matrix":
        return _matrix_equal(ps, gs, scalar)
    if gs[0] == "union" or ps[0] == "union":
        if ps[0] != gs[0] or len(ps[1]) != len(gs[1]):
            return None  # e.g. an inequality written for a union: let sympy decide
        return _match_unordered(ps[1], gs[1], lambda a, b: math_equal(a, b, scalar))
    if gs[0] == "seq":
        return _gold_seq_equal(p, ps, gs, scalar)
    if gs[0] in ("set", "list"):
        ge = _expand_pm(gs[1])
        if ps[0] in ("set", "list"):
            return _match_unordered(_expand_pm(ps[1]), ge, scalar)
        if ps[0] == "scalar" and "\\pm" in p:
            return _match_unordered(_expand_pm([p]), ge, scalar)
        return False
    return _gold_scalar_equal(ps, g, scalar)


def _matrix_equal(ps: tuple, gs: tuple, scalar: Scalar) -> Tri:
    """A matrix against a matrix, or against a tuple written for a vector."""
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


def _gold_seq_equal(p: str, ps: tuple, gs: tuple, scalar: Scalar) -> Tri:
    """The gold answer is a tuple or an interval (order and bracket types matter)."""
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


def _gold_scalar_equal(ps: tuple, g: str, scalar: Scalar) -> Tri:
    """The gold answer is one value, the prediction has structure."""
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
    if compare_key(p) == compare_key(g):
        return True
    # a multiple-choice letter with its value: "(B) 5" for "\\text{(B)}"
    mp, mg = MC_RE.match(p), MC_RE.match(g)
    if mg and not mp and (lead := MC_LEAD_RE.match(p)):
        return lead.group(1).upper() == mg.group(1).upper()
    if mp and not mg and (lead := MC_LEAD_RE.match(g)):
        return lead.group(1).upper() == mp.group(1).upper()
    pt, gt = is_text_answer(p), is_text_answer(g)
    if gt or pt:
        if text_key(p) == text_key(g):
            return True
        if gt and pt:
            return False
        # one side words, the other not: only numbers can still match ("5 ways" cleaned)
        return None if (parse_number(p) is None and parse_number(g) is None) else False
    pn, gn = parse_number(p), parse_number(g)
    if pn is not None and gn is not None:
        return numbers_equal(pn, gn, p, g)
    if "i" in p or "i" in g:  # complex numbers in any arrangement: 0.5+0.25i, \frac{2+i}{4}
        pc, gc = parse_complex(p), parse_complex(g)
        if pc is not None and gc is not None:
            pd, gd = ("0.1" if "." in p else ""), ("0.1" if "." in g else "")
            return numbers_equal(pc[0], gc[0], pd, gd) and numbers_equal(pc[1], gc[1], pd, gd)
    m = MC_RE.match(p), MC_RE.match(g)
    if m[0] and m[1]:
        return m[0].group(1).upper() == m[1].group(1).upper()
    return None


def _gsm8k_value(s: str) -> Fraction | None:
    if s is None:
        return None
    s = clean_number_text(s)
    v = parse_number(s)
    if v is not None:
        return v
    num = number_in_span(s)
    return to_fraction(num) if num is not None else None


def equivalent(
    pred: str | None, gold: str | None, task: str, choices: Sequence[str] | None = None
) -> bool:
    """Whether answer ``pred`` equals gold answer ``gold`` (both extracted answers; a gold
    given as a whole solution is read first, ``lema.grading.extract.gold_value``).

    CSQA: ``pred`` names the gold candidate (:func:`lema.grading.choice.same_candidate`:
    with ``choices``, the row's candidates, ``pred`` is read as an answer statement; without
    them the normalised texts are equal). ``choices`` is ignored for the other kinds."""
    task = check_task(task)
    if pred is None or gold is None:
        return False
    if task == "csqa":
        return same_candidate(str(pred), str(gold), choices)
    pred, gold = str(pred), gold_value(str(gold), task)
    if not pred.strip() or not gold.strip():
        return False
    if task == "gsm8k":
        dec = decimal_comma(clean_number_text(pred))
        pv = Fraction(dec) if dec is not None else _gsm8k_value(pred)
        gv = _gsm8k_value(gold)
        if pv is None or gv is None:
            return False
        return numbers_equal(pv, gv, clean_number_text(pred), clean_number_text(gold))
    r = math_equal(pred, gold, scalar_fast)
    if r is not None:
        return r
    eqs = equation_pair(pred, gold)  # the worker compares them as equations again
    p, g = eqs if eqs is not None else (normalize_math(pred), normalize_math(gold))
    if len(p) > MAX_SYMPY_CHARS or len(g) > MAX_SYMPY_CHARS:
        return False
    return bounded_sympy_equal(p, g)


def grade(
    completion: str | None, gold: str, task: str, choices: Sequence[str] | None = None
) -> bool:
    """Whether ``completion`` states the gold answer ``gold`` (the dataset's answer string;
    ``choices``: a CSQA row's candidate answers, ignored for the other kinds)."""
    task = check_task(task)
    pred = extract_answer(completion, task, choices)
    if pred is None:
        return False
    return equivalent(pred, gold, task, choices)
