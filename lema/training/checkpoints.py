"""Intermediate checkpoints, resume and pre-emption: what survives a killed run.

The trainer saves ``checkpoint-{step}`` folders into a checkpoint folder that is *not* a
Snakemake output, beside a fingerprint of what is being trained (:func:`fingerprint`). A rerun
with the same fingerprint resumes from the last complete checkpoint with the same total step
count; checkpoints of other settings or another mix are discarded, never resumed. Each
checkpoint records the training time spent so far, and SIGTERM (SLURM's notice before a time
limit or pre-emption) saves a checkpoint at the end of the current step and stops the run.

The finished adapter is written into the checkpoint folder first (``final/``) and then linked
into the output (hard links: no second copy on disk), and only the step checkpoints are
removed. A job killed after that (a SLURM time limit reached while the job was ending: the
job counts as failed and Snakemake deletes its output) leaves ``final/``: the rerun under the
same fingerprint links it into the output again instead of training again
(:func:`finished_adapter`). Other settings or another mix discard it with the rest.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lema.errors import LemaError
from lema.io import write_json

if TYPE_CHECKING:
    from transformers import TrainerCallback, TrainerState

    from lema.training.settings import Runtime, TrainingSettings

FINGERPRINT_FILE = "lema-fingerprint.json"
TIME_FILE = "lema-time.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
#: the finished adapter, kept in the checkpoint folder until another run replaces it
FINAL_DIR = "final"


def fingerprint(
    *,
    task: str,
    backbone: str,
    model: str,
    mix_sha256: str,
    settings: TrainingSettings,
    runtime: Runtime,
) -> dict[str, Any]:
    """What a checkpoint was trained from; a checkpoint resumes only under the same one (the
    device name is left out: the same run may resume on another machine)."""
    return {
        "task": task,
        "backbone": backbone,
        "model": model,
        "mix_sha256": mix_sha256,
        "settings": settings,
        "runtime": {k: v for k, v in runtime.items() if k != "device"},
    }


def checkpoint_step(checkpoint: Path) -> int:
    """The global step of a ``checkpoint-{step}`` folder."""
    match = CHECKPOINT_RE.match(checkpoint.name)
    if match is None:
        raise ValueError(f"{checkpoint}: not a checkpoint-{{step}} folder")
    return int(match.group(1))


def last_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint in ``folder`` (the trainer writes trainer_state.json
    last, so a checkpoint without it was cut off mid-save and is ignored)."""
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        m = CHECKPOINT_RE.match(child.name)
        if m and child.is_dir() and (child / "trainer_state.json").exists():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None


def prepare_checkpoints(folder: Path, fingerprint: dict[str, Any], main: bool) -> Path | None:
    """Return the checkpoint to resume from, or None; drop checkpoints of other settings.

    Every process looks before the main process changes anything, so all take the same path."""
    marker = folder / FINGERPRINT_FILE
    try:
        old = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        old = None
    stale = folder.exists() and old != fingerprint
    resume = None if stale else last_checkpoint(folder)
    barrier()
    if main:
        if stale:
            print(
                f"lema train: discarding checkpoints in {folder} (other settings or mix)",
                file=sys.stderr,
            )
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(marker, fingerprint)
    barrier()
    return resume


def remove_checkpoints(folder: Path) -> None:
    """Drop the step checkpoints once the adapter is written (``final/`` and the fingerprint
    stay: see the module docstring)."""
    if not folder.is_dir():
        return
    for child in folder.iterdir():
        if CHECKPOINT_RE.match(child.name):
            shutil.rmtree(child, ignore_errors=True)


def finished_adapter(folder: Path, complete_file: str) -> Path | None:
    """The finished adapter (``final/``) of the run ``folder`` holds, when it is complete
    (``complete_file``, the file the adapter writer writes last, is there); call it after
    :func:`prepare_checkpoints`, which discards a run of another fingerprint."""
    final = folder / FINAL_DIR
    return final if (final / complete_file).is_file() else None


def publish(final: Path, out: Path) -> None:
    """``out`` as a complete copy of the folder ``final``, made atomically of hard links to
    its files (a copy where the file system has none)."""
    import os

    from lema.io import atomic_folder

    with atomic_folder(out) as tmp:
        for src in final.rglob("*"):
            dest = tmp / src.relative_to(final)
            if src.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)


def barrier() -> None:
    """Wait for every process of a distributed run (no-op in a single process)."""
    with contextlib.suppress(Exception):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()


def previous_time(resume: Path | None) -> float:
    """Training time spent before ``resume`` was written (by the runs that wrote it)."""
    if resume is None:
        return 0.0
    with contextlib.suppress(OSError, ValueError, KeyError):
        return float(json.loads((resume / TIME_FILE).read_text())["train_time_s"])
    return 0.0


def make_callback(
    started: float, previous_time: float, main: bool, distributed: bool
) -> TrainerCallback:
    """A trainer callback that (1) records the cumulative training time in each checkpoint and
    (2) once ``request_stop`` was called (the SIGTERM handler of :func:`stop_on_sigterm`) saves
    a checkpoint at the end of the current step and stops, so the rerun loses no finished step.
    Its ``stop_signal`` is the signal that stopped the run, or None."""
    from transformers import TrainerCallback

    class LemaCallback(TrainerCallback):
        stop_signal: int | None = None

        def request_stop(self, signum, frame) -> None:  # noqa: ANN001
            self.stop_signal = signum

        def _agreed_stop(self) -> bool:
            flag = self.stop_signal is not None
            if distributed:  # every process stops at the same step, or DDP would hang
                import torch
                import torch.distributed as dist

                device = "cuda" if torch.cuda.is_available() else "cpu"
                t = torch.tensor([int(flag)], device=device)
                dist.all_reduce(t, op=dist.ReduceOp.MAX)
                flag = bool(t.item())
                if flag and self.stop_signal is None:
                    self.stop_signal = signal.SIGTERM
            return flag

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self._agreed_stop():
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if main and folder.is_dir():
                total = previous_time + time.perf_counter() - started
                (folder / TIME_FILE).write_text(json.dumps({"train_time_s": round(total, 3)}))
            return control

    return LemaCallback()


@contextlib.contextmanager
def stop_on_sigterm(callback: TrainerCallback) -> Iterator[None]:
    """Route SIGTERM to ``callback.request_stop`` while the block runs (only the main thread
    may install signal handlers; elsewhere SIGTERM keeps its handler)."""
    main_thread = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGTERM, callback.request_stop) if main_thread else None
    try:
        yield
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)


def stopped_error(stop_signal: int, state: TrainerState, checkpoints: Path) -> LemaError:
    """The one-line error of a run stopped by a signal: where it stopped, where to resume."""
    return LemaError(
        f"stopped by {signal.Signals(stop_signal).name} at step "
        f"{state.global_step}/{state.max_steps}; checkpoint saved in "
        f"{checkpoints}, rerun to resume"
    )
