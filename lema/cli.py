"""The `lema` command. Each subcommand lives in its own module, which defines
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when used,
so `lema --help` stays fast and a missing optional dependency affects only its command."""

from __future__ import annotations

import argparse
import importlib
import sys

from lema.errors import LemaError

# name -> (module, one-line help), in the order of the method. Each module is a thin command
# layer (`add_arguments`, `run`) over its package's library functions.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": ("lema.config.cli", "validate a config file and print it with defaults"),
    "data": ("lema.data.cli", "build a raw-data table (data/raw/{task}/{split}.parquet)"),
    "tiny-model": ("lema.models.tiny", "build a tiny random-init LLaMA model and tokenizer"),
    "generate": (
        "lema.models.cli",
        "completions for a JSONL of requests (hf/openai/file, cached)",
    ),
    "sample": (
        "lema.datagen.sampling",
        "sample and grade reasoning paths (…/paths/{generator}.parquet)",
    ),
    "mistakes": ("lema.datagen.sampling", "the wrong paths, de-duplicated and capped"),
    "correct": ("lema.datagen.correction", "corrections of mistakes, parsed and filtered"),
    "evolve": ("lema.datagen.evolve", "correction-centric evolution: new questions"),
    "cot": ("lema.datagen.cot", "CoT data: gold solutions + corrector paths"),
    "mix-pool": ("lema.datagen.mixes", "training rows after the contamination check"),
    "mix": ("lema.datagen.mixes", "a training mix (results/{task}/train/{mix}.jsonl)"),
    "stats": ("lema.datagen.funnel", "print the data-generation funnel per task"),
    "train": ("lema.training.cli", "fine-tune a LoRA/QLoRA adapter"),
    "merge": ("lema.training.merge", "merge an adapter into its base model for serving"),
    "predict": (
        "lema.evaluation.predict",
        "greedy-decode and grade a test set (predictions.parquet)",
    ),
    "eval": ("lema.evaluation.metrics", "grade a predictions file into metrics.json"),
    "summary": (
        "lema.evaluation.summary",
        "the results table: results/summary.csv and summary.md",
    ),
    "plot": ("lema.evaluation.plot", "PNG plots of pass@1 by backbone, mix and MATH level"),
    "report": (
        "lema.evaluation.report",
        "HTML report pages: data funnel, mistake/correction pairs",
    ),
    "demo": ("lema.demo", "the whole graph on a small GSM8K/MATH slice with tiny models, on CPU"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lema", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = None
        if name in sys.argv[1:2]:
            module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if module is not None:
            module.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    saved, sys.argv = sys.argv, [sys.argv[0], *argv]
    try:
        args = build_parser().parse_args(argv)
    finally:
        sys.argv = saved
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except LemaError as exc:
        print(f"lema {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"lema {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
