"""Training settings: check the resolved settings, decide what they mean on this machine
(:class:`Runtime`), and turn them into the trainer's configuration: TRL's ``SFTConfig``, the
LoRA adapter and the NF4 quantisation. The settings' defaults live in the config schema
(lema/config); this module only reads them.
"""

from __future__ import annotations

import contextlib
import copy
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, cast

from lema.config.access import PER_TASK_TRAINING
from lema.errors import ConfigError

if TYPE_CHECKING:
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig
    from trl import SFTConfig

# Optimisers whose paging exists only on CUDA; elsewhere the same (unpaged) AdamW runs.
PAGED_FALLBACK = {
    "paged_adamw_32bit": "adamw_torch",
    "paged_adamw_8bit": "adamw_torch",
    "paged_adamw": "adamw_torch",
    "paged_lion_32bit": "adamw_torch",
    "paged_lion_8bit": "adamw_torch",
}


class LoraSettings(TypedDict):
    r: int
    alpha: int
    dropout: float
    target_modules: str | list[str]


class TrainingSettings(TypedDict):
    """The resolved training settings of one backbone × task (``lema.config.backbone_training``
    or ``--settings``), every schema key present after :func:`validate_settings`."""

    quantization: str
    max_steps: int | None
    epochs: float
    max_prompt_tokens: int
    max_completion_tokens: int
    learning_rate: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    adam_beta2: float
    batch_size: int
    per_device_batch_size: int
    lora: LoraSettings
    max_grad_norm: float
    optimizer: str
    gradient_checkpointing: bool
    group_by_length: bool
    save_steps: int
    logging_steps: int
    seed: int
    data_seed: int
    model: NotRequired[str | None]


class Runtime(TypedDict):
    """What the settings mean on this machine (recorded in the adapter's settings.json)."""

    quantization: str
    compute_dtype: str
    optimizer: str
    gradient_accumulation_steps: int
    effective_batch_size: int
    num_processes: int
    device: str


def validate_settings(settings: Any, backbone: str = "?") -> TrainingSettings:
    """Check resolved settings (the output of ``lema.config.backbone_training``: one value per
    key, the task's already picked) against the config schema's `training` definition; raise
    ConfigError naming the bad key."""
    import jsonschema

    from lema.config import load_schema

    if not isinstance(settings, dict):
        raise ConfigError("--settings: expected a JSON object of training settings")
    schema = load_schema()
    definitions = schema["definitions"]
    training = copy.deepcopy(definitions["training"])
    for key in PER_TASK_TRAINING:  # resolved for one task: a single integer
        training["properties"][key] = {"type": "integer", "minimum": 1}
    training["properties"]["model"] = {"type": ["string", "null"]}
    training["definitions"] = definitions
    errors = list(jsonschema.Draft202012Validator(training).iter_errors(settings))
    if errors:
        err = jsonschema.exceptions.best_match(errors)
        key = ".".join(str(p) for p in err.absolute_path) or "<settings>"
        raise ConfigError(f"training setting '{key}' for backbone '{backbone}': {err.message}")
    required = [*PER_TASK_TRAINING, "learning_rate"]
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
    return cast(TrainingSettings, full)


def resolve_runtime(
    settings: TrainingSettings, world_size: int, cuda: bool, backbone: str = "?"
) -> Runtime:
    """What the settings mean on this machine: quantisation, dtypes, optimiser, and the
    gradient accumulation that keeps the effective batch at ``batch_size`` on ``world_size``
    processes (fewer GPUs than the official 4: more accumulation, same batch)."""
    quant = settings["quantization"]
    if quant == "auto":
        quant = "nf4" if cuda else "none"
    if cuda:
        import torch

        compute = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    else:
        compute = "float32"
    optimizer = settings["optimizer"]
    if not cuda and optimizer in PAGED_FALLBACK:
        optimizer = PAGED_FALLBACK[optimizer]
    accumulation = accumulation_steps(settings, world_size, backbone)
    per_device = settings["per_device_batch_size"]
    return {
        "quantization": quant,
        "compute_dtype": compute,
        "optimizer": optimizer,
        "gradient_accumulation_steps": accumulation,
        "effective_batch_size": per_device * world_size * accumulation,
        "num_processes": world_size,
        "device": _device_name(cuda),
    }


def accumulation_steps(settings: TrainingSettings, world_size: int, backbone: str = "?") -> int:
    """``batch_size / (per_device_batch_size x world_size)``; a batch size that this does not
    divide exactly raises ConfigError (the effective batch would silently differ)."""
    per_device, batch = settings["per_device_batch_size"], settings["batch_size"]
    step = per_device * world_size
    if batch % step:
        raise ConfigError(
            f"training setting 'batch_size' for backbone '{backbone}': {batch} is not a multiple "
            f"of per_device_batch_size x processes = {per_device} x {world_size} = {step}; "
            "change batch_size or per_device_batch_size"
        )
    return batch // step


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


def mixed_precision(runtime: Runtime, cuda: bool) -> tuple[bool, bool]:
    """(bf16, fp16): autocast runs only on CUDA, in the runtime's compute dtype."""
    return (
        cuda and runtime["compute_dtype"] == "bfloat16",
        cuda and runtime["compute_dtype"] == "float16",
    )


def sft_arguments(
    settings: TrainingSettings, runtime: Runtime, checkpoints: Path, cuda: bool
) -> dict[str, Any]:
    """The keyword arguments of TRL's ``SFTConfig``: loss on completions only, no packing,
    checkpoints every ``save_steps`` into ``checkpoints`` (the last two kept). Rows arrive
    tokenised and within their limits (:func:`lema.training.dataset.tokenize_mix`), so TRL's own
    truncation is off (``max_length=None``): it can never cut a row silently."""
    bf16, fp16 = mixed_precision(runtime, cuda)
    return dict(
        output_dir=str(checkpoints),
        per_device_train_batch_size=settings["per_device_batch_size"],
        gradient_accumulation_steps=runtime["gradient_accumulation_steps"],
        num_train_epochs=settings["epochs"],
        max_steps=settings["max_steps"] or -1,
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler"],
        warmup_steps=settings["warmup_ratio"],  # a float in [0, 1): a ratio of the steps
        weight_decay=settings["weight_decay"],
        adam_beta2=settings["adam_beta2"],
        max_grad_norm=settings["max_grad_norm"],
        optim=runtime["optimizer"],
        gradient_checkpointing=settings["gradient_checkpointing"],
        gradient_checkpointing_kwargs={"use_reentrant": False},
        train_sampling_strategy="group_by_length" if settings["group_by_length"] else "random",
        seed=settings["seed"],
        data_seed=settings["data_seed"],
        bf16=bf16,
        fp16=fp16,
        max_length=None,
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
        ddp_find_unused_parameters=False if runtime["num_processes"] > 1 else None,
        dataset_num_proc=None,
    )


def sft_config(
    settings: TrainingSettings, runtime: Runtime, checkpoints: Path, cuda: bool, backbone: str
) -> SFTConfig:
    """TRL's ``SFTConfig`` of :func:`sft_arguments`; a value it rejects raises ConfigError."""
    from trl import SFTConfig

    try:
        return SFTConfig(**sft_arguments(settings, runtime, checkpoints, cuda))
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"training settings for backbone '{backbone}': {str(exc).splitlines()[0]}"
        ) from None


def quantization_config(runtime: Runtime) -> BitsAndBytesConfig | None:
    """NF4 with double quantisation and the runtime's compute dtype (QLoRA), or None."""
    if runtime["quantization"] != "nf4":
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ConfigError(
            "training.quantization nf4 needs bitsandbytes (pip install 'lema[gpu]')"
        ) from None
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, runtime["compute_dtype"]),
    )


def lora_config(settings: TrainingSettings) -> LoraConfig:
    """The fresh LoRA adapter of ``settings["lora"]`` (no bias, causal LM)."""
    from peft import LoraConfig

    lora = settings["lora"]
    return LoraConfig(
        r=lora["r"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["target_modules"],
        bias="none",
        task_type="CAUSAL_LM",
    )
