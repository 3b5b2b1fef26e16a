"""The training data: a mix's JSONL read into prompt/completion rows, with the checksum that
identifies it (recorded in settings.json and in the checkpoints' fingerprint), and the rows
tokenised within their separate prompt and completion limits.

Limits, as the official script has them (source and target lengths, e.g. 512 + 512 for GSM8K),
but cut where it does not cost the answer:

- a prompt over ``max_prompt_tokens`` loses its *beginning* (the BOS token stays first): what
  stays is the end nearest the completion — for a correction row the end of the wrong path and
  the instruction to correct it. The official script cuts the prompt's end instead, so a
  correction would follow a path that stops mid-way and no instruction.
- a completion (with its EOS) over ``max_completion_tokens`` would lose its end, the final
  answer included: the row is dropped, and counted (:class:`RowCounts`, in metrics.json).

Every training row is then exactly what the model sees; TRL gets token ids and never truncates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from lema.errors import DataError
from lema.io import read_jsonl, sha256_file

# Why a row is left out of training (metrics.json `rows.dropped`).
COMPLETION_TOO_LONG = "completion_too_long"
DROP_REASONS = (COMPLETION_TOO_LONG,)
_CHUNK = 1024  # rows per tokenizer call


class Row(TypedDict):
    prompt: str
    completion: str


class Example(TypedDict):
    """One tokenised training row: prompt + completion ids, and 1 where the loss applies."""

    input_ids: list[int]
    completion_mask: list[int]


# What happened to a mix's rows on the way into training (metrics.json `rows`): rows in,
# trained, prompts trimmed, dropped by reason, the limits, and the longest prompt and completion
# before the limits (tokens).
RowCounts = TypedDict(
    "RowCounts",
    {
        "in": int,
        "trained": int,
        "prompt_truncated": int,
        "dropped": dict[str, int],
        "max_prompt_tokens": int,
        "max_completion_tokens": int,
        "longest_prompt_tokens": int,
        "longest_completion_tokens": int,
    },
)


@dataclass(frozen=True)
class TrainingMix:
    """A training mix as read from ``path``: its rows and the sha256 of its bytes."""

    path: Path
    rows: list[Row]
    sha256: str


@dataclass(frozen=True)
class TokenizedMix:
    """The rows that train, tokenised within their limits, and the counts of what that took."""

    examples: list[Example]
    counts: RowCounts


def load_mix(path: Path) -> TrainingMix:
    """The prompt/completion rows of a mix; a bad row raises DataError naming file:line."""
    if not path.exists():
        raise DataError(f"{path}: training mix not found")
    rows: list[Row] = []
    for lineno, row in read_jsonl(path):
        for key in ("prompt", "completion"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}:{lineno}: '{key}' must be a non-empty string")
        rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    if not rows:
        raise DataError(f"{path}: the training mix is empty (no prompt/completion rows)")
    return TrainingMix(path=path, rows=rows, sha256=sha256_file(path))


def tokenize_mix(
    rows: Sequence[Row], tokenizer: Any, max_prompt_tokens: int, max_completion_tokens: int
) -> TokenizedMix:
    """Tokenise ``rows`` for training with ``tokenizer`` (a transformers tokenizer).

    The prompt is tokenised as at inference (with the tokenizer's special tokens, e.g. BOS);
    the completion is what prompt + completion adds after the prompt's tokens, plus EOS (the
    same split TRL makes, so tokens that merge across the boundary stay as inference sees
    them). Limits as in the module docstring."""
    eos = tokenizer.eos_token_id
    bos = tokenizer.bos_token_id
    examples: list[Example] = []
    counts: RowCounts = {
        "in": len(rows),
        "trained": 0,
        "prompt_truncated": 0,
        "dropped": dict.fromkeys(DROP_REASONS, 0),
        "max_prompt_tokens": max_prompt_tokens,
        "max_completion_tokens": max_completion_tokens,
        "longest_prompt_tokens": 0,
        "longest_completion_tokens": 0,
    }
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        prompts = tokenizer([r["prompt"] for r in chunk])["input_ids"]
        joined = tokenizer([r["prompt"] + r["completion"] for r in chunk])["input_ids"]
        for prompt_ids, ids in zip(prompts, joined, strict=True):
            cut = _common_prefix(prompt_ids, ids)
            prompt, completion = list(ids[:cut]), list(ids[cut:])
            if eos is not None and (not completion or completion[-1] != eos):
                completion.append(eos)
            counts["longest_prompt_tokens"] = max(counts["longest_prompt_tokens"], len(prompt))
            counts["longest_completion_tokens"] = max(
                counts["longest_completion_tokens"], len(completion)
            )
            if len(completion) > max_completion_tokens:
                counts["dropped"][COMPLETION_TOO_LONG] += 1
                continue
            if len(prompt) > max_prompt_tokens:
                prompt = _keep_end(prompt, max_prompt_tokens, bos)
                counts["prompt_truncated"] += 1
            examples.append(
                {
                    "input_ids": prompt + completion,
                    "completion_mask": [0] * len(prompt) + [1] * len(completion),
                }
            )
    counts["trained"] = len(examples)
    return TokenizedMix(examples=examples, counts=counts)


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _keep_end(prompt: list[int], limit: int, bos: int | None) -> list[int]:
    """The last ``limit`` tokens of ``prompt``, the leading BOS kept in front."""
    if bos is not None and prompt and prompt[0] == bos and limit > 1:
        return [bos, *prompt[len(prompt) - (limit - 1) :]]
    return prompt[len(prompt) - limit :]


def describe_counts(counts: RowCounts) -> str:
    """One line for the train command's log: rows in, trained, trimmed, dropped by reason."""
    reasons = ", ".join(f"{n} {why}" for why, n in counts["dropped"].items() if n) or "0"
    return (
        f"{counts['in']} rows in, {counts['trained']} trained; prompts trimmed from the left "
        f"to {counts['max_prompt_tokens']} tokens: {counts['prompt_truncated']}; dropped: "
        f"{reasons} (completion limit {counts['max_completion_tokens']} tokens)"
    )
