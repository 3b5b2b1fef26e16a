"""One line per schema violation, in the words of a YAML file's author: the key as a dotted
path (``backbones.llama.training.epochs``), what was expected, and the value as written."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml

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


def describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    """The one-line message for ``error``; ``prefix`` is the key the validated part sits at."""
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
