"""`lema merge`: fold a LoRA adapter into its base model, for serving without peft
(e.g. `vllm serve results/{task}/merged/{backbone}/{mix}`).

The base model is loaded unquantised (merging into 4-bit weights would round the update away)
in bf16 on a GPU and fp32 on CPU unless ``--dtype`` says otherwise; the merged model and the
base model's tokenizer are written into a temporary folder beside ``--out`` and renamed into place.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from lema.errors import ConfigError, DataError
from lema.io import atomic_folder
from lema.training.adapter import ADAPTER_CONFIG_FILE, SETTINGS_FILE


def merge(adapter: Path, out: Path, model: str | None = None, dtype: str = "auto") -> Path:
    """Merge the adapter folder ``adapter`` into its base model (``model``, default: the one
    its settings.json records) and write the merged model and tokenizer to ``out``."""
    if not (adapter / ADAPTER_CONFIG_FILE).exists():
        raise DataError(f"{adapter}: not an adapter folder (no {ADAPTER_CONFIG_FILE})")
    if model is None:
        model = _recorded_model(adapter)

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype == "auto":
        dtype = "bfloat16" if torch.cuda.is_available() else "float32"
    try:
        base = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype))
    except OSError as exc:
        raise ConfigError(
            f"base model '{model}' could not be loaded: {str(exc).splitlines()[0]}"
        ) from None
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(model)
    _write_merged(merged, tokenizer, adapter, out)
    return out


def _recorded_model(adapter: Path) -> str:
    """The base model recorded in the adapter's settings.json."""
    try:
        return json.loads((adapter / SETTINGS_FILE).read_text())["model"]
    except (OSError, ValueError, KeyError):
        raise ConfigError(
            f"{adapter}: no base model recorded in {SETTINGS_FILE}; pass --model"
        ) from None


def _write_merged(merged: Any, tokenizer: Any, adapter: Path, out: Path) -> None:
    """Write the merged model, the tokenizer and a copy of the adapter's settings into ``out``
    atomically."""
    with atomic_folder(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        if (adapter / SETTINGS_FILE).exists():
            shutil.copy(adapter / SETTINGS_FILE, tmp / "lema-adapter-settings.json")
