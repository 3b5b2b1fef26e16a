"""Load and validate the study configuration (config.yaml) against its JSON schema.

Defaults from the schema are filled in; a wrong or unknown key raises :class:`ConfigError`
with one line naming the key and what was expected.

Modules: :mod:`~lema.config.schema` (the schema, ``config.schema.yaml``; the validator that
fills defaults and takes only ints as integers), :mod:`~lema.config.messages` (one line per
violation), :mod:`~lema.config.load` (reading, merging, validating, reference checks),
:mod:`~lema.config.access` (what stages read: a model's spec, the decoding spec of a
backbone + mix, a backbone's training settings, a tiny model's settings),
:mod:`~lema.config.cli` (`lema check-config`).
"""

from __future__ import annotations

from lema.config.access import backbone_training, decode_spec, model_spec, tiny_settings
from lema.config.load import load_config, merge, validate_config
from lema.config.schema import SCHEMA_PATH, load_schema

__all__ = [
    "SCHEMA_PATH",
    "backbone_training",
    "decode_spec",
    "load_config",
    "load_schema",
    "merge",
    "model_spec",
    "tiny_settings",
    "validate_config",
]
