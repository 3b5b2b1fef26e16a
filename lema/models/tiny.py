"""Tiny local models: a random-init LLaMA-architecture causal LM and a byte-level BPE
tokenizer trained on the fly from given text, saved as a normal Hugging Face model folder.
No downloads; tests and the offline demo use them.

    lema tiny-model --out results/models/tiny data/raw/gsm8k/train.parquet
    lema tiny-model --out results/models/tiny --warmup data/warmup/gsm8k.parquet \
        --warmup-steps 400 data/raw/gsm8k/train.parquet

A random-init model writes byte noise, so nothing downstream (answer extraction, grading,
the gold corrector) sees text shaped like the method's. ``--warmup`` fixes that in a minute on
a CPU: the model is first trained, as a plain causal LM, on the warm-up rows' gold solutions
(those of at most :data:`WARMUP_MAX_CHARS` characters) in the training format
(``lema.formats``: "Question: … Answer: Let's solve it step by step. Step 1: … The answer is
X."), several rows packed per sequence and separated by the end-of-text token, the loss on
the solutions only. So it learns to write step paths that end in an answer and then stop —
after a few-shot prompt as well as after a bare question. It still solves next to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lema.errors import DataError, LemaError
from lema.io import atomic_folder

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
WARMUP_LR = 3e-3
WARMUP_BATCH = 8
WARMUP_SEQ_TOKENS = 256
# Warm-up rows whose step-format completion is longer are left out: short paths teach the
# model to reach "The answer is X." within a small decoding budget (the demo's 128 tokens).
WARMUP_MAX_CHARS = 250
TEXT_COLUMNS = ("question", "solution", "prompt", "completion", "text")


def texts_from_files(paths: Iterable[str | Path]) -> Iterator[str]:
    """Text for the tokenizer: string columns of Parquet tables, JSONL values, or plain text."""
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise DataError(f"{path}: file not found")
        if path.suffix == ".parquet":
            import polars as pl

            frame = pl.read_parquet(path)
            cols = [c for c in TEXT_COLUMNS if c in frame.columns] or [
                c for c, t in frame.schema.items() if t == pl.String
            ]
            for c in cols:
                yield from (s for s in frame[c].to_list() if s)
        elif path.suffix == ".jsonl":
            from lema.io import read_jsonl

            for _, row in read_jsonl(path):
                yield from (v for v in row.values() if isinstance(v, str))
        else:
            yield path.read_text()


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> Any:
    """A byte-level BPE tokenizer as PreTrainedTokenizerFast (left padding, chat template)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts) or ["empty"], trainer=trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        padding_side="left",
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_model(
    out: str | Path,
    texts: Iterable[str],
    *,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    vocab_size: int = 2000,
    seed: int = 0,
    max_positions: int = 4096,
    warmup_texts: list[tuple[str, str]] | None = None,
    warmup_steps: int = 0,
) -> Path:
    """Write a tiny random-init LlamaForCausalLM + tokenizer to ``out`` (atomically); with
    ``warmup_texts`` and ``warmup_steps``, first train it on those texts (:func:`warm_up`)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    if hidden_size % heads:
        raise LemaError(f"tiny model: hidden_size {hidden_size} is not divisible by heads {heads}")
    out = Path(out)
    extra = [p + c for p, c in warmup_texts or []]
    tok = train_tokenizer([*texts, *extra], vocab_size)
    config = _llama_config(tok, hidden_size, layers, heads, max_positions)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    report: dict[str, Any] | None = None
    if warmup_steps > 0:
        if not warmup_texts:
            raise DataError("tiny model: --warmup-steps given but no warm-up rows")
        report = warm_up(model, tok, warmup_texts, steps=warmup_steps, seed=seed)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    settings = {
        "hidden_size": hidden_size,
        "layers": layers,
        "heads": heads,
        "vocab_size": vocab_size,
        "seed": seed,
        "warmup": report,
    }
    with atomic_folder(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lema_tiny.json").write_text(json.dumps(settings, indent=2) + "\n")
    return out


def _llama_config(tok: Any, hidden_size: int, layers: int, heads: int, max_positions: int) -> Any:
    """The LlamaConfig of a tiny model over the tokenizer ``tok`` (tied embeddings)."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )


def warmup_texts(
    paths: Iterable[str | Path], rows: int, max_chars: int | None = None
) -> list[tuple[str, str]]:
    """(prompt, completion) for the gold solutions of the first ``rows`` rows of each raw
    table, in the training format (as the `cot` mix writes them); with ``max_chars``, only
    the rows whose completion is at most that long (short paths reach their answer within the
    demo's small decoding budget)."""
    import polars as pl

    from lema.data.build import read_raw
    from lema.datagen.cot import gold_cot
    from lema.formats import cot_completion, cot_prompt
    from lema.tables import GOLD

    texts = []
    for path in paths:
        frame = read_raw(path).filter(pl.col(GOLD).is_not_null()).head(rows)
        for row in frame.iter_rows(named=True):
            if row["solution"]:
                completion = gold_cot(row["solution"], row[GOLD], row["task"])
            else:  # a multiple-choice task has no gold solutions: the answer line alone
                completion = cot_completion([], row[GOLD])
            if max_chars is not None and len(completion) > max_chars:
                continue
            texts.append((cot_prompt(row["question"]), completion))
    return texts


def warm_up(
    model: Any, tok: Any, texts: list[tuple[str, str]], *, steps: int, seed: int = 0
) -> dict[str, Any]:
    """Train ``model`` in place as a causal LM on (prompt, completion) ``texts`` for ``steps``
    optimizer steps (AdamW, lr :data:`WARMUP_LR`, batches of :data:`WARMUP_BATCH` sequences
    of :data:`WARMUP_SEQ_TOKENS` tokens, each a run of rows joined by the end-of-text token;
    loss on the completions and their end-of-text token only). Returns the loss before and
    after, for the model folder's ``lema_tiny.json``."""
    import random
    import time

    import torch

    eos = tok.eos_token_id
    rows = []
    for prompt, completion in texts:
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        c = tok(completion, add_special_tokens=False)["input_ids"] + [eos]
        rows.append((p + c, [-100] * len(p) + c))
    n = WARMUP_SEQ_TOKENS
    ids: list[int] = []
    labels: list[int] = []
    starts: list[int] = []
    rng = random.Random(seed)
    order = list(range(len(rows)))
    # enough passes over the rows, in shuffled order, that every batch has fresh windows;
    # windows start at a row boundary, so a sequence begins with "Question:" as at inference
    while len(ids) < steps * WARMUP_BATCH * n // 4 + 2 * n:
        rng.shuffle(order)
        for i in order:
            starts.append(len(ids))
            ids.extend(rows[i][0])
            labels.extend(rows[i][1])
    starts = [s for s in starts if s + n <= len(ids)]
    data, target = torch.tensor(ids), torch.tensor(labels)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=WARMUP_LR, weight_decay=0.0)
    model.train()
    losses = []
    begin = time.monotonic()
    for _ in range(steps):
        pick = torch.randint(len(starts), (WARMUP_BATCH,), generator=generator).tolist()
        batch = torch.stack([data[starts[j] : starts[j] + n] for j in pick])
        batch_labels = torch.stack([target[starts[j] : starts[j] + n] for j in pick])
        loss = model(input_ids=batch, labels=batch_labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    head = losses[: max(1, steps // 10)]
    tail = losses[-max(1, steps // 10) :]
    return {
        "rows": len(texts),
        "steps": steps,
        "loss_first": round(sum(head) / len(head), 4),
        "loss_last": round(sum(tail) / len(tail), 4),
        "seconds": round(time.monotonic() - begin, 1),
    }
