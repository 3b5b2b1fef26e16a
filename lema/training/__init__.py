"""Fine-tuning (method step 7): one LoRA / QLoRA adapter per backbone × task × mix.

    from lema.training import train, validate_settings

    metrics = train(task=..., backbone=..., model=..., mix=..., out=..., checkpoints=...,
                    settings=validate_settings(resolved, backbone))

Modules, in the order a run uses them: :mod:`~lema.training.settings` (resolved settings ->
runtime, ``SFTConfig``, LoRA and NF4 configuration), :mod:`~lema.training.dataset` (the mix's
prompt/completion rows and checksum, tokenised within separate prompt and completion limits, the
rows trimmed or dropped counted), :mod:`~lema.training.model` (base model + LoRA,
tokenizer), :mod:`~lema.training.checkpoints` (fingerprint, resume, SIGTERM),
:mod:`~lema.training.run` (the trainer run, metrics), :mod:`~lema.training.adapter` (the output
folder), :mod:`~lema.training.merge` (`lema merge`). `lema train` is
:mod:`~lema.training.cli`. Importing this package is cheap: torch / transformers / peft / trl
load only when a run starts.
"""

from lema.training.checkpoints import last_checkpoint
from lema.training.dataset import RowCounts, TokenizedMix, TrainingMix, load_mix, tokenize_mix
from lema.training.run import TrainingMetrics, train
from lema.training.settings import Runtime, TrainingSettings, resolve_runtime, validate_settings

__all__ = [
    "RowCounts",
    "Runtime",
    "TokenizedMix",
    "TrainingMetrics",
    "TrainingMix",
    "TrainingSettings",
    "last_checkpoint",
    "load_mix",
    "resolve_runtime",
    "tokenize_mix",
    "train",
    "validate_settings",
]
