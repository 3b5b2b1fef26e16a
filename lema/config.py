"""Load and validate the study configuration (config.yaml) against its JSON schema.

Defaults from the schema are filled in; a wrong or unknown key raises :class:`ConfigError`
with one line naming the key and what was expected.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lema.errors import ConfigError

SCHEMA_PATH = Path(str(resources.files("lema") / "schemas" / "config.schema.yaml"))
BUILTIN_MODELS = {"gold": {"backend": "gold"}}


def load_schema() -> dict[str, Any]:
    """The config schema as a dict."""
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _with_defaults(validator_class: type) -> type:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001, ANN202
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _key(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        where = "" if key == "<top level>" else f" under '{key}'"
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown config key '{'.'.join([*map(str, error.absolute_path), extra[0]]) if extra else key}'{where}{hint}"
    if error.validator == "required":
        return f"config key '{key}' is missing a required entry: {error.message}"
    if error.validator == "enum":
        return f"config key '{key}': expected one of {error.validator_value}, got {error.instance!r}"
    if error.validator == "type":
        return f"config key '{key}': expected {error.validator_value}, got {error.instance!r}"
    return f"config key '{key}': {error.message}"


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises ConfigError with one line naming the offending key.
    """
    validator = _Validator(load_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_describe(best))
    _check_references(config)
    return config


def _check_references(config: dict[str, Any]) -> None:
    models = {**BUILTIN_MODELS, **config.get("models", {})}
    for i, name in enumerate(config.get("generators", [])):
        if name not in models:
            raise ConfigError(
                f"config key 'generators[{i}]': model '{name}' is not defined under 'models' "
                f"(defined: {', '.join(sorted(models))})"
            )
        if models[name]["backend"] == "gold":
            raise ConfigError(f"config key 'generators[{i}]': 'gold' is a corrector, not a generator")
    corrector = config.get("corrector")
    if corrector is not None and corrector not in models:
        raise ConfigError(
            f"config key 'corrector': model '{corrector}' is not defined under 'models' "
            f"(defined: {', '.join(sorted(models))})"
        )
    for name, model in config.get("models", {}).items():
        if model["backend"] in ("hf", "openai") and not model.get("model") and not model.get("tiny"):
            raise ConfigError(f"config key 'models.{name}.model': required for backend '{model['backend']}'")
        if model["backend"] == "file" and not model.get("path"):
            raise ConfigError(f"config key 'models.{name}.path': required for backend 'file'")
    for name, backbone in config.get("backbones", {}).items():
        if not backbone.get("model") and not backbone.get("tiny"):
            raise ConfigError(f"config key 'backbones.{name}': needs 'model' (HF id or folder) or 'tiny'")
    if config.get("data", {}).get("source") == "local":
        for task in config.get("tasks", []):
            if not config["data"]["local"].get(task):
                raise ConfigError(f"config key 'data.local.{task}': a path is required when data.source is 'local'")


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config file, merge ``overrides`` (nested dicts), validate it."""
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of config keys")
    if overrides:
        config = merge(config, overrides)
    return validate_config(config)


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base`` (dicts merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
    errors = list(_Validator(load_schema()["definitions"]["training"] | {"definitions": load_schema()["definitions"]}).iter_errors(settings))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        raise ConfigError(f"config key 'backbones.{backbone}.training.{_key(err.absolute_path)}': {err.message}")
    if settings.get("learning_rate") is None:
        settings["learning_rate"] = 1e-4 if spec.get("size_b", 7) >= 34 else 2e-4
    settings["max_seq_length"] = settings["max_seq_length"][task]
    return settings
