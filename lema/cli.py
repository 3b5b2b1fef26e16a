"""The `lema` command. Each subcommand lives in its own module, which defines
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when used,
so `lema --help` stays fast and a missing optional dependency affects only its command."""

from __future__ import annotations

import argparse
import importlib
import sys

from lema.errors import LemaError

# name -> (module, one-line help). Later stages add their command here.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("lema.data", "build a raw-data table (data/raw/{task}/{split}.parquet)"),
    "check-config": ("lema.config_cli", "validate a config file and print it with defaults"),
    "generate": (
        "lema.generate_cli",
        "completions for a JSONL of requests (hf/openai/file, cached)",
    ),
    "tiny-model": ("lema.tiny", "build a tiny random-init LLaMA model and tokenizer"),
    "sample": ("lema.sampling", "sample and grade reasoning paths (…/paths/{generator}.parquet)"),
    "mistakes": ("lema.sampling", "the wrong paths, de-duplicated and capped"),
    "correct": ("lema.correction", "corrections of mistakes, parsed and filtered"),
    "evolve": ("lema.evolve", "correction-centric evolution: new questions"),
    "cot": ("lema.cot", "CoT data: gold solutions + corrector paths"),
    "mix-pool": ("lema.mixes", "training rows after the contamination check"),
    "mix": ("lema.mixes", "a training mix (results/{task}/train/{mix}.jsonl)"),
    "stats": ("lema.stats", "print the data-generation funnel per task"),
    "predict": ("lema.evaluate", "greedy-decode and grade a test set (predictions.parquet)"),
    "eval": ("lema.metrics", "grade a predictions file into metrics.json"),
    "summary": ("lema.summary", "the results table: results/summary.csv and summary.md"),
    "plot": ("lema.plot", "PNG plots of pass@1 by backbone, mix and MATH level"),
    "report": ("lema.report", "HTML report pages: data funnel, mistake/correction pairs"),
    "train": ("lema.train", "fine-tune a LoRA/QLoRA adapter"),
    "merge": ("lema.merge", "merge an adapter into its base model for serving"),
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
