"""The model being trained: the base model (NF4-quantised or not) wrapped with a fresh LoRA
adapter, and its tokenizer. torch / transformers / peft load only when these functions run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lema.errors import ConfigError
from lema.training.settings import Runtime, TrainingSettings, lora_config, quantization_config

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase


def check_model_path(model_path: str) -> None:
    """A base model that looks like a local folder (not a hub id) must exist."""
    looks_local = model_path.startswith((".", "/", "~")) or model_path.count("/") > 1
    if looks_local and not Path(model_path).expanduser().exists():
        raise ConfigError(f"base model folder '{model_path}' not found")


def load_model(
    model_path: str, runtime: Runtime, settings: TrainingSettings, local_rank: int
) -> PeftModel:
    """The base model, quantised (nf4) or not, prepared and wrapped with a fresh LoRA adapter."""
    import torch
    from peft import get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"dtype": getattr(torch, runtime["compute_dtype"])}
    quantization = quantization_config(runtime)
    if quantization is not None:
        kwargs["quantization_config"] = quantization
        kwargs["device_map"] = {"": local_rank} if torch.cuda.is_available() else {"": "cpu"}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **kwargs)
    except OSError as exc:
        raise ConfigError(
            f"base model '{model_path}' could not be loaded: {str(exc).splitlines()[0]}"
        ) from None
    if quantization is not None:
        _disable_avx512bf16_repacking(model)
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=settings["gradient_checkpointing"],
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    try:
        return get_peft_model(model, lora_config(settings))
    except ValueError as exc:
        raise ConfigError(f"training.lora: {str(exc).splitlines()[0]}") from None


def _disable_avx512bf16_repacking(model: torch.nn.Module) -> None:
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


def keep_adapter_fp32(model: torch.nn.Module) -> None:
    """TRL casts the adapter of a quantised model to bf16 (the QLoRA paper's choice, made for
    bf16 autocast on GPU). Without bf16 compute, bf16 master weights lose small updates: keep
    the trainable parameters in fp32."""
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def load_tokenizer(model_path: str) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, right-padded, with a pad token (EOS when it has none)."""
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
