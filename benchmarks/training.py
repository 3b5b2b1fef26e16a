"""Training throughput and peak memory of `lema train` (LoRA and QLoRA/NF4).

Builds a random-init LLaMA-architecture model of a given shape (no download), a mix of real
GSM8K rows in lema's CoT format, and runs `lema train` (`lema.training.run.train`) for a fixed
number of steps in a fresh subprocess per mode (so each peak-memory figure is that mode's
alone). Reports non-padding tokens/s over the training loop and peak memory (process RSS; on
CUDA also the peak allocated and reserved GPU memory). Runs on CUDA when it is available, else
on CPU.

    .venv/bin/python benchmarks/training.py                       # tiny model, LoRA + NF4
    .venv/bin/python benchmarks/training.py --shape 1b --quant nf4 none --steps 20   # GPU

Shapes: `tiny` (hidden 64, 2 layers: the test models), `small` (hidden 512, 8 layers, ~40M),
`1b` (TinyLlama-1.1B's shape: hidden 2048, 22 layers, 32 heads, 4 KV heads, vocab 32000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the slice of real GSM8K that ships with lema: it travels to a GPU machine with the tree
DATA = ROOT / "lema" / "data" / "embedded" / "gsm8k" / "train.jsonl"
SHAPES = {
    "tiny": {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 4, "inter": 128, "vocab": 2000},
    "small": {"hidden": 512, "layers": 8, "heads": 8, "kv_heads": 8, "inter": 1376, "vocab": 8000},
    "1b": {"hidden": 2048, "layers": 22, "heads": 32, "kv_heads": 4, "inter": 5632, "vocab": 32000},
    # LLaMA-2-7B's shape
    "7b": {
        "hidden": 4096,
        "layers": 32,
        "heads": 32,
        "kv_heads": 32,
        "inter": 11008,
        "vocab": 32000,
    },
}


def mix_rows(n: int) -> list[dict]:
    import re

    from lema.formats import cot_completion, cot_prompt

    rows = []
    with DATA.open() as fh:
        for line in fh:
            if len(rows) >= n:
                break
            r = json.loads(line)
            body, answer = r["answer"].split("####")
            steps = [re.sub(r"<<[^>]*>>", "", s) for s in body.strip().splitlines() if s.strip()]
            rows.append(
                {"prompt": cot_prompt(r["question"]), "completion": cot_completion(steps, answer)}
            )
    return rows


def build_model(folder: Path, shape: dict, texts: list[str]) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lema.models.tiny import train_tokenizer

    tok = train_tokenizer(texts, min(shape["vocab"], 8000))
    config = LlamaConfig(
        vocab_size=max(shape["vocab"], len(tok)),
        hidden_size=shape["hidden"],
        intermediate_size=shape["inter"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        num_key_value_heads=shape["kv_heads"],
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    dtype = torch.bfloat16 if shape["hidden"] >= 1024 else torch.float32
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(dtype)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    params = sum(p.numel() for p in model.parameters())
    (folder / "params.txt").write_text(str(params))


def run_mode(model: Path, mix: Path, quant: str, args: argparse.Namespace, work: Path) -> dict:
    settings = {
        "quantization": quant,
        "epochs": 1,
        "max_steps": args.steps,
        "max_prompt_tokens": args.seq_len // 2,  # prompt + completion within seq_len
        "max_completion_tokens": args.seq_len // 2,
        "learning_rate": 2e-4,
        "lr_scheduler": "constant",
        "batch_size": args.batch,
        "per_device_batch_size": args.batch,
        "lora": {"r": 64, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"},
        "max_grad_norm": 0.3,
        "optimizer": "paged_adamw_32bit",
        "gradient_checkpointing": True,
        "group_by_length": True,
        "save_steps": 10**9,
        "logging_steps": 1,
        "seed": 42,
    }
    out = work / f"adapter-{quant}"
    cmd = [
        sys.executable,
        "-m",
        "lema.cli",
        "train",
        "--task",
        "gsm8k",
        "--backbone",
        "bench",
        "--model",
        str(model),
        "--mix",
        str(mix),
        "--out",
        str(out),
        "--checkpoints",
        str(work / f"ckpt-{quant}"),
        "--settings",
        json.dumps(settings),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{quant}: lema train failed:\n{proc.stderr[-3000:]}")
    return adapter_figures(out, quant)


def adapter_figures(out: Path, quant: str) -> dict:
    """The figures of one `lema train` run, from its adapter's metrics.json/settings.json."""
    m = json.loads((out / "metrics.json").read_text())
    s = json.loads((out / "settings.json").read_text())
    losses = [p["loss"] for p in m["loss_curve"]]
    return {
        "quant": quant,
        "compute_dtype": s["runtime"]["compute_dtype"],
        "optimizer": s["runtime"]["optimizer"],
        "steps": m["global_step"],
        "tokens": m["tokens_seen"],
        "time_s": m["train_time_s"],
        "tokens_per_s": m["tokens_per_s"],
        "s_per_step": round(m["train_time_s"] / m["global_step"], 3),
        "peak_rss_mb": m["peak_rss_mb"],
        "peak_gpu_allocated_mb": m.get("peak_gpu_allocated_mb"),
        "peak_gpu_reserved_mb": m.get("peak_gpu_reserved_mb"),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "device": m["device"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--quant", nargs="+", choices=["none", "nf4"], default=["none", "nf4"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4, help="per-device batch (no accumulation)")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()

    import torch

    rows = mix_rows(args.rows)
    with tempfile.TemporaryDirectory(prefix="lema-bench-train-") as tmp:
        work = Path(tmp)
        mix = work / "mix.jsonl"
        mix.write_text("".join(json.dumps(r) + "\n" for r in rows))
        model = work / "model"
        build_model(model, SHAPES[args.shape], [r["prompt"] + r["completion"] for r in rows])
        params = int((model / "params.txt").read_text())
        results = [run_mode(model, mix, q, args, work) for q in args.quant]
    report = {
        "shape": args.shape,
        "params": params,
        "steps": args.steps,
        "batch": args.batch,
        "seq_len": args.seq_len,
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "results": results,
    }
    print(json.dumps(report, indent=2))
    print(
        f"\nshape {args.shape} ({params / 1e6:.1f}M params), batch {args.batch}, "
        f"seq ≤ {args.seq_len}, {args.steps} steps, on {results[0]['device']}"
    )
    print("| mode | compute | tokens/s | s/step | peak RSS MB | peak GPU alloc MB | loss |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        mode = "QLoRA (NF4)" if r["quant"] == "nf4" else "LoRA"
        gpu = r["peak_gpu_allocated_mb"] if r["peak_gpu_allocated_mb"] is not None else "–"
        print(
            f"| {mode} | {r['compute_dtype']} | {r['tokens_per_s']:.0f} | {r['s_per_step']} | "
            f"{r['peak_rss_mb']:.0f} | {gpu} | {r['loss_first']:.3f} → {r['loss_last']:.3f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
