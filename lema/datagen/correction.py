"""Step 3 of LeMa: the corrector rewrites each mistake, and only correct corrections are kept.

``lema correct`` prompts the corrector with a 4-shot prompt per task (``correct_{task}.txt``;
config ``correction.prompt`` may name the user's own file, with ``{question}`` and ``{path}``
placeholders), parses each answer into fields — incorrect step, explanation, corrected solution
from that step on, final answer — and keeps a correction only if its final answer grades equal
to the reference answer. Every correction is written with ``kept`` and, when dropped, a
``reason``:

- ``empty``: blank output;
- ``refused``: the model declined ("I'm sorry, I can't …") without a correction;
- ``no_error_found``: the corrector says the path has no mistake;
- ``unparseable``: no corrected solution could be found in the output;
- ``missing_explanation``: a corrected solution but no explanation of the mistake;
- ``no_final_answer``: the corrected solution never states a final answer;
- ``wrong_answer``: the final answer does not grade equal to the reference answer.

The ``gold`` corrector (:mod:`lema.datagen.gold_corrector`) writes its corrections locally in the
same
labelled layout; they go through the same parser and the same filter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from lema.datagen.funnel import Funnel
from lema.datagen.prompts import load_prompt, render
from lema.formats import ANSWER_PHRASE, correction_completion, correction_prompt, split_steps
from lema.models import ModelCall, is_gold
from lema.tables import CHOICES, GOLD, choices_of

# ---------------------------------------------------------------------------- parsing
_LABELS: dict[str, str] = {
    "incorrect_step": r"(?:the\s+)?(?:first\s+)?(?:incorrect|wrong|erroneous|faulty|mistaken)\s+step"  # noqa: E501
    r"(?:\s+(?:number|no\.?|#))?",
    "explanation": r"explanation(?:\s+of\s+the\s+(?:mistake|error))?|reason(?:ing)?|why(?:\s+it\s+is\s+wrong)?"  # noqa: E501
    r"|(?:the\s+)?(?:mistake|error)(?:\s+explanation)?",
    "corrected": r"(?:the\s+)?(?:correct(?:ed)?|revised|fixed|right)\s+(?:solution|steps?|reasoning|version|path)"  # noqa: E501
    r"(?:\s+from\s+(?:that|this|the\s+incorrect)\s+step(?:\s+on(?:ward)?s?)?)?|correction",
    "final_answer": r"(?:the\s+)?(?:final|correct)\s+answer",
}
# A label at the start of a line, possibly decorated with markdown (#, *, -, >, numbering, **).
_LABEL_RE = re.compile(
    r"(?im)^[ \t>#*\-_]*(?:\d+[.)]\s*)?[*_]{0,2}\s*(?P<label>"
    + "|".join(f"(?P<{k}>{v})" for k, v in _LABELS.items())
    + r")\s*(?:\((?:[^()\n]{0,40})\))?\s*[*_]{0,2}\s*[:：]\s*[*_]{0,2}[ \t]*"
)
# Bold labels written mid-line ("... **Explanation:** ...") are moved to their own line first.
_INLINE_BOLD = re.compile(
    r"(?i)(?<=\S)[ \t]+(?=\*\*\s*(?:" + "|".join(_LABELS.values()) + r")\s*:?\s*\*\*)"
)
_REFUSAL = re.compile(
    r"(?i)\b(?:I['’]m\s+sorry|I\s+am\s+sorry|I\s+apologi[sz]e|I\s+can(?:not|['’]t|\s+not)\s+"
    r"(?:help|assist|comply|provide|do\s+that)|as\s+an\s+AI\b|I\s+(?:won['’]t|will\s+not)\s+)"
)
_NO_ERROR = re.compile(
    r"(?i)^\W*(?:none|n/?a|no\s+(?:incorrect|wrong)\s+step|there\s+is\s+no|the\s+(?:solution|path)\s+is\s+"
    r"(?:already\s+)?correct|all\s+steps\s+are\s+correct)"
)
_STEP_NUM = re.compile(r"(?i)^\W*(?:step\s*)?#?\s*(\d+)\b")
_STEP_ANY = re.compile(r"(?i)\bstep\s*#?\s*(\d+)\b")
_ANSWER_LINE = re.compile(r"(?im)^.*\b(?:the\s+)?(?:final\s+)?answer\s+is\b.*$")
_TRAILING_MD = re.compile(r"^[\s*_]+|[\s*_]+$")
_FENCE = re.compile(r"(?m)^\s*```[a-zA-Z]*\s*$")


@dataclass
class ParsedCorrection:
    incorrect_step: str | None = None
    step_index: int | None = None
    explanation: str | None = None
    corrected: str | None = None
    final_answer: str | None = None
    reason: str | None = None  # why it cannot be used (None when the fields are complete)


def _clean_field(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() not in ("**", "__")]
    out = "\n".join(lines).strip()
    out = _TRAILING_MD.sub("", out) if out.count("**") % 2 else out
    return out.strip().strip("*_").strip()


def _sections(text: str) -> list[tuple[str, str]]:
    """(field, content) in order of appearance."""
    text = _FENCE.sub("", text)
    text = _INLINE_BOLD.sub("\n", text)
    matches = list(_LABEL_RE.finditer(text))
    out: list[tuple[str, str]] = []
    for i, m in enumerate(matches):
        field = next(k for k in _LABELS if m.group(k) is not None)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append((field, text[m.end() : end]))
    return out


def _cut_after_answer(text: str) -> str:
    """The corrected solution up to (and including) its last-stated answer line; chatter after
    it ("I hope this helps!") and any following few-shot 'Question:' are dropped."""
    q = re.search(r"\n\s*(?:Question|Problem)\s*:", text)
    if q:
        text = text[: q.start()]
    ends = [m.end() for m in _ANSWER_LINE.finditer(text)]
    if ends:
        text = text[: ends[-1]]
    return text.strip()


def parse_correction(raw: str, task: str, choices: Sequence[str] | None = None) -> ParsedCorrection:
    """Split a corrector's output into fields. Tolerates markdown labels, other casing and
    wording, chatter before and after, a missing 'Incorrect Step' label (taken from the first
    step of the corrected solution) and a separate 'Final Answer:' line. ``choices``: a
    multiple-choice question's candidates, onto which the final answer is mapped."""
    from lema.grading import extract_answer

    p = ParsedCorrection()
    text = (raw or "").replace("\r\n", "\n").strip()
    if not text:
        p.reason = "empty"
        return p
    fields: dict[str, str] = {}
    for field, content in _sections(text):
        content = content.strip()
        if field == "corrected" and not content:
            continue  # a bare "Correction:" header before the real sections
        if field not in fields or (not fields[field].strip() and content):
            fields[field] = content
        elif field == "corrected":
            # a second corrected-solution block: keep the longer one
            if len(content) > len(fields[field]):
                fields[field] = content
    step_text = _clean_field(fields.get("incorrect_step", "")).splitlines()[0:1]
    step_text = step_text[0].strip() if step_text else ""
    if step_text and _NO_ERROR.search(step_text):
        p.reason = "no_error_found"
        return p
    corrected = _cut_after_answer(fields.get("corrected", ""))
    corrected = _clean_field(corrected)
    if not corrected:
        p.reason = "refused" if _REFUSAL.search(text[:400]) else "unparseable"
        if not fields and _NO_ERROR.search(text):
            p.reason = "no_error_found"
        return p
    p.corrected = corrected
    # the incorrect step: "Step 3", "3", "Step 3: she adds …", or the quoted step text
    m = _STEP_NUM.match(step_text) if step_text else None
    if m:
        p.step_index = int(m.group(1))
    elif step_text:
        m2 = _STEP_ANY.search(step_text)
        p.step_index = int(m2.group(1)) if m2 else None
    if p.step_index is None:
        m3 = _STEP_NUM.match(corrected)
        if m3 and re.match(r"(?i)^\W*step", corrected):
            p.step_index = int(m3.group(1))
    if p.step_index is not None:
        p.incorrect_step = f"Step {p.step_index}"
    elif step_text:
        p.incorrect_step = step_text.rstrip(".")
    explanation = _clean_field(fields.get("explanation", ""))
    p.explanation = explanation or None
    # the final answer must be stated: an answer line, a \\boxed{} or a "Final Answer:" section
    # (no last-number fallback: "Step 2: think again" has no answer, not the answer 2)
    answer_lines = list(_ANSWER_LINE.finditer(corrected))
    last = answer_lines[-1] if answer_lines else None
    final = extract_answer(last.group(0), task, choices) if last is not None else None
    if final is None and ("\\boxed" in corrected or "####" in corrected):
        final = extract_answer(corrected, task, choices)
    if final is None and fields.get("final_answer"):
        fa = _clean_field(fields["final_answer"]).splitlines()
        fa_text = fa[0].strip() if fa else ""
        final = extract_answer(f"{ANSWER_PHRASE} {fa_text}", task, choices) if fa_text else None
    if final is not None and last is None:
        p.corrected = f"{corrected}\n{ANSWER_PHRASE} {final}."
    p.final_answer = final
    if p.incorrect_step is None:
        p.reason = "unparseable"
    elif p.explanation is None:
        p.reason = "missing_explanation"
    elif final is None:
        p.reason = "no_final_answer"
    return p


def judge(
    parsed: ParsedCorrection, gold: str, task: str, choices: Sequence[str] | None = None
) -> tuple[bool, str | None]:
    """(kept, reason): a parsed correction is kept iff complete and its answer grades equal
    (``choices``: a multiple-choice question's candidates)."""
    from lema.grading import equivalent

    if parsed.reason:
        return False, parsed.reason
    if not equivalent(parsed.final_answer or "", gold, task, choices):
        return False, "wrong_answer"
    return True, None


def training_row(question: str, path: str, parsed: ParsedCorrection) -> tuple[str, str]:
    """(prompt, completion) of a correction example, in lema.formats' layout."""
    corrected = parsed.corrected or ""
    if ANSWER_PHRASE.lower() not in corrected.lower():
        corrected = f"{corrected}\n{ANSWER_PHRASE} {parsed.final_answer}."
    return (
        correction_prompt(question, path),
        correction_completion(parsed.incorrect_step or "", parsed.explanation or "", corrected),
    )


# ---------------------------------------------------------------------------- the stage
def correct_mistakes(
    mistakes: pl.DataFrame, task: str, model: ModelCall, *, prompt: str
) -> tuple[list[dict[str, Any]], Funnel]:
    """A correction of every mistake by ``model`` (the ``gold`` corrector writes them locally;
    tokens and cost in ``model.usage``), parsed and judged; the funnel counts them."""
    name = model.spec.get("name", "corrector")
    rows = list(mistakes.iter_rows(named=True))
    if is_gold(model.spec):
        from lema.datagen.gold_corrector import gold_correction, require_solutions

        require_solutions(rows, task, "the gold corrector")
        raws = {
            r["path_id"]: gold_correction(
                r["question"], r.get("solution"), r[GOLD], r["path"], task
            )
            for r in rows
        }
    else:
        template = load_prompt(prompt, ("question", "path"))
        requests = [
            model.request(
                r["path_id"],
                render(template, question=r["question"], path=r["path"]),
                n=1,
                stop=["\n\nQuestion:"],
            )
            for r in rows
        ]
        got = model.complete(requests)
        raws = {pid: (c[0] if c else "") for pid, c in got.items()}
    funnel = Funnel(
        "corrections", task=task, generator=rows[0]["generator"] if rows else None, corrector=name
    )
    out: list[dict[str, Any]] = []
    for r in rows:
        raw = raws.get(r["path_id"]) or ""
        choices = choices_of(r)
        parsed = parse_correction(raw, task, choices)
        kept, reason = judge(parsed, r[GOLD], task, choices)
        prompt_text, completion = (
            training_row(r["question"], r["path"], parsed) if kept else (None, None)
        )
        funnel.record(kept, reason)
        out.append(
            {
                "correction_id": f"{r['path_id']}:{name}",
                "path_id": r["path_id"],
                "question_id": r["question_id"],
                "task": task,
                "question": r["question"],
                GOLD: r[GOLD],
                "generator": r["generator"],
                "corrector": name,
                "path": r["path"],
                "raw": raw,
                **{k: v for k, v in asdict(parsed).items() if k != "reason"},
                "kept": kept,
                "reason": reason,
                "prompt": prompt_text,
                "completion": completion,
                CHOICES: list(choices) if choices else None,
            }
        )
    funnel.extra = {"questions_with_kept": len({o["question_id"] for o in out if o["kept"]})}
    return out, funnel


__all__ = ["parse_correction", "judge", "correct_mistakes", "ParsedCorrection", "split_steps"]
