"""The input/output text formats of training rows and evaluation prompts.

One place defines how a question, a reasoning path and a correction are laid out, so that
training mixes, evaluation prompts and answer extraction agree. The layout follows the
structure the paper describes (a question, a step-by-step answer ending in "The answer is X";
for corrections: the wrong path, then the incorrect step, an explanation and the corrected
solution); the wording is lema's own.
"""

from __future__ import annotations

import re

ANSWER_PHRASE = "The answer is"


def cot_prompt(question: str) -> str:
    """The model input for solving ``question`` step by step (training and evaluation)."""
    return f"Question: {question.strip()}\nAnswer: Let's solve it step by step.\n"


def cot_completion(steps: list[str], answer: str) -> str:
    """A step-format solution: 'Step 1: ...' lines and a final 'The answer is X.'"""
    body = "\n".join(f"Step {i}: {s.strip()}" for i, s in enumerate(steps, 1))
    final = f"{ANSWER_PHRASE} {answer.strip()}."
    return f"{body}\n{final}" if body else final


def correction_prompt(question: str, wrong_path: str) -> str:
    """The model input for correcting ``wrong_path`` (a mistaken solution of ``question``)."""
    return (
        f"Question: {question.strip()}\n"
        f"Wrong solution:\n{wrong_path.strip()}\n"
        "Find the first incorrect step, explain the mistake, and solve it correctly from there.\n"
    )


def correction_completion(incorrect_step: str, explanation: str, corrected: str) -> str:
    """A correction in three labelled parts; ``corrected`` ends with 'The answer is X.'"""
    return (
        f"Incorrect step: {incorrect_step.strip()}\n"
        f"Explanation: {explanation.strip()}\n"
        f"Correct solution:\n{corrected.strip()}"
    )


_EXPLANATION = re.compile(r"(?s)\nExplanation: .*?(?=\nCorrect solution:\n)")


def without_explanation(completion: str) -> str:
    """A :func:`correction_completion` with its explanation of the mistake removed: the
    incorrect step, then the correct solution (the paper's ablation "LeMa w/o explanation")."""
    out, n = _EXPLANATION.subn("", completion, count=1)
    if not n:
        raise ValueError("not a correction completion: no 'Explanation:' part before the solution")
    return out


_STEP_SPLIT = re.compile(r"(?m)^\s*Step\s+\d+\s*[:.]\s*")


def split_steps(path: str) -> list[str]:
    """The steps of a 'Step 1: … Step 2: …' path (or its non-empty lines when unnumbered)."""
    parts = [p.strip() for p in _STEP_SPLIT.split(path) if p.strip()]
    if len(parts) <= 1:
        parts = [line.strip() for line in path.splitlines() if line.strip()]
    return parts
