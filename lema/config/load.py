"""Reading config.yaml: parse the YAML, merge overrides, validate against the schema (defaults
filled in), then check what the schema cannot say (names that refer to other keys, keys
that one backend or source requires)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from lema.config.schema import (
    BUILTIN_MODELS,
    CheckingValidator,
    FillingValidator,
    check,
    load_schema,
    training_schema,
)
from lema.errors import ConfigError


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled in) and return it.

    Raises ConfigError with one line naming the offending key.
    """
    schema = load_schema()
    check(FillingValidator(schema), config)
    # Per-backbone `training` overrides: checked against `training` without filling defaults
    # (a filled default would override the global setting the user wrote).
    overrides = CheckingValidator(training_schema(schema))
    for name, backbone in config["backbones"].items():
        check(overrides, backbone.get("training", {}), prefix=f"backbones.{name}.training")
    _check_references(config)
    return config


def _check_references(config: dict[str, Any]) -> None:
    from lema.tasks import check_tasks

    check_tasks(config)
    _check_roles(config)
    _check_models(config)
    _check_backbones(config)
    _check_local_data(config)
    _check_per_task_maps(config)
    _check_benchmark_keys(config)
    _check_cot_paths(config)


def _check_roles(config: dict[str, Any]) -> None:
    """Generators and the corrector name defined models; `gold` only corrects."""
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
    _check_correctors(config, models)


def corrector_of(config: dict[str, Any], task: str) -> str:
    """The corrector of ``task``: config ``corrector``, a model name or one per task (a
    ``default`` entry for the tasks it does not name)."""
    corrector = config["corrector"]
    if isinstance(corrector, str):
        return corrector
    if task in corrector:
        return corrector[task]
    if "default" in corrector:
        return corrector["default"]
    raise ConfigError(
        f"config key 'corrector.{task}': no corrector for task '{task}' (name one for it, or "
        "a 'default')"
    )


def _check_correctors(config: dict[str, Any], models: dict[str, Any]) -> None:
    """Each task's corrector is a defined model; a per-task map names known tasks; the gold
    corrector corrects only tasks with gold solutions to follow (not CSQA's kind)."""
    from lema.tasks import known_tasks, multiple_choice, task_kind

    corrector = config.get("corrector")
    if corrector is None:
        return
    key = "corrector"
    if isinstance(corrector, dict):
        known = known_tasks(config)
        for task in corrector:
            if task != "default" and task not in known:
                raise ConfigError(
                    f"config key 'corrector.{task}': not a task (expected one of "
                    f"{', '.join(known)}, or 'default')"
                )
    for task in config.get("tasks", []):
        name = corrector_of(config, task)
        where = key
        if isinstance(corrector, dict):
            where = f"{key}.{task}" if task in corrector else f"{key}.default"
        if name not in models:
            raise ConfigError(
                f"config key '{where}': model '{name}' is not defined under 'models' "
                f"(defined: {', '.join(sorted(models))})"
            )
        if models[name]["backend"] == "gold" and multiple_choice(task_kind(task, config)):
            raise ConfigError(
                f"config key '{where}': the gold corrector cannot correct task '{task}': it "
                "rewrites a wrong path from the gold solution's steps, and a multiple-choice "
                "task has only the gold answer; name a model corrector for it, e.g. "
                f"corrector: {{default: gold, {task}: gpt-4}}"
            )


def _check_models(config: dict[str, Any]) -> None:
    """The keys each backend needs: a model id (hf, openai; or `tiny`), a path (file)."""
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
        if model.get("serve") is not None:
            _check_serve(model, f"models.{name}", model["backend"])
    evaluation = config.get("evaluation", {})
    if evaluation.get("serve") is not None:
        _check_serve(evaluation, "evaluation", evaluation.get("backend", "hf"))


def _check_serve(entry: dict[str, Any], where: str, backend: str) -> None:
    """A `serve` block: for the openai backend, instead of a base_url, placeholders known."""
    from lema.serving import check_settings

    if backend != "openai":
        raise ConfigError(
            f"config key '{where}.serve': needs backend 'openai' (the requests go to the "
            f"server through it), not '{backend}'"
        )
    if entry.get("base_url"):
        raise ConfigError(
            f"config key '{where}.serve': give either 'serve' or 'base_url', not both"
        )
    check_settings(entry["serve"], f"{where}.serve")


def _check_backbones(config: dict[str, Any]) -> None:
    for name, backbone in config.get("backbones", {}).items():
        if not backbone.get("model") and not backbone.get("tiny"):
            raise ConfigError(
                f"config key 'backbones.{name}': needs 'model' (HF id or folder) or 'tiny'"
            )


def _check_local_data(config: dict[str, Any]) -> None:
    from lema.data import EMBEDDED_TASKS
    from lema.tasks import BUILTIN

    if config.get("data", {}).get("source") == "embedded":
        for i, task in enumerate(config.get("tasks", [])):
            if task in BUILTIN and task not in EMBEDDED_TASKS:
                raise ConfigError(
                    f"config key 'tasks[{i}]': task '{task}' has no embedded slice (data.source "
                    "embedded is the demo's GSM8K/MATH slice): use data.source public or local"
                )
    if config.get("data", {}).get("source") == "local":
        # a task of tasks_defined names its own files
        for task in (t for t in config.get("tasks", []) if t in BUILTIN):
            if not config["data"]["local"].get(task):
                raise ConfigError(
                    f"config key 'data.local.{task}': a path is required when "
                    "data.source is 'local'"
                )


#: config maps keyed by task (a prompt, a token limit): every task run needs an entry, its own
#: or (a task of tasks_defined) its kind's
PER_TASK_MAPS = (
    ("sampling", "max_tokens"),
    ("sampling", "prompt"),
    ("correction", "prompt"),
    ("cot", "prompt"),
    ("evaluation", "max_tokens"),
    ("training", "max_prompt_tokens"),
    ("training", "max_completion_tokens"),
    ("training", "per_device_batch_size"),
)


def _check_cot_paths(config: dict[str, Any]) -> None:
    """A multiple-choice task's CoT rows are the corrector's paths alone (no gold solutions),
    so ``cot.corrector_paths: 0`` would leave it without CoT data."""
    from lema.tasks import multiple_choice, task_kind

    if config.get("cot", {}).get("corrector_paths") != 0:
        return
    for task in config.get("tasks", []):
        if multiple_choice(task_kind(task, config)):
            raise ConfigError(
                f"config key 'cot.corrector_paths': 0 leaves task '{task}' without CoT data (a "
                "multiple-choice task has no gold solutions: its CoT rows are the corrector's "
                "paths alone); set it to 1 or more"
            )


def _check_benchmark_keys(config: dict[str, Any]) -> None:
    """``evaluation.benchmarks`` is keyed by tasks (built-in or defined), not anything else."""
    from lema.tasks import known_tasks

    known = known_tasks(config)
    for task in config.get("evaluation", {}).get("benchmarks") or {}:
        if task not in known:
            raise ConfigError(
                f"config key 'evaluation.benchmarks.{task}': not a task (expected one of "
                f"{', '.join(known)})"
            )


def _check_per_task_maps(config: dict[str, Any]) -> None:
    """One line naming the key when a map keyed by task has no entry for a task run (a
    config written for gsm8k and math, with csqa added to ``tasks``)."""
    from lema.tasks import evolves, per_task

    for task in config.get("tasks", []):
        maps = list(PER_TASK_MAPS)
        if config.get("evolution", {}).get("enabled", True) and evolves(task, config):
            maps.append(("evolution", "prompt"))
        for section, key in maps:
            mapping = config.get(section, {}).get(key)
            if not isinstance(mapping, dict):
                continue
            try:
                per_task(mapping, task, config)
            except KeyError:
                raise ConfigError(
                    f"config key '{section}.{key}.{task}': missing (the map names "
                    f"{', '.join(mapping) or 'no task'}; add an entry for {task})"
                ) from None


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
