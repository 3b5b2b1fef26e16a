"""GPU figures for `lema train` (NF4 QLoRA and bf16 LoRA) and `lema predict` (batched decoding
with an adapter), on random-init LLaMA models of real shapes (nothing can be downloaded on the
device machine).

Two phases, one device call each (the wheels each needs differ, and together they exceed what
one call may carry; `benchmarks/gpu_wheels.sh` downloads them into `.whl/train` and
`.whl/decode`):

    python benchmarks/gpu.py train  --shapes 1b 7b --steps 30 --out $OUT/train.json
    python benchmarks/gpu.py decode --shape 1b --batch-sizes 1,16,64 --out $OUT/decode.json

`train`: for each shape, a random-init model is written once (bf16, safetensors), then
`lema train` runs as a subprocess (exactly what the `train` rule runs) for `--steps` optimizer
steps on real GSM8K rows from the embedded slice, at the paper's GSM8K lengths (512 source +
512 target tokens) and per-device batch (6), with the paper's LoRA (r 64, alpha 16, all linear
layers), paged AdamW and gradient checkpointing — once with NF4 QLoRA (double quant, bf16
compute) and once with plain bf16 LoRA. Reported per run: tokens/s (non-padding, from the
adapter's metrics.json), peak GPU memory (allocated and reserved), and model FLOPs utilisation
against the bf16 matmul rate measured on this GPU at the start (an 8192^3 product; the H200
gives about 790 TFLOP/s). Model FLOPs per trained token are counted as 4 N (forward 2 N,
backward through frozen weights 2 N: LoRA needs no weight gradients of the base model) plus
the attention score terms; gradient checkpointing's recomputation is not counted, so MFU is
the useful fraction. Then the resume check: `lema train` with a checkpoint every 5 steps is
killed (SIGKILL) once `checkpoint-10` exists and run again; the second run must log
"resuming from … (step 10)" and end at the same step count.

`decode`: a random-init model and a random non-zero LoRA adapter (r 64, all linear), then
`lema.evaluation.predict.predict` — what `lema predict` runs — greedily decodes the first
`--problems`
GSM8K test questions of the embedded slice with the adapter loaded, at each batch size, with
no response cache: completion tokens/s and problems/s. Random-init models rarely stop early,
so nearly every row decodes `--max-tokens` tokens.

`--shapes tiny` (and `--device cpu`) runs the same code on the CPU in seconds: that is how it
is checked where no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import SHAPES, adapter_figures, mix_rows  # noqa: E402  (benchmarks/training.py)
from training import build_model as _build_model  # noqa: E402

# microsoft/LEMA training_code/llama_2_70b_gsm8k.sh: source 512 + target 512, 6 per device
SEQ_LEN = 1024
PER_DEVICE_BATCH = 6


def versions() -> dict[str, Any]:
    import importlib.metadata as md

    import torch

    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("transformers", "peft", "trl", "accelerate", "bitsandbytes"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return out


def matmul_tflops(device: str) -> float | None:
    """The measured bf16 matmul rate (TFLOP/s): mean of 10 timed 8192^3 products."""
    import torch

    if device != "cuda":
        return None
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return round(10 * 2 * 8192**3 / (time.perf_counter() - start) / 1e12, 1)


def build_model(folder: Path, shape: dict[str, int], texts: list[str], device: str) -> int:
    """benchmarks/training.py's random-init model of ``shape`` (bf16 from 1B up, on CUDA
    when there is one) saved to ``folder``; returns the parameter count."""
    del device  # training.build_model places it on CUDA when present
    _build_model(folder, shape, texts)
    return int((folder / "params.txt").read_text())


def flops_per_token(shape: dict[str, int], params: int, seq: int) -> float:
    """Useful training FLOPs per token with frozen base weights (see the module docstring)."""
    attention = 4 * shape["layers"] * shape["hidden"] * seq  # QK^T and AV, forward + backward
    return 4 * params + attention


def settings_for(quant: str, steps: int, save_steps: int) -> dict[str, Any]:
    return {
        "quantization": quant,
        "epochs": 1,
        "max_steps": steps,
        "max_prompt_tokens": SEQ_LEN // 2,  # prompt + completion within SEQ_LEN
        "max_completion_tokens": SEQ_LEN // 2,
        "learning_rate": 2e-4,
        "lr_scheduler": "constant",
        "batch_size": PER_DEVICE_BATCH,
        "per_device_batch_size": PER_DEVICE_BATCH,
        "lora": {"r": 64, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
        "max_grad_norm": 0.3,
        "optimizer": "paged_adamw_32bit",
        "gradient_checkpointing": True,
        "group_by_length": True,
        "save_steps": save_steps,
        "logging_steps": 1,
        "seed": 0,
    }


def train_command(model: Path, mix: Path, out: Path, ckpt: Path, settings: dict) -> list[str]:
    return [
        sys.executable, "-m", "lema.cli", "train", "--task", "gsm8k", "--backbone", "bench",
        "--model", str(model), "--mix", str(mix), "--out", str(out), "--checkpoints", str(ckpt),
        "--settings", json.dumps(settings),
    ]  # fmt: skip


def run_train(model: Path, mix: Path, work: Path, quant: str, steps: int) -> dict[str, Any]:
    out, ckpt = work / f"adapter-{quant}", work / f"ckpt-{quant}"
    proc = subprocess.run(
        train_command(model, mix, out, ckpt, settings_for(quant, steps, 10**9)),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{quant}: lema train failed:\n{proc.stderr[-4000:]}")
    return adapter_figures(out, quant)


def resume_check(model: Path, mix: Path, work: Path, quant: str) -> dict[str, Any]:
    """SIGKILL `lema train` once checkpoint-10 exists; the rerun must resume at step 10."""
    out, ckpt = work / "adapter-resume", work / "ckpt-resume"
    settings = settings_for(quant, 20, 5)
    cmd = train_command(model, mix, out, ckpt, settings)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (ckpt / "checkpoint-10").is_dir():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("resume check: no checkpoint-10 before the job ended")
        time.sleep(0.2)
    time.sleep(1.0)  # let the checkpoint finish writing; the resume must skip a partial one
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run(cmd, capture_output=True, text=True)
    if again.returncode != 0:
        raise SystemExit(f"resume check: the rerun failed:\n{again.stderr[-4000:]}")
    m = json.loads((out / "metrics.json").read_text())
    said = re.search(r"resuming from \S+ \(step (\d+)\)", again.stderr)
    return {
        "killed_after_checkpoint": 10,
        "resumed_from_step": m.get("resumed_from_step"),
        "logged": said.group(0) if said else None,
        "global_step": m["global_step"],
        "ok": m.get("resumed_from_step") in (10, 15) and m["global_step"] == 20,
    }


def phase_train(args: argparse.Namespace, device: str) -> dict[str, Any]:
    rows = mix_rows(args.rows)
    peak = matmul_tflops(device)
    report: dict[str, Any] = {"phase": "train", "matmul_bf16_tflops": peak, "runs": []}
    with tempfile.TemporaryDirectory(prefix="lema-gpu-train-") as tmp:
        work = Path(tmp)
        mix = work / "mix.jsonl"
        mix.write_text("".join(json.dumps(r) + "\n" for r in rows))
        texts = [r["prompt"] + r["completion"] for r in rows]
        for name in args.shapes:
            shape = SHAPES[name]
            model = work / f"model-{name}"
            started = time.perf_counter()
            params = build_model(model, shape, texts, device)
            built_s = round(time.perf_counter() - started, 1)
            for quant in args.quant:
                r = run_train(model, mix, work / name, quant, args.steps)
                achieved = r["tokens_per_s"] * flops_per_token(shape, params, SEQ_LEN) / 1e12
                r.update(
                    shape=name,
                    params_m=round(params / 1e6, 1),
                    model_build_s=built_s,
                    model_tflops=round(achieved, 1),
                    mfu=round(achieved / peak, 3) if peak else None,
                )
                report["runs"].append(r)
                print(json.dumps(r), flush=True)
            if name == args.resume_shape:
                report["resume"] = resume_check(model, mix, work / name, args.quant[0])
                print(json.dumps(report["resume"]), flush=True)
    return report


def phase_decode(args: argparse.Namespace, device: str) -> dict[str, Any]:
    import polars as pl
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from lema.data.build import build_table
    from lema.evaluation.predict import predict

    report: dict[str, Any] = {"phase": "decode", "runs": []}
    with tempfile.TemporaryDirectory(prefix="lema-gpu-decode-") as tmp:
        d = Path(tmp)
        test = build_table("gsm8k", "test", "embedded").head(args.problems)
        test.write_parquet(d / "test.parquet")
        rows = mix_rows(args.rows)
        params = build_model(
            d / "model", SHAPES[args.shape], [r["prompt"] + r["completion"] for r in rows], device
        )
        torch.manual_seed(0)
        base = AutoModelForCausalLM.from_pretrained(d / "model")
        lora = LoraConfig(r=64, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
        get_peft_model(base, lora).save_pretrained(d / "adapter")
        del base
        for bs in [int(b) for b in args.batch_sizes.split(",")]:
            spec = {
                "backend": "hf",
                "model": str(d / "model"),
                "adapter": str(d / "adapter"),
                "chat": False,
                "batch_size": bs,
                "device": device,
            }
            # load once (the backend keeps the model in-process), then time the decode
            predict(d / "test.parquet", "gsm8k", spec, d / "warm.parquet", limit=2,
                    max_tokens=4, cache=False, workers=1)  # fmt: skip
            predict(d / "test.parquet", "gsm8k", spec, d / "pred.parquet",
                    max_tokens=args.max_tokens, cache=False, workers=4,
                    stats=d / "stats.json")  # fmt: skip
            stats = json.loads((d / "stats.json").read_text())
            n = pl.read_parquet(d / "pred.parquet").height
            r = {
                "shape": args.shape,
                "params_m": round(params / 1e6, 1),
                "adapter": "LoRA r64 all-linear",
                "batch_size": bs,
                "problems": n,
                "max_tokens": args.max_tokens,
                "completion_tokens": stats["tokens"]["completion"],
                "decode_s": stats["decode_seconds"],
                "completion_tok_per_s": stats["completion_tokens_per_s"],
                "problems_per_s": round(n / stats["decode_seconds"], 2),
                "peak_gpu_allocated_mb": (
                    round(torch.cuda.max_memory_allocated() / 2**20) if device == "cuda" else None
                ),
            }
            report["runs"].append(r)
            print(json.dumps(r), flush=True)
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("phase", choices=("train", "decode"))
    ap.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=["1b", "7b"])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1b", help="decode: the model")
    ap.add_argument("--quant", nargs="+", choices=["nf4", "none"], default=["nf4", "none"])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--resume-shape", default="1b", help="train: the shape of the resume check")
    ap.add_argument("--rows", type=int, default=256, help="training rows (embedded slice)")
    ap.add_argument("--problems", type=int, default=64, help="decode: test problems")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-sizes", default="1,16,64")
    ap.add_argument("--device", default=None, help="cuda / cpu (default: cuda when present)")
    ap.add_argument("--out", type=Path, help="write the report here as JSON")
    args = ap.parse_args()

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()
    report = phase_train(args, device) if args.phase == "train" else phase_decode(args, device)
    report.update(versions=versions(), device=device, wall_s=round(time.perf_counter() - started))
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
