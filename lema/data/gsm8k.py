"""GSM8K in its original format: JSONL rows ``{"question", "answer"}``, the answer ending
``#### <number>``. Ids are ``gsm8k-{split}-{i:05d}``, ``i`` the 0-based row index."""

from __future__ import annotations

from pathlib import Path

from lema.data.rows import LocatedRows, text_field
from lema.errors import DataError
from lema.grading import gold_answer
from lema.io import read_jsonl
from lema.tables import GOLD


def read_gsm8k(path: Path, split: str) -> LocatedRows:
    """(location, row) for each problem of a GSM8K JSONL file."""
    for index, (lineno, row) in enumerate(read_jsonl(path)):
        where = f"{path}:{lineno}"
        question = text_field(where, row, "question")
        solution = text_field(where, row, "answer")
        answer = gold_answer(solution, "gsm8k")
        if answer is None:
            raise DataError(f"{where}: field 'answer' has no final answer after '####'")
        yield (
            where,
            {
                "id": f"gsm8k-{split}-{index:05d}",
                "task": "gsm8k",
                "split": split,
                "question": question,
                "solution": solution,
                GOLD: answer,
                "level": None,
                "subject": None,
            },
        )
