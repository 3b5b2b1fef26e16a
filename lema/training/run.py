"""The trainer run: one LoRA / QLoRA adapter for a backbone × task × mix.

    from lema.training import train, validate_settings

    metrics = train(
        task="gsm8k", backbone="llama2-7b", model="meta-llama/Llama-2-7b-hf",
        mix=Path("results/gsm8k/train/lema.jsonl"),
        out=Path("results/gsm8k/adapters/llama2-7b/lema"),
        settings=validate_settings(resolved, "llama2-7b"),
        checkpoints=Path("results/gsm8k/checkpoints/llama2-7b/lema"),
    )

Training uses TRL's ``SFTTrainer`` on prompt/completion rows tokenised by
:func:`lema.training.dataset.tokenize_mix` (prompt and completion limited separately: a long
prompt loses its beginning, a row whose completion would lose its end is dropped and counted in
metrics.json `rows`); the loss covers only the completion (+ EOS) tokens. Intermediate
checkpoints go to ``checkpoints``, outside ``out``, so a killed or pre-empted run resumes from
them (:mod:`lema.training.checkpoints`). ``out`` is written atomically at the end
(:mod:`lema.training.adapter`).

Multi-GPU: run under ``accelerate launch --num_processes N -m lema.cli train ...``; each process
loads the model on its own GPU and only the main process writes the output.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from lema.errors import DataError
from lema.training.adapter import METRICS_FILE, write_adapter
from lema.training.checkpoints import (
    FINAL_DIR,
    barrier,
    checkpoint_step,
    fingerprint,
    finished_adapter,
    make_callback,
    prepare_checkpoints,
    previous_time,
    publish,
    remove_checkpoints,
    stop_on_sigterm,
    stopped_error,
)
from lema.training.dataset import (
    RowCounts,
    TokenizedMix,
    TrainingMix,
    describe_counts,
    load_mix,
    tokenize_mix,
)
from lema.training.model import check_model_path, keep_adapter_fp32, load_model, load_tokenizer
from lema.training.settings import (
    Runtime,
    TrainingSettings,
    mixed_precision,
    resolve_runtime,
    sft_config,
)

if TYPE_CHECKING:
    from trl import SFTTrainer


class LossPoint(TypedDict, total=False):
    step: int
    epoch: float
    loss: float
    learning_rate: float
    grad_norm: float


class TrainingMetrics(TypedDict):
    """The adapter's metrics.json (in this key order)."""

    loss_curve: list[LossPoint]
    train_loss: float
    global_step: int
    max_steps: int
    epochs: float
    train_rows: int
    rows: RowCounts
    tokens_seen: int
    tokens_seen_this_run: int
    train_time_s: float
    total_train_time_s: float
    tokens_per_s: float | None
    resumed_from_step: int | None
    peak_rss_mb: float
    peak_gpu_allocated_mb: NotRequired[float]
    peak_gpu_reserved_mb: NotRequired[float]
    device: str
    num_processes: int


@dataclass(frozen=True)
class _Fit:
    """What one ``trainer.train`` call did."""

    training_loss: float
    elapsed: float
    previous_time: float
    resumed_from: int | None


def train(
    *,
    task: str,
    backbone: str,
    model: str,
    mix: Path,
    out: Path,
    settings: TrainingSettings,
    checkpoints: Path,
    keep_checkpoints: bool = False,
) -> TrainingMetrics:
    """Train one adapter into ``out`` (resuming from ``checkpoints`` when they hold a run of
    the same fingerprint); return its metrics. ``settings`` come from
    :func:`~lema.training.settings.validate_settings`."""
    data = load_mix(mix)  # fail fast, before the heavy imports
    check_model_path(model)

    # bitsandbytes warns at import on AVX512-BF16 CPUs that its optional inference kernel
    # package is missing; training never uses that path (model._disable_avx512bf16_repacking)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import torch
    from accelerate import PartialState
    from transformers import set_seed

    state = PartialState()
    cuda = torch.cuda.is_available()
    runtime = resolve_runtime(settings, state.num_processes, cuda, backbone)
    main = state.is_main_process
    tokenizer = load_tokenizer(model)
    rows = prepare_rows(data, tokenizer, settings, f"{task}/{backbone}", main)
    resume = prepare_checkpoints(
        checkpoints,
        fingerprint(
            task=task,
            backbone=backbone,
            model=model,
            mix_sha256=data.sha256,
            settings=settings,
            runtime=runtime,
        ),
        main,
    )
    restored = _restore_finished(checkpoints, out, main)
    if restored is not None:
        return restored
    set_seed(settings["seed"])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer = build_trainer(
        model,
        rows,
        tokenizer,
        settings=settings,
        runtime=runtime,
        checkpoints=checkpoints,
        cuda=cuda,
        backbone=backbone,
        local_rank=state.local_process_index,
    )
    fit = _fit(trainer, resume, checkpoints, main, distributed=state.num_processes > 1)
    metrics = _metrics(trainer, fit, rows.counts, settings, runtime, cuda)
    if main:
        resolved = _resolved_settings(task, backbone, model, data, settings, runtime, trainer)
        # first into the checkpoint folder, which outlives a job killed after this point
        write_adapter(trainer.model, checkpoints / FINAL_DIR, resolved, metrics)
        publish(checkpoints / FINAL_DIR, out)
        if not keep_checkpoints:
            remove_checkpoints(checkpoints)
    barrier()
    return metrics


def _restore_finished(checkpoints: Path, out: Path, main: bool) -> TrainingMetrics | None:
    """The metrics of the adapter this run already finished (its job killed before the output
    was accepted, or the output deleted since), linked into ``out`` again; None when there is
    none (:func:`~lema.training.checkpoints.finished_adapter`)."""
    final = finished_adapter(checkpoints, METRICS_FILE)
    if final is None:
        return None
    if main:
        publish(final, out)
        print(
            f"lema train: {out}: the adapter of these settings and this mix was finished before "
            f"({final}); linked into place, not trained again (delete {checkpoints} to train "
            "it again)",
            file=sys.stderr,
        )
    barrier()
    return json.loads((final / METRICS_FILE).read_text())


def prepare_rows(
    data: TrainingMix, tokenizer: Any, settings: TrainingSettings, name: str, main: bool
) -> TokenizedMix:
    """The mix's rows tokenised within the settings' prompt and completion limits; one line
    on stderr says what that cost (a warning when a row was trimmed or dropped). A mix with no
    row left raises DataError."""
    prepared = tokenize_mix(
        data.rows, tokenizer, settings["max_prompt_tokens"], settings["max_completion_tokens"]
    )
    counts = prepared.counts
    if not prepared.examples:
        raise DataError(f"{data.path}: no row fits the training limits ({describe_counts(counts)})")
    if main:
        lost = counts["prompt_truncated"] or any(counts["dropped"].values())
        print(
            f"lema train: {'warning: ' if lost else ''}{name}: {describe_counts(counts)}",
            file=sys.stderr,
        )
    return prepared


def build_trainer(
    model: str,
    rows: TokenizedMix,
    tokenizer: Any,
    *,
    settings: TrainingSettings,
    runtime: Runtime,
    checkpoints: Path,
    cuda: bool,
    backbone: str,
    local_rank: int,
) -> SFTTrainer:
    """TRL's ``SFTTrainer`` over the tokenised rows (``input_ids`` + ``completion_mask``: TRL
    masks the prompt out of the loss and, with ``max_length=None``, cuts nothing), with the
    LoRA-wrapped base model. The settings are checked (``SFTConfig``) before the possibly very
    large model is loaded."""
    from datasets import Dataset
    from trl import SFTTrainer

    # transformers 5 renamed gradient_checkpointing (-> activation_checkpointing); TRL and peft
    # still use the old names, which only warns
    warnings.filterwarnings(
        "ignore", message=".*deprecated and will be removed in v6", category=FutureWarning
    )
    args = sft_config(settings, runtime, checkpoints, cuda, backbone)
    peft_model = load_model(model, runtime, settings, local_rank)
    trainer = SFTTrainer(
        model=peft_model,
        args=args,
        train_dataset=Dataset.from_list(rows.examples),
        processing_class=tokenizer,
    )
    if not any(mixed_precision(runtime, cuda)):
        keep_adapter_fp32(trainer.model)
    return trainer


def _fit(
    trainer: SFTTrainer, resume: Path | None, checkpoints: Path, main: bool, distributed: bool
) -> _Fit:
    """Run the trainer (from ``resume`` if given) with SIGTERM saving a checkpoint and
    stopping; a stopped run raises LemaError saying where to resume."""
    resumed_from = None
    if resume is not None:
        resumed_from = checkpoint_step(resume)
        print(f"lema train: resuming from {resume} (step {resumed_from})", file=sys.stderr)
    before = previous_time(resume)
    started = time.perf_counter()
    callback = make_callback(started, before, main, distributed)
    trainer.add_callback(callback)
    with stop_on_sigterm(callback):
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed = time.perf_counter() - started
    if callback.stop_signal is not None:
        raise stopped_error(callback.stop_signal, trainer.state, checkpoints)
    return _Fit(result.training_loss, elapsed, before, resumed_from)


def _metrics(
    trainer: SFTTrainer,
    fit: _Fit,
    rows: RowCounts,
    settings: TrainingSettings,
    runtime: Runtime,
    cuda: bool,
) -> TrainingMetrics:
    st = trainer.state
    tokens = int(st.num_input_tokens_seen or 0)
    tokens_session = tokens - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    elapsed = fit.elapsed
    return {
        "loss_curve": [
            {k: h[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in h}
            for h in st.log_history
            if "loss" in h
        ],
        "train_loss": fit.training_loss,
        "global_step": st.global_step,
        "max_steps": st.max_steps,
        "epochs": settings["epochs"],
        "train_rows": rows["trained"],
        "rows": rows,
        "tokens_seen": tokens,
        "tokens_seen_this_run": tokens_session,
        "train_time_s": round(elapsed, 3),
        "total_train_time_s": round(fit.previous_time + elapsed, 3),
        "tokens_per_s": round(tokens_session / elapsed, 2) if elapsed > 0 else None,
        "resumed_from_step": fit.resumed_from,
        **_peak_memory_mb(cuda),
        "device": runtime["device"],
        "num_processes": runtime["num_processes"],
    }


def _resolved_settings(
    task: str,
    backbone: str,
    model: str,
    data: TrainingMix,
    settings: TrainingSettings,
    runtime: Runtime,
    trainer: SFTTrainer,
) -> dict[str, Any]:
    """The adapter's settings.json: what was trained, from what, with which libraries."""
    return {
        "task": task,
        "backbone": backbone,
        "model": model,
        "mix": str(data.path),
        "mix_sha256": data.sha256,
        "mix_rows": len(data.rows),
        "settings": settings,
        "runtime": runtime,
        "completion_only_loss": True,
        "total_steps": trainer.state.max_steps,
        "versions": _versions(),
    }


def _peak_memory_mb(cuda: bool) -> dict[str, float]:
    import resource

    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if cuda:
        import torch

        out["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        out["peak_gpu_reserved_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
    return out


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    return out
