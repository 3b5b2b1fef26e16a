"""Helpers for the training tests: tiny local models and small mixes from real GSM8K rows
(the embedded slice, so they run on every clone).

Models come from ``lema.models.tiny.build_tiny_model`` (random-init LLaMA, tokenizer trained on the
fly, no downloads).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from datafiles import EMBEDDED

from lema.formats import cot_completion, cot_prompt

GSM8K_TRAIN = EMBEDDED / "gsm8k" / "train.jsonl"  # 320 real rows, shipped with lema


def gsm8k_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    with GSM8K_TRAIN.open() as fh:
        for i, line in enumerate(fh):
            if i < offset:
                continue
            if len(rows) >= n:
                break
            rows.append(json.loads(line))
    return rows


def mix_rows(n: int, offset: int = 0) -> list[dict]:
    """prompt/completion rows in lema's CoT format from GSM8K gold solutions."""
    out = []
    for row in gsm8k_rows(n, offset):
        body, answer = row["answer"].split("####")
        steps = [re.sub(r"<<[^>]*>>", "", s) for s in body.strip().splitlines() if s.strip()]
        out.append(
            {"prompt": cot_prompt(row["question"]), "completion": cot_completion(steps, answer)}
        )
    return out


def write_mix(path: Path, n: int, offset: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in mix_rows(n, offset)))
    return path


def build_tiny(
    folder: Path,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    vocab: int = 1000,
    seed: int = 0,
) -> Path:
    """A tiny random-init LLaMA model + tokenizer in ``folder`` (lema.models.tiny)."""
    from lema.models.tiny import build_tiny_model

    texts = [r["prompt"] + r["completion"] for r in mix_rows(320)]
    build_tiny_model(
        folder, texts, hidden_size=hidden, layers=layers, heads=heads, vocab_size=vocab, seed=seed
    )
    return folder
