"""Tiny local models: a random-init LLaMA-architecture causal LM and a byte-level BPE
tokenizer trained on the fly from given text, saved as a normal Hugging Face model folder.
No downloads; tests and the offline demo use them.

    lema tiny-model --out results/models/tiny data/raw/gsm8k/train.parquet
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lema.errors import DataError, LemaError

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
DEFAULTS = {"hidden_size": 64, "layers": 2, "heads": 4, "vocab_size": 2000, "seed": 0}
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
) -> Path:
    """Write a tiny random-init LlamaForCausalLM + tokenizer to ``out`` (atomically)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    if hidden_size % heads:
        raise LemaError(f"tiny model: hidden_size {hidden_size} is not divisible by heads {heads}")
    out = Path(out)
    tok = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(
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
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "lema_tiny.json").write_text(
            json.dumps(
                {
                    "hidden_size": hidden_size,
                    "layers": layers,
                    "heads": heads,
                    "vocab_size": vocab_size,
                    "seed": seed,
                },
                indent=2,
            )
            + "\n"
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def tiny_settings(tiny: bool | dict[str, Any] | None) -> dict[str, Any]:
    """The settings of a config `tiny:` entry, defaults filled in."""
    return {**DEFAULTS, **(tiny if isinstance(tiny, dict) else {})}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs", nargs="+", help="text for the tokenizer: .parquet, .jsonl or text files"
    )
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--hidden-size", type=int, default=DEFAULTS["hidden_size"])
    p.add_argument("--layers", type=int, default=DEFAULTS["layers"])
    p.add_argument("--heads", type=int, default=DEFAULTS["heads"])
    p.add_argument("--vocab-size", type=int, default=DEFAULTS["vocab_size"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])


def run(args: argparse.Namespace) -> int:
    out = build_tiny_model(
        args.out,
        texts_from_files(args.inputs),
        hidden_size=args.hidden_size,
        layers=args.layers,
        heads=args.heads,
        vocab_size=args.vocab_size,
        seed=args.seed,
    )
    print(f"lema tiny-model: wrote {out}", flush=True)
    return 0
