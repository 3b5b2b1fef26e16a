"""What stages read from a validated config: one model's spec, the decoding spec of a
backbone + mix, one backbone's resolved training settings, a tiny model's settings."""

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
from lema.tasks import per_task


def model_spec(config: dict[str, Any], name: str) -> dict[str, Any]:
    """The validated spec of the model called ``name`` (config `models` or a builtin)."""
    models = {**BUILTIN_MODELS, **config.get("models", {})}
    if name not in models:
        raise ConfigError(f"model '{name}' is not defined under 'models'")
    return {"name": name, **models[name]}


# `training` keys that may hold one value per task (the official script's per-task values)
PER_TASK_TRAINING = ("max_prompt_tokens", "max_completion_tokens", "per_device_batch_size")


def backbone_training(config: dict[str, Any], backbone: str, task: str) -> dict[str, Any]:
    """Training settings for one backbone and task: global `training`, the backbone's own
    overrides, the per-task values of this task, and the paper's size-dependent learning rate
    resolved."""
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
    for key in PER_TASK_TRAINING:
        value = settings[key]
        if isinstance(value, dict):
            try:
                settings[key] = per_task(value, task, config)
            except KeyError:
                raise ConfigError(
                    f"config key 'training.{key}.{task}': missing for backbone '{backbone}'"
                ) from None
    return settings


def decode_spec(
    config: dict[str, Any],
    task: str,
    backbone: str,
    mix: str,
    model_path: str | None = None,
    *,
    adapter: str | None = None,
) -> dict[str, Any]:
    """The model spec (for `lema predict`) decoding ``task`` with ``backbone`` + ``mix``.

    ``model_path`` overrides the backbone's model (the folder of a tiny backbone built by the
    graph); ``adapter`` is the mix's adapter folder, loaded by the ``hf`` backend (required
    for every mix but ``base``; lema.workflow.paths.adapter_folder in the rules). With
    ``evaluation.backend: openai`` the served model name is the backbone's ``served_name``
    for mix ``base`` (else its model id), and ``{backbone}-{task}-{mix}``
    (``evaluation.served_name`` pattern) for an adapter; with ``evaluation.serve`` the spec
    also has ``serve`` and, for an adapter, ``adapter`` and ``base_model`` (what the job's own
    server loads: lema.serving). With ``evaluation.samples`` above 1
    the spec has a ``samples`` entry (n, temperature, top_p, seed: lema.evaluation.predict);
    with 1 it has none, so a greedy-only spec is the same as before the key existed.
    """
    spec = _model_decode_spec(config, task, backbone, mix, model_path, adapter=adapter)
    ev = config["evaluation"]
    if ev.get("samples", 1) > 1:
        spec["samples"] = {
            "n": ev["samples"],
            "temperature": ev["temperature"],
            "top_p": ev["top_p"],
            "seed": ev["seed"],
        }
    return spec


def _model_decode_spec(
    config: dict[str, Any],
    task: str,
    backbone: str,
    mix: str,
    model_path: str | None,
    *,
    adapter: str | None,
) -> dict[str, Any]:
    """The model part of :func:`decode_spec`."""
    if backbone not in config["backbones"]:
        raise ConfigError(f"backbone '{backbone}' is not defined under 'backbones'")
    ev = config["evaluation"]
    bb = config["backbones"][backbone]
    model = model_path or bb.get("model")
    if not model:
        raise ConfigError(f"backbone '{backbone}': no model to evaluate (set 'model' or 'tiny')")
    if ev["backend"] == "openai":
        if not ev.get("base_url") and not ev.get("serve"):
            raise ConfigError(
                "config key 'evaluation.base_url': required when evaluation.backend is 'openai' "
                "(or 'evaluation.serve', to serve the model in the job)"
            )
        served = (
            model
            if mix == "base"
            else ev["served_name"].format(backbone=backbone, task=task, mix=mix)
        )
        spec = {
            "name": f"{backbone}/{mix}",
            "backend": "openai",
            "model": served,
            "chat": False,
            "base_url": ev["base_url"],
            "api_key_env": ev["api_key_env"],
            "concurrency": ev["concurrency"],
        }
        if ev.get("serve"):
            # the job serves the backbone itself, an adapter as a LoRA module named `served`
            spec["serve"] = ev["serve"]
            if mix != "base":
                if not adapter:
                    raise ConfigError(f"serving {backbone}/{mix} needs its adapter folder")
                spec.update(base_model=model, adapter=adapter)
        return spec
    spec: dict[str, Any] = {
        "name": f"{backbone}/{mix}",
        "backend": "hf",
        "model": model,
        "chat": False,
        "batch_size": ev["batch_size"],
        "dtype": ev.get("dtype", "auto"),
    }
    if mix != "base":
        if not adapter:
            raise ConfigError(f"decoding {backbone}/{mix} with the hf backend needs its adapter")
        spec["adapter"] = adapter
    return spec


# A config `tiny:` entry's settings (rules/tiny.smk; `lema tiny-model`'s flag defaults).
TINY_DEFAULTS = {
    "hidden_size": 64,
    "layers": 2,
    "heads": 4,
    "vocab_size": 2000,
    "seed": 0,
    "warmup_steps": 0,
    "warmup_rows": 256,
}


def tiny_settings(tiny: bool | dict[str, Any] | None) -> dict[str, Any]:
    """The settings of a config `tiny:` entry, defaults filled in."""
    return {**TINY_DEFAULTS, **(tiny if isinstance(tiny, dict) else {})}
