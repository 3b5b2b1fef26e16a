"""The JSON schema of config.yaml (``config.schema.yaml`` beside this file) and the checks
against it: a validator that fills in defaults and takes only Python ints as integers, the
``--config`` string coercion, and :func:`check`, which raises one-line ConfigErrors."""

from __future__ import annotations

import copy
import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from lema.config.messages import describe
from lema.errors import ConfigError

SCHEMA_PATH = Path(str(resources.files("lema.config") / "config.schema.yaml"))
# Models every config has without defining them under `models`.
BUILTIN_MODELS = {"gold": {"backend": "gold"}}


@functools.cache
def _parsed_schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_schema() -> dict[str, Any]:
    """The config schema as a dict (a fresh copy: callers may change it)."""
    return copy.deepcopy(_parsed_schema())


def training_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema of the `training` section alone (with the definitions it refers to)."""
    return {**schema["definitions"]["training"], "definitions": schema["definitions"]}


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


CheckingValidator = _strict_ints(jsonschema.Draft202012Validator)  # checks only, fills nothing
FillingValidator = _with_defaults(CheckingValidator)  # fills in defaults as it checks

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


def check(validator: Any, instance: Any, prefix: str = "") -> None:
    """Validate ``instance`` in place (coercing --config strings); raise one-line ConfigError.

    ``prefix`` is the key ``instance`` sits at in the whole config (for the message)."""
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
            raise ConfigError(describe(jsonschema.exceptions.best_match(errors), prefix))
