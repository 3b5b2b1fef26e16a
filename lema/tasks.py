"""The task registry: one place that names every task lema trains and evaluates on.

A :class:`Task` says what kind of answers a task has (which fixes its grader: ``numeric`` is
GSM8K's number after the final answer statement, ``latex`` is MATH's last ``\\boxed{}`` with
sympy equivalence, ``choice`` one of the row's candidate answers, as in CSQA) and which
built-in task's prompts and limits it falls back to (its *kind*). ``gsm8k``, ``math`` and
``csqa`` are the built-in entries; a user's own task is declared in the config under
``tasks_defined`` (see :func:`defined_tasks`).

This module imports nothing heavy: the workflow reads it when the Snakefile is parsed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lema.errors import ConfigError

#: answer types a task can declare, and the built-in task whose grader/prompts each follows
KIND_OF_ANSWER_TYPE = {"numeric": "gsm8k", "latex": "math", "choice": "csqa"}


@dataclass(frozen=True)
class Task:
    """One registered task."""

    name: str
    #: numeric | latex | choice: the grader its answers get
    answer_type: str
    #: the built-in task whose grading, prompts and per-task limits it follows
    kind: str
    #: "builtin" (a public source, pinned and checksummed) or "config" (tasks_defined)
    origin: str = "builtin"


BUILTIN: dict[str, Task] = {
    "gsm8k": Task("gsm8k", "numeric", "gsm8k"),
    "math": Task("math", "latex", "math"),
    # CommonsenseQA: five candidate answers per question, the answer one candidate's text
    "csqa": Task("csqa", "choice", "csqa"),
}

#: the built-in task names, in the order tables and summaries list them
TASKS: tuple[str, ...] = tuple(BUILTIN)


def defined_tasks(config: dict[str, Any]) -> dict[str, Task]:
    """The tasks declared under the config's ``tasks_defined`` (name -> Task)."""
    from lema.data import BENCHMARKS  # lema.data imports this module: import it late

    out: dict[str, Task] = {}
    for name, entry in (config.get("tasks_defined") or {}).items():
        if name in BUILTIN or name in BENCHMARKS:
            what = "a built-in task" if name in BUILTIN else "an evaluation-only benchmark"
            raise ConfigError(
                f"config key 'tasks_defined.{name}': '{name}' is {what}; pick another name"
            )
        answer_type = entry.get("answer_type", "numeric")
        if answer_type not in KIND_OF_ANSWER_TYPE:
            raise ConfigError(
                f"config key 'tasks_defined.{name}.answer_type': '{answer_type}' is not one of "
                f"{', '.join(KIND_OF_ANSWER_TYPE)}"
            )
        if answer_type == "choice" and not entry.get("choices"):
            raise ConfigError(
                f"config key 'tasks_defined.{name}.choices': required for answer_type 'choice' "
                "(the field holding each row's list of candidate answers)"
            )
        out[name] = Task(name, answer_type, KIND_OF_ANSWER_TYPE[answer_type], origin="config")
    return out


def registry(config: dict[str, Any] | None = None) -> dict[str, Task]:
    """Every task known under ``config``: the built-in ones, then those it defines."""
    return {**BUILTIN, **(defined_tasks(config) if config else {})}


def known_tasks(config: dict[str, Any] | None = None) -> list[str]:
    """The names of :func:`registry`, built-in first."""
    return list(registry(config))


def get_task(name: str, config: dict[str, Any] | None = None) -> Task:
    """The task ``name``, or ConfigError naming the known ones."""
    tasks = registry(config)
    if name not in tasks:
        raise ConfigError(f"unknown task '{name}': expected one of {', '.join(tasks)}")
    return tasks[name]


def task_kind(name: str, config: dict[str, Any] | None = None) -> str:
    """The built-in task whose grading and prompts ``name`` follows (itself for built-ins)."""
    return get_task(name, config).kind


def multiple_choice(kind: str) -> bool:
    """Whether tasks of ``kind`` (a built-in task's name, :func:`task_kind` / :func:`kind_of`)
    are multiple choice, as CSQA: their rows have a gold answer among candidates and no gold
    solution (so no gold corrector and no gold CoT rows), and evolution cannot write new
    questions for them (each would need new candidate answers)."""
    return kind == "csqa"


def evolves(task: str, config: dict[str, Any] | None = None) -> bool:
    """Whether correction-centric evolution can write new questions for ``task``: not for a
    multiple-choice task (:func:`multiple_choice`)."""
    return not multiple_choice(task_kind(task, config))


def check_tasks(config: dict[str, Any]) -> None:
    """Each name in ``tasks`` is registered (built-in or under tasks_defined); one line if not."""
    tasks = registry(config)
    for i, name in enumerate(config.get("tasks", [])):
        if name not in tasks:
            raise ConfigError(
                f"config key 'tasks[{i}]': expected one of {', '.join(repr(t) for t in tasks)}, "
                f"got '{name}' (a task of your own goes under 'tasks_defined')"
            )


def per_task(mapping: dict[str, Any], task: str, config: dict[str, Any] | None = None) -> Any:
    """``mapping[task]`` for a config map keyed by task (a prompt, max_tokens, a training
    limit); a task of tasks_defined without its own key takes its kind's entry (``gsm8k`` for
    numeric and choice answers, ``math`` for latex). KeyError when neither is there."""
    if task in mapping:
        return mapping[task]
    return mapping[task_kind(task, config)]


#: where a stage command learns the kinds of the run's tasks of tasks_defined: the workflow
#: exports the run's operational settings as this variable (rules/common.smk), and their
#: ``tasks_kinds`` names each defined task's kind (absent when the config defines none)
OPERATIONAL_ENV = "LEMA_OPERATIONAL"


def _env_kinds() -> dict[str, str]:
    import json
    import os

    raw = os.environ.get(OPERATIONAL_ENV)
    if not raw:
        return {}
    try:
        kinds = json.loads(raw).get("tasks_kinds") or {}
    except (ValueError, AttributeError):
        return {}
    return {k: v for k, v in kinds.items() if v in BUILTIN}


def command_tasks() -> list[str]:
    """The tasks a stage command accepts: the built-in ones and the run's tasks of
    tasks_defined (from ``$LEMA_OPERATIONAL``)."""
    return [*BUILTIN, *(t for t in _env_kinds() if t not in BUILTIN)]


def kind_of(task: str) -> str:
    """The built-in task whose grading, gold-solution format and prompts ``task`` follows:
    itself for a built-in task, a defined task's kind from ``$LEMA_OPERATIONAL``; ValueError
    for a name that is neither."""
    t = (task or "").strip()
    if t.lower() in BUILTIN:
        return t.lower()
    kinds = _env_kinds()
    if t in kinds:
        return kinds[t]
    raise ValueError(
        f"unknown task {task!r}: expected one of {', '.join(command_tasks())} "
        f"(a task of tasks_defined is known through ${OPERATIONAL_ENV}, which the workflow sets)"
    )


def task_arg(value: str) -> str:
    """argparse ``type`` of ``--task``: a name :func:`command_tasks` knows."""
    import argparse

    if value in command_tasks():
        return value
    raise argparse.ArgumentTypeError(
        f"invalid choice: {value!r} (choose from {', '.join(command_tasks())}, "
        f"or a task of tasks_defined run by the workflow)"
    )
