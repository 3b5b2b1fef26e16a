"""The data-generation commands: `lema sample`, `mistakes`, `correct`, `evolve`, `cot`,
`mix-pool`, `cot-augment`, `mix` and `stats`, one section each (``add_<name>_arguments(parser)``,
``run_<name>(args) -> int``, named in lema.cli's table as ``lema.datagen.cli:<name>``).

Each reads its inputs, calls its stage's library function (lema.datagen.sampling, correction,
evolve, cot, mixes, funnel) and writes the output table with its ``*.stats.json``. Stage
modules are imported by the command that runs them, so one command's help stays light.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lema.errors import LemaError
from lema.models import ModelCall
from lema.models.cli import add_model_call_arguments, model_call
from lema.tasks import TASKS as BUILTIN_TASKS
from lema.tasks import task_arg

if TYPE_CHECKING:
    from lema.datagen.funnel import Funnel

TASKS = list(BUILTIN_TASKS)


# ----------------------------------------------------------------------------------------- shared
def model_of(args: argparse.Namespace, top_p: float | None = None) -> ModelCall | None:
    """The stage's model call from the shared options (None without ``--spec``)."""
    spec, cache = model_call(args)
    if spec is None:
        return None
    return ModelCall(
        spec,
        cache,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        top_p=top_p,
        progress=args.progress,
    )


def required_model(args: argparse.Namespace, top_p: float | None = None) -> ModelCall:
    """:func:`model_of` for a command that needs ``--spec`` (argparse or the command has
    checked that it is there)."""
    model = model_of(args, top_p)
    if model is None:
        raise LemaError("--spec is required")
    return model


def write_outputs(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    schema: dict[str, Any],
    funnel: Funnel,
    model: ModelCall | None = None,
) -> int:
    """Write ``rows`` (a table of ``schema``) to ``--output`` and the funnel, with the
    model's tokens and cost, to the stats file."""
    from lema.tables import write_table

    write_table(args.output, rows, schema)
    funnel.write(stats_of(args), model.usage if model is not None else None)
    return 0


def stats_of(args: argparse.Namespace) -> str | Path:
    """The stats file: ``--stats``, else beside ``--output``."""
    from lema.tables import stats_path_for

    return args.stats or stats_path_for(args.output)


# ----------------------------------------------------------------- `lema sample`, `lema mistakes`
def add_sample_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lema sample` and `lema mistakes` (one set; each uses its own)."""
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--questions", help="raw train table or evolved questions parquet")
    parser.add_argument("--spec", help="the generator's model spec (JSON)")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default=None, help="prompt file (default sample_{task}.txt)")
    parser.add_argument("--cache", default=None, help="response cache path")
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output (cache path, model knobs; lema.workflow)",
    )
    parser.add_argument("--threads", type=int, default=1, help="grading worker processes")
    parser.add_argument("--paths", help="(mistakes) the graded paths parquet")
    parser.add_argument("--max-per-question", type=int, default=None)
    parser.add_argument("--output", required=True)
    parser.add_argument("--stats", default=None)
    parser.add_argument("--progress", action="store_true")


add_mistakes_arguments = add_sample_arguments


def run_sample(args: argparse.Namespace) -> int:
    from lema.datagen.sampling import load_questions, sample_paths
    from lema.tables import PATH_SCHEMA

    if not args.questions or not args.spec:
        raise LemaError("--questions and --spec are required")
    model = required_model(args, top_p=args.top_p)
    rows, funnel = sample_paths(
        load_questions(args.questions),
        args.task,
        model,
        k=args.k,
        prompt=args.prompt or f"sample_{args.task}.txt",
        workers=max(1, min(args.threads, os.cpu_count() or 1)),
    )
    return write_outputs(args, rows, PATH_SCHEMA, funnel, model)


def run_mistakes(args: argparse.Namespace) -> int:
    from lema.datagen.sampling import select_mistakes
    from lema.io import write_parquet
    from lema.tables import PATH_SCHEMA, read_table, without_choices

    paths = read_table(args.paths, required=without_choices(PATH_SCHEMA))
    mistakes, funnel = select_mistakes(paths, args.max_per_question)
    funnel.meta["task"] = args.task
    if not funnel.meta.get("generator"):
        funnel.meta["generator"] = Path(args.paths).name.split(".")[0]
    write_parquet(args.output, mistakes)
    funnel.write(stats_of(args))
    return 0


# --------------------------------------------------------------------------------- `lema correct`
def add_correct_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--mistakes", required=True, help="mistakes parquet (lema mistakes)")
    parser.add_argument("--spec", required=True, help="the corrector's model spec (JSON)")
    parser.add_argument("--prompt", default=None, help="prompt file (default correct_{task}.txt)")
    add_model_call_arguments(parser, temperature=0.0)


def run_correct(args: argparse.Namespace) -> int:
    from lema.datagen.correction import correct_mistakes
    from lema.tables import (
        CORRECTION_SCHEMA,
        GOLD,
        PATH,
        PATH_ID,
        QUESTION,
        QUESTION_ID,
        read_table,
    )

    mistakes = read_table(args.mistakes, required=(PATH_ID, QUESTION_ID, QUESTION, GOLD, PATH))
    model = required_model(args)
    prompt = args.prompt or f"correct_{args.task}.txt"
    rows, funnel = correct_mistakes(mistakes, args.task, model, prompt=prompt)
    return write_outputs(args, rows, CORRECTION_SCHEMA, funnel, model)


# ---------------------------------------------------------------------------------- `lema evolve`
def add_evolve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--corrections", nargs="+", required=True, help="corrections parquet(s)")
    parser.add_argument("--spec", required=True, help="the corrector's model spec (JSON)")
    parser.add_argument("--prompt", default=None, help="default evolve_{task}.txt")
    parser.add_argument("--cot-prompt", default=None, help="default cot_{task}.txt")
    parser.add_argument("--new-per-seed", type=int, default=1)
    parser.add_argument("--max-seeds", type=int, default=None)
    parser.add_argument("--votes", type=int, default=5)
    parser.add_argument("--min-agreement", type=float, default=0.6)
    add_model_call_arguments(parser, temperature=0.7)


def run_evolve(args: argparse.Namespace) -> int:
    import polars as pl

    from lema.datagen.evolve import evolve
    from lema.tables import EVOLVED_SCHEMA, EXPLANATION, KEPT, QUESTION, QUESTION_ID, read_table
    from lema.tasks import kind_of, multiple_choice

    if multiple_choice(kind_of(args.task)):
        raise LemaError(
            f"task '{args.task}': evolution writes no new questions for a multiple-choice task "
            "(each would need its own candidate answers); the workflow leaves it out"
        )
    required = (QUESTION_ID, QUESTION, KEPT, EXPLANATION)
    frames = [read_table(p, required=required) for p in args.corrections]
    corrections = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    model = required_model(args)
    rows, funnel = evolve(
        corrections,
        args.task,
        model,
        prompt=args.prompt or f"evolve_{args.task}.txt",
        cot_prompt=args.cot_prompt or f"cot_{args.task}.txt",
        new_per_seed=args.new_per_seed,
        max_seeds=args.max_seeds,
        votes=args.votes,
        min_agreement=args.min_agreement,
        seed=args.seed,
    )
    return write_outputs(args, rows, EVOLVED_SCHEMA, funnel, model)


# ------------------------------------------------------------------------------------- `lema cot`
def add_cot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--questions", required=True, help="raw train table")
    parser.add_argument("--spec", default=None, help="the corrector's model spec (JSON)")
    parser.add_argument("--n", type=int, default=1, help="corrector paths per question")
    parser.add_argument("--prompt", default=None, help="default cot_{task}.txt")
    add_model_call_arguments(parser, temperature=0.7)


def run_cot(args: argparse.Namespace) -> int:
    from lema.datagen.cot import build_cot
    from lema.tables import COT_SCHEMA, GOLD, ID, QUESTION, SOLUTION, read_table, rows_with_gold

    questions = rows_with_gold(read_table(args.questions, required=(ID, QUESTION, SOLUTION, GOLD)))
    model = model_of(args)
    prompt = args.prompt or f"cot_{args.task}.txt"
    rows, funnel = build_cot(questions, args.task, model, n=args.n, prompt=prompt)
    return write_outputs(args, rows, COT_SCHEMA, funnel, model)


# ----------------------------------------------------------------------------- `lema cot-augment`
def _augment_paths(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit():
        raise argparse.ArgumentTypeError("'auto' or a number of paths per question")
    return int(value)


def add_cot_augment_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--cot", required=True, help="cot.parquet (lema cot)")
    parser.add_argument("--pool", required=True, help="the pool parquet (lema mix-pool)")
    parser.add_argument("--spec", default=None, help="the corrector's model spec (JSON)")
    parser.add_argument(
        "--paths", type=_augment_paths, default="auto", help="extra paths per question, or auto"
    )
    parser.add_argument(
        "--base-n", type=int, default=1, help="paths per question `lema cot` sampled (--n)"
    )
    parser.add_argument("--margin", type=int, default=1, help="auto: extra paths per question")
    parser.add_argument("--max-paths", type=int, default=32, help="auto: at most this many")
    parser.add_argument("--prompt", default=None, help="default cot_{task}.txt")
    add_model_call_arguments(parser, temperature=0.7)


def run_cot_augment(args: argparse.Namespace) -> int:
    from lema.datagen.cot import augment_cot
    from lema.tables import COT_SCHEMA, POOL_SCHEMA, read_table, without_choices

    model = model_of(args)
    rows, funnel = augment_cot(
        read_table(args.cot, required=without_choices(COT_SCHEMA)),
        read_table(args.pool, required=POOL_SCHEMA),
        args.task,
        model,
        paths=args.paths,
        base_n=args.base_n,
        margin=args.margin,
        max_paths=args.max_paths,
        prompt=args.prompt or f"cot_{args.task}.txt",
    )
    return write_outputs(args, rows, COT_SCHEMA, funnel, model)


# -------------------------------------------------------------------- `lema mix-pool`, `lema mix`
def add_mix_pool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `lema mix-pool` and `lema mix` (one set; each uses its own)."""
    from lema.datagen.mixes import MIX_KINDS

    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--cot", help="(mix-pool) cot.parquet")
    parser.add_argument(
        "--corrections", nargs="*", default=[], help="(mix-pool) corrections parquets"
    )
    parser.add_argument("--tests", nargs="*", default=[], help="(mix-pool) raw test tables")
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument(
        "--evolution", default=None, help="(mix-pool) evolution status note for the stats"
    )
    parser.add_argument("--pool", help="(mix) the pool parquet")
    parser.add_argument(
        "--mix", help=f"(mix) which mix: {', '.join(MIX_KINDS)}, or cot_nN / lema_nN (N rows)"
    )
    parser.add_argument(
        "--augmented", default=None, help="(mix cot_matched) the augmented CoT parquet"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", required=True)
    parser.add_argument("--stats", default=None)


add_mix_arguments = add_mix_pool_arguments


def run_mix_pool(args: argparse.Namespace) -> int:
    from lema.datagen.mixes import build_pool, collect_rows, load_tests
    from lema.tables import POOL_SCHEMA
    from lema.workflow.paths import qset_of

    if not args.tests:
        raise LemaError("--tests: at least one test table is needed for the contamination check")
    corrections = [(p, qset_of(p)) for p in args.corrections]
    rows = collect_rows(args.cot, corrections, args.task)
    kept, funnel = build_pool(rows, load_tests(args.tests), args.ngram, args.threshold, args.task)
    if args.evolution:
        funnel.extra["evolution"] = args.evolution
    return write_outputs(args, kept, POOL_SCHEMA, funnel)


def run_mix(args: argparse.Namespace) -> int:
    from lema.datagen.mixes import build_mix, known_mix, mix_funnel, mix_notes
    from lema.io import write_jsonl
    from lema.tables import COT_SCHEMA, POOL_SCHEMA, read_table, stats_path_for, without_choices

    if not args.pool or not args.mix:
        raise LemaError("--pool and --mix are required")
    if not known_mix(args.mix):
        raise LemaError(f"--mix {args.mix}: unknown mix")
    pool = read_table(args.pool, required=POOL_SCHEMA)
    augmented = (
        read_table(args.augmented, required=without_choices(COT_SCHEMA)) if args.augmented else None
    )
    rows = build_mix(pool, args.mix, args.seed, augmented)
    write_jsonl(args.output, rows)
    augment_stats = stats_path_for(args.augmented) if args.augmented else None
    notes = mix_notes(rows, args.mix, pool, augment_stats)
    funnel = mix_funnel(rows, args.task, args.mix, stats_path_for(args.pool), notes)
    funnel.write(stats_of(args))
    return 0


# ----------------------------------------------------------------------------------- `lema stats`
def add_stats_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", nargs="?", default="results", help="results folder (default: results)"
    )
    parser.add_argument("--task", action="append", help="only this task (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the collected stats as JSON")


def run_stats(args: argparse.Namespace) -> int:
    from lema.datagen.funnel import collect, table
    from lema.workflow import paths

    root = Path(args.results)
    if not root.is_dir():
        raise LemaError(f"{root}: no such results folder")
    tasks = args.task or sorted(
        p.name for p in root.iterdir() if p.is_dir() and p.name in paths.TASKS
    )
    if not tasks:
        raise LemaError(f"{root}: no task folders (gsm8k, math) with stats yet")
    out: dict[str, Any] = {}
    for task in tasks:
        rows = collect(root, task)
        if args.json:
            out[task] = [{"stage": a, "source": b, **c} for a, b, c in rows]
        else:
            print(table(task, rows))
            print()
    if args.json:
        print(json.dumps(out, indent=2))
    return 0
