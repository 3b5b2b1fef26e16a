"""Training rows on their way into the trainer (lema.training.dataset.tokenize_mix): prompt and
completion limited separately; a long correction row keeps its completion whole and loses the
beginning of its prompt; a completion over its limit drops the row and is counted; TRL masks
the prompt out of the loss and cuts nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from train_fixtures import build_tiny, gsm8k_rows, mix_rows

from lema.formats import ANSWER_PHRASE, correction_completion, correction_prompt
from lema.training.dataset import COMPLETION_TOO_LONG, describe_counts, tokenize_mix

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("dataset") / "model")


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from lema.training.model import load_tokenizer

    return load_tokenizer(str(model_dir))


def correction_row(path_steps: int, answer: str = "18") -> dict:
    """A correction row from a real GSM8K question: a wrong path of ``path_steps`` steps, then
    the three-part correction ending in the final answer."""
    question = gsm8k_rows(1)[0]["question"]
    wrong = "\n".join(
        f"Step {i}: She has {i * 3} eggs left after selling {i} of them at the market."
        for i in range(1, path_steps + 1)
    )
    corrected = (
        f"Step 1: 16 - 3 - 4 = 9 eggs are left.\nStep 2: 9 * 2 = 18.\n{ANSWER_PHRASE} {answer}."
    )
    return {
        "prompt": correction_prompt(question, wrong),
        "completion": correction_completion(
            "Step 1", "The eggs she eats and bakes are subtracted first.", corrected
        ),
    }


def lengths(tokenizer, row: dict) -> tuple[int, int]:
    """(prompt tokens with BOS, completion tokens with EOS) of ``row``, untrimmed."""
    full = tokenize_mix([row], tokenizer, 10**6, 10**6).examples[0]
    prompt = full["completion_mask"].count(0)
    return prompt, len(full["input_ids"]) - prompt


def test_long_correction_prompt_loses_its_beginning_and_keeps_the_completion(tokenizer):
    row = correction_row(path_steps=40)
    prompt_len, completion_len = lengths(tokenizer, row)
    limit = prompt_len // 3
    out = tokenize_mix([row], tokenizer, limit, completion_len)
    assert out.counts["prompt_truncated"] == 1 and out.counts["trained"] == 1
    assert out.counts["longest_prompt_tokens"] == prompt_len
    ex = out.examples[0]
    mask = ex["completion_mask"]
    assert mask == [0] * limit + [1] * completion_len  # the loss covers the completion only
    ids = ex["input_ids"]
    assert ids[0] == tokenizer.bos_token_id  # BOS stays first
    prompt_text = tokenizer.decode(ids[1:limit])
    # the end nearest the completion survives: the wrong path's last step and the instruction
    assert row["prompt"].endswith(prompt_text)
    assert "Step 40:" in prompt_text and prompt_text.endswith("correctly from there.\n")
    assert "Question:" not in prompt_text
    # the completion is whole, final answer and EOS included
    assert ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ids[limit:-1]) == row["completion"]
    assert tokenizer.decode(ids[limit:-1]).endswith(f"{ANSWER_PHRASE} 18.")


def test_completion_over_its_limit_drops_the_row_and_counts_it(tokenizer):
    short = mix_rows(3)
    long = correction_row(path_steps=2)
    long["completion"] += "\n" + "Check: 16 - 3 - 4 = 9 and 9 * 2 = 18. " * 40
    _, completion_len = lengths(tokenizer, long)
    limit = max(lengths(tokenizer, r)[1] for r in short)
    assert completion_len > limit
    out = tokenize_mix([short[0], long, short[1], short[2]], tokenizer, 512, limit)
    assert out.counts["in"] == 4 and out.counts["trained"] == 3
    assert out.counts["dropped"] == {COMPLETION_TOO_LONG: 1}
    assert out.counts["prompt_truncated"] == 0
    assert out.counts["longest_completion_tokens"] == completion_len
    # the rows kept are the short ones, whole, in order
    kept = [tokenizer.decode(e["input_ids"], skip_special_tokens=True) for e in out.examples]
    assert kept == [r["prompt"] + r["completion"] for r in short]
    line = describe_counts(out.counts)
    assert line == (
        "4 rows in, 3 trained; prompts trimmed from the left to 512 tokens: 0; "
        f"dropped: 1 {COMPLETION_TOO_LONG} (completion limit {limit} tokens)"
    )


def test_limits_hold_exactly_at_the_boundary(tokenizer):
    row = correction_row(path_steps=3)
    prompt_len, completion_len = lengths(tokenizer, row)
    at = tokenize_mix([row], tokenizer, prompt_len, completion_len)
    assert at.counts["trained"] == 1 and at.counts["prompt_truncated"] == 0
    assert len(at.examples[0]["input_ids"]) == prompt_len + completion_len
    below = tokenize_mix([row], tokenizer, prompt_len, completion_len - 1)
    assert below.counts["trained"] == 0 and below.counts["dropped"][COMPLETION_TOO_LONG] == 1


def test_trl_masks_the_prompt_and_cuts_nothing(model_dir, tokenizer, tmp_path):
    """Rows longer than TRL's default max_length (1024) reach the model whole: lema's limits
    are the only ones, and the labels cover exactly the completion (+ EOS)."""
    from lema.training.run import build_trainer
    from lema.training.settings import resolve_runtime, validate_settings

    row = correction_row(path_steps=60)
    row["completion"] += "\n" + "Check: 9 * 2 = 18. " * 60
    prompt_len, completion_len = lengths(tokenizer, row)
    assert prompt_len + completion_len > 1024
    rows = tokenize_mix([row, *mix_rows(3)], tokenizer, 4096, 4096)
    settings = validate_settings(
        {
            "quantization": "none",
            "max_steps": 1,
            "max_prompt_tokens": 4096,
            "max_completion_tokens": 4096,
            "learning_rate": 1e-3,
            "batch_size": 2,
            "per_device_batch_size": 2,
            "lora": {"r": 4},
            "optimizer": "adamw_torch",
            "gradient_checkpointing": False,
        },
        "tiny",
    )
    runtime = resolve_runtime(settings, 1, cuda=False)
    trainer = build_trainer(
        str(model_dir),
        rows,
        tokenizer,
        settings=settings,
        runtime=runtime,
        checkpoints=tmp_path / "ckpt",
        cuda=False,
        backbone="tiny",
        local_rank=0,
    )
    assert len(trainer.train_dataset) == 4
    for ex, expected in zip(trainer.train_dataset, rows.examples, strict=True):
        assert ex["input_ids"] == expected["input_ids"]
        mask = expected["completion_mask"]
        want = [t if m else -100 for t, m in zip(ex["input_ids"], mask, strict=True)]
        assert ex["labels"] == want
    first = trainer.train_dataset[0]
    assert rows.counts["prompt_truncated"] == 0
    assert len(first["input_ids"]) == prompt_len + completion_len
    assert sum(label != -100 for label in first["labels"]) == completion_len
    assert json.dumps(rows.counts)  # JSON-ready, as metrics.json stores it
