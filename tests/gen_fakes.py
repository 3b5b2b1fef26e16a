"""A corrector (and generator) built from the gold data, for the local OpenAI-compatible server.

:func:`make_answer` returns an ``answer(body, index)`` function for
:class:`tests.openai_server.OpenAIServer`. It recognises which prompt of lema it is answering
from the text and replies like a model would — mostly right, sometimes messy, sometimes wrong:

- **correction** prompts (``correct_{task}.txt``): a correction continuing with the gold steps,
  in several layouts (plain labels, markdown bold with chatter, lower case, a separate
  "Final Answer:" line), or one of the failure modes the parser must catch: empty, a refusal,
  garbage, no explanation, no final answer, a wrong final answer;
- **evolution** prompts: a new question "What is A + B?" (A, B from a hash of the seed), or an
  unparseable reply / refusal; the second question of each seed copies a test question
  (verbatim, or with a sentence appended) — contamination the mix stage must catch;
- **CoT / self-consistency** prompts: the gold solution in the step format (or A + B for an
  evolved question), sometimes a wrong answer or an empty reply; evolved questions whose hash
  says so get scattered votes (low agreement);
- **sampling** prompts (when a generator is served too): a right or a wrong path.

The choice is a hash of the request text and sample index: deterministic per request.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from datafiles import EMBEDDED  # the slice of real GSM8K/MATH shipped with lema

_EVOLVED = re.compile(r"What is (\d+) \+ (\d+)\?")


def _h(*parts: Any) -> int:
    return int(hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12], 16)


def load_gold(limit: int | None = None) -> dict[str, dict[str, str]]:
    """question text (stripped) -> {task, split, answer, solution} for GSM8K and MATH (train:
    the first ``limit`` rows; test: all, so that evolved copies of test questions get answered)."""
    from lema.grading import gold_answer

    out: dict[str, dict[str, str]] = {}
    for split in ("train", "test"):
        n = limit if split == "train" else None
        for line in list((EMBEDDED / "gsm8k" / f"{split}.jsonl").open())[:n]:
            r = json.loads(line)
            out[r["question"].strip()] = {
                "task": "gsm8k",
                "split": split,
                "answer": r["answer"].split("####")[-1].strip().replace(",", ""),
                "solution": r["answer"],
            }
        for line in list((EMBEDDED / "math" / f"{split}.jsonl").open())[:n]:
            r = json.loads(line)
            ans = gold_answer(r["solution"], "math")
            if ans is not None:
                out[r["problem"].strip()] = {
                    "task": "math",
                    "split": split,
                    "answer": ans,
                    "solution": r["solution"],
                }
    return out


NEAR_SUFFIX = " Explain your reasoning carefully."


def _last_block(text: str, start: str, end: str) -> str | None:
    i = text.rfind(start)
    if i < 0:
        return None
    j = text.find(end, i + len(start))
    return text[i + len(start) : j if j >= 0 else None].strip()


def _gold_steps(item: dict[str, str]) -> list[str]:
    from lema.datagen.gold_corrector import gsm8k_gold_steps, math_gold_steps

    sol = item["solution"]
    return gsm8k_gold_steps(sol) if item["task"] == "gsm8k" else math_gold_steps(sol)


def _steps_text(steps: list[str], first: int = 1) -> str:
    return "\n".join(f"Step {first + i}: {s}" for i, s in enumerate(steps))


def _wrong(answer: str) -> str:
    try:
        return str(int(float(answer)) + 7)
    except ValueError:
        return "1234567"


def make_answer(gold: dict[str, dict[str, str]]):  # noqa: ANN201
    from tests.openai_server import request_text

    tests = {t: sorted(q for q, v in gold.items() if v["task"] == t and v["split"] == "test" and len(q.split()) >= 25)  # noqa: E501
             for t in ("gsm8k", "math")}  # fmt: skip

    def lookup(question: str) -> dict[str, str] | None:
        q = question.strip()
        if q.endswith(NEAR_SUFFIX.strip()):
            q = q[: -len(NEAR_SUFFIX.strip())].strip()
        if q in gold:
            return gold[q]
        m = _EVOLVED.search(q)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            return {
                "task": "gsm8k",
                "answer": str(a + b),
                "solution": f"{a} + {b} = {a + b}.\n#### {a + b}",
                "evolved": "1",
            }
        return None

    def correction(text: str, index: int) -> str:
        question = _last_block(text, "Question:", "\nIncorrect Solution:") or ""
        item = lookup(question)
        if item is None:
            return "I do not recognise this problem."
        steps = _gold_steps(item)
        k = min(2, len(steps))  # "the first wrong step" is step k
        rest = steps[k - 1 :] or steps[-1:]
        ans = item["answer"]
        mode = _h("correct", text, index) % 20
        body = _steps_text(rest, k)
        if mode < 8:
            return f"Incorrect Step: Step {k}.\nExplanation: The computation in step {k} is wrong.\nCorrect Solution:\n{body}\nThe answer is {ans}."  # noqa: E501
        if mode < 10:
            return (
                f"Sure! Let me look at this carefully.\n\n**Incorrect Step:** Step {k}\n\n**Explanation:** "  # noqa: E501
                f"The student made an arithmetic slip.\n\n**Correct Solution:**\n{body}\nThe answer is {ans}.\n\nI hope this helps!"  # noqa: E501
            )
        if mode < 12:
            return f"incorrect step: step {k}\nexplanation: wrong operation.\ncorrected solution:\n{body}\n**Final Answer:** {ans}"  # noqa: E501
        if mode == 12:
            return ""
        if mode == 13:
            return "I'm sorry, but I can't help with that request."
        if mode == 14:
            return "Hmm. " + " ".join(["lorem"] * 12)
        if mode == 15:
            return f"Incorrect Step: Step {k}.\nCorrect Solution:\n{body}\nThe answer is {ans}."
        if mode == 16:
            return f"Incorrect Step: Step {k}.\nExplanation: off by a step.\nCorrect Solution:\nStep {k}: we need to reconsider the whole problem."  # noqa: E501
        return f"Incorrect Step: Step {k}.\nExplanation: The sum is wrong.\nCorrect Solution:\nStep {k}: recompute.\nThe answer is {_wrong(ans)}."  # noqa: E501

    def evolution(text: str, index: int) -> str:
        seed = _last_block(text, "Seed Question:", "\nMistake:") or ""
        mode = _h("evolve", seed, index) % 10
        a, b = _h("a", seed, index) % 900 + 100, _h("b", seed, index) % 900 + 100
        item = gold.get(seed.strip())
        if index == 1 and item is not None:  # the second new question copies a test question
            pool = tests[item["task"]]
            copy = pool[_h("copy", seed) % len(pool)]
            return f"New Question: {copy}" + (NEAR_SUFFIX if _h("near", seed) % 2 else "")
        if mode == 0:
            return "I'm sorry, I cannot write new questions."
        if mode == 1:
            return "ok"
        if mode == 2:
            return f"Here is one.\n\nNew Question: **What is {a} + {b}?**\n\nAnswer: {a + b}"
        return f"New Question: Evolved exercise {_h('id', seed, index) % 10**6}. What is {a} + {b}?"

    def solve(text: str, index: int) -> str:
        question = _last_block(text, "Question:", "\nAnswer: Let's solve it step by step.") or ""
        item = lookup(question)
        if item is None:
            return "Step 1: I am not sure.\nThe answer is 0."
        ans = item["answer"]
        if text.startswith("Question:"):  # the generators' few-shot prompt
            steps = _gold_steps(item)
            if index % 4 == 0:
                return f"{_steps_text(steps)}\nThe answer is {ans}."
            if index % 4 == 3:
                return ""
            return f"{_steps_text(steps[:-1] + [f'So the result is {_wrong(ans)}.'])}\nThe answer is {_wrong(ans)}."  # noqa: E501
        if item.get("evolved"):
            if _h("scatter", question) % 4 == 0:  # a question the votes disagree on
                return (
                    f"Step 1: Adding gives {int(ans) + index}.\nThe answer is {int(ans) + index}."
                )
            if index % 5 == 4:
                return f"Step 1: Adding gives {_wrong(ans)}.\nThe answer is {_wrong(ans)}."
            return f"Step 1: {question}\nStep 2: The sum is {ans}.\nThe answer is {ans}."
        mode = _h("solve", text, index) % 10
        if mode == 0:
            return ""
        if mode == 1:
            return f"Step 1: Something odd.\nThe answer is {_wrong(ans)}."
        return f"{_steps_text(_gold_steps(item))}\nThe answer is {ans}."

    def answer(body: dict[str, Any], index: int) -> str:
        text = request_text(body)
        if text.rstrip().endswith("Correction:"):
            return correction(text, index)
        if text.rstrip().endswith("New Question:"):
            return evolution(text, index)
        if text.rstrip().endswith("Answer: Let's solve it step by step."):
            return solve(text, index)
        return "The answer is 0."

    return answer
