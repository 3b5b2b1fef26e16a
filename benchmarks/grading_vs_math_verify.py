"""lema's grader beside math-verify (CommonsenseQA: beside the paper's rule), same items.

Both graders of a set grade the same labelled (completion, gold) pairs in one run.

Sets, all built deterministically (``--seed``) from the real data in ``../shared/data``:

- ``gsm8k-gold``, ``math-gold``: gold test solutions against their own answer (True) and a
  perturbed answer (first integer + 1; False);
- ``svamp``, ``asdiv``, ``mawps``, ``aqua``, ``aime24``, ``amc23``: model-like responses written
  around each gold answer in several shapes (True) and around a wrong value or letter (False);
- ``math-rewrites``: real MATH gold answers rewritten to an equal form (True) or to a near miss
  (False), each wrapped in a completion shape;
- ``shapes``: hand-written answer shapes (bare answers, final-answer sentences, separators,
  units, times, bases, complex numbers, equations ...), ours;
- ``lema-tests``: the labelled completions of lema's own tests;
- ``csqa``: CommonsenseQA dev rows (``benchmarks/csqa_dev.jsonl``: ``answer`` one of five
  ``candidates``), each with a short rationale of our own wording and then an answer
  statement: every shape stating the gold candidate (True) and one wrong candidate (False) --
  "The answer is X.", "The answer is: **X**", "So the answer is the X.", "The answer is (B)
  X.", "The answer is B.", ``$\boxed{X}$``, "Answer: X", "The answer is X, because ..." (a
  reason naming no other candidate), a regular English plural or a one-letter typo of X (X of
  at least 6 letters), kept only when it is strictly closer to X by edit distance than to
  every other candidate, upper case, chatter on a line after the statement; and False: a
  hedge naming two candidates ("either X or Y"), an answer far from every candidate
  ("banana": similarity below 0.5 to each), no answer statement, the gold only in the
  rationale before another final candidate; True: another candidate in the rationale before
  the gold. Rows whose candidates are not five distinct texts are skipped.

Per set it prints n, each grader's agreement with the labels, false positives, false
negatives, items/s and the slowest item. math-verify runs in this process's main thread with
its own (SIGALRM) timeouts at their defaults, as its documentation describes: ``parse`` the
gold (wrapped in ``$...$`` when it is a bare answer), ``parse`` the completion, ``verify(gold,
answer)``.

On ``csqa`` math-verify is not run (it compares mathematics and cannot read an answer among
free-text candidates; the JSON says so under ``not_run``): lema (``grade_batch`` items
``(completion, gold, "csqa", candidates)``, one item per call in this process so that its
time is the item's own) is shown beside the paper's rule (``paper-rule``:
``lema.grading.paper_rule.paper_correct(completion, gold, "csqa", candidates)``, the text after
the last "The answer is" mapped to the nearest candidate by edit distance, with no
threshold), under its own header in the plain-text table ("paper %") and in a Markdown table
of its own ("paper rule agree %"); asking for math-verify (``--graders``) gives the paper rule
there. Per grader the JSON also counts the errors by item kind (``errors_by_kind``; printed
for ``csqa``).

    python benchmarks/grading_vs_math_verify.py [--data ../shared/data] [--n 1500] [--seed 0]
        [--sets a,b] [--graders lema,math-verify] [--json out.json] [--markdown]
        [--disagreements 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lema import grading  # noqa: E402
from lema.grading import normalise, pool  # noqa: E402
from lema.grading.choice import LETTERS, candidate_key, levenshtein, similarity  # noqa: E402
from lema.grading.paper_rule import paper_correct  # noqa: E402


@dataclass(frozen=True)
class Item:
    completion: str
    gold: str
    task: str  # lema's task: "gsm8k", "math" or "csqa"
    label: bool
    kind: str  # the shape or rewrite that made it
    gold_is_solution: bool = False
    choice: bool = False  # a multiple-choice letter (math-verify's string extraction)
    choices: tuple[str, ...] = ()  # a CSQA row's candidate answers (the gold is one of them)


# ------------------------------------------------------------------------------ helpers


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _num_text(v: float | int | str) -> str:
    """A dataset number as a plain string ("27.0" stays as written when it is a string)."""
    if isinstance(v, str):
        return v.strip()
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _bump_first_int(s: str) -> str | None:
    m = re.search(r"\d+", s)
    if not m:
        return None
    return s[: m.start()] + str(int(m.group(0)) + 1) + s[m.end() :]


def _plain(v: str) -> str:
    """A numeric gold as a model would write it: 27.0 -> 27, 0.50 -> 0.5."""
    if re.fullmatch(r"-?\d+\.0+", v):
        return v.split(".")[0]
    if re.fullmatch(r"-?\d*\.\d*[1-9]0+", v):
        return v.rstrip("0")
    return v


def _wrong_number(v: str, rng: random.Random) -> str:
    """A different number of the same look: +-1, x10, or one digit changed."""
    x = float(v)
    choice = rng.randrange(3)
    if choice == 0:
        w = x + rng.choice((1, -1)) if x >= 1 else x + 1
    elif choice == 1 and x != 0:
        w = x * 10
    else:
        # one of the first three significant digits: a change in the tenth decimal of a
        # rounded 5/6 would make a debatable label
        first = next((i for i, c in enumerate(v) if c in "123456789"), 0)
        digits = [i for i, c in enumerate(v) if c.isdigit() and i >= first][:3]
        i = rng.choice(digits)
        c = str((int(v[i]) + rng.randrange(1, 9)) % 10)
        w_text = v[:i] + c + v[i + 1 :]
        if float(w_text) != x:
            return _plain(w_text)
        w = x + 1
    return _num_text(w)


def _thousands(v: str) -> str:
    if not re.fullmatch(r"\d{4,}(?:\.\d+)?", v):
        return v
    whole, _, frac = v.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


_STEPS = (
    "Let's work through it step by step.\n",
    "We first read off the quantities given in the problem and combine them.\n",
    "",
)


def _numeric_responses(x: str, unit: str, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, completion) pairs stating the number ``x`` in realistic shapes."""
    pre = rng.choice(_STEPS)
    u = f" {unit}" if unit else ""
    shapes = [
        ("answer-is", f"{pre}The answer is {x}."),
        ("boxed", f"{pre}So the result is $\\boxed{{{x}}}$."),
        ("bare", x),
        ("unit", f"{pre}The answer is {x}{u or ' units'}."),
        ("minerva", f"{pre}Final Answer: The final answer is ${x}$. I hope it is correct."),
        ("hash", f"{pre}#### {x}"),
        ("bold-answer", f"{pre}**Answer:** {x}"),
        ("thousands", f"{pre}The answer is {_thousands(x)}."),
    ]
    shapes += [
        ("bold", f"{pre}The answer is **{x}**."),
        ("latex-paren", f"{pre}The answer is \\({x}\\)."),
        ("answer-colon-unit", f"{pre}Answer: {x}{u}"),
        ("final-no-colon", f"{pre}The final answer is {x}"),
        ("prose-last-number", f"{pre}Putting everything together, we get {x}{u}."),
        ("answer-dollar-math", f"{pre}The answer is: ${x}$"),
    ]
    if re.fullmatch(r"-?\d+", x):
        shapes.append(("as-decimal", f"{pre}The answer is {x}.0."))
    return shapes


# ------------------------------------------------------------------------------ the sets


def gold_set(data: Path, task: str, n: int, rng: random.Random) -> list[Item]:
    rows = _rows(data / task / "test.jsonl")
    rng.shuffle(rows)
    out = []
    for r in rows[:n]:
        sol = r["answer"] if task == "gsm8k" else r["solution"]
        gold = grading.gold_answer(sol, task)
        if not gold:
            continue
        out.append(Item(sol, gold, task, True, "gold"))
        wrong = _bump_first_int(gold)
        if wrong:
            out.append(Item(sol, wrong, task, False, "perturbed-gold"))
    return out


def _numeric_benchmark(
    golds: list[tuple[str, str]], task: str, rng: random.Random, n: int
) -> list[Item]:
    """Responses around each (gold, unit): every shape True, and a wrong number False (in the
    same shape), plus an intermediate-result trap (gold mentioned, another final answer)."""
    out = []
    for gold, unit in golds[:n]:
        x = _plain(gold)
        kinds = _numeric_responses(x, unit, rng)
        for kind, text in rng.sample(kinds, 3):
            out.append(Item(text, gold, task, True, kind))
        w = _wrong_number(x, rng)
        for kind, text in rng.sample(_numeric_responses(w, unit, rng), 2):
            out.append(Item(text, gold, task, False, kind))
        out.append(
            Item(
                f"First we find {x}{' ' + unit if unit else ''}.\nThe answer is {w}.",
                gold,
                task,
                False,
                "intermediate-gold",
            )
        )
        out.append(
            Item(
                f"First we find {w}.\nThen we correct it.\nThe answer is {x}.",
                gold,
                task,
                True,
                "final-after-intermediate",
            )
        )
    return out


def benchmark_sets(data: Path, rng_for: Callable[[str], random.Random], n: int) -> dict:
    b = data / "benchmarks"
    sets: dict[str, list[Item]] = {}
    svamp = [(_num_text(r["Answer"]), "") for r in _rows(b / "svamp.jsonl")]
    mawps = [(_num_text(r["target"]), "") for r in _rows(b / "mawps.jsonl")]
    asdiv = []
    for r in _rows(b / "asdiv.jsonl"):
        m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*\(([^()]*)\)", r["answer"].strip())
        if m:  # numbers only: names, times, ratios and yes/no have no numeric gold
            asdiv.append((m.group(1), m.group(2).strip()))
    for name, golds in (("svamp", svamp), ("asdiv", asdiv), ("mawps", mawps)):
        rng = rng_for(name)
        rng.shuffle(golds)
        sets[name] = _numeric_benchmark(golds, "gsm8k", rng, n)
    for name in ("aime24", "amc23"):
        rng = rng_for(name)
        golds = [(_num_text(r["answer"]), "") for r in _rows(b / f"{name}.jsonl")]
        sets[name] = [
            it
            for it in _numeric_benchmark(golds, "math", rng, n)
            if it.kind not in ("hash",)  # "####" is GSM8K's convention, not a competition one
        ]
    sets["aqua"] = aqua_set(_rows(b / "aqua.jsonl"), rng_for("aqua"))
    return sets


def aqua_set(rows: list[dict], rng: random.Random) -> list[Item]:
    out = []
    for r in rows:
        gold = r["correct"].strip()
        opts = {o[0]: o[2:].strip() for o in r["options"] if len(o) > 2 and o[1] == ")"}
        wrong = rng.choice([c for c in "ABCDE" if c != gold and c in opts] or ["A"])

        def shapes(c: str, opts: dict = opts) -> list[tuple[str, str]]:
            return [
                ("answer-is", f"The answer is {c}."),
                ("answer-is-paren", f"Let's check each option.\nThe answer is ({c})."),
                ("boxed", f"The correct option is $\\boxed{{{c}}}$."),
                ("answer-colon", f"Answer: {c}"),
                ("bare", rng.choice((c, f"({c})"))),
                ("option-text", f"The answer is ({c}) {opts.get(c, '')}".rstrip() + "."),
                ("minerva", f"Final Answer: The final answer is ${c}$. I hope it is correct."),
            ]

        for kind, text in rng.sample(shapes(gold), 3):
            out.append(Item(text, gold, "math", True, kind, choice=True))
        for kind, text in rng.sample(shapes(wrong), 2):
            out.append(Item(text, gold, "math", False, kind, choice=True))
    return out


# ------------------------------------------------------------------------------ CommonsenseQA

#: rationales of our own: a few steps, no answer phrase ("answer is", "answer:"), no letter
#: followed by "is correct"; {stated}: the candidate the completion goes on to state (None:
#: it states none)
_CSQA_STEPS = (
    "Let's think step by step.\nThe question gives a few clues about the situation.\n"
    "We compare each candidate with those clues and keep the one that fits them best.\n",
    "Step 1: Read the question and note what it asks for.\n"
    "Step 2: Check which candidate matches that best.\n",
)
_CSQA_REMARKS = (
    "possible, but less likely here",
    "this does not fit the clues as well",
    "not what the question points to",
)
_CSQA_REASONS = (
    "it fits the situation the question describes",
    "that is what the clues in the question point to",
    "it matches the details given",
    "most people would expect it in this situation",
)
_CSQA_CHATTER = (
    "I hope this helps!",
    "Let me know if you would like more detail on any step.",
    "Thanks for reading.",
)
#: answers far from every candidate (each checked per row)
_CSQA_FAR = ("banana", "saxophone", "volcano", "pineapple", "umbrella", "kangaroo", "zebra")


def _csqa_rationale(candidates: tuple[str, ...], stated: str | None, rng: random.Random) -> str:
    """A short step-by-step rationale; one style explains each candidate in turn (the
    ``stated`` one as fitting best)."""
    style = rng.randrange(3)
    if style < 2:
        return _CSQA_STEPS[style]
    lines = ["Let's go through the candidates one by one."]
    for c in candidates:
        remark = "this fits the clues best" if c == stated else rng.choice(_CSQA_REMARKS)
        lines.append(f"- {c}: {remark}.")
    return "\n".join(lines) + "\n"


def _names(text: str, key: str) -> bool:
    """Whether the normalised ``text`` contains candidate ``key`` as a whole phrase."""
    return re.search(rf"(?<!\w){re.escape(key)}(?!\w)", text) is not None


def _plural(x: str) -> str | None:
    """The regular English plural of a one-word candidate ("bank" -> "banks", "library" ->
    "libraries", "church" -> "churches"); None for a word that may not be a noun or may be a
    plural already."""
    if not re.fullmatch(r"[a-z]{3,}", x) or x.endswith(("s", "ing", "ed", "ly")):
        return None
    if x.endswith("y") and x[-2] not in "aeiou":
        return x[:-1] + "ies"
    if x.endswith(("x", "z", "ch", "sh")):
        return x + "es"
    return x + "s"


def _typo(x: str, rng: random.Random) -> str | None:
    """``x`` with one inside letter replaced by another (``x`` of at least 6 letters)."""
    spots = [i for i in range(1, len(x) - 1) if x[i].isalpha()]
    if sum(c.isalpha() for c in x) < 6 or not spots:
        return None
    i = rng.choice(spots)
    c = rng.choice([ch for ch in "aeiourstnl" if ch != x[i]])
    return x[:i] + c + x[i + 1 :]


def _near_variant(
    c: str, candidates: tuple[str, ...], rng: random.Random
) -> tuple[str, str] | None:
    """(kind, a plural or one-letter typo of candidate ``c``) that is unambiguously ``c``: not
    a candidate itself, strictly closer to ``c`` than to every other candidate by edit
    distance, and naming no other candidate; None when there is none."""
    keys = [candidate_key(k) for k in candidates]
    key = candidate_key(c)
    options = []
    plural = _plural(key)
    if plural is not None:
        options.append(("plural", plural))
    typo = _typo(key, rng)
    if typo is not None:
        options.append(("typo", typo))
    rng.shuffle(options)
    lev = levenshtein
    for kind, v in options:
        d = lev(v, key)
        if v in keys or any(lev(v, k) <= d or _names(v, k) for k in keys if k != key):
            continue
        return kind, v
    return None


def _csqa_shapes(c: str, candidates: tuple[str, ...], rng: random.Random) -> list[tuple[str, str]]:
    """(kind, final statement) pairs stating candidate ``c`` in the shapes a model writes;
    a shape that would be ambiguous for this row is left out."""
    letter = LETTERS[candidates.index(c)]
    others = [candidate_key(k) for k in candidates if k != c]
    shapes = [
        ("answer-is", f"The answer is {c}."),
        ("answer-is-bold", f"The answer is: **{c}**"),
        ("letter-text", f"The answer is ({letter}) {c}."),
        ("letter", f"The answer is {letter}."),
        ("boxed", f"So we pick $\\boxed{{{c}}}$."),
        ("answer-colon", f"Answer: {c}"),
        ("upper", f"The answer is {c.upper()}."),
        ("chatter", f"The answer is {c}.\n\n{rng.choice(_CSQA_CHATTER)}"),
    ]
    if not re.match(r"(?:the|a|an)\s", c, re.IGNORECASE):
        shapes.append(("the-x", f"So the answer is the {c}."))
    reasons = [r for r in _CSQA_REASONS if not any(_names(candidate_key(r), k) for k in others)]
    if reasons:
        shapes.append(("because", f"The answer is {c}, because {rng.choice(reasons)}."))
    near = _near_variant(c, candidates, rng)
    if near is not None:
        shapes.append((near[0], f"The answer is {near[1]}."))
    return shapes


def _csqa_row_ok(candidates: tuple[str, ...], gold: str) -> bool:
    """A row whose labels can be true by construction: the gold is one of five candidates
    with distinct normalised texts of more than one character."""
    keys = [candidate_key(c) for c in candidates]
    return (
        gold in candidates
        and len(candidates) <= len(LETTERS)
        and len(set(keys)) == len(keys)
        and all(len(k) > 1 for k in keys)
    )


def csqa_set(rows: list[dict], rng: random.Random, n: int) -> list[Item]:
    """Model-like completions (a rationale, then an answer statement) for CommonsenseQA dev
    rows: every shape stating the gold candidate (True) and a wrong one (False), a hedge
    naming two candidates, an answer far from every candidate, no answer statement, the gold
    only in the rationale before another final candidate (False), and another candidate in
    the rationale before the gold (True)."""
    rows = list(rows)
    rng.shuffle(rows)
    out = []
    for r in rows[:n]:
        gold, cands = r["answer"], tuple(r["candidates"])
        if not _csqa_row_ok(cands, gold):
            continue
        wrongs = [c for c in cands if c != gold]

        def add(text: str, label: bool, kind: str, gold: str = gold, cands: tuple = cands) -> None:
            out.append(Item(text, gold, "csqa", label, kind, choices=cands))

        for kind, stmt in _csqa_shapes(gold, cands, rng):
            add(_csqa_rationale(cands, gold, rng) + stmt, True, kind)
        wrong = rng.choice(wrongs)
        for kind, stmt in _csqa_shapes(wrong, cands, rng):
            add(_csqa_rationale(cands, wrong, rng) + stmt, False, kind)
        other = rng.choice(wrongs)
        x, y = (gold, other) if rng.random() < 0.5 else (other, gold)
        hedge = rng.choice(
            (
                f"The answer is either {x} or {y}.",
                f"The answer is {x} or {y}.",
                f"Answer: {x} or {y}",
            )
        )
        add(_csqa_rationale(cands, None, rng) + hedge, False, "hedge")
        keys = [candidate_key(c) for c in cands]
        far = [
            w
            for w in _CSQA_FAR
            if all(similarity(w, k) < 0.5 and w not in k and k not in w for k in keys)
        ]
        if far:
            add(
                _csqa_rationale(cands, None, rng) + f"The answer is {rng.choice(far)}.",
                False,
                "far",
            )
        add(
            _csqa_rationale(cands, None, rng)
            + "Several of them could work, so we need more context to decide.",
            False,
            "no-answer",
        )
        other = rng.choice(wrongs)
        add(
            f"Let's think step by step.\nAt first {gold} seems to fit.\n"
            f"On reflection, {other} fits the clues better.\nThe answer is {other}.",
            False,
            "gold-in-rationale",
        )
        add(
            f"Let's think step by step.\nAt first {other} seems to fit.\n"
            f"On reflection, {gold} fits the clues better.\nThe answer is {gold}.",
            True,
            "other-in-rationale",
        )
    return out


# ---------------------------------------------------------------------- MATH rewrites

_WRAPS = (
    ("bare", "{}"),
    ("answer-is", "The answer is ${}$."),
    ("boxed", "Putting it together, the answer is $\\boxed{{{}}}$."),
    ("minerva", "Final Answer: The final answer is ${}$. I hope it is correct."),
)
_INT_FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
_INT = re.compile(r"^-?\d+$")
_DEC = re.compile(r"^-?\d*\.\d+$")
_TUPLE = re.compile(r"^\((-?\d+),\s*(-?\d+)\)$")
_BASE = re.compile(r"^(\d{2,})_\{?(\d+)\}?$")
_INTERVAL = re.compile(r"^([(\[])\s*([^,]+?)\s*,\s*([^,]+?)\s*([)\]])$")


def _terminating(a: int, b: int) -> str | None:
    d = b
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1 or b == 0:
        return None
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60  # a terminating quotient of small integers is exact at this precision
        s = format(Decimal(a) / Decimal(b), "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def _rewrites(g: str, problem: str) -> Iterator[tuple[str, str, bool]]:
    """(kind, rewritten answer, label) for one MATH gold answer."""
    m = _INT_FRAC.match(g)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        yield "frac->slash", f"{sign}{a}/{b}", True
        yield "frac->dfrac", f"{sign}\\dfrac{{{a}}}{{{b}}}", True
        if sign:
            yield "frac-sign-inside", f"\\frac{{-{a}}}{{{b}}}", True
        dec = _terminating(a, b)
        if dec is not None:
            yield "frac->decimal", sign + dec, True
            digits = [i for i, c in enumerate(dec) if c.isdigit() and c != "0"]
            i = digits[-1]
            near = dec[:i] + str((int(dec[i]) % 9) + 1) + dec[i + 1 :]
            if near != dec:
                yield "decimal-one-digit", sign + near, False
        yield (
            "frac-sign-flip",
            (f"\\frac{{{a}}}{{{b}}}" if sign else f"-\\frac{{{a}}}{{{b}}}"),
            False,
        )
        yield "frac-digit", f"{sign}\\frac{{{a}}}{{{b + 1}}}", False
        yield "frac-unreduced", f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}", True
        yield "frac-slash-spaced", f"{sign}{a} / {b}", True
    if _INT.match(g):
        v = int(g)
        yield "x-equals", f"x = {g}", True
        if v != 0:
            yield "sign-flip", str(-v), False
        yield "digit-change", g[:-1] + str((int(g[-1]) + 1) % 10), False
        if "degree" in problem or "^\\circ" in problem:
            yield "degrees", f"{g}^\\circ", True
        if abs(v) >= 1000:
            yield "thousands-brace", f"{v:,}".replace(",", "{,}"), True
    if _DEC.match(g):
        yield "decimal-trailing-zero", g + "0", True
        from fractions import Fraction

        v = Fraction(g)
        yield (
            "decimal->frac",
            f"{'-' if v < 0 else ''}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}",
            True,
        )
        i = max(k for k, c in enumerate(g) if c.isdigit())
        yield "decimal-one-digit", g[:i] + str((int(g[i]) + 1) % 10), False
    m = _TUPLE.match(g)
    if m:
        a, b = m.group(1), m.group(2)
        yield "tuple-spaces", f"( {a} , {b} )", True
        yield "tuple-left-right", f"\\left({a}, {b}\\right)", True
        if a != b and "ordered" in problem:
            yield "tuple-swapped", f"({b},{a})", False
    m = _BASE.match(g)
    if m:
        digits, base = m.group(1), int(m.group(2))
        yield "base-brace", f"{digits}_{{{base}}}", True
        if base < 10 and all(int(c) < base for c in digits):
            yield "base-other", f"{digits}_{{{base + 1}}}", False
    if "\\sqrt{" in g and re.search(r"\\sqrt\{\d\}", g):
        yield "sqrt-unbraced", re.sub(r"\\sqrt\{(\d)\}", r"\\sqrt\1", g), True
    if "\\left" in g:
        yield "no-left-right", re.sub(r"\\(?:left|right)(?![a-zA-Z])", "", g), True
    m = _INTERVAL.match(g)
    if m and not _TUPLE.match(g) and ("interval" in problem.lower()):
        o, lo, hi, c = m.groups()
        yield "interval-spaces", f"{o} {lo} , {hi} {c}", True
        flipped = {"(": "[", "[": "("}[o]
        yield "interval-bracket", f"{flipped}{lo},{hi}{c}", False
    parts = [p.strip() for p in g.split(",")]
    if (
        len(parts) >= 2
        and all(_INT.match(p) or _INT_FRAC.match(p) for p in parts)
        and len(set(parts)) == len(parts)
        and not g.startswith(("(", "["))
        and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", g.replace(" ", ""))  # 58,500 is a number
        and "order" not in problem.lower()
    ):
        yield "list-reordered", ", ".join(reversed(parts)), True
        yield "list-as-set", "\\{" + ", ".join(parts) + "\\}", True
        yield "list-one-changed", ", ".join(parts[:-1] + [_bump_first_int(parts[-1])]), False
    m = re.fullmatch(r"(\d+)\\text\{\s*([a-z ]+)\}", g)
    if m:
        yield "unit-dropped", m.group(1), True
    m = re.fullmatch(r"\\\$(\d+(?:\.\d\d)?)", g)
    if m:
        yield "dollar-plain", m.group(1), True
        yield "dollar-digit", "\\$" + _bump_first_int(m.group(1)), False


def _top_terms(g: str) -> list[str] | None:
    """``g`` split into its top-level signed terms ("x^2-2x+1" -> ["x^2", "-2x", "+1"]); None
    when it has no such sum, or anything that makes reordering unsafe."""
    if re.search(r"[=,<>;]|\\(?:text|pm|mp|cup|cap|le|ge|ne|in|circ|%)|\\\$|_|!|\\cdots", g):
        return None
    terms, depth, start = [], 0, 0
    for k, c in enumerate(g):
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c in "+-" and depth == 0 and k > start and g[k - 1] not in "^*/(\\ {":
            terms.append(g[start:k].strip())
            start = k
    terms.append(g[start:].strip())
    if len(terms) < 2 or any(t in ("", "+", "-") for t in terms) or depth != 0:
        return None
    return terms


def _symbolic_rewrites(g: str) -> Iterator[tuple[str, str, bool]]:
    """Rewrites that need algebra to see (commuted sums, expanded radicals, a fraction as a
    quotient), with near misses."""
    terms = _top_terms(g)
    if terms and len(set(terms)) == len(terms):
        moved = terms[1:] + terms[:1]
        text = " ".join(t if t[0] in "+-" else "+" + t for t in moved).lstrip("+").strip()
        yield "sum-reordered", text, True
        first = terms[0]
        flipped = first[1:] if first.startswith("-") else "-" + first.lstrip("+")
        yield "sum-term-sign", " ".join([flipped] + [t for t in terms[1:]]), False
    m = re.fullmatch(r"(\d+)\\sqrt\{(\d+)\}", g)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        yield "radical-expanded", f"\\sqrt{{{a * a * b}}}", True
        yield "radical-radicand", f"{a}\\sqrt{{{b + 1}}}", False
    m = re.fullmatch(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}", g)
    if m and not (m.group(1).isdigit() and m.group(2).isdigit()) and "," not in m.group(0):
        yield "frac-as-quotient", f"({m.group(1)})/({m.group(2)})", True
        yield "frac-inverted", f"\\frac{{{m.group(2)}}}{{{m.group(1)}}}", False
    m = re.fullmatch(r"\\[dt]?frac\{(\d*)\\sqrt\{(\d+)\}\}\{(\d+)\}", g)
    if m:
        k, r, d = m.group(1) or "1", m.group(2), m.group(3)
        yield "radical-coefficient", f"\\frac{{{k}}}{{{d}}}\\sqrt{{{r}}}", True
        yield "radical-coefficient-miss", f"\\frac{{{k}}}{{{d}}}\\sqrt{{{int(r) + 1}}}", False
    m = re.fullmatch(r"(\d+)\\pi", g)
    if m:
        yield "pi-commuted", f"\\pi \\cdot {m.group(1)}", True
        yield "pi-digit", f"{int(m.group(1)) + 1}\\pi", False


def rewrites_set(data: Path, rng: random.Random, n: int) -> list[Item]:
    rows = _rows(data / "math" / "test.jsonl")
    out = []
    for r in rows:
        g = grading.gold_answer(r["solution"], "math")
        if not g:
            continue
        rewrites = list(_rewrites(g.strip(), r["problem"])) + list(_symbolic_rewrites(g.strip()))
        for kind, ans, label in rewrites:
            wrap_kind, wrap = rng.choice(_WRAPS)
            out.append(Item(wrap.format(ans), g, "math", label, f"{kind}/{wrap_kind}"))
    rng.shuffle(out)
    # every rewrite class, none dominating: at most n // 5 items of one kind
    per_kind: dict[str, int] = {}
    kept = []
    for it in out:
        k = it.kind.split("/")[0]
        if per_kind.get(k, 0) < max(20, n // 5):
            per_kind[k] = per_kind.get(k, 0) + 1
            kept.append(it)
    return kept


# ------------------------------------------------------------------------------ shapes

#: (completion, gold, task, label, kind): our own examples of each answer shape
SHAPES: list[tuple[str, str, str, bool, str]] = [
    # bare answers
    ("7/8", "\\frac{7}{8}", "math", True, "bare-slash"),
    ("7/8", "\\frac{8}{7}", "math", False, "bare-slash"),
    ("3\\sqrt{5}", "\\sqrt{45}", "math", True, "bare-radical"),
    ("3\\sqrt{5}", "5\\sqrt{3}", "math", False, "bare-radical"),
    ("(4,-3)", "(4,-3)", "math", True, "bare-tuple"),
    ("(4,-3)", "(-3,4)", "math", False, "bare-tuple"),
    ("\\frac{5}{16}", "\\frac{5}{16}", "math", True, "bare-frac"),
    ("\\frac{5}{16}", "\\frac{5}{18}", "math", False, "bare-frac"),
    ("3 750", "3750", "math", True, "bare-spaced-thousands"),
    ("3 750", "750", "math", False, "bare-spaced-thousands"),
    ("3 750", "3750", "gsm8k", True, "bare-spaced-thousands"),
    ("-\\frac{2}{9}", "-\\frac29", "math", True, "bare-frac"),
    ("x = -4", "-4", "math", True, "bare-assignment"),
    ("x = -4", "4", "math", False, "bare-assignment"),
    # final-answer sentences
    ("So the final answer is 64.", "64", "math", True, "final-sentence"),
    ("So the final answer is 64.", "46", "math", False, "final-sentence"),
    ("The final answer is $\\frac{9}{4}$.", "2.25", "math", True, "final-sentence"),
    ("Thus, the final answer is: 15 dollars.", "15", "gsm8k", True, "final-sentence"),
    ("Final answer: 0.125", "\\frac18", "math", True, "final-sentence"),
    ("Final answer: 0.125", "\\frac14", "math", False, "final-sentence"),
    ("Therefore, the number of handshakes is 45.", "45", "math", True, "final-sentence"),
    ("Therefore, the number of handshakes is 45.", "54", "math", False, "final-sentence"),
    # a box followed by junk
    ("\\[ x = \\boxed{31}. \\]\n\n\\end{solution} 2", "31", "math", True, "boxed-junk"),
    ("\\[ x = \\boxed{31}. \\]\n\n\\end{solution} 2", "2", "math", False, "boxed-junk"),
    ("$\\boxed{12}$.\\]\n1.", "12", "math", True, "boxed-junk"),
    # gold given as a whole solution
    (
        "The answer is 72.",
        "We add $30+42=72$, so there are $\\boxed{72}$ pages.",
        "math",
        True,
        "gold-solution",
    ),
    (
        "The answer is 27.",
        "We add $30+42=72$, so there are $\\boxed{72}$ pages.",
        "math",
        False,
        "gold-solution",
    ),
    (
        "She has 15 apples left.\n#### 15",
        "Ten plus five is 15.\n#### 15",
        "gsm8k",
        True,
        "gold-solution",
    ),
    # separators
    ("The answer is 12 000.", "12000", "gsm8k", True, "spaced-thousands"),
    ("The answer is 12 000.", "1200", "gsm8k", False, "spaced-thousands"),
    ("The answer is $4,\\!500$.", "4500", "math", True, "thin-space-thousands"),
    ("The answer is $4,\\!500$.", "450", "math", False, "thin-space-thousands"),
    ("The answer is 3,75.", "3.75", "gsm8k", True, "decimal-comma"),
    ("The answer is 3,75.", "375", "gsm8k", False, "decimal-comma"),
    ("The answer is $2{,}048$.", "2048", "math", True, "brace-thousands"),
    # percent words
    ("The answer is 40 percent.", "40", "gsm8k", True, "percent-word"),
    ("The answer is 40 percent.", "40", "math", True, "percent-word"),
    ("The answer is 40 percent.", "4", "math", False, "percent-word"),
    ("The answer is $35\\%$.", "35", "math", True, "percent-sign"),
    # infinity, complex
    ("The limit is $\\boxed{+\\infty}$.", "\\infty", "math", True, "infinity"),
    ("The limit is $\\boxed{+\\infty}$.", "-\\infty", "math", False, "infinity"),
    ("The answer is $\\boxed{2-3i}$.", "2-3i", "math", True, "complex"),
    ("The answer is $\\boxed{-3i+2}$.", "2-3i", "math", True, "complex"),
    ("The answer is $\\boxed{2+3i}$.", "2-3i", "math", False, "complex"),
    (
        "The answer is $\\boxed{\\frac{1}{2}+\\frac{1}{2}i}$.",
        "\\frac{1+i}{2}",
        "math",
        True,
        "complex",
    ),
    # times and dates
    ("The train leaves at 4:15 p.m.", "4:15\\text{ p.m.}", "math", True, "time"),
    ("The train leaves at 4:15 a.m.", "4:15\\text{ p.m.}", "math", False, "time"),
    ("The answer is \\boxed{\\text{June 21st}}.", "\\text{June 21}", "math", True, "date"),
    ("The answer is \\boxed{\\text{June 22nd}}.", "\\text{June 21}", "math", False, "date"),
    # equations of a line
    ("The line is $\\boxed{y = -2x + 5}$.", "y=5-2x", "math", True, "line"),
    ("The line is $\\boxed{2x + y - 5 = 0}$.", "y=-2x+5", "math", True, "line"),
    ("The line is $\\boxed{y = 2x + 5}$.", "y=-2x+5", "math", False, "line"),
    # approximations
    ("So $x \\approx 17$.", "17", "math", True, "approx"),
    ("So $x \\approx 17$.", "71", "math", False, "approx"),
    # bases
    ("The answer is $\\boxed{1101_2}$.", "1101_2", "math", True, "base"),
    ("The answer is $\\boxed{1101_2}$.", "1101_3", "math", False, "base"),
    ("The answer is $\\boxed{1101_{2}}$.", "13", "math", True, "base-value"),
    # exact decimals
    ("The answer is $0.00073$.", "0.00073", "math", True, "exact-decimal"),
    ("The answer is $0.00073$.", ".000731", "math", False, "exact-decimal"),
    ("The answer is $0.00073$.", ".00073", "math", True, "exact-decimal"),
    ("The answer is $0.3333333$.", "\\frac13", "math", True, "repeating-decimal"),
    ("The answer is $0.33$.", "\\frac13", "math", False, "repeating-decimal"),
    # boxes, headers and what follows them
    ("The side is $\\boxed{5}$ cm.", "5", "math", True, "boxed-unit"),
    ("**Final Answer**\n\\[ \\boxed{42} \\]", "42", "math", True, "final-header"),
    ("**Final Answer**\n\\[ \\boxed{42} \\]", "24", "math", False, "final-header"),
    ("Final Answer: $\\boxed{42}$", "42", "gsm8k", True, "final-boxed"),
    (
        "The answer is $\\boxed{10}$.\n\nQuestion: How many legs?\nThe answer is 3.",
        "10",
        "math",
        True,
        "continuation",
    ),
    (
        "The answer is $\\boxed{10}$.\n\nQuestion: How many legs?\nThe answer is 3.",
        "3",
        "math",
        False,
        "continuation",
    ),
    ("The answer is $\\boxed{\\textbf{(B) } 12}$.", "\\text{(B)}", "math", True, "choice-boxed"),
    ("The answer is $\\boxed{\\textbf{(B) } 12}$.", "\\text{(C)}", "math", False, "choice-boxed"),
    # money
    ("The answer is \\$1,234.50.", "1234.5", "gsm8k", True, "money"),
    ("The answer is \\$1,234.50.", "1234", "gsm8k", False, "money"),
    ("The total is $18.00.\nThe answer is $18.00.", "18", "gsm8k", True, "money"),
    ("The answer is 5%.", "5", "gsm8k", True, "percent-sign"),
    ("The answer is 0.5", "5", "gsm8k", False, "decimal"),
    ("The answer is 27 or 28.", "27", "gsm8k", False, "hedge"),
    ("The answer is 27 or 28.", "28", "gsm8k", False, "hedge"),
    ("The answer is $27$ or $28$.", "27", "math", False, "hedge"),
    ("The answer is 18.", "18.5", "gsm8k", False, "decimal"),
    # symbolic
    (
        "The answer is $\\boxed{\\dfrac{\\sqrt{3}}{2}}$.",
        "\\frac{\\sqrt3}2",
        "math",
        True,
        "radical-frac",
    ),
    (
        "The answer is $\\boxed{\\dfrac{\\sqrt{3}}{2}}$.",
        "\\frac{\\sqrt2}2",
        "math",
        False,
        "radical-frac",
    ),
    ("The answer is $\\frac{\\pi}{4}$.", "\\pi/4", "math", True, "pi"),
    ("The answer is $\\frac{\\pi}{4}$.", "\\frac{\\pi}{3}", "math", False, "pi"),
    ("The answer is $2^{10}$.", "1024", "math", True, "power"),
    ("The answer is $1.5 \\times 10^{3}$.", "1500", "math", True, "scientific"),
    ("The answer is $10^{-3}$.", "0.001", "math", True, "scientific"),
    ("The answer is $10^{-3}$.", "0.01", "math", False, "scientific"),
    ("The answer is $2\\sqrt{3}$.", "\\sqrt{6}", "math", False, "radical"),
    ("The answer is $2\\sqrt{3}$.", "\\sqrt{12}", "math", True, "radical"),
    # solutions, intervals, matrices, equations
    ("The solutions are $x=2$ and $x=-3$.", "-3, 2", "math", True, "solutions"),
    ("The solutions are $x=2$ and $x=-3$.", "2, 3", "math", False, "solutions"),
    (
        "So $x \\in \\boxed{(-\\infty, 2) \\cup (3, \\infty)}$.",
        "(-\\infty,2)\\cup(3,\\infty)",
        "math",
        True,
        "union",
    ),
    (
        "So $x \\in \\boxed{(-\\infty, 2] \\cup (3, \\infty)}$.",
        "(-\\infty,2)\\cup(3,\\infty)",
        "math",
        False,
        "union",
    ),
    (
        "The answer is $\\boxed{x<2 \\text{ or } x>3}$.",
        "(-\\infty,2)\\cup(3,\\infty)",
        "math",
        True,
        "inequality",
    ),
    ("The answer is $\\boxed{(1,2)}$.", "[1,2]", "math", False, "interval"),
    (
        "The answer is $\\boxed{\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}}$.",
        "(1,-2)",
        "math",
        True,
        "vector",
    ),
    (
        "The answer is $\\boxed{\\begin{pmatrix} 1 \\\\ -2 \\end{pmatrix}}$.",
        "(-2,1)",
        "math",
        False,
        "vector",
    ),
    ("The circle is $\\boxed{y^2 + x^2 = 25}$.", "x^2+y^2=25", "math", True, "equation"),
    ("The circle is $\\boxed{y^2 + x^2 = 25}$.", "x^2+y^2=5", "math", False, "equation"),
    (
        "The probability is $\\frac{1}{6}$, or about 16.7%.",
        "\\frac16",
        "math",
        True,
        "exact-then-approx",
    ),
    ("The answer is $\\boxed{\\infty}$.", "\\infty", "math", True, "infinity"),
]


def shapes_set() -> list[Item]:
    out = []
    for comp, gold, task, label, kind in SHAPES:
        sol = kind == "gold-solution"
        out.append(Item(comp, gold, task, label, kind, gold_is_solution=sol))
    return out


# ------------------------------------------------------------------------------ graders

_MV = None


def _mv():
    global _MV
    if _MV is None:
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        logging.getLogger("latex2sympy2_extended").setLevel(logging.CRITICAL)
        import math_verify as mv

        _MV = mv
    return _MV


def math_verify_grade(it: Item) -> bool:
    """math-verify as documented: parse(gold), parse(answer), verify(gold, answer); timeouts at
    their defaults (this runs in the main thread)."""
    mv = _mv()
    if it.choice:
        cfg = [mv.StringExtractionConfig(), mv.LatexExtractionConfig()]
        gold = mv.parse(it.gold, extraction_config=[mv.StringExtractionConfig()])
        pred = mv.parse(it.completion, extraction_config=cfg)
    else:
        bare = not it.gold_is_solution and "$" not in it.gold and "\\boxed" not in it.gold
        gold = mv.parse(f"${it.gold}$" if bare else it.gold)
        pred = mv.parse(it.completion)
    return bool(verify_safe(mv, gold, pred))


def verify_safe(mv, gold, pred) -> bool:
    try:
        return mv.verify(gold, pred)
    except Exception:  # noqa: BLE001 - a grader failure is "not shown equal"
        return False


def lema_grade(it: Item) -> bool:
    """lema's grade; a CSQA item through grade_batch with its candidates, in this process
    (one worker: the per-item time is the grader's own)."""
    if it.choices:
        item = (it.completion, it.gold, it.task, it.choices)
        return grading.grade_batch([item], workers=1)[0].correct
    return grading.grade(it.completion, it.gold, it.task)


def paper_rule_grade(it: Item) -> bool:
    """The paper's own CSQA rule (lema.grading.paper_rule): the text after the last "The
    answer is", mapped to the nearest candidate by edit distance, with no threshold."""
    return paper_correct(it.completion, it.gold, it.task, it.choices)


GRADERS: dict[str, Callable[[Item], bool]] = {
    "lema": lema_grade,
    "math-verify": math_verify_grade,
    "paper-rule": paper_rule_grade,
}
#: sets math-verify does not grade, graded beside lema by the paper's rule instead
PAPER_RULE_SETS = {"csqa"}
MATH_VERIFY_NA = (
    "n/a: math-verify compares mathematics; it cannot read an answer among free-text "
    "candidates (CSQA's gold is a text such as 'bank')"
)
#: column labels of the plain-text table
_SHORT = {"lema": "lema %", "math-verify": "m-v %", "paper-rule": "paper %"}


def graders_for(name: str, requested: list[str]) -> list[str]:
    """The graders run on set ``name``: a CSQA set gets the paper rule where math-verify was
    asked for (math-verify cannot grade it); the other sets never get the paper rule."""
    if name in PAPER_RULE_SETS:
        out = ["paper-rule" if g == "math-verify" else g for g in requested]
    else:
        out = [g for g in requested if g != "paper-rule"]
    return list(dict.fromkeys(out))


def run_set(name: str, items: list[Item], show: int, graders: list[str] | None = None) -> dict:
    """Every grader of ``graders`` (default: all) over ``items``: agreement with the labels,
    false positives and negatives (``show`` examples of each), items/s and the slowest item."""
    res = {"set": name, "n": len(items), "graders": {}}
    for gname in graders or list(GRADERS):
        fn = GRADERS[gname]
        times, got = [], []
        for it in items:
            t = time.perf_counter()
            try:
                v = fn(it)
            except Exception:  # noqa: BLE001
                v = False
            times.append(time.perf_counter() - t)
            got.append(v)
        fp = [it for it, v in zip(items, got, strict=True) if v and not it.label]
        fn_ = [it for it, v in zip(items, got, strict=True) if not v and it.label]
        by_kind: dict[str, dict[str, int]] = {}
        for what, wrong in (("fp", fp), ("fn", fn_)):
            for it in wrong:
                by_kind.setdefault(it.kind, {"fp": 0, "fn": 0})[what] += 1
        worst = max(range(len(items)), key=lambda k: times[k])
        res["graders"][gname] = {
            "agree_pct": round(100 * (len(items) - len(fp) - len(fn_)) / len(items), 2),
            "false_pos": len(fp),
            "false_neg": len(fn_),
            "items_per_s": round(len(items) / sum(times), 1),
            "worst_ms": round(1000 * times[worst], 1),
            "worst_item": {
                "completion": items[worst].completion[-120:],
                "gold": items[worst].gold[:80],
            },
            "fp_examples": [_example(i) for i in fp[:show]],
            "fn_examples": [_example(i) for i in fn_[:show]],
            "errors_by_kind": dict(sorted(by_kind.items())),
            "verdicts": got,
        }
    if name in PAPER_RULE_SETS:
        res["not_run"] = {"math-verify": MATH_VERIFY_NA}
    return res


def _example(it: Item) -> dict:
    """An item as reported: its completion's last 160 characters (its whole text for a CSQA
    item, whose candidates it carries)."""
    ex = asdict(it) | {"completion": it.completion if it.choices else it.completion[-160:]}
    if not it.choices:
        ex.pop("choices")
    return ex


def labelled_completions_set() -> list[Item]:
    """The labelled completions of lema's own tests (tests/test_answers.py: REALISTIC, GRADE),
    written alongside lema's grader: its home ground, kept to show both graders on them."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import test_answers as ta
    except ImportError:
        return []
    out = []
    for task, comp, gold, label in list(ta.REALISTIC) + list(ta.GRADE):
        if comp and gold:
            out.append(Item(comp, gold, task, bool(label), "lema-tests"))
    return out


#: the sets benchmark_sets builds together (from ../shared/data/benchmarks)
BENCHMARK_SETS = ("svamp", "asdiv", "mawps", "aime24", "amc23", "aqua")


def build_sets(
    data: Path, seed: int, n: int, only: set[str] | None = None
) -> dict[str, list[Item]]:
    """Every set (or those named in ``only``; each set has its own random stream, so a set
    is the same built alone or with the others)."""

    def rng_for(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    def wanted(*names: str) -> bool:
        return only is None or any(x in only for x in names)

    sets: dict[str, list[Item]] = {}
    if wanted("gsm8k-gold"):
        sets["gsm8k-gold"] = gold_set(data, "gsm8k", n, rng_for("gsm8k-gold"))
    if wanted("math-gold"):
        sets["math-gold"] = gold_set(data, "math", n, rng_for("math-gold"))
    if wanted(*BENCHMARK_SETS):
        sets.update(benchmark_sets(data, rng_for, n))
    if wanted("math-rewrites"):
        sets["math-rewrites"] = rewrites_set(data, rng_for("math-rewrites"), n)
    if wanted("shapes"):
        sets["shapes"] = shapes_set()
    if wanted("lema-tests"):
        sets["lema-tests"] = labelled_completions_set()
    if wanted("csqa"):
        csqa_rows = _rows(data / "benchmarks" / "csqa_dev.jsonl")
        sets["csqa"] = csqa_set(csqa_rows, rng_for("csqa"), n)
    return {k: v for k, v in sets.items() if only is None or k in only}


def markdown_table(runs: list[dict]) -> str:
    """The per-set results as Markdown tables (agreement %, FP, FN, items/s, worst ms): lema
    beside math-verify, and, for the CSQA set (which math-verify cannot grade), lema beside
    the paper's rule in a table of its own."""
    mv = [r for r in runs if r["set"] not in PAPER_RULE_SETS]
    paper = [r for r in runs if r["set"] in PAPER_RULE_SETS]
    tables = []
    if mv:
        tables.append(_markdown_rows(mv, "math-verify", "math-verify"))
    if paper:
        tables.append(
            _markdown_rows(paper, "paper-rule", "paper rule")
            + "\n\nmath-verify on this set: "
            + MATH_VERIFY_NA
        )
    return "\n\n".join(tables)


def _markdown_rows(runs: list[dict], second: str, label: str) -> str:
    lines = [
        "| set | n | lema agree % | FP | FN | items/s | worst ms "
        f"| {label} agree % | FP | FN | items/s | worst ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        cells = [r["set"], str(r["n"])]
        for g in ("lema", second):
            x = r["graders"].get(g)
            if x is None:
                cells += ["-"] * 5
                continue
            cells += [
                f"{x['agree_pct']:.2f}",
                str(x["false_pos"]),
                str(x["false_neg"]),
                f"{x['items_per_s']:.0f}",
                f"{x['worst_ms']:.0f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _versions() -> dict:
    import importlib.metadata as md

    return {p: md.version(p) for p in ("sympy", "math-verify", "latex2sympy2_extended")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--n", type=int, default=1500, help="problems per set (at most)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default="", help="comma-separated subset of the sets")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--disagreements", type=int, default=3, help="examples printed per error")
    ap.add_argument("--graders", default="lema,math-verify", help="comma-separated")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = ap.parse_args()

    pool.bounded_sympy_equal.cache_clear()
    normalise.normalize_math.cache_clear()
    grading.equivalent("\\sqrt{8}", "2\\sqrt{2}", "math")  # start the sympy worker
    math_verify_grade(Item("$\\sqrt{8}$", "2\\sqrt{2}", "math", True, "warm-up"))
    sets = build_sets(
        args.data, args.seed, args.n, set(args.sets.split(",")) if args.sets else None
    )
    info = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": _versions(),
        "seed": args.seed,
        "n": args.n,
    }
    print(f"machine: {info['machine']}; load average {info['load_average']}; {info['versions']}")
    shown = None
    runs = []
    for name, items in sets.items():
        second = "paper-rule" if name in PAPER_RULE_SETS else "math-verify"
        if second != shown:  # the second grader's column: math-verify, or the paper rule
            head = (
                f"{'set':14} {'n':>5} | {'lema %':>7} {'FP':>4} {'FN':>4} {'it/s':>7} "
                f"{'worst ms':>8} | {_SHORT[second]:>7} {'FP':>4} {'FN':>4} {'it/s':>7} "
                f"{'worst ms':>8}"
            )
            if second == "paper-rule":
                head += "   (math-verify: n/a, free-text candidates)"
            print(head)
            shown = second
        r = run_set(name, items, args.disagreements, graders_for(name, args.graders.split(",")))
        runs.append(r)
        cols = [
            f"{g['agree_pct']:7.2f} {g['false_pos']:4d} {g['false_neg']:4d} "
            f"{g['items_per_s']:7.0f} {g['worst_ms']:8.1f}"
            for g in r["graders"].values()
        ]
        print(f"{name:14} {r['n']:5d} | " + " | ".join(cols), flush=True)
    for r in runs:
        for gname, g in r["graders"].items():
            for what in ("fp_examples", "fn_examples"):
                for ex in g[what]:
                    cands = f" of {list(ex['choices'])}" if ex.get("choices") else ""
                    print(
                        f"  [{r['set']}] {gname} {what[:2].upper()}: {ex['kind']}: "
                        f"{ex['completion']!r} vs gold {ex['gold'][:60]!r}{cands} ({ex['task']})"
                    )
            if r["set"] in PAPER_RULE_SETS and g["errors_by_kind"]:
                print(f"  [{r['set']}] {gname} errors by kind: {g['errors_by_kind']}")
        for g in r["graders"].values():
            g.pop("verdicts")
    if args.json:
        args.json.write_text(json.dumps(info | {"runs": runs}, indent=2) + "\n")
    if args.markdown:
        print(markdown_table(runs))
    grading.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
