"""What stages read from a validated config: one model's spec, one backbone's resolved
training settings."""

from __future__ import annotations

from typing import Any

from lema.config.load import merge
from lema.config.schema import (
    BUILTIN_MODELS,
    FillingValidator,
    check,
    load_schema,
    training_schema,
)
from lema.errors import ConfigError


def model_spec(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The validated spec of the model called ``name`` (config `models` or a builtin)."""
    models = {**BUILTIN_MODELS, **config.get("models", {})}
    if name not in models:
        raise ConfigError(f"model '{name}' is not defined under 'models'")
    return {"name": name, **models[name]}


def backbone_training(config: dict[str, Any], backbone: str, task: str) -> dict[str, Any]:
    """Training settings for one backbone and task: global `training`, the backbone's own
    overrides, and the paper's size-dependent learning rate resolved."""
    if backbone not in config["backbones"]:
        raise ConfigError(
            f"backbone '{backbone}' is not defined under 'backbones' "
            f"(defined: {', '.join(sorted(config['backbones']))})"
        )
    spec = config["backbones"][backbone]
    settings = merge(config["training"], spec.get("training", {}))
    check(
        FillingValidator(training_schema(load_schema())), settings, f"backbones.{backbone}.training"
    )
    if settings.get("learning_rate") is None:
        settings["learning_rate"] = 1e-4 if spec.get("size_b", 7) >= 34 else 2e-4
    if task not in settings["max_seq_length"]:
        raise ConfigError(
            f"config key 'training.max_seq_length.{task}': missing for backbone '{backbone}'"
        )
    settings["max_seq_length"] = settings["max_seq_length"][task]
    return settings
