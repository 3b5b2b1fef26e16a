"""`lema train`: fine-tune one LoRA / QLoRA adapter for a backbone × task × mix.

Output (``--out``, written atomically at the end): a PEFT adapter folder
(``adapter_config.json`` + ``adapter_model.safetensors``), ``settings.json``
(the exact resolved settings, library versions and the mix's checksum) and ``metrics.json``
(loss curve, tokens seen, wall time, peak memory, and `rows`: rows in, trained, prompts trimmed
from the left, rows dropped by reason — a completion over its limit would lose its final answer).

Intermediate checkpoints go to ``--checkpoints`` — a folder that is *not* a Snakemake output —
so a killed or pre-empted job, rerun with the same settings, resumes from its last complete
checkpoint with the same total step count. Checkpoints written under different settings or
another mix are discarded, never resumed. The library behind this command is
:func:`lema.training.run.train`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lema.errors import ConfigError
from lema.tasks import task_arg
from lema.training.run import train
from lema.training.settings import TrainingSettings, validate_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, type=task_arg)
    parser.add_argument("--backbone", required=True, help="backbone name (config `backbones`)")
    parser.add_argument("--mix", required=True, help="training mix JSONL (prompt/completion rows)")
    parser.add_argument("--out", required=True, help="adapter folder to write")
    parser.add_argument(
        "--settings",
        help="resolved training settings as JSON (what the Snakemake rule passes); "
        "default: resolve them from --config",
    )
    parser.add_argument("--config", default="config.yaml", help="config file (when no --settings)")
    parser.add_argument(
        "--model",
        help="base model: HF id or local folder (default: the backbone's `model` in the config)",
    )
    parser.add_argument(
        "--checkpoints",
        help="folder for intermediate checkpoints, outside the output "
        "(default: results/{task}/checkpoints/{backbone}/{mix name})",
    )
    parser.add_argument(
        "--keep-checkpoints",
        action="store_true",
        help="keep intermediate checkpoints after the adapter is written",
    )


def run(args: argparse.Namespace) -> int:
    mix = Path(args.mix)
    settings, model = _settings_and_model(args)
    checkpoints = args.checkpoints or _default_checkpoints(args.task, args.backbone, mix)
    train(
        task=args.task,
        backbone=args.backbone,
        model=model,
        mix=mix,
        out=Path(args.out),
        settings=settings,
        checkpoints=Path(checkpoints),
        keep_checkpoints=args.keep_checkpoints,
    )
    return 0


def _settings_and_model(args: argparse.Namespace) -> tuple[TrainingSettings, str]:
    """The resolved settings (``--settings``, else from ``--config``) and the base model
    (``--model``, else the settings' or the config backbone's `model`)."""
    if args.settings is not None:
        try:
            raw = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--settings: not valid JSON ({exc.msg})") from None
        settings = validate_settings(raw, args.backbone)
        model = args.model or settings.get("model")
    else:
        from lema.config import backbone_training, load_config

        config = load_config(args.config)
        settings = backbone_training(config, args.backbone, args.task)
        model = args.model or config["backbones"][args.backbone].get("model")
    if not model:
        raise ConfigError(
            f"backbone '{args.backbone}': no base model "
            f"(pass --model, e.g. results/models/{args.backbone})"
        )
    return settings, str(model)


def _default_checkpoints(task: str, backbone: str, mix: Path) -> str:
    """Where checkpoints go when ``--checkpoints`` is not given: the folder the `train` rule
    passes (lema.workflow.paths.checkpoints_folder)."""
    from lema.workflow.paths import checkpoints_folder

    return checkpoints_folder(task, backbone, mix.stem)


# `lema merge`
def add_merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, help="adapter folder written by `lema train`")
    parser.add_argument("--out", required=True, help="folder for the merged model")
    parser.add_argument(
        "--model", help="base model (default: the `model` recorded in the adapter's settings.json)"
    )
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16", "float16"],
        default="auto",
        help="weights dtype of the merged model (auto: bfloat16 on CUDA, float32 elsewhere)",
    )


def run_merge(args: argparse.Namespace) -> int:
    from lema.training.merge import merge

    merge(Path(args.adapter), Path(args.out), model=args.model, dtype=args.dtype)
    return 0
