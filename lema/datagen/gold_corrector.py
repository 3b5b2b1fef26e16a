"""The offline ``gold`` corrector: a templated correction guided by the gold solution.

It needs no model and costs nothing: a real baseline (an ablation of the corrector's
explanations) and what the offline demo runs on.

How the first wrong step is found:

- **GSM8K.** The gold solution's ``<<a*b=c>>`` calculator annotations give the intermediate
  values of a correct computation; together with every number in the question and the gold
  solution they form the set of *known values*. A path step's computed numbers are the numbers
  right after an ``=`` sign (or, in a step without ``=``, its numbers that are not in the
  question). The first step with a computed number outside the known values is the incorrect
  step.
- **MATH.** The same idea on the numbers (integers, decimals, ``\\frac{a}{b}``) of each step
  against those of the question and the gold solution; a step that states a final answer other
  than the gold one is wrong as well.

If no step is flagged, the step that states the (wrong) final answer is the incorrect one (the
last step when the path never states an answer).

The correction then continues with the gold solution's steps that the path has not already
reached — gold steps whose values all appear in the path before the incorrect step are taken
as done — renumbered from the incorrect step, and ends in "The answer is <gold answer>."
The output uses the corrector prompt's labelled layout, so it goes through the same parser and
filter as a model's corrections.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from lema.formats import ANSWER_PHRASE, split_steps

_CALC = re.compile(r"<<([^<>]*)>>")
_NUM = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?![\d.]))?|(?<![\w.])-?\.\d+")
_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?\d+)\s*\}\s*\{\s*(-?\d+)\s*\}")
_AFTER_EQ = re.compile(r"=\s*\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?![\d.]))?|-?\.\d+)")
_ANSWER_LINE = re.compile(r"(?i)\b(?:the\s+)?(?:final\s+)?answer\s+is\b|\\boxed|####")


def _to_value(text: str) -> Fraction | None:
    text = text.replace(",", "").replace(" ", "")
    try:
        if "/" in text:
            a, b = text.split("/", 1)
            return Fraction(a) / Fraction(b) if Fraction(b) != 0 else None
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def numbers(text: str) -> list[Fraction]:
    """Numbers written in ``text``: integers, decimals, thousands separators, a/b, \\frac{a}{b}."""
    out: list[Fraction] = []
    for a, b in _FRAC.findall(text):
        if int(b) != 0:
            out.append(Fraction(int(a), int(b)))
    stripped = _FRAC.sub(" ", text)
    for m in _NUM.finditer(stripped):
        token = m.group(0)
        if "/" in token:  # "48/2" is an operation in prose, count both sides and the quotient
            a, b = token.split("/", 1)
            for part in (a, b):
                v = _to_value(part)
                if v is not None:
                    out.append(v)
        v = _to_value(token)
        if v is not None:
            out.append(v)
    return out


def computed_numbers(step: str) -> list[Fraction]:
    """The results a step computes: numbers right after '='."""
    out = []
    for m in _AFTER_EQ.finditer(_FRAC.sub(lambda f: f"{f.group(1)}/{f.group(2)}", step)):
        v = _to_value(m.group(1))
        if v is not None:
            out.append(v)
    return out


def _known(values: set[Fraction], v: Fraction) -> bool:
    if v in values:
        return True
    # tolerate rounding in prose (0.33 for 1/3, $12.50 vs 12.5): relative 1e-2 on non-integers
    return any(
        abs(v - k) <= abs(k) * Fraction(1, 100)
        for k in values
        if k.denominator != 1 or v.denominator != 1
    )


def gsm8k_gold_steps(solution: str) -> list[str]:
    """The gold solution's lines without calculator annotations and the '#### X' line."""
    steps = []
    for line in solution.splitlines():
        if line.strip().startswith("####") or not line.strip():
            continue
        steps.append(_CALC.sub("", line).strip())
    return steps


def gsm8k_gold_values(solution: str) -> set[Fraction]:
    vals = set(numbers(_CALC.sub(" ", solution)))
    for expr in _CALC.findall(solution):
        vals.update(numbers(expr))
    return vals


_BOXED = re.compile(r"\\boxed\s*\{")
_BOXED_BARE = re.compile(r"\\boxed\s+(?=[^\s{])")


def unbox(text: str) -> str:
    """Replace every \\boxed{X} (and \\boxed X) with X (nested braces respected)."""
    text = _BOXED_BARE.sub("", text)
    out, i = [], 0
    while True:
        m = _BOXED.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        out.append(text[m.end() : j - 1] if depth == 0 else text[m.end() :])
        i = j


def math_gold_steps(solution: str) -> list[str]:
    """A MATH solution split into steps: sentences outside math mode, and paragraphs."""
    text = unbox(solution).strip()
    steps: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    in_math: str | None = None
    while i < n:
        if text.startswith("$$", i) or text.startswith("\\[", i) or text.startswith("\\]", i):
            tok = text[i : i + 2]
            if in_math is None and tok in ("$$", "\\["):
                in_math = "$$" if tok == "$$" else "\\]"
            elif in_math == ("$$" if tok == "$$" else "\\]"):
                in_math = None
                buf.append(tok)
                i += 2
                # display math ending a sentence ("… = 5.$$") ends the step
                if "".join(buf[:-1]).rstrip().endswith(".") and (
                    i >= n or text[i].isspace() or text[i].isupper()
                ):
                    steps.append(" ".join("".join(buf).split()))
                    buf = []
                continue
            buf.append(tok)
            i += 2
            continue
        ch = text[i]
        if ch == "$" and in_math in (None, "$"):
            in_math = None if in_math == "$" else "$"
        buf.append(ch)
        i += 1
        if in_math is None:
            end_sentence = (
                ch in ".!?"
                and (i >= n or text[i].isspace())
                and not re.search(r"\b(?:e\.g|i\.e|vs)\.$", "".join(buf[-6:]))
            )
            paragraph = ch == "\n" and i < n and text[i] == "\n"
            if end_sentence or paragraph:
                piece = "".join(buf).strip()
                if piece:
                    steps.append(" ".join(piece.split()))
                buf = []
    piece = "".join(buf).strip()
    if piece:
        steps.append(" ".join(piece.split()))
    # merge fragments too short to be a step into the next one
    merged: list[str] = []
    for s in steps:
        prev = merged[-1].rstrip("$\\] ") if merged else ""
        if merged and (len(merged[-1]) < 25 or not prev.endswith((".", "!", "?"))):
            merged[-1] = f"{merged[-1]} {s}"
        else:
            merged.append(s)
    return merged or [text]


def _path_steps(path: str) -> list[str]:
    steps = split_steps(path)
    # the answer line is its own step when it is a separate line after the numbered steps
    return steps or [path.strip()]


def first_wrong_step(question: str, solution: str | None, gold: str, path: str, task: str) -> int:
    """0-based index into split_steps(path) of the first incorrect step."""
    from lema.grading import equivalent, extract_answer
    from lema.tasks import kind_of

    task = kind_of(task)  # a task of tasks_defined: its kind's solution format and grader
    steps = _path_steps(path)
    known = set(numbers(question)) | {v for v in numbers(gold)}
    if solution:
        known |= gsm8k_gold_values(solution) if task == "gsm8k" else set(numbers(unbox(solution)))
    qnums = set(numbers(question))
    for i, step in enumerate(steps):
        if _ANSWER_LINE.search(step):
            pred = extract_answer(step, task)
            if pred is not None and not equivalent(pred, gold, task):
                # numbers inside the statement of the answer count as computed too
                return i
        vals = computed_numbers(step)
        if not vals:
            vals = (
                [v for v in numbers(step) if v not in qnums] if task == "gsm8k" else numbers(step)
            )
        if any(not _known(known, v) for v in vals):
            return i
    return len(steps) - 1


def _covered(gold_steps: list[str], done_text: str) -> int:
    """How many leading gold steps the path's correct prefix has already reached."""
    done = set(numbers(done_text))
    count = 0
    for s in gold_steps:
        vals = numbers(s)
        results = computed_numbers(s) or vals
        if results and all(_known(done, v) for v in results):
            count += 1
        else:
            break
    return count


def require_solutions(rows: list[dict[str, Any]], task: str, what: str) -> None:
    """LemaError in one line when ``what`` (the gold corrector or the gold CoT) needs gold
    solutions that ``task`` does not have: a multiple-choice task (kind ``csqa``: only the
    gold answer is known), or a task of tasks_defined whose config names no ``solution``
    field."""
    from lema.errors import LemaError
    from lema.tasks import BUILTIN, kind_of, multiple_choice

    if multiple_choice(kind_of(task)):
        raise LemaError(
            f"task '{task}': {what} needs gold solutions, and a multiple-choice task has only "
            f"the gold answer; name a model corrector for it (config: corrector: "
            f"{{default: gold, {task}: <model>}})"
        )
    if task in BUILTIN or not rows or any(r.get("solution") for r in rows):
        return
    raise LemaError(
        f"task '{task}': {what} needs gold solutions, and its rows have none; configure "
        f"tasks_defined.{task}.solution (the JSONL field holding each solution) or a model "
        f"corrector"
    )


def gold_correction(question: str, solution: str | None, gold: str, path: str, task: str) -> str:
    """The templated correction of ``path``, in the corrector prompt's labelled layout."""
    if not solution:
        return ""  # no gold solution (evolved question): nothing to guide the correction
    from lema.tasks import kind_of

    task = kind_of(task)
    steps = _path_steps(path)
    idx = first_wrong_step(question, solution, gold, path, task)
    gold_steps = gsm8k_gold_steps(solution) if task == "gsm8k" else math_gold_steps(solution)
    done = _covered(gold_steps, "\n".join(steps[:idx]))
    remaining = gold_steps[done:] or gold_steps[-1:]
    wrong = steps[idx] if steps else ""
    wrong_vals = [v for v in (computed_numbers(wrong) or numbers(wrong))]
    known = set(numbers(question)) | (
        gsm8k_gold_values(solution) if task == "gsm8k" else set(numbers(unbox(solution)))
    )
    bad = [v for v in wrong_vals if not _known(known, v)]
    if bad:
        shown = ", ".join(_fmt(v) for v in bad[:3])
        why = (
            f"This step arrives at {shown}, which does not follow from the question: the correct "
            f"computation never produces this value here, so everything after it is built on a "
            f"wrong intermediate result."
        )
    else:
        why = (
            "This step does not lead to the right result: the reasoning from here on departs from "
            f"a correct solution, which reaches {gold.strip()} instead."
        )
    number = idx + 1
    lines = [f"Step {number + j}: {s}" for j, s in enumerate(remaining)]
    lines.append(f"{ANSWER_PHRASE} {gold.strip()}.")
    return f"Incorrect Step: Step {number}.\nExplanation: {why}\nCorrect Solution:\n" + "\n".join(
        lines
    )


def _fmt(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    f = float(v)
    return f"{f:g}" if len(f"{f:g}") <= 8 else f"{v.numerator}/{v.denominator}"
