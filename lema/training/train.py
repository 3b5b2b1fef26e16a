"""`lema train`: fine-tune one LoRA / QLoRA adapter for a backbone × task × mix.

Output (``--out``, written atomically at the end): a PEFT adapter folder
(``adapter_config.json`` + ``adapter_model.safetensors``), ``settings.json``
(the exact resolved settings, library versions and the mix's checksum) and ``metrics.json``
(loss curve, tokens seen, wall time, peak memory).

Training uses TRL's ``SFTTrainer`` on prompt/completion rows, whose loss covers only the
completion (+ EOS) tokens. Intermediate checkpoints go to ``--checkpoints`` — a folder that is
*not* a Snakemake output — so a killed or pre-empted job, rerun with the same settings, resumes
from its last complete checkpoint with the same total step count. Checkpoints written under
different settings or another mix are discarded, never resumed.

Multi-GPU: run under ``accelerate launch --num_processes N -m lema.cli train ...``; each process
loads the model on its own GPU and only the main process writes the output.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from lema.errors import ConfigError, DataError, LemaError
from lema.io import read_jsonl, write_json

SETTINGS_FILE = "settings.json"
METRICS_FILE = "metrics.json"
FINGERPRINT_FILE = "lema-fingerprint.json"
TIME_FILE = "lema-time.json"
_CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
# Optimisers whose paging exists only on CUDA; elsewhere the same (unpaged) AdamW runs.
_PAGED_FALLBACK = {
    "paged_adamw_32bit": "adamw_torch",
    "paged_adamw_8bit": "adamw_torch",
    "paged_adamw": "adamw_torch",
    "paged_lion_32bit": "adamw_torch",
    "paged_lion_8bit": "adamw_torch",
}


# --------------------------------------------------------------------------------------------
# CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, choices=["gsm8k", "math"])
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
    if args.settings is not None:
        try:
            settings = json.loads(args.settings)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--settings: not valid JSON ({exc.msg})") from None
        settings = validate_settings(settings, args.backbone)
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
    checkpoints = args.checkpoints or f"results/{args.task}/checkpoints/{args.backbone}/{mix.stem}"
    train(
        task=args.task,
        backbone=args.backbone,
        model=str(model),
        mix=mix,
        out=Path(args.out),
        settings=settings,
        checkpoints=Path(checkpoints),
        keep_checkpoints=args.keep_checkpoints,
    )
    return 0


# --------------------------------------------------------------------------------------------
# Settings


def validate_settings(settings: Any, backbone: str = "?") -> dict[str, Any]:
    """Check resolved settings (the output of ``lema.config.backbone_training``) against the
    config schema's `training` definition; raise ConfigError naming the bad key."""
    import jsonschema

    from lema.config import load_schema

    if not isinstance(settings, dict):
        raise ConfigError("--settings: expected a JSON object of training settings")
    schema = load_schema()
    definitions = schema["definitions"]
    training = copy.deepcopy(definitions["training"])
    training["properties"]["max_seq_length"] = {"type": "integer", "minimum": 1}
    training["properties"]["model"] = {"type": ["string", "null"]}
    training["definitions"] = definitions
    errors = list(jsonschema.Draft202012Validator(training).iter_errors(settings))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        key = ".".join(str(p) for p in err.absolute_path) or "<settings>"
        raise ConfigError(f"training setting '{key}' for backbone '{backbone}': {err.message}")
    required = ["max_seq_length", "learning_rate"]
    missing = [k for k in required if settings.get(k) is None]
    if missing:
        raise ConfigError(f"training settings for backbone '{backbone}' lack {', '.join(missing)}")
    # fill schema defaults for keys left out
    full = {
        k: copy.deepcopy(v.get("default")) for k, v in definitions["training"]["properties"].items()
    }
    full.update(settings)
    lora = dict(definitions["training"]["properties"]["lora"]["default"])
    lora.update(settings.get("lora", {}))
    full["lora"] = lora
    return full


def resolve_runtime(settings: dict[str, Any], world_size: int, cuda: bool) -> dict[str, Any]:
    """What the settings mean on this machine: quantisation, dtypes, optimiser, accumulation."""
    quant = settings["quantization"]
    if quant == "auto":
        quant = "nf4" if cuda else "none"
    if cuda:
        import torch

        compute = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    else:
        compute = "float32"
    optimizer = settings["optimizer"]
    if not cuda and optimizer in _PAGED_FALLBACK:
        optimizer = _PAGED_FALLBACK[optimizer]
    per_device = settings["per_device_batch_size"]
    accumulation = max(1, round(settings["batch_size"] / (per_device * world_size)))
    return {
        "quantization": quant,
        "compute_dtype": compute,
        "optimizer": optimizer,
        "gradient_accumulation_steps": accumulation,
        "effective_batch_size": per_device * world_size * accumulation,
        "num_processes": world_size,
        "device": _device_name(cuda),
    }


def _device_name(cuda: bool) -> str:
    if cuda:
        import torch

        return torch.cuda.get_device_name(torch.cuda.current_device())
    import platform

    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"CPU ({name}, {os.cpu_count()} cores)"


# --------------------------------------------------------------------------------------------
# Data


def load_mix(path: Path) -> list[dict[str, str]]:
    """The prompt/completion rows of a mix; a bad row raises DataError naming file:line."""
    if not path.exists():
        raise DataError(f"{path}: training mix not found")
    rows = []
    for lineno, row in read_jsonl(path):
        for key in ("prompt", "completion"):
            value = row.get(key)
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{path}:{lineno}: '{key}' must be a non-empty string")
        rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    if not rows:
        raise DataError(f"{path}: the training mix is empty (no prompt/completion rows)")
    return rows


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Checkpoints


def last_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* checkpoint in ``folder`` (the trainer writes trainer_state.json
    last, so a checkpoint without it was cut off mid-save and is ignored)."""
    if not folder.is_dir():
        return None
    found = []
    for child in folder.iterdir():
        m = _CHECKPOINT_RE.match(child.name)
        if m and child.is_dir() and (child / "trainer_state.json").exists():
            found.append((int(m.group(1)), child))
    return max(found)[1] if found else None


def _prepare_checkpoints(folder: Path, fingerprint: dict[str, Any], main: bool) -> Path | None:
    """Return the checkpoint to resume from, or None; drop checkpoints of other settings.

    Every process looks before the main process changes anything, so all take the same path."""
    marker = folder / FINGERPRINT_FILE
    try:
        old = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        old = None
    stale = folder.exists() and old != fingerprint
    resume = None if stale else last_checkpoint(folder)
    _barrier()
    if main:
        if stale:
            print(
                f"lema train: discarding checkpoints in {folder} (other settings or mix)",
                file=sys.stderr,
            )
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(marker, fingerprint)
    _barrier()
    return resume


def _barrier() -> None:
    with contextlib.suppress(Exception):
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()


# --------------------------------------------------------------------------------------------
# Model


def load_model(model_path: str, runtime: dict[str, Any], settings: dict[str, Any], local_rank: int):
    """The base model, quantised (nf4) or not, prepared and wrapped with a fresh LoRA adapter."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, runtime["compute_dtype"])
    kwargs: dict[str, Any] = {"dtype": dtype}
    cuda = torch.cuda.is_available()
    if runtime["quantization"] == "nf4":
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise ConfigError(
                "training.quantization nf4 needs bitsandbytes (pip install 'lema[gpu]')"
            ) from None
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
        kwargs["device_map"] = {"": local_rank} if cuda else {"": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except OSError as exc:
        raise ConfigError(
            f"base model '{model_path}' could not be loaded: {str(exc).splitlines()[0]}"
        ) from None
    if runtime["quantization"] == "nf4":
        _disable_avx512bf16_repacking(model)
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=settings["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    lora = settings["lora"]
    config = LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(f"training.lora: {str(exc).splitlines()[0]}") from None
    return model


def _disable_avx512bf16_repacking(model) -> None:
    """bitsandbytes repacks 4-bit weights for AVX512-BF16 CPU inference on an eval-mode
    forward; backward then runs through gemv_4bit, which has no autograd kernel, and LoRA
    gradients come out wrong. Training must never take that path (see STACK_NOTES)."""
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def load_tokenizer(model_path: str):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model_path, padding_side="right")
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"tokenizer of '{model_path}' could not be loaded: {str(exc).splitlines()[0]}"
        ) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.eos_token is None:
        raise ConfigError(
            f"tokenizer of '{model_path}' has no EOS token (needed to end completions)"
        )
    return tok


# --------------------------------------------------------------------------------------------
# Training


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


def train(
    *,
    task: str,
    backbone: str,
    model: str,
    mix: Path,
    out: Path,
    settings: dict[str, Any],
    checkpoints: Path,
    keep_checkpoints: bool = False,
) -> dict[str, Any]:
    """Train one adapter; return its metrics. See the module docstring."""
    rows = load_mix(mix)  # fail fast, before the heavy imports
    mix_sha = _sha256(mix)
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_local and not Path(model).expanduser().exists():
        raise ConfigError(f"base model folder '{model}' not found")

    # bitsandbytes warns at import on AVX512-BF16 CPUs that its optional inference kernel
    # package is missing; training never uses that path (_disable_avx512bf16_repacking)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    import torch
    from accelerate import PartialState
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig, SFTTrainer

    state = PartialState()
    cuda = torch.cuda.is_available()
    runtime = resolve_runtime(settings, state.num_processes, cuda)
    main = state.is_main_process
    fingerprint = {
        "task": task,
        "backbone": backbone,
        "model": model,
        "mix_sha256": mix_sha,
        "settings": settings,
        "runtime": {k: v for k, v in runtime.items() if k != "device"},
    }
    resume = _prepare_checkpoints(checkpoints, fingerprint, main)

    set_seed(settings["seed"])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    bf16 = cuda and runtime["compute_dtype"] == "bfloat16"
    fp16 = cuda and runtime["compute_dtype"] == "float16"
    # transformers 5 renamed gradient_checkpointing (-> activation_checkpointing); TRL and peft
    # still use the old names, which only warns
    warnings.filterwarnings(
        "ignore", message=".*deprecated and will be removed in v6", category=FutureWarning
    )
    try:
        args = SFTConfig(
            output_dir=str(checkpoints),
            per_device_train_batch_size=settings["per_device_batch_size"],
            gradient_accumulation_steps=runtime["gradient_accumulation_steps"],
            num_train_epochs=settings["epochs"],
            max_steps=settings["max_steps"] or -1,
            learning_rate=settings["learning_rate"],
            lr_scheduler_type=settings["lr_scheduler"],
            warmup_steps=0,
            weight_decay=0.0,
            max_grad_norm=settings["max_grad_norm"],
            optim=runtime["optimizer"],
            gradient_checkpointing=settings["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False},
            train_sampling_strategy="group_by_length" if settings["group_by_length"] else "random",
            seed=settings["seed"],
            data_seed=settings["seed"],
            bf16=bf16,
            fp16=fp16,
            max_length=settings["max_seq_length"],
            completion_only_loss=True,
            packing=False,
            save_strategy="steps",
            save_steps=settings["save_steps"],
            save_total_limit=2,
            logging_strategy="steps",
            logging_steps=settings["logging_steps"],
            logging_first_step=True,
            include_num_input_tokens_seen="non_padding",
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            ddp_find_unused_parameters=False if state.num_processes > 1 else None,
            dataset_num_proc=None,
        )
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"training settings for backbone '{backbone}': {str(exc).splitlines()[0]}"
        ) from None

    # settings are checked (SFTConfig above) before the possibly very large model is loaded
    tokenizer = load_tokenizer(model)
    peft_model = load_model(model, runtime, settings, state.local_process_index)

    dataset = Dataset.from_list(rows)
    trainer = SFTTrainer(
        model=peft_model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    if not (bf16 or fp16):
        # TRL casts the adapter of a quantised model to bf16 (the QLoRA paper's choice, made for
        # bf16 autocast on GPU). Without bf16 compute, bf16 master weights lose small updates:
        # keep them in fp32.
        for param in trainer.model.parameters():
            if param.requires_grad and param.dtype != torch.float32:
                param.data = param.data.float()

    resumed_from = None
    if resume is not None:
        resumed_from = int(_CHECKPOINT_RE.match(resume.name).group(1))
        print(f"lema train: resuming from {resume} (step {resumed_from})", file=sys.stderr)
    previous_time = _previous_time(resume)
    started = time.perf_counter()
    callback = _make_callback(started, previous_time, main, state.num_processes > 1)
    trainer.add_callback(callback)
    old_handler = signal.signal(signal.SIGTERM, callback.request_stop) if _main_thread() else None
    try:
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
    elapsed = time.perf_counter() - started
    if callback.stop_signal is not None:
        raise LemaError(
            f"stopped by {signal.Signals(callback.stop_signal).name} at step "
            f"{trainer.state.global_step}/{trainer.state.max_steps}; checkpoint saved in "
            f"{checkpoints}, rerun to resume"
        )

    st = trainer.state
    tokens = int(st.num_input_tokens_seen or 0)
    tokens_session = tokens - int(getattr(trainer, "_initial_num_input_tokens_seen", 0) or 0)
    memory = _peak_memory_mb(cuda)
    metrics = {
        "loss_curve": [
            {k: h[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm") if k in h}
            for h in st.log_history
            if "loss" in h
        ],
        "train_loss": result.training_loss,
        "global_step": st.global_step,
        "max_steps": st.max_steps,
        "epochs": settings["epochs"],
        "train_rows": len(rows),
        "tokens_seen": tokens,
        "tokens_seen_this_run": tokens_session,
        "train_time_s": round(elapsed, 3),
        "total_train_time_s": round(previous_time + elapsed, 3),
        "tokens_per_s": round(tokens_session / elapsed, 2) if elapsed > 0 else None,
        "resumed_from_step": resumed_from,
        **memory,
        "device": runtime["device"],
        "num_processes": runtime["num_processes"],
    }
    if main:
        resolved = {
            "task": task,
            "backbone": backbone,
            "model": model,
            "mix": str(mix),
            "mix_sha256": mix_sha,
            "mix_rows": len(rows),
            "settings": settings,
            "runtime": runtime,
            "completion_only_loss": True,
            "total_steps": st.max_steps,
            "versions": _versions(),
        }
        _write_adapter(trainer, out, resolved, metrics)
        if not keep_checkpoints:
            shutil.rmtree(checkpoints, ignore_errors=True)
    _barrier()
    return metrics


def _previous_time(resume: Path | None) -> float:
    """Training time spent before ``resume`` was written (by the runs that wrote it)."""
    if resume is None:
        return 0.0
    with contextlib.suppress(OSError, ValueError, KeyError):
        return float(json.loads((resume / TIME_FILE).read_text())["train_time_s"])
    return 0.0


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _make_callback(started: float, previous_time: float, main: bool, distributed: bool):
    """A trainer callback that (1) records the cumulative training time in each checkpoint and
    (2) on SIGTERM (SLURM's warning before a time limit or pre-emption) saves a checkpoint at
    the end of the current step and stops, so the rerun loses no finished step."""
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


def _write_adapter(trainer, out: Path, settings: dict, metrics: dict) -> None:
    """Save the adapter, settings and metrics into a temporary folder beside ``out`` and rename
    it into place, so ``out`` is either absent or complete. The tokenizer is not copied: the
    base model's is the one to use."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        trainer.model.save_pretrained(str(tmp), safe_serialization=True)
        write_json(tmp / SETTINGS_FILE, settings)
        write_json(tmp / METRICS_FILE, _finite(metrics))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


__all__ = [
    "train",
    "load_mix",
    "last_checkpoint",
    "validate_settings",
    "resolve_runtime",
    "LemaError",
]
