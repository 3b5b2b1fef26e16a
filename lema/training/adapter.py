"""The adapter folder `lema train` writes and `lema merge` reads: the PEFT adapter
(``adapter_config.json`` + ``adapter_model.safetensors``), ``settings.json`` (the exact resolved
settings) and ``metrics.json``, written atomically."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lema.io import atomic_folder, write_json

if TYPE_CHECKING:
    from peft import PeftModel

ADAPTER_CONFIG_FILE = "adapter_config.json"
SETTINGS_FILE = "settings.json"
METRICS_FILE = "metrics.json"


def write_adapter(
    model: PeftModel, out: Path, settings: Mapping[str, Any], metrics: Mapping[str, Any]
) -> None:
    """Save the adapter, settings and metrics into ``out`` atomically. The tokenizer is not
    copied: the base model's is the one to use."""
    with atomic_folder(out) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        _sort_target_modules(tmp / ADAPTER_CONFIG_FILE)
        write_json(tmp / SETTINGS_FILE, settings)
        write_json(tmp / METRICS_FILE, finite(metrics))


def _sort_target_modules(config: Path) -> None:
    """PEFT keeps ``target_modules`` as a set and saves it in set order, which changes with
    the interpreter's hash seed: sort it, so the same training writes the same bytes."""
    if not config.is_file():
        return
    data = json.loads(config.read_text())
    if isinstance(data.get("target_modules"), list):
        data["target_modules"] = sorted(data["target_modules"])
        config.write_text(json.dumps(data, indent=2, sort_keys=True))  # PEFT's own layout


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite(v) for v in obj]
    return obj
