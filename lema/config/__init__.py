"""Load and validate the study configuration (config.yaml) against its JSON schema.

Defaults from the schema are filled in; a wrong or unknown key raises :class:`ConfigError`
with one line naming the key and what was expected.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lema.errors import ConfigError

SCHEMA_PATH = Path(str(resources.files("lema.config") / "config.schema.yaml"))
BUILTIN_MODELS = {"gold": {"backend": "gold"}}


@functools.cache
def _parsed_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_schema() -> dict[str, Any]:
    """The config schema as a dict (a fresh copy: callers may change it)."""
    return copy.deepcopy(_parsed_schema())


def _is_integer(checker: Any, instance: Any) -> bool:
    # 4.0 is an integer to JSON Schema, but range(4.0) fails in Python: accept int only
    return isinstance(instance, int) and not isinstance(instance, bool)


def _strict_ints(validator_class: type) -> type:
    checker = validator_class.TYPE_CHECKER.redefine("integer", _is_integer)
    return jsonschema.validators.extend(validator_class, type_checker=checker)


def _with_defaults(validator_class: type) -> type:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # noqa: ANN001, ANN202
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_PlainValidator = _strict_ints(jsonschema.Draft202012Validator)  # checks only, fills nothing
_Validator = _with_defaults(_PlainValidator)

# JSON Schema's names for types, as a YAML file's author knows them
_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _key(path: Any, prefix: str = "") -> str:
    out = prefix
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _value(value: Any) -> str:
    """A config value as it would be written in YAML (null, true, 'text', [1, 2])."""
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    text = text.removesuffix("...").strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(schema: dict[str, Any]) -> str:
    types = schema.get("type")
    if "enum" in schema:
        return "one of " + ", ".join(_value(v) for v in schema["enum"])
    if types is None:
        return "a valid value"
    types = [types] if isinstance(types, str) else types
    words = [_TYPE_WORDS.get(t, t) for t in types if t != "null"]
    text = " or ".join(words) if words else "null"
    if "null" in types and words:
        text += " (or null)"
    if "object" in types and schema.get("properties"):
        text += f" with keys {', '.join(sorted(schema['properties']))}"
    return text


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    key = _key(error.absolute_path, prefix)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = (
            sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, dict) else []
        )
        names = (
            ", ".join(f"'{_key([*error.absolute_path, e], prefix)}'" for e in extra) or f"'{key}'"
        )
        where = "" if key == "<top level>" else f" under '{key}'"
        hint = f" (allowed{where}: {', '.join(allowed)})" if allowed else ""
        return f"unknown config key{'s' if len(extra) > 1 else ''} {names}{hint}"
    if error.validator == "required":
        missing = [r for r in error.validator_value if r not in error.instance]
        name = _key([*error.absolute_path, missing[0]], prefix) if missing else key
        return f"config key '{name}' is required but missing"
    if error.validator == "enum":
        return (
            f"config key '{key}': expected {_expected(error.schema)}, got {_value(error.instance)}"
        )
    if error.validator == "type":
        return (
            f"config key '{key}': expected {_expected(error.schema)}, got {_value(error.instance)}"
        )
    if error.validator in ("oneOf", "anyOf"):
        options = [_expected(sub) for sub in error.validator_value]
        return f"config key '{key}': expected {' or '.join(options)}, got {_value(error.instance)}"
    message = error.message.replace(repr(error.instance), _value(error.instance), 1)
    return f"config key '{key}': {message}"


_JSON_TYPES = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_NOTHING = object()


def _scalar_fits(value: Any, schema: dict[str, Any]) -> bool:
    if "enum" in schema:
        return value in schema["enum"]
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if any(_JSON_TYPES.get(t, lambda v: False)(value) for t in types):
        return True
    return any(_scalar_fits(value, sub) for sub in schema.get("oneOf", schema.get("anyOf", [])))


def _coerced(error: jsonschema.ValidationError) -> Any:
    """The YAML scalar a string stands for, when that fits where the string does not.

    `snakemake --config data='{limit: {train: 5}}'` reads nested values as strings ('5',
    'null', 'true'); they are taken for what they say, as in config.yaml."""
    if error.validator not in ("type", "enum", "oneOf", "anyOf"):
        return _NOTHING
    if not isinstance(error.instance, str):
        return _NOTHING
    try:
        value = yaml.safe_load(error.instance)
    except yaml.YAMLError:
        return _NOTHING
    if isinstance(value, str) or not _scalar_fits(value, error.schema):
        return _NOTHING
    return value


def _validate(validator: Any, instance: Any, prefix: str = "") -> None:
    """Validate ``instance`` in place (coercing --config strings); raise one-line ConfigError."""
    for _ in range(10_000):
        errors = list(validator.iter_errors(instance))
        if not errors:
            return
        fixed = False
        for error in errors:
            value = _coerced(error)
            if value is _NOTHING or not error.absolute_path:
                continue
            *parents, last = error.absolute_path
            node = instance
            for part in parents:
                node = node[part]
            node[last] = value
            fixed = True
        if not fixed:
            raise ConfigError(_describe(jsonschema.exceptions.best_match(errors), prefix))


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises ConfigError with one line naming the offending key.
    """
    schema = load_schema()
    _validate(_Validator(schema), config)
    # Per-backbone `training` overrides: checked against `training` without filling defaults
    # (a filled default would override the global setting the user wrote).
    overrides = _PlainValidator(_training_schema(schema))
    for name, backbone in config["backbones"].items():
        _validate(overrides, backbone.get("training", {}), prefix=f"backbones.{name}.training")
    _check_references(config)
    return config


def _training_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema["definitions"]["training"], "definitions": schema["definitions"]}


def _check_references(config: dict[str, Any]) -> None:
    models = {**BUILTIN_MODELS, **config.get("models", {})}
    for i, name in enumerate(config.get("generators", [])):
        if name not in models:
            raise ConfigError(
                f"config key 'generators[{i}]': model '{name}' is not defined under 'models' "
                f"(defined: {', '.join(sorted(models))})"
            )
        if models[name]["backend"] == "gold":
            raise ConfigError(
                f"config key 'generators[{i}]': 'gold' is a corrector, not a generator"
            )
    corrector = config.get("corrector")
    if corrector is not None and corrector not in models:
        raise ConfigError(
            f"config key 'corrector': model '{corrector}' is not defined under 'models' "
            f"(defined: {', '.join(sorted(models))})"
        )
    for name, model in config.get("models", {}).items():
        if (
            model["backend"] in ("hf", "openai")
            and not model.get("model")
            and not model.get("tiny")
        ):
            raise ConfigError(
                f"config key 'models.{name}.model': required for backend '{model['backend']}'"
            )
        if model["backend"] == "file" and not model.get("path"):
            raise ConfigError(f"config key 'models.{name}.path': required for backend 'file'")
    for name, backbone in config.get("backbones", {}).items():
        if not backbone.get("model") and not backbone.get("tiny"):
            raise ConfigError(
                f"config key 'backbones.{name}': needs 'model' (HF id or folder) or 'tiny'"
            )
    if config.get("data", {}).get("source") == "local":
        for task in config.get("tasks", []):
            if not config["data"]["local"].get(task):
                raise ConfigError(
                    f"config key 'data.local.{task}': a path is required when "
                    "data.source is 'local'"
                )


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
        raise ConfigError(
            f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
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
    _validate(
        _Validator(_training_schema(load_schema())), settings, f"backbones.{backbone}.training"
    )
    if settings.get("learning_rate") is None:
        settings["learning_rate"] = 1e-4 if spec.get("size_b", 7) >= 34 else 2e-4
    if task not in settings["max_seq_length"]:
        raise ConfigError(
            f"config key 'training.max_seq_length.{task}': missing for backbone '{backbone}'"
        )
    settings["max_seq_length"] = settings["max_seq_length"][task]
    return settings
