"""CommonsenseQA (task ``csqa``): JSONL files in either of two formats, told apart row by row.

- The original CommonsenseQA format (``train_rand_split.jsonl``, ``dev_rand_split.jsonl``):
  ``{"answerKey": "A", "id": "<hex>", "question": {"question_concept": "...", "choices":
  [{"label": "A", "text": "..."}, ...], "stem": "..."}}``. Ids ``csqa-{split}-{id}``; the
  gold is the text of the choice whose label is ``answerKey``; ``subject`` the question concept.
- microsoft/LEMA's ``test_data/csqa_dev.jsonl`` format: ``{"prompt": "...\\nQuestion: <stem>
  \\nCandidate Answers: a, b, c, d, e.\\nAnswer: ...", "answer": "<text>", "candidates":
  [...]}``. The stem is the prompt's text from ``Question:`` up to ``Candidate Answers:``;
  ids ``csqa-{split}-{i:05d}`` (``i`` the 0-based row index); no subject.

Rows have the columns of :data:`lema.tables.BENCHMARK_SCHEMA`: ``question`` is
:func:`csqa_question` (the stem, then the candidates: the prompts put ``{question}`` in, and
the model must see them), ``solution`` None (CSQA has no gold rationale), ``gold`` the answer
candidate's text, ``answer_type`` ``choice`` and ``choices`` the candidate texts (in label
order). A malformed row (bad JSON, a missing field, fewer than two candidates, a gold that
is not a candidate) raises :class:`~lema.errors.DataError` naming the file and line.

Our ``test`` split of csqa is the CommonsenseQA dev set (its test set has no public answers;
the paper evaluates on dev, as microsoft/LEMA's ``csqa_dev.jsonl`` does).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lema.data.rows import LocatedRows, text_field
from lema.errors import DataError
from lema.io import read_jsonl
from lema.tables import (
    ANSWER_TYPE,
    CHOICES,
    GOLD,
    ID,
    LEVEL,
    QUESTION,
    SOLUTION,
    SPLIT,
    SUBJECT,
    TASK,
)

TASK_NAME = "csqa"

#: the stem in a microsoft/LEMA prompt: the line(s) from "Question:" to "Candidate Answers:"
_LEMA_STEM_RE = re.compile(r"^Question:(.*?)^Candidate Answers:", re.DOTALL | re.MULTILINE)
_ID_RE = re.compile(r"[\w.-]+")


def csqa_question(stem: str, candidates: list[str]) -> str:
    """The question a model sees: the stem, then a line listing the candidate answers."""
    return f"{stem.strip()}\nAnswer choices: {', '.join(candidates)}."


def _candidates(where: str, value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or len(value) < 2:
        raise DataError(f"{where}: field '{name}' must be a list of at least two candidates")
    out = []
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: candidate {i + 1} of field '{name}' must be a non-empty string")
        out.append(text.strip())
    return out


def _original(where: str, row: dict[str, Any]) -> tuple[str, str, list[str], str, str | None]:
    """(id key, stem, candidates, gold, concept) of a row in the original format."""
    key = row.get("id")
    if not isinstance(key, str) or not _ID_RE.fullmatch(key.strip()):
        raise DataError(f"{where}: field 'id' must be a word (letters, digits, . _ -), got {key!r}")
    question = row["question"]
    stem = text_field(where, question, "stem")
    if "choices" not in question:
        raise DataError(f"{where}: missing field 'question.choices'")
    raw = question["choices"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise DataError(f"{where}: field 'question.choices' must be a list of at least two choices")
    labelled: dict[str, str] = {}
    for i, choice in enumerate(raw):
        if not isinstance(choice, dict):
            raise DataError(f"{where}: choice {i + 1} must be an object with 'label' and 'text'")
        label = text_field(f"{where}: choice {i + 1}", choice, "label").strip()
        if label in labelled:
            raise DataError(f"{where}: choice label {label!r} appears twice")
        labelled[label] = text_field(f"{where}: choice {i + 1}", choice, "text").strip()
    labels = sorted(labelled)
    answer = text_field(where, row, "answerKey").strip()
    if answer not in labelled:
        raise DataError(
            f"{where}: field 'answerKey' must be one of the choice labels {', '.join(labels)}, "
            f"got {row['answerKey']!r}"
        )
    concept = question.get("question_concept")
    concept = concept.strip() if isinstance(concept, str) and concept.strip() else None
    return key.strip(), stem, [labelled[x] for x in labels], labelled[answer], concept


def _lema(where: str, row: dict[str, Any]) -> tuple[str, list[str], str]:
    """(stem, candidates, gold) of a row in microsoft/LEMA's format."""
    prompt = text_field(where, row, "prompt")
    m = _LEMA_STEM_RE.search(prompt)
    if m is None or not m.group(1).strip():
        raise DataError(
            f"{where}: field 'prompt' has no 'Question: <stem>' line(s) before 'Candidate Answers:'"
        )
    if "candidates" not in row:
        raise DataError(f"{where}: missing field 'candidates' (has: {', '.join(sorted(row))})")
    candidates = _candidates(where, row["candidates"], "candidates")
    gold = text_field(where, row, "answer").strip()
    if gold not in candidates:
        raise DataError(
            f"{where}: field 'answer' {gold!r} is not one of the candidates "
            f"({', '.join(candidates)})"
        )
    return m.group(1).strip(), candidates, gold


def read_csqa(path: str | Path, split: str) -> LocatedRows:
    """(location, row) for each question of a CSQA JSONL file (either format, told apart
    per row), in file order; the row in the columns of :data:`lema.tables.BENCHMARK_SCHEMA`."""
    path = Path(path)
    for index, (lineno, row) in enumerate(read_jsonl(path)):
        where = f"{path}:{lineno}"
        concept: str | None = None
        if isinstance(row.get("question"), dict):
            key, stem, candidates, gold, concept = _original(where, row)
        elif "prompt" in row:
            stem, candidates, gold = _lema(where, row)
            key = f"{index:05d}"
        else:
            raise DataError(
                f"{where}: neither CommonsenseQA format: expected 'question' (an object with "
                "'stem' and 'choices') and 'answerKey', or microsoft/LEMA's 'prompt', 'answer' "
                f"and 'candidates' (has: {', '.join(sorted(row))})"
            )
        yield (
            where,
            {
                ID: f"{TASK_NAME}-{split}-{key}",
                TASK: TASK_NAME,
                SPLIT: split,
                QUESTION: csqa_question(stem, candidates),
                SOLUTION: None,
                GOLD: gold,
                LEVEL: None,
                SUBJECT: concept,
                ANSWER_TYPE: "choice",
                CHOICES: candidates,
            },
        )
