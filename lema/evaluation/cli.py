"""The evaluation commands: `lema predict`, `eval`, `summary`, `plot` and `report`, one
section each (``add_<name>_arguments(parser)``, ``run_<name>(args) -> int``, named in
lema.cli's table as ``lema.evaluation.cli:<name>``).

Each turns its flags into the typed arguments of its library (lema.evaluation.predict,
metrics, summary, plot, report) and prints a one-line result. Library modules are imported by
the command that runs them: `lema summary` needs no grader, `lema predict` no matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lema.errors import DataError, LemaError
from lema.tasks import TASKS as BUILTIN_TASKS
from lema.tasks import task_arg

TASKS = list(BUILTIN_TASKS)


# ---------------------------------------------------------------------------------- `lema predict`
def add_predict_arguments(parser: argparse.ArgumentParser) -> None:
    from lema.evaluation.metrics import DEFAULT_TIMEOUT_S

    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--test", required=True, help="test table (data/raw/{task}/test.parquet)")
    parser.add_argument("--output", "-o", required=True, help="predictions.parquet to write")
    parser.add_argument(
        "--spec", help="model spec as JSON (what the rule passes); overrides the options below"
    )
    parser.add_argument("--backend", choices=["hf", "openai"], default="hf")
    parser.add_argument(
        "--model", help="hf: base model id or folder; openai: the model name to send"
    )
    parser.add_argument("--adapter", help="hf: LoRA adapter folder (omit for the base model)")
    parser.add_argument("--base-url", help="openai: the endpoint, e.g. http://localhost:8000/v1")
    parser.add_argument(
        "--api-key-env", default="OPENAI_API_KEY", help="openai: env variable holding the key"
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="hf: prompts per generate() batch"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="openai: requests in flight")
    parser.add_argument("--max-tokens", type=int, default=None, help="default: 512 GSM8K, 768 MATH")
    parser.add_argument("--limit", type=int, default=None, help="decode only the first N problems")
    parser.add_argument(
        "--samples",
        type=int,
        default=None,
        help="also sample N completions per problem for pass@k / maj@k (N > 1; default: the "
        "spec's `samples` entry, else none: greedy only)",
    )
    parser.add_argument(
        "--temperature", type=float, default=None, help="of the samples (default 0.7)"
    )
    parser.add_argument("--top-p", type=float, default=None, help="of the samples (default 1.0)")
    parser.add_argument("--seed", type=int, default=None, help="of the samples (default 0)")
    parser.add_argument(
        "--cache",
        default=None,
        help="response cache (SQLite; default: $LEMA_CACHE or .lema-cache/responses.sqlite)",
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="decode everything, read and write no cache"
    )
    parser.add_argument(
        "--operational",
        default=None,
        help="JSON of settings that change no output (cache, endpoint, batch size): what the "
        "rules pass instead of params (lema.workflow)",
    )
    parser.add_argument("--stats", default=None, help="write decoding stats JSON here")
    parser.add_argument("--workers", type=int, default=None, help="grading processes")
    parser.add_argument(
        "--grade-timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per item"
    )
    parser.add_argument("--progress", action="store_true", help="show a progress bar")


def flag_spec(args: argparse.Namespace) -> dict[str, Any]:
    """The decoding spec spelled by `lema predict`'s flags (when there is no ``--spec``)."""
    if not args.model:
        raise LemaError("pass --model (or --spec)")
    spec = {"name": args.model, "backend": args.backend, "model": args.model, "chat": False}
    if args.backend == "hf":
        spec["batch_size"] = args.batch_size
        if args.adapter:
            spec["adapter"] = args.adapter
    else:
        if not args.base_url:
            raise LemaError("--backend openai needs --base-url")
        spec.update(
            base_url=args.base_url, api_key_env=args.api_key_env, concurrency=args.concurrency
        )
    return spec


def flag_samples(args: argparse.Namespace, spec: dict[str, Any]) -> Any:
    """The :class:`~lema.evaluation.predict.Samples` of `lema predict`: the spec's ``samples``
    entry with the sampling flags over it; None when neither asks for samples (or
    ``--samples 1``)."""
    from lema.evaluation.predict import Samples

    _, base = Samples.from_spec(spec)
    n = args.samples if args.samples is not None else (base.n if base else 1)
    if n < 1:
        raise LemaError(f"--samples must be at least 1, got {n}")
    flags = {"temperature": args.temperature, "top_p": args.top_p, "seed": args.seed}
    if n == 1:
        given = [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None]
        if given:
            raise LemaError(
                f"{', '.join(given)} set(s) the samples; pass --samples N (N > 1) with it "
                "(the greedy completion is always decoded at temperature 0)"
            )
        return None
    values = base.as_dict() if base else {}
    values.update({k: v for k, v in flags.items() if v is not None}, n=n)
    return Samples(**values)


def run_predict(args: argparse.Namespace) -> int:
    from lema.evaluation.metrics import compute_metrics
    from lema.evaluation.predict import DEFAULT_MAX_TOKENS, Samples, predict
    from lema.models.cli import model_call

    spec, cache = model_call(args, evaluation=True)
    spec = spec if spec is not None else flag_spec(args)
    samples = flag_samples(args, spec)
    spec, _ = Samples.from_spec(spec)
    graded = predict(
        args.test,
        args.task,
        spec,
        args.output,
        limit=args.limit,
        max_tokens=args.max_tokens or DEFAULT_MAX_TOKENS[args.task],
        cache=False if args.no_cache else cache,
        workers=args.workers,
        grade_timeout_s=args.grade_timeout,
        stats=args.stats,
        progress=args.progress,
        samples=samples,
    )
    m = compute_metrics(graded)
    print(
        f"lema predict: {args.task} {m['n']} problems, pass@1 {m['pass@1']:.2f}%"
        f"{sampled_text(m)} -> {args.output}"
    )
    return 0


def sampled_text(m: dict[str, Any]) -> str:
    """The ", pass@n X%, maj@n Y% (n samples)" of metrics with samples, else nothing."""
    if "samples" not in m:
        return ""
    n = str(m["samples"]["n"])
    return (
        f", pass@{n} {m['pass@k'][n]['value']:.2f}%, maj@{n} {m['maj@k'][n]['value']:.2f}%"
        f" ({n} samples)"
    )


# ------------------------------------------------------------------------------------- `lema eval`
def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    from lema.evaluation.metrics import DEFAULT_TIMEOUT_S

    parser.add_argument(
        "predictions", help="predictions file (.parquet, .jsonl or .csv) with completion and gold"
    )
    parser.add_argument("--task", type=task_arg, help="task (default: from the path)")
    parser.add_argument("--output", "-o", help="write metrics.json here (default: print only)")
    parser.add_argument(
        "--graded-output", help="also write the re-graded predictions (Parquet) here"
    )
    parser.add_argument(
        "--backbone", help="backbone name recorded in metrics.json (default: from the path)"
    )
    parser.add_argument("--mix", help="mix name recorded in metrics.json (default: from the path)")
    parser.add_argument("--model", help="base model id recorded in metrics.json")
    parser.add_argument(
        "--benchmark",
        help="the evaluation-only benchmark recorded in metrics.json (default: from the path)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="grading processes (default: CPUs, max 8)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="seconds per item before it counts as wrong",
    )


def run_eval(args: argparse.Namespace) -> int:
    from lema.evaluation.metrics import evaluate_file
    from lema.workflow.paths import eval_context

    inferred = eval_context(args.predictions)  # task / backbone / mix from the path
    flags = {
        "backbone": args.backbone,
        "mix": args.mix,
        "model": args.model,
        "benchmark": args.benchmark,
    }
    task = args.task or inferred.get("task")
    if task is None:
        raise DataError(
            f"{args.predictions}: cannot tell the task from the path; pass --task gsm8k|math"
        )
    metrics = evaluate_file(
        args.predictions,
        task,
        output=args.output,
        graded_output=args.graded_output,
        workers=args.workers,
        timeout_s=args.timeout,
        meta={**inferred, **{k: v for k, v in flags.items() if v is not None}},
    )
    line = (
        f"{task}: pass@1 {metrics['pass@1']:.2f}% ({metrics['correct']}/{metrics['n']}), "
        f"paper rule {_pct_text(metrics['pass@1_paper_rule'])}, "
        f"no answer {metrics['no_answer_rate']:.2f}%"
        f"{sampled_text(metrics)}"
    )
    if metrics.get("timeouts"):
        line += f", {metrics['timeouts']} timed out"
    print(line, file=sys.stderr if args.output else sys.stdout)
    return 0


def _pct_text(value: float | None) -> str:
    """``12.50%``, or ``none`` for a figure that has no meaning here (null in metrics.json)."""
    return "none" if value is None else f"{value:.2f}%"


# ---------------------------------------------------------------------------------- `lema summary`
def add_summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "metrics",
        nargs="*",
        help="metrics.json files (from lema eval); .parquet files among them are the "
        "predictions beside them (default: each folder's predictions.parquet), read for the "
        "paired tests",
    )
    parser.add_argument("--csv", default="results/summary.csv", help="CSV output")
    parser.add_argument("--md", default="results/summary.md", help="Markdown output")
    parser.add_argument("--html", default=None, help="also write an HTML table (for the report)")


def run_summary(args: argparse.Namespace) -> int:
    from lema.evaluation.summary import write_summary

    frame = write_summary(args.metrics, args.csv, args.md, args.html)
    print(f"lema summary: {frame.height} rows -> {args.csv}, {args.md}")
    return 0


# ------------------------------------------------------------------------------------- `lema plot`
def add_plot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "metrics",
        nargs="*",
        help="metrics.json files (from lema eval), and the mixes' *.stats.json (lema mix) for "
        "the size curve's training-set sizes",
    )
    parser.add_argument(
        "--accuracy", default="results/plots/accuracy.png", help="PNG: pass@1 by backbone and mix"
    )
    parser.add_argument("--levels", default=None, help="PNG: MATH pass@1 by level (omit to skip)")
    parser.add_argument(
        "--size-curve", default=None, help="PNG: pass@1 by training-set size (omit to skip)"
    )


def run_plot(args: argparse.Namespace) -> int:
    from lema.evaluation.plot import plot_accuracy, plot_levels, plot_size_curve
    from lema.io import read_json

    files = [(p, read_json(p)) for p in args.metrics]
    metrics = [d for p, d in files if not str(p).endswith(".stats.json")]
    rows_of = {
        (d.get("task"), d.get("mix")): int(d["kept"])
        for p, d in files
        if str(p).endswith(".stats.json") and d.get("stage") == "mix"
    }
    plot_accuracy(metrics, args.accuracy)
    written = [args.accuracy]
    if args.levels:
        plot_levels(metrics, args.levels)
        written.append(args.levels)
    if args.size_curve:
        plot_size_curve(metrics, args.size_curve, rows_of)
        written.append(args.size_curve)
    print(f"lema plot: wrote {', '.join(written)}")
    return 0


# ----------------------------------------------------------------------------------- `lema report`
def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="page", required=True)
    f = sub.add_parser(
        "funnel", help="the data-generation funnel from the stages' stats JSON files"
    )
    f.add_argument("--results", default="results", help="results folder (default: results)")
    f.add_argument("--task", action="append", type=task_arg, required=True, help="repeatable")
    f.add_argument("--output", "-o", required=True)
    c = sub.add_parser("corrections", help="a sample of mistake/correction pairs")
    c.add_argument("tables", nargs="*", help="corrections Parquet files")
    c.add_argument(
        "--glob",
        action="append",
        default=[],
        help="also read files matching this glob (repeatable)",
    )
    c.add_argument("-n", type=int, default=20, help="pairs to show")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--output", "-o", required=True)


def expand(files: list[str], globs: list[str]) -> list[str]:
    """``files`` and then the files each glob matches, in order, each once."""
    out = list(files)
    for pattern in globs:
        out += sorted(str(p) for p in Path().glob(pattern))
    seen: set[str] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def run_report(args: argparse.Namespace) -> int:
    from lema.evaluation.report import corrections_html, funnel_html
    from lema.io import write_text

    if args.page == "funnel":
        write_text(args.output, funnel_html(args.results, args.task))
        print(f"lema report funnel: {', '.join(args.task)} -> {args.output}")
    else:
        from lema.workflow.paths import task_of

        files = expand(args.tables, args.glob)
        tables = [(task_of(p), p) for p in files]
        write_text(args.output, corrections_html(tables, n=args.n, seed=args.seed))
        print(f"lema report corrections: {len(files)} tables -> {args.output}")
    return 0
