"""The `lema` command. Each subcommand lives in its package's command module, imported only
when used, so `lema --help` stays fast and a missing optional dependency affects only its
command.

A table entry names ``module``, which defines ``add_arguments(parser)`` and
``run(args) -> int``, or ``module:name`` for a module of several commands, which defines
``add_<name>_arguments(parser)`` and ``run_<name>(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from typing import Any

from lema.errors import LemaError

# name -> (module or module:command, one-line help), in the order of the method. Each is a thin
# command layer (`add_arguments`, `run`) over its package's library functions.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": ("lema.config.cli", "validate a config file and print it with defaults"),
    "data": ("lema.data.cli", "build a raw-data table (data/raw/{task}/{split}.parquet)"),
    "tiny-model": (
        "lema.models.cli:tiny_model",
        "build a tiny random-init LLaMA model and tokenizer",
    ),
    "generate": (
        "lema.models.cli",
        "completions for a JSONL of requests (hf/openai/file, cached)",
    ),
    "cache": (
        "lema.models.cache_cli",
        "inspect (stats) and compact (merge) the response cache",
    ),
    "sample": (
        "lema.datagen.cli:sample",
        "sample and grade reasoning paths (…/paths/{generator}.parquet)",
    ),
    "mistakes": ("lema.datagen.cli:mistakes", "the wrong paths, de-duplicated and capped"),
    "correct": ("lema.datagen.cli:correct", "corrections of mistakes, parsed and filtered"),
    "evolve": ("lema.datagen.cli:evolve", "correction-centric evolution: new questions"),
    "cot": ("lema.datagen.cli:cot", "CoT data: gold solutions + corrector paths"),
    "mix-pool": ("lema.datagen.cli:mix_pool", "training rows after the contamination check"),
    "cot-augment": (
        "lema.datagen.cli:cot_augment",
        "more corrector CoT paths, so cot_matched is distinct rows",
    ),
    "mix": ("lema.datagen.cli:mix", "a training mix (results/{task}/train/{mix}.jsonl)"),
    "stats": ("lema.datagen.cli:stats", "print the data-generation funnel per task"),
    "train": ("lema.training.cli", "fine-tune a LoRA/QLoRA adapter"),
    "merge": ("lema.training.cli:merge", "merge an adapter into its base model for serving"),
    "predict": (
        "lema.evaluation.cli:predict",
        "greedy-decode and grade a test set (predictions.parquet)",
    ),
    "eval": ("lema.evaluation.cli:eval", "grade a predictions file into metrics.json"),
    "summary": (
        "lema.evaluation.cli:summary",
        "the results table: results/summary.csv and summary.md",
    ),
    "plot": ("lema.evaluation.cli:plot", "PNG plots of pass@1 by backbone, mix and MATH level"),
    "report": (
        "lema.evaluation.cli:report",
        "HTML report pages: data funnel, mistake/correction pairs",
    ),
    "demo": ("lema.demo", "the whole graph on a small GSM8K/MATH slice with tiny models, on CPU"),
}


def command(target: str, part: str) -> Callable[..., Any]:
    """The ``part`` ("add_arguments" or "run") of the command ``target`` ("module" or
    "module:name"), importing its module."""
    module_name, _, name = target.partition(":")
    module = importlib.import_module(module_name)
    if name:
        part = "add_" + name + "_arguments" if part == "add_arguments" else f"{part}_{name}"
    return getattr(module, part)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lema", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (target, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_command=target)
        if name in sys.argv[1:2]:
            command(target, "add_arguments")(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    saved, sys.argv = sys.argv, [sys.argv[0], *argv]
    try:
        args = build_parser().parse_args(argv)
    finally:
        sys.argv = saved
    from lema.serving import serving

    try:
        with serving():  # a model the command serves itself stays up until it ends
            return int(command(args._command, "run")(args) or 0)
    except LemaError as exc:
        print(f"lema {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lema {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
